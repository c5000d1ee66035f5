"""The compact stored form of syslog records: what was received, with the fields rebuilt on read.

A syslog record is mostly its own message twice (`raw`, then `message` and the fields parsed
out of it), with JSON keys around them: ~4x the bytes that arrived. What makes the record is
the datagram, the receive time and the sender; everything else is `parse.py`'s work. So a
cold segment can keep only those three and parse again when it is read.

`pack` turns a segment's NDJSON records into entries, one line each:
- `[received_ms, source, raw]` when parsing `raw` again gives the record back byte for byte;
- `[received_ms, source, raw, patch]` when it does once `patch` (top-level keys) is set: the
  receive time kept is the record's millisecond, so `clock_skew_s` can round the other way;
- the record itself, unchanged, otherwise (bytes that are not UTF-8, a record some other
  version wrote, anything that does not round-trip). An entry starts with "[" and a record
  with "{"; a kept line that starts with "[" or " " (not a record, but the buffer holds any
  line) is written after one space, which unpack takes off.
`unpack` reverses it. Nothing is trusted to round-trip: `pack` checks each entry by building
the record from it exactly as `unpack` will, so a read gives back the bytes that were stored
(records are rebuilt by the parser that is running: an upgrade that parses better rebuilds
with it, and `raw` is always kept).

Sans-IO and pure: bytes in, bytes out.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import msgspec

from collectors.syslog.fastpath import parse_encode_batch

NAME = "syslog-raw-1"  # names the entry layout above; a new layout gets a new name
NEWLINE = b"\n"
_ESCAPED = (b"[", b" ")  # first bytes of a kept line that are written after a space


class _Received(msgspec.Struct):
    """The record's fields an entry keeps (the rest are skipped by the decoder)."""

    received_at: str
    source: str
    raw: str
    raw_b64: str | None = None


_decode_received = msgspec.json.Decoder(_Received).decode
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode
_decode_entry = msgspec.json.Decoder(list[Any]).decode
_encode = msgspec.json.Encoder().encode
_second_cache: dict[str, int] = {}


def _received_ms(text: str) -> int | None:
    """Milliseconds since the epoch of a record's `received_at` ("2026-11-27T06:00:00.123Z",
    the only shape the parser writes); None for any other text."""
    if len(text) != 24 or text[19] != "." or text[23] != "Z" or not text[20:23].isdigit():
        return None
    second = text[:19]
    epoch = _second_cache.get(second)
    if epoch is None:
        try:
            epoch = int(datetime.fromisoformat(second).replace(tzinfo=UTC).timestamp())
        except ValueError:
            return None
        if len(_second_cache) > 4096:
            _second_cache.clear()
        _second_cache[second] = epoch
    return epoch * 1000 + int(text[20:23])


def _runs(entries: list[tuple[int, str, bytes]]) -> Iterator[tuple[int, list[int]]]:
    """Indexes of consecutive entries received in the same millisecond: one parser call each."""
    start = 0
    for index in range(1, len(entries) + 1):
        if index == len(entries) or entries[index][0] != entries[start][0]:
            yield entries[start][0], list(range(start, index))
            start = index


def _rebuild(entries: list[tuple[int, str, bytes]]) -> list[bytes]:
    """The record each (received_ms, source, raw) parses to, encoded as the collector encodes it."""
    lines: list[bytes] = []
    for ms, indexes in _runs(entries):
        ndjson, _ = parse_encode_batch([entries[i][2] for i in indexes], [entries[i][1] for i in indexes], ms / 1000)
        lines += ndjson.split(NEWLINE)[:-1]
    return lines


def _patched(rebuilt: bytes, patch: dict[str, Any]) -> bytes:
    record = _decode_object(rebuilt)
    record.update(patch)
    return _encode(record)


def _patch_for(record: bytes, rebuilt: bytes) -> dict[str, Any] | None:
    """The top-level values that turn `rebuilt` into `record`, or None when none can."""
    try:
        want, got = _decode_object(record), _decode_object(rebuilt)
    except msgspec.DecodeError:
        return None
    if list(want) != list(got):
        return None
    # Compared as JSON: -0.0 == 0.0 in Python, not in the record's bytes.
    patch = {key: value for key, value in want.items() if got[key] != value or _encode(got[key]) != _encode(value)}
    if not patch or _patched(rebuilt, patch) != record:
        return None
    return patch


def pack(records: list[bytes]) -> bytes:
    """The entries of `records` (each a syslog record's JSON, no newline), one line each."""
    kept: list[tuple[int, str, bytes]] = []
    where: list[tuple[int, str]] = []  # index into `records` and raw text of each entry in `kept`
    for index, record in enumerate(records):
        try:
            found = _decode_received(record)
            data = found.raw.encode()
        except (msgspec.DecodeError, UnicodeEncodeError):  # not a record, or text no datagram held
            continue
        ms = _received_ms(found.received_at)
        if ms is not None and found.raw_b64 is None:
            kept.append((ms, found.source, data))
            where.append((index, found.raw))
    # A record stays as it is unless an entry rebuilds it.
    out: list[bytes] = [b" " + line if line[:1] in _ESCAPED else line for line in records]
    for (ms, source, _), (index, raw), rebuilt in zip(kept, where, _rebuild(kept), strict=True):
        record = records[index]
        if rebuilt == record:
            out[index] = _encode([ms, source, raw])
            continue
        patch = _patch_for(record, rebuilt)
        if patch is not None:
            out[index] = _encode([ms, source, raw, patch])
    out.append(b"")
    return NEWLINE.join(out)


class BadEntries(ValueError):
    """A packed body that does not unpack (the caller quarantines the segment)."""


def unpack(body: bytes) -> list[bytes]:
    """The records `pack` was given, byte for byte."""
    lines = body.split(NEWLINE)
    if lines.pop() != b"":
        raise BadEntries("the last entry is not followed by a newline")
    entries: list[tuple[int, str, bytes]] = []
    slots: list[tuple[int, dict[str, Any] | None]] = []
    for index, line in enumerate(lines):
        if line[:1] != b"[":
            if line[:1] == b" ":
                lines[index] = line[1:]
            continue  # a record kept as it is
        try:
            entry = _decode_entry(line)
        except msgspec.DecodeError as exc:
            raise BadEntries(f"entry {index}: {exc}") from exc
        ms, source, raw, patch = (*entry, None)[:4] if len(entry) in (3, 4) else (None, None, None, None)
        if not (isinstance(ms, int) and isinstance(source, str) and isinstance(raw, str)):
            raise BadEntries(f"entry {index}: not [received_ms, source, raw, patch?]")
        if patch is not None and not isinstance(patch, dict):
            raise BadEntries(f"entry {index}: the patch is not an object")
        try:
            entries.append((ms, source, raw.encode()))
        except UnicodeEncodeError as exc:
            raise BadEntries(f"entry {index}: {exc}") from exc
        slots.append((index, patch))
    for (index, patch), rebuilt in zip(slots, _rebuild(entries), strict=True):
        lines[index] = rebuilt if patch is None else _patched(rebuilt, patch)
    return lines
