"""Batches: which records travel together, under which id, in which bytes.

The NOC removes a re-sent batch only if it carries the same id as the first time (JetStream's
`Nats-Msg-Id` window, an HTTP gateway's `Idempotency-Key`), so batch boundaries come only from
durable facts, never from timing or from how far the reader had got:
- a batch never crosses a sealed segment's bounds (a segment's seq range never changes);
- a batch never crosses a multiple of `grid` (fixed seq ranges cut big segments);
- within that cell, records are taken greedily from its first seq up to `max_bytes` (the records
  are immutable, so the same cell always splits the same way).
A forwarder only acknowledges whole batches, so its cursor always sits on a boundary and a replay
from it after a crash rebuilds exactly the batches it had sent.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, overload

import zstandard

_ZSTD_LEVEL = 1  # forwarding runs on the event loop: the fastest level already gives ~5-10x
DICTIONARY_SERVICE = "dictionary"  # `Nocraven-Service` of a message carrying a zstd dictionary


class SegmentBounds(Protocol):
    @property
    def first_seq(self) -> int: ...
    @property
    def last_seq(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SeqRange:
    first: int
    last: int

    @property
    def records(self) -> int:
        return self.last - self.first + 1


@dataclass(frozen=True, slots=True)
class Plan:
    """What comes next for a reader: `batches` to send, and `lost` ranges (evicted or purged
    before delivery) the reader steps over; the drop ledger reports them as gap events."""

    batches: list[SeqRange] = field(default_factory=list)
    lost: list[SeqRange] = field(default_factory=list)
    position: int = 0  # the last seq this plan covers


def cut(first: int, last: int, grid: int) -> list[SeqRange]:
    """[first, last] cut after every multiple of `grid`."""
    ranges: list[SeqRange] = []
    start = first
    while start <= last:
        cell_end = ((start - 1) // grid + 1) * grid
        end = min(cell_end, last)
        ranges.append(SeqRange(start, end))
        start = end + 1
    return ranges


def plan(position: int, segments: Sequence[SegmentBounds], until: int, grid: int, complete: bool) -> Plan:
    """Batches after `position` up to seq `until` (inclusive), from the sealed segments that hold
    seqs after `position` (oldest first). Seqs held by no segment are lost; after the last segment
    they count as lost only when `complete` (the segment list was not truncated)."""
    batches: list[SeqRange] = []
    lost: list[SeqRange] = []
    at = position
    seen_past_until = straddling = False
    for segment in segments:
        if segment.last_seq <= at:
            continue
        if segment.first_seq > until:
            seen_past_until = True
            break
        if segment.first_seq > at + 1:
            lost.append(SeqRange(at + 1, segment.first_seq - 1))
            at = segment.first_seq - 1
        if segment.last_seq > until:
            straddling = True
            break  # sealed whole, so only a stale `until` cuts a segment: take it next time
        batches.extend(cut(at + 1, segment.last_seq, grid))
        at = segment.last_seq
    if at < until and (complete or seen_past_until) and not straddling:
        lost.append(SeqRange(at + 1, until))
        at = until
    return Plan(batches, lost, at)


def split_by_bytes(records: Sequence[bytes], first_seq: int, max_bytes: int) -> list[tuple[int, Sequence[bytes]]]:
    """Consecutive pieces of at most `max_bytes` (NDJSON, a newline each; a record bigger than
    that travels alone), as (first seq, records)."""
    if sum(map(len, records)) + len(records) <= max_bytes:
        return [(first_seq, records)] if records else []  # the usual case, at C speed
    pieces: list[tuple[int, Sequence[bytes]]] = []
    start = 0
    size = 0
    for index, record in enumerate(records):
        cost = len(record) + 1
        if index > start and size + cost > max_bytes:
            pieces.append((first_seq + start, records[start:index]))
            start, size = index, 0
        size += cost
    if start < len(records):
        pieces.append((first_seq + start, records[start:]))
    return pieces


class NdjsonRecords(Sequence[bytes]):
    """Records kept as their NDJSON text (each followed by a newline), split only when someone
    asks for them one by one: a whole sealed segment goes to the encoder as it was stored, with
    no split into records and no join back (the drain's largest cost after zstd). The text may
    itself be made only when asked (`load`: a stored blob sent as it is needs it only if the
    batch is quarantined)."""

    __slots__ = ("_count", "_data", "_lines", "_load")

    def __init__(self, data: bytes | None, count: int, load: Callable[[], bytes] | None = None) -> None:
        if data is None and load is None:
            raise ValueError("NdjsonRecords needs the text or a way to load it")
        self._data = data
        self._load = load
        self._count = count
        self._lines: list[bytes] | None = None

    @property
    def data(self) -> bytes:
        if self._data is None:
            assert self._load is not None
            self._data = self._load()
        return self._data

    def _split(self) -> list[bytes]:
        if self._lines is None:
            lines = self.data.split(b"\n")
            lines.pop()  # the empty piece after the last newline
            self._lines = lines
        return self._lines

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> bytes: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...
    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        return self._split()[index]

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._split())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NdjsonRecords):
            return self.data == other.data
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NdjsonRecords({self._count} records, {len(self.data)} bytes)"


def message_id(site: str, service: str, first_seq: int, last_seq: int) -> str:
    """`site.service.first-last`: the same batch always gets the same id."""
    return f"{site}.{service}.{first_seq}-{last_seq}"


@dataclass(frozen=True, slots=True)
class WireDictionary:
    """A service's zstd dictionary as the NOC gets it: `key` (the first 16 hex digits of the
    SHA-256 of `data`) names it in the `Nocraven-Dictionary` header of every batch that needs it,
    so the NOC never confuses two dictionaries, whatever ids the appliance's buffer gave them."""

    key: str
    service: str
    data: bytes

    @classmethod
    def of(cls, service: str, data: bytes) -> WireDictionary:
        return cls(hashlib.sha256(data).hexdigest()[:16], service, data)


