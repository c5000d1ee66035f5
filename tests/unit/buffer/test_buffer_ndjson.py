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
