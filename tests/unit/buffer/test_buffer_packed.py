"""Packed segments (format 3): cold syslog segments repacked as their datagrams take less disk,
read back byte for byte on every read path, and are only repacked once delivered and cold."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from nocraven.buffer import BufferLimits, SegmentStore, dictionaries
from nocraven.buffer.component import BufferComponent
from nocraven.buffer.forms import FORMS, StoredForm
from nocraven.buffer.segment import FORMAT_PACKED
from tests.unit.buffer.buffer_helpers import T0
from tests.unit.buffer.test_buffer_stored_small import KIB, read_all, segment_rows, venue_records

COLD = T0 + 120  # past the default compact_after_s (60 s) for records received at T0


def limits(**changes: object) -> BufferLimits:
    settings: dict[str, object] = {"total_bytes": 64 * 1024 * KIB, "seal_bytes": 16 * KIB, "min_free_disk_bytes": 0}
    return BufferLimits(**{**settings, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def venue() -> tuple[list[bytes], list[bytes]]:
    return venue_records(1200, seed=5)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SegmentStore]:
    monkeypatch.setattr(dictionaries, "SAMPLE_BYTES", 64 * KIB)  # packed bodies train within a few segments
    opened = SegmentStore.open(tmp_path / "data", limits(), T0)
    yield opened
    opened.close()


def fill(store: SegmentStore, records: list[bytes], wire: list[bytes], now: float = T0) -> None:
    for start in range(0, len(records), 50):
        store.append("syslog", records[start : start + 50], now, received_bytes=sum(map(len, wire[start : start + 50])))
        store.seal_due(now)
    store.seal_all(now)


def repack_all(store: SegmentStore, now: float = COLD) -> int:
    repacked = 0
    while store.compact_cold(now) is not None:
        repacked += 1
    return repacked


def test_cold_segments_take_less_disk_and_every_read_gives_the_same_bytes(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    fill(store, records, wire)
    before = store.stats(COLD).services["syslog"]
    metas = store.segments_after("syslog", 0, 1000)
    ndjson_before = [store.segment_ndjson(meta) for meta in metas]

    assert repack_all(store) == len(metas)
    after = store.stats(COLD).services["syslog"]
    assert {row[0] for row in segment_rows(store)} == {FORMAT_PACKED}
    assert (after.records, after.raw_bytes, after.received_bytes) == (
        before.records,
        before.raw_bytes,
        before.received_bytes,
    )
    # What a technician sees in `buffer stats`: well under half the disk for the same records.
    assert after.stored_bytes < 0.6 * before.stored_bytes
    assert after.stored_bytes < 0.2 * after.received_bytes

    assert read_all(store) == records
    assert store.tail("syslog", limit=len(records)) == records
    assert list(store.export("syslog")) == records
    # `metas` were listed before the repack: readers holding them still get the records.
    assert [store.segment_ndjson(meta) for meta in metas] == ndjson_before
    blob, dictionary = store.segment_blob(metas[0]) or (b"", b"")
    assert dictionary is None  # a packed segment is not NDJSON inside: sent as plain zstd of its records
    assert zstandard.ZstdDecompressor().decompress(blob) == ndjson_before[0]


def test_packed_segments_read_after_a_restart(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dictionaries, "SAMPLE_BYTES", 64 * KIB)
    records, wire = venue
    first = SegmentStore.open(tmp_path / "data", limits(), T0)
    fill(first, records, wire)
    repack_all(first)
    with sqlite3.connect(first.path) as conn:
        named = {row[0] for row in conn.execute("SELECT dict_id FROM segments WHERE format = 3 AND dict_id > 0")}
    first.close()
    assert named  # the later segments were packed with a dictionary trained on packed bodies
    again = SegmentStore.open(tmp_path / "data", limits(), COLD)
    try:
        assert read_all(again) == records
        again.purge("syslog", COLD)
        assert read_all(again) == []
    finally:
        again.close()


def test_a_newer_parser_rebuilds_packed_records_without_quarantining_them(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dictionaries, "SAMPLE_BYTES", 64 * KIB)
    records, wire = venue
    first = SegmentStore.open(tmp_path / "data", limits(), T0)
    fill(first, records, wire)
    repack_all(first)
    first.close()
    form = FORMS["syslog"]

    def newer(body: bytes) -> list[bytes]:  # an upgrade that adds a field to every record
        return [line[:-1] + b',"vendor_version":2}' for line in form.unpack(body)]

    upgraded = {"syslog": StoredForm(form.name, form.pack, newer)}
    again = SegmentStore.open(tmp_path / "data", limits(), COLD, forms=upgraded)
    try:
        assert read_all(again) == [line[:-1] + b',"vendor_version":2}' for line in records]
        assert again.stats(COLD).quarantined_segments == 0
    finally:
        again.close()


def test_only_cold_segments_every_sink_delivered_are_repacked(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    fill(store, records, wire)
    assert store.compact_cold(T0 + 30) is None  # 30 s old: a forwarder or a tail may want it as it is
    metas = store.segments_after("syslog", 0, 1000)
    store.ack("noc", "syslog", metas[2].last_seq, T0)
    store.ack("archive", "syslog", metas[4].last_seq, T0)
    assert repack_all(store) == 3  # what both sinks delivered
    store.ack("noc", "syslog", metas[-1].last_seq, T0)
    assert repack_all(store) == 2  # the archive has delivered up to metas[4]
    assert read_all(store) == records


def test_the_configured_sinks_decide_what_is_delivered(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    fill(store, records, wire)
    metas = store.segments_after("syslog", 0, 1000)
    store.ack("removed-sink", "syslog", metas[0].last_seq, T0)  # left by a sink no longer configured
    store.ack("noc", "syslog", metas[1].last_seq, T0)
    store.await_deliveries({"syslog": ["noc", "new-sink"], "flow": ["noc"]})
    assert store.compact_cold(COLD) is None  # new-sink has delivered nothing yet
    store.ack("new-sink", "syslog", metas[-1].last_seq, T0)
    assert repack_all(store) == 2  # up to what noc delivered; removed-sink holds nothing back
    store.await_deliveries({"syslog": []})  # no sink forwards syslog: age alone decides
    assert repack_all(store) == len(metas) - 2


def test_repacking_can_be_turned_off(tmp_path: Path, venue: tuple[list[bytes], list[bytes]]) -> None:
    records, wire = venue
    store = SegmentStore.open(tmp_path / "data", limits(compact_after_s=None), T0)
    try:
        fill(store, records[:200], wire[:200])
        assert store.compact_cold(COLD + 86_400) is None
        assert FORMAT_PACKED not in {row[0] for row in segment_rows(store)}
    finally:
        store.close()


def test_a_damaged_packed_segment_is_quarantined_and_counted(
    store: SegmentStore, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    fill(store, records, wire)
    repack_all(store)
    metas = store.segments_after("syslog", 0, 1000)
    victim = metas[3]
    with sqlite3.connect(store.path) as conn:
        blob = conn.execute("SELECT blob FROM segment_blobs WHERE id = ?", (victim.id,)).fetchone()[0]
        conn.execute("UPDATE segment_blobs SET blob = ? WHERE id = ?", (blob[: len(blob) // 2], victim.id))
    back = read_all(store)
    # Everything but the damaged segment's records still reads, around the gap it leaves.
    assert back == records[: victim.first_seq - 1] + records[victim.last_seq :]
    stats = store.stats(COLD)
    assert stats.quarantined_segments == 1
    assert stats.services["syslog"].dropped["corrupt_segment"].records == victim.record_count


def test_records_other_than_syslogs_are_left_alone(store: SegmentStore) -> None:
    flows = [b'{"service":"flow","src":"10.0.0.%d","bytes":%d}' % (n % 250, n) for n in range(2000)]
    store.append("flow", flows, T0)
    store.seal_all(T0)
    assert store.compact_cold(COLD) is None
    assert read_all(store, "flow") == flows


def test_the_seal_worker_repacks_cold_segments_while_idle(
    tmp_path: Path, venue: tuple[list[bytes], list[bytes]]
) -> None:
    records, wire = venue
    store = SegmentStore.open(tmp_path / "data", limits(compact_after_s=0.0), time.time())
    stop = threading.Event()
    worker = threading.Thread(target=BufferComponent._seal_worker, args=(store, stop))
    worker.start()
    try:
        now = time.time()
        for start in range(0, len(records), 100):
            store.append(
                "syslog", records[start : start + 100], now, received_bytes=sum(map(len, wire[start : start + 100]))
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            packed = [fmt == FORMAT_PACKED for fmt, _ in segment_rows(store)]
            # A segment packing would not shrink (a small one, before packed bodies have their
            # own dictionary) stays as it is.
            if store.stats(time.time()).unsealed_records == 0 and sum(packed) >= 0.9 * len(packed) > 0:
                break
            time.sleep(0.1)
        assert sum(packed) >= 0.9 * len(packed) > 0
        assert read_all(store) == records
    finally:
        stop.set()
        worker.join(10)
        store.close()
