"""append_ndjson: a collector's newline-joined chunk is stored exactly as the same records
appended one by one would be, and a malformed chunk is checked record by record."""

from __future__ import annotations

from pathlib import Path

from nocraven.buffer import BufferLimits, SegmentStore
from tests.unit.buffer.buffer_helpers import make_records

NOW = 1_795_000_000.0


def test_a_chunk_is_stored_like_its_records(tmp_path: Path) -> None:
    records = make_records("syslog", 1, 500, NOW)
    with (
        SegmentStore.open(tmp_path / "a", BufferLimits(), NOW) as by_list,
        SegmentStore.open(tmp_path / "b", BufferLimits(), NOW) as by_chunk,
    ):
        by_list.append("syslog", records, NOW)
        assert by_chunk.append_ndjson("syslog", b"\n".join(records), NOW) == 500
        for store in (by_list, by_chunk):
            store.seal_all(NOW + 2)
        assert by_chunk.tail("syslog", 500) == by_list.tail("syslog", 500) == records
        a, b = by_list.stats(NOW + 2).services["syslog"], by_chunk.stats(NOW + 2).services["syslog"]
        assert (a.records, a.raw_bytes, a.last_seq) == (b.records, b.raw_bytes, b.last_seq) == (500, a.raw_bytes, 500)


def test_empty_lines_in_a_chunk_are_refused_and_accounted(tmp_path: Path) -> None:
    good = make_records("syslog", 1, 3, NOW)
    chunk = good[0] + b"\n\n" + good[1] + b"\n" + good[2]
    with SegmentStore.open(tmp_path, BufferLimits(), NOW) as store:
        assert store.append_ndjson("syslog", chunk, NOW) == 3
        store.seal_all(NOW + 2)
        assert store.tail("syslog", 10) == good
        assert store.stats(NOW + 2).services["syslog"].dropped["rejected_input"].records == 1


def test_a_chunk_larger_than_a_segment_seals_as_the_same_segments_as_its_records(tmp_path: Path) -> None:
    # A collector under load sends megabytes per frame: the chunk is cut at record bounds into
    # segments of about seal_bytes, counted piece by piece; the received bytes add up.
    records = make_records("flow", 1, 3000, NOW, size=400)
    limits = BufferLimits(seal_bytes=64 * 1024)
    with (
        SegmentStore.open(tmp_path / "a", limits, NOW) as by_list,
        SegmentStore.open(tmp_path / "b", limits, NOW) as by_chunk,
    ):
        by_list.append("flow", records, NOW, received_bytes=300_001)
        assert by_chunk.append_ndjson("flow", b"\n".join(records), NOW, received_bytes=300_001) == 3000
        sealed = [store.seal_all(NOW + 2) for store in (by_list, by_chunk)]
        bounds = [[(s.first_seq, s.last_seq, s.raw_bytes, s.received_bytes) for s in seals] for seals in sealed]
        assert bounds[0] == bounds[1]
        assert len(bounds[1]) > 10 and all(raw <= 64 * 1024 + 500 for _, _, raw, _ in bounds[1])
        assert sum(received for *_, received in bounds[1]) == 300_001
        assert by_chunk.read("fwd", "flow", 5000).records == records