@dataclass(frozen=True, slots=True)
class Batch:
    """Records `first_seq..last_seq` of one service (for gap events: ledger ids)."""

    site: str
    service: str
    first_seq: int
    last_seq: int
    records: Sequence[bytes]
    raw_bytes: int = 0
    payload: bytes | None = None  # built ahead by `Encoder.prepare`, off the event loop
    # Set when `payload` is a stored segment compressed with this dictionary ("zstd-dict").
    dictionary: WireDictionary | None = None

    @property
    def message_id(self) -> str:
        return message_id(self.site, self.service, self.first_seq, self.last_seq)

    @property
    def seqs(self) -> SeqRange:
        return SeqRange(self.first_seq, self.last_seq)


def make_batch(site: str, service: str, first_seq: int, records: Sequence[bytes]) -> Batch:
    raw_bytes = sum(map(len, records)) + len(records)
    return Batch(site, service, first_seq, first_seq + len(records) - 1, records, raw_bytes)


def make_whole_batch(site: str, service: str, first_seq: int, data: bytes, count: int) -> Batch:
    """A batch of `count` records given as their NDJSON text (a whole sealed segment)."""
    return Batch(site, service, first_seq, first_seq + count - 1, NdjsonRecords(data, count), len(data))


def ndjson(records: Sequence[bytes]) -> bytes:
    if isinstance(records, NdjsonRecords):
        return records.data
    return b"\n".join(records) + b"\n" if records else b""


class Encoder:
    """NDJSON payload and headers of a batch, compressed as configured. Thread-safe (one zstd
    compressor per thread), so the forwarder prepares payloads in worker threads."""

    def __init__(self, compression: str) -> None:
        if compression not in ("zstd", "gzip", "none", "zstd-dict"):
            raise ValueError(f"unknown compression {compression!r}")
        self.compression = compression
        # "zstd-dict": whole segments go as stored (the forwarder sets their payload and
        # dictionary); anything else this encoder compresses is plain zstd.
        self.stored_blobs = compression == "zstd-dict"
        self._local = threading.local()

    def prepare(self, batch: Batch) -> Batch:
        """The batch with its payload built (call from a worker thread: zstd releases the GIL)."""
        return replace(batch, payload=self.payload(batch))

    def payload(self, batch: Batch) -> bytes:
        if batch.payload is not None:
            return batch.payload
        body = ndjson(batch.records)
        if self.compression in ("zstd", "zstd-dict"):
            compressor = getattr(self._local, "zstd", None)
            if compressor is None:
                compressor = self._local.zstd = zstandard.ZstdCompressor(level=_ZSTD_LEVEL)
            return compressor.compress(body)
        if self.compression == "gzip":
            return gzip.compress(body, compresslevel=1)
        return body

    def headers(self, batch: Batch) -> dict[str, str]:
        headers = {
            "Nocraven-Records": str(len(batch.records)),
            "Nocraven-Service": batch.service,
            "Nocraven-Site": batch.site,
            "Nocraven-First-Seq": str(batch.first_seq),
            "Nocraven-Last-Seq": str(batch.last_seq),
        }
        if self.compression != "none":
            headers["Content-Encoding"] = "zstd" if self.stored_blobs else self.compression
        if batch.dictionary is not None:
            headers["Nocraven-Dictionary"] = batch.dictionary.key
        return headers


def dictionary_headers(site: str, dictionary: WireDictionary) -> dict[str, str]:
    """Headers of the message that carries a dictionary to the NOC (its payload: the raw
    dictionary, as `zstd -D` takes it)."""
    return {
        "Nocraven-Service": DICTIONARY_SERVICE,
        "Nocraven-Site": site,
        "Nocraven-Dictionary": dictionary.key,
        "Nocraven-Dictionary-Service": dictionary.service,
        "Nocraven-Records": "0",
    }


def decode_payload(payload: bytes, encoding: str | None, dictionary: bytes | None = None) -> list[bytes]:
    """The records of a payload made by `Encoder` (for NOC-side tools and tests); `dictionary`:
    the data of the dictionary the batch's `Nocraven-Dictionary` header names."""
    if encoding == "zstd":
        decompressor = (
            zstandard.ZstdDecompressor(dict_data=zstandard.ZstdCompressionDict(dictionary))
            if dictionary is not None
            else zstandard.ZstdDecompressor()
        )
        payload = decompressor.decompressobj().decompress(payload)
    elif encoding == "gzip":
        payload = gzip.decompress(payload)
    return [line for line in payload.split(b"\n") if line]
