"""Segment framing, encoding and corruption detection, without a database."""

from __future__ import annotations

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from nocraven.buffer.segment import CorruptSegment, OpenSegment, decode, encode, frame_records

record_bytes = st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b)


@given(st.lists(st.lists(record_bytes, min_size=1, max_size=20), min_size=1, max_size=10))
def test_encode_decode_roundtrip(batches: list[list[bytes]]) -> None:
    segment = OpenSegment("syslog", 1, 10.0, 10.0, "10.0.0.1:514")
    expected: list[bytes] = []
    for batch in batches:
        framed = frame_records(batch)
        assert framed.rejected_records == 0
        segment.add(framed, 11.0, "10.0.0.1:514")
        expected.extend(batch)
    encoded = encode(segment, zstandard.ZstdCompressor(level=3))
    assert encoded.record_count == len(expected) == encoded.last_seq
    assert encoded.raw_bytes == sum(len(r) + 1 for r in expected) == segment.raw_bytes
    assert encoded.source == "10.0.0.1:514"
    assert segment.records() == expected
    lines = decode(
        encoded.blob, encoded.checksum, encoded.record_count, encoded.raw_bytes, zstandard.ZstdDecompressor()
    )
    assert lines == expected


@given(st.lists(record_bytes, min_size=1, max_size=60), st.integers(min_value=1, max_value=500))
def test_pieces_cut_at_record_bounds_near_the_size(records: list[bytes], size: int) -> None:
    framed = frame_records(records)
    pieces = framed.pieces(size)
    assert b"\n".join(p.chunk for p in pieces) == framed.chunk
    assert sum(p.records for p in pieces) == len(records)
    assert sum(p.raw_bytes for p in pieces) == framed.raw_bytes
    longest = max(len(r) for r in records) + 1
    assert all(p.raw_bytes < size + longest for p in pieces)
    assert all(p.raw_bytes >= size for p in pieces[:-1])


def test_frame_refuses_empty_and_multiline_records() -> None:
    framed = frame_records([b'{"a":1}', b"", b'{"b":\n2}', b'{"c":3}'])
    assert framed.chunk == b'{"a":1}\n{"c":3}'
    assert (framed.records, framed.rejected_records, framed.rejected_bytes) == (2, 2, 8)
    assert framed.raw_bytes == len(framed.chunk) + 1
    nothing = frame_records([b""])
    assert (nothing.records, nothing.rejected_records, nothing.raw_bytes) == (0, 1, 0)
    edge = frame_records([b"\n"])
    assert edge.records == 0 and edge.rejected_records == 1


def test_mixed_sources_are_not_attributed() -> None:
    segment = OpenSegment("flow", 1, 1.0, 1.0, "10.0.0.1:2055")
    segment.add(frame_records([b"{}"]), 1.0, "10.0.0.1:2055")
    assert segment.common_source == "10.0.0.1:2055"
    segment.add(frame_records([b"{}"]), 2.0, "10.0.0.2:2055")
    assert segment.common_source is None


def test_decode_detects_corruption() -> None:
    segment = OpenSegment("syslog", 1, 1.0, 1.0, None)
    segment.add(frame_records([b'{"x":%d}' % i for i in range(100)]), 1.0, None)
    encoded = encode(segment, zstandard.ZstdCompressor(level=3))
    decompressor = zstandard.ZstdDecompressor()
    flipped = bytearray(encoded.blob)
    flipped[len(flipped) // 2] ^= 0x01
    with pytest.raises(CorruptSegment, match="checksum"):
        decode(bytes(flipped), encoded.checksum, 100, encoded.raw_bytes, decompressor)
    with pytest.raises(CorruptSegment, match="zstd"):
        from nocraven.buffer.segment import checksum

        garbage = b"not zstd at all"
        decode(garbage, checksum(garbage), 100, encoded.raw_bytes, decompressor)
    with pytest.raises(CorruptSegment, match="records"):
        decode(encoded.blob, encoded.checksum, 99, encoded.raw_bytes, decompressor)
