"""Segments: records framed as NDJSON, accumulated in memory, sealed into a zstd blob.

A sealed blob is zstd (level 3) of the records each followed by b"\\n"; its checksum is the
CRC-32 of the compressed blob, checked before decompressing. Decoding is one decompress and
one bytes.split, which is what makes draining fast.

Formats (the segment row's `format`): 1, plain zstd (everything written before dictionaries);
2, zstd with the service's trained dictionary named by the row's `dict_id`. A segment of ~200
syslog records is too short for zstd to learn the records' shape on its own; a dictionary
trained on the service's recent records supplies it, and reading stays one decompress.
3, packed: a cold segment rewritten in its service's compact form (`forms.py`; for syslog the
datagrams, with the fields rebuilt on read), zstd at PACKED_LEVEL with a dictionary trained on
packed segments. `raw_bytes` and `checksum` (of the blob) mean what they mean for 1 and 2.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import zstandard

from collectors.common import ndjson

ZSTD_LEVEL = 3
NEWLINE = b"\n"
FORMAT_PLAIN = 1
FORMAT_DICTIONARY = 2
FORMAT_PACKED = 3
PACKED_LEVEL = 9  # off the hot path (cold segments, a background step): worth ~10 % more


@dataclass(frozen=True, slots=True)
class FramedBatch:
    """One append batch joined by newlines, and what had to be refused from it."""

    chunk: bytes
    records: int
    raw_bytes: int  # including one newline per record, as stored
    rejected_records: int = 0
    rejected_bytes: int = 0
    received_bytes: int = 0  # what arrived on the wire for these records (0: not told)

    # The batch already cut by `of_ndjson` (empty: not cut yet, or small enough to stay whole).
    parts: tuple[FramedBatch, ...] = ()

    @classmethod
    def of_ndjson(cls, chunk: bytes, size: int, received_bytes: int = 0, records: int | None = None) -> FramedBatch:
        """Newline-joined records (no empty one), cut as `pieces(size)` would cut them. The
        records are counted once, piece by piece, rather than once whole and again per piece
        (`records`: the count, when the caller has it already)."""
        raw = len(chunk) + 1
        if raw <= size:
            count = records if records is not None else chunk.count(NEWLINE) + 1
            return cls(chunk, count, raw, received_bytes=received_bytes)
        parts = tuple(_cut(chunk, size, received_bytes))
        return cls(chunk, sum(part.records for part in parts), raw, received_bytes=received_bytes, parts=parts)

    def pieces(self, size: int) -> list[FramedBatch]:
        """Cut at record bounds into pieces of about `size` raw bytes (one record may be
        longer), so a burst coalesced into one append still seals as bounded segments: quota
        eviction and forwarder batches keep their grain."""
        if self.raw_bytes <= size:
            return [self]
        if self.parts:
            return list(self.parts)
        return _cut(self.chunk, size, self.received_bytes)


def _cut(chunk: bytes, size: int, received: int) -> list[FramedBatch]:
    out, start, total = [], 0, len(chunk) + 1
    for end, records in ndjson.cuts(chunk, size):
        # Wire bytes pro rata, cut on cumulative sizes so the pieces add up to the whole.
        share = received * (end + 1) // total - received * start // total
        out.append(FramedBatch(chunk[start:end], records, end - start + 1, received_bytes=share))
        start = end + 1
    return out


def frame_records(records: Sequence[bytes]) -> FramedBatch:
    """Join a batch; records that are empty or contain a newline would break NDJSON framing
    and are refused (JSON encoders never emit raw newlines)."""
    count = len(records)
    chunk = NEWLINE.join(records)
    # One C-speed pass: no empty record, and exactly the newlines the join put in.
    if all(records) and chunk.count(NEWLINE) == count - 1:
        return FramedBatch(chunk, count, len(chunk) + 1)
    valid = [record for record in records if record and NEWLINE not in record]
    rejected_bytes = sum(len(record) for record in records) - sum(len(record) for record in valid)
    chunk = NEWLINE.join(valid)
    raw = len(chunk) + 1 if valid else 0
    return FramedBatch(chunk, len(valid), raw, count - len(valid), rejected_bytes)


@dataclass(slots=True)
class OpenSegment:
    """Records of one service waiting in memory to be sealed (never touches disk)."""

    service: str
    first_seq: int
    first_received: float
    last_received: float
    source: str | None
    chunks: list[bytes] = field(default_factory=list)
    record_count: int = 0
    raw_bytes: int = 0
    received_bytes: int = 0
    mixed_sources: bool = False

    @property
    def last_seq(self) -> int:
        return self.first_seq + self.record_count - 1

    @property
    def common_source(self) -> str | None:
        """The sender of every record here, when there is only one."""
        return None if self.mixed_sources else self.source

    def add(self, batch: FramedBatch, now: float, source: str | None) -> None:
        self.chunks.append(batch.chunk)
        self.record_count += batch.records
        self.raw_bytes += batch.raw_bytes
        self.received_bytes += batch.received_bytes
        self.last_received = max(self.last_received, now)
        if source != self.source:
            self.mixed_sources = True

    def records(self) -> list[bytes]:
        lines: list[bytes] = []
        for chunk in self.chunks:
            lines.extend(chunk.split(NEWLINE))
        return lines


@dataclass(frozen=True, slots=True)
class SegmentMeta:
    """A sealed segment as stored, without its blob."""

    id: int
    service: str
    first_seq: int
    last_seq: int
    record_count: int
    raw_bytes: int
    stored_bytes: int
    first_received: float
    last_received: float
    checksum: int
    format: int = FORMAT_PLAIN
    dict_id: int | None = None
    received_bytes: int = 0


# The event a seal produces; the same shape as the stored metadata.
SealedSegment = SegmentMeta


@dataclass(frozen=True, slots=True)
class EncodedSegment:
    """A compressed segment ready to be inserted."""

    service: str
    first_seq: int
    last_seq: int
    record_count: int
    raw_bytes: int
    first_received: float
    last_received: float
    source: str | None
    checksum: int
    blob: bytes
    format: int = FORMAT_PLAIN
    dict_id: int | None = None
    received_bytes: int = 0

    @property
    def stored_bytes(self) -> int:
        return len(self.blob)

    def meta(self, segment_id: int) -> SegmentMeta:
        """What is known of this segment once stored under `segment_id`."""
        return SegmentMeta(
            segment_id,
            self.service,
            self.first_seq,
            self.last_seq,
            self.record_count,
            self.raw_bytes,
            self.stored_bytes,
            self.first_received,
            self.last_received,
            self.checksum,
            self.format,
            self.dict_id,
            self.received_bytes,
        )


def encode(segment: OpenSegment, compressor: zstandard.ZstdCompressor, dict_id: int | None = None) -> EncodedSegment:
    """Compress a segment; `dict_id` names the dictionary `compressor` was built with."""
    segment.chunks.append(b"")  # so the join ends with the last record's newline
    data = NEWLINE.join(segment.chunks)
    segment.chunks.pop()
    # python-zstandard returns the blob inside an allocation of the worst case (the input's size
    # and more) until it is freed; a copy of its length lets that go at once. Segments waiting
    # for one commit otherwise held 256 KiB each: 50 MiB for 200 of them, blobs of 3 MiB.
    blob = bytes(memoryview(compressor.compress(data)))
    return EncodedSegment(
        service=segment.service,
        first_seq=segment.first_seq,
        last_seq=segment.last_seq,
        record_count=segment.record_count,
        raw_bytes=len(data),
        first_received=segment.first_received,
        last_received=segment.last_received,
        source=segment.common_source,
        checksum=checksum(blob),
        blob=blob,
        format=FORMAT_PLAIN if dict_id is None else FORMAT_DICTIONARY,
        dict_id=dict_id,
        received_bytes=segment.received_bytes,
    )


def checksum(blob: bytes) -> int:
    return zlib.crc32(blob)


class CorruptSegment(Exception):
    """A stored blob that fails its checksum, does not decompress or does not frame."""


def _decompress(blob: bytes, expected_checksum: int, raw_bytes: int, decompressor: zstandard.ZstdDecompressor) -> bytes:
    if checksum(blob) != expected_checksum:
        raise CorruptSegment("checksum mismatch")
    try:
        data = decompressor.decompress(blob, max_output_size=raw_bytes)
    except zstandard.ZstdError as exc:
        raise CorruptSegment(f"zstd: {exc}") from exc
    if len(data) != raw_bytes:
        raise CorruptSegment(f"decompressed to {len(data)} bytes, expected {raw_bytes}")
    return data


def unpack_packed(
    blob: bytes,
    expected_checksum: int,
    record_count: int,
    decompressor: zstandard.ZstdDecompressor,
    unpack: Callable[[bytes], list[bytes]],
) -> list[bytes]:
    """The records of a packed segment (format 3), checked as far as a rebuild allows: the
    blob's checksum, that it decompresses and unpacks, and the record count. Not their size:
    after an upgrade the parser may rebuild them differently, which is no damage."""
    if checksum(blob) != expected_checksum:
        raise CorruptSegment("checksum mismatch")
    try:
        lines = unpack(decompressor.decompress(blob))  # the frame header holds the body's size
    except zstandard.ZstdError as exc:
        raise CorruptSegment(f"zstd: {exc}") from exc
    except ValueError as exc:
        raise CorruptSegment(f"packed entries: {exc}") from exc
    if len(lines) != record_count:
        raise CorruptSegment(f"unpacked {len(lines)} records, expected {record_count}")
    return lines


def decode(
    blob: bytes,
    expected_checksum: int,
    record_count: int,
    raw_bytes: int,
    decompressor: zstandard.ZstdDecompressor,
) -> list[bytes]:
    data = _decompress(blob, expected_checksum, raw_bytes, decompressor)
    lines = data.split(NEWLINE)
    if lines.pop() != b"" or len(lines) != record_count:
        raise CorruptSegment(f"framed {len(lines)} records, expected {record_count}")
    return lines


def decode_ndjson(
    blob: bytes,
    expected_checksum: int,
    record_count: int,
    raw_bytes: int,
    decompressor: zstandard.ZstdDecompressor,
) -> bytes:
    """The segment's records as stored (each followed by a newline), checked as `decode` checks
    them but not split: a forwarder sending the whole segment needs only the text."""
    data = _decompress(blob, expected_checksum, raw_bytes, decompressor)
    framed = data.count(NEWLINE)
    if framed != record_count or (data and not data.endswith(NEWLINE)):
        raise CorruptSegment(f"framed {framed} records, expected {record_count}")
    return data
