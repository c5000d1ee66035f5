"""Focused behaviour of SegmentStore: limits, corruption, restart, stats, query side, faults."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nocraven.buffer import BufferLimits, DropReason, SegmentStore, ServiceLimits, schema
from nocraven.buffer import store as store_module
from tests.unit.buffer.buffer_helpers import (
    T0,
    assert_partition,
    flip_blob_byte,
    ledger_totals,
    make_records,
    rfc3339,
    seq_ranges,
    stored_usage,
)

KIB = 1024
OpenStore = Callable[..., SegmentStore]


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[OpenStore]:
    opened: list[SegmentStore] = []

    def factory(limits: BufferLimits | None = None, now: float = T0, directory: Path | None = None) -> SegmentStore:
        store = SegmentStore.open(directory or tmp_path / "data", limits, now)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def fill(
    store: SegmentStore, service: str, count: int, now: float, size: int = 200, batch: int = 100, start: int = 0
) -> list[bytes]:
    """Append `count` records in batches and seal as a worker would; returns them."""
    written: list[bytes] = []
    for offset in range(0, count, batch):
        records = make_records(service, start + offset, min(batch, count - offset), now, size)
        store.append(service, records, now)
        store.seal_due(now)
        written.extend(records)
    store.seal_all(now)
    return written


def read_all(store: SegmentStore, service: str, sink: str = "check") -> list[bytes]:
    records: list[bytes] = []
    position = 0
    while True:
        batch = store.read(sink, service, 1000, after_seq=position)
        records.extend(batch.records)
        if batch.last_seq == position:
            return records
        position = batch.last_seq


def small(**services: ServiceLimits) -> BufferLimits:
    return BufferLimits(
        total_bytes=10 * 1024 * KIB,
        services=services,
        seal_bytes=8 * KIB,
        min_free_disk_bytes=0,
        evict_batch_fraction=0.0,
    )


def test_quota_evicts_oldest_segments_with_exact_accounting(open_store: OpenStore) -> None:
    store = open_store(small(syslog=ServiceLimits(quota_bytes=32 * KIB)))
    written = fill(store, "syslog", 3000, T0)
    stats = store.stats(T0).services["syslog"]
    assert 0 < stats.stored_bytes <= 32 * KIB
    assert stats.records + stats.dropped["quota"].records == 3000
    kept = read_all(store, "syslog")
    assert kept == written[-len(kept) :]  # the newest survive, in order
    assert_partition(seq_ranges(store, "syslog"), 3000)
    assert ledger_totals(store, "syslog") == {"quota": 3000 - len(kept)}
    assert stored_usage(store.path)["syslog"][2] == stats.stored_bytes


def test_a_burst_in_one_append_seals_as_bounded_segments_so_quota_keeps_its_newest(open_store: OpenStore) -> None:
    # The engine coalesces collector frames under load: one append can be megabytes. Sealed
    # whole, it would be one segment larger than the quota, refused entirely.
    store = open_store(small(syslog=ServiceLimits(quota_bytes=32 * KIB)))
    written = make_records("syslog", 0, 3000, T0, 200)
    store.append("syslog", written, T0)
    store.seal_all(T0)
    stats = store.stats(T0).services["syslog"]
    assert stats.segments > 1 and stats.records > 0
    kept = read_all(store, "syslog")
    assert kept == written[-len(kept) :]
    assert ledger_totals(store, "syslog") == {"quota": 3000 - len(kept)}
    assert_partition(seq_ranges(store, "syslog"), 3000)


def test_drop_newest_keeps_the_oldest(open_store: OpenStore) -> None:
    store = open_store(small(trap=ServiceLimits(quota_bytes=32 * KIB, overflow="drop_newest")))
    written = fill(store, "trap", 3000, T0)
    stats = store.stats(T0).services["trap"]
    assert stats.stored_bytes <= 32 * KIB
    assert set(stats.dropped) == {"overflow_newest"}
    kept = read_all(store, "trap")
    assert kept == written[: len(kept)]
    assert stats.last_seq == 3000  # refused seqs are spent, never handed out again
    store.append("trap", make_records("trap", 9999, 1, T0), T0)
    store.seal_all(T0)
    assert store.stats(T0).services["trap"].last_seq == 3001


def test_age_eviction(open_store: OpenStore) -> None:
    store = open_store(small(flow=ServiceLimits(max_age_s=60.0)))
    fill(store, "flow", 500, T0)
    fill(store, "flow", 100, T0 + 100, start=500)
    store.seal_due(T0 + 100.5)
    stats = store.stats(T0 + 100.5).services["flow"]
    assert stats.records == 100 and stats.dropped["age"].records == 500
    assert stats.oldest == pytest.approx(T0 + 100)
    assert store.ledger()[0].drop.reason == DropReason.AGE


def test_flow_burst_does_not_evict_syslog_under_its_fair_share(open_store: OpenStore) -> None:
    # Oversubscribed quotas (300 + 300 KiB on a 400 KiB budget): each is entitled to 200 KiB.
    limits = BufferLimits(
        total_bytes=400 * KIB,
        services={"syslog": ServiceLimits(quota_bytes=300 * KIB), "flow": ServiceLimits(quota_bytes=300 * KIB)},
        seal_bytes=16 * KIB,
        min_free_disk_bytes=0,
    )
    store = open_store(limits)
    syslog = fill(store, "syslog", 2500, T0)
    syslog_bytes = store.stats(T0).services["syslog"].stored_bytes
    assert 100 * KIB < syslog_bytes < 200 * KIB
    fill(store, "flow", 20_000, T0 + 1)
    stats = store.stats(T0 + 1)
    assert stats.stored_bytes <= 400 * KIB
    assert stats.services["syslog"].stored_bytes == syslog_bytes
    assert stats.services["syslog"].dropped == {}
    assert read_all(store, "syslog") == syslog
    assert stats.services["flow"].dropped["total_budget"].records > 0
    # syslog going past its share is then the one that pays.
    fill(store, "syslog", 3000, T0 + 2, start=1500)
    stats = store.stats(T0 + 2)
    assert stats.stored_bytes <= 400 * KIB
    assert stats.services["syslog"].stored_bytes <= 300 * KIB


def test_corrupt_segment_is_quarantined_and_reading_continues(open_store: OpenStore) -> None:
    store = open_store(small())
    written = fill(store, "syslog", 1000, T0)
    with sqlite3.connect(store.path) as conn:
        first_id, first_seq, last_seq = conn.execute(
            "SELECT id, first_seq, last_seq FROM segments ORDER BY id LIMIT 1"
        ).fetchone()
    flip_blob_byte(store.path, first_id)
    batch = store.read("noc", "syslog", 100)
    assert batch.gap is not None and (batch.gap.first_seq, batch.gap.last_seq) == (first_seq, last_seq)
    assert batch.records == written[last_seq : last_seq + 100]
    [entry] = store.ledger()
    assert entry.drop.reason == DropReason.CORRUPT_SEGMENT
    assert (entry.drop.first_seq, entry.drop.last_seq, entry.drop.records) == (1, last_seq, last_seq)
    stats = store.stats(T0)
    assert stats.quarantined_segments == 1
    assert stats.records == 1000 - last_seq
    with sqlite3.connect(store.path) as conn:
        segment_id, error, blob = conn.execute("SELECT segment_id, error, blob FROM quarantine").fetchone()
    assert segment_id == first_id and "checksum" in error and blob is not None
    assert read_all(store, "syslog") == written[last_seq:]


def test_restart_keeps_ledger_cursors_and_sequence(open_store: OpenStore, tmp_path: Path) -> None:
    limits = small(syslog=ServiceLimits(quota_bytes=32 * KIB))
    store = open_store(limits)
    fill(store, "syslog", 2000, T0)
    batch = store.read("noc", "syslog", 50)
    store.ack("noc", "syslog", batch.last_seq, T0)
    store.record_drop("syslog", "kernel_drop", 7, 700, T0, source="udp/514")
    store.seal_all(T0)
    ledger = store.ledger()
    stats = store.stats(T0)
    store.close()

    again = open_store(limits)
    assert again.ledger() == ledger
    assert again.cursor("noc", "syslog") == batch.last_seq
    assert again.stats(T0).services["syslog"].dropped == stats.services["syslog"].dropped
    assert again.stats(T0).services["syslog"].dropped["kernel_drop"].records == 7
    assert again.read("noc", "syslog", 10).first_seq == batch.last_seq + 1
    again.append("syslog", make_records("syslog", 5000, 1, T0), T0)
    again.seal_all(T0)
    assert again.stats(T0).services["syslog"].last_seq == 2001


def test_reader_inside_evicted_data_continues_with_a_gap(open_store: OpenStore) -> None:
    store = open_store(small(syslog=ServiceLimits(quota_bytes=32 * KIB)))
    fill(store, "syslog", 100, T0)
    store.ack("noc", "syslog", 10, T0)
    fill(store, "syslog", 3000, T0, start=100)
    oldest = seq_ranges(store, "syslog")
    first_stored = next(first for first, _, kind in oldest if kind == "stored")
    batch = store.read("noc", "syslog", 10)
    assert batch.gap is not None
    assert (batch.gap.first_seq, batch.gap.last_seq) == (11, first_stored - 1)
    assert batch.first_seq == first_stored and len(batch.records) == 10
    store.ack("noc", "syslog", batch.last_seq, T0)
    assert store.read("noc", "syslog", 10).gap is None


def test_trailing_gap_when_everything_unread_was_dropped(open_store: OpenStore) -> None:
    store = open_store(small())
    fill(store, "syslog", 100, T0)
    store.purge("syslog", T0)
    batch = store.read("noc", "syslog", 10)
    assert batch.records == [] and batch.gap is not None
    assert (batch.gap.first_seq, batch.gap.last_seq, batch.last_seq) == (1, 100, 100)
    store.ack("noc", "syslog", batch.last_seq)
    empty = store.read("noc", "syslog", 10)
    assert (empty.records, empty.gap, empty.first_seq, empty.last_seq) == ([], None, 101, 100)


def test_ack_rules(open_store: OpenStore) -> None:
    store = open_store(small())
    fill(store, "syslog", 10, T0)
    store.append("syslog", make_records("syslog", 10, 5, T0), T0)  # unsealed: not ackable
    with pytest.raises(ValueError, match="highest sealed is 10"):
        store.ack("noc", "syslog", 11)
    store.ack("noc", "syslog", 8)
    store.ack("noc", "syslog", 3)  # going back is ignored
    assert store.cursor("noc", "syslog") == 8
    assert store.read("noc", "syslog", 100).records == read_all(store, "syslog")[8:]


def test_only_sealed_data_is_forwarded(open_store: OpenStore) -> None:
    store = open_store(small())
    store.append("syslog", make_records("syslog", 0, 5, T0), T0)
    assert store.read("noc", "syslog").records == []
    assert store.seal_due(T0 + 0.5) == []  # younger than seal_interval_s
    [sealed] = store.seal_due(T0 + 1.0)
    assert (sealed.first_seq, sealed.last_seq, sealed.record_count) == (1, 5, 5)
    assert len(store.read("noc", "syslog").records) == 5


def test_invalid_records_are_refused_and_accounted(open_store: OpenStore) -> None:
    store = open_store(small())
    good = make_records("syslog", 0, 2, T0)
    store.append("syslog", [good[0], b"", b"{\n}", good[1]], T0, source="10.1.1.1:514")
    store.seal_all(T0)
    assert read_all(store, "syslog") == good
    [entry] = store.ledger()
    assert entry.drop.reason == DropReason.REJECTED_INPUT
    assert (entry.drop.records, entry.drop.bytes, entry.drop.source) == (2, 3, "10.1.1.1:514")
    assert entry.drop.first_seq is None


def test_unsealed_overflow_drops_instead_of_growing(open_store: OpenStore) -> None:
    store = open_store(BufferLimits(seal_bytes=64 * KIB, max_unsealed_bytes=100 * KIB, min_free_disk_bytes=0))
    for i in range(20):
        store.append("flow", make_records("flow", i * 100, 100, T0), T0)  # ~20 KiB a batch, never sealed
    stats = store.stats(T0).services["flow"]
    assert stats.unsealed_bytes <= 100 * KIB
    assert stats.unsealed_records + stats.dropped["unsealed_overflow"].records == 2000
    store.seal_all(T0)
    assert sum(e.drop.records for e in store.ledger()) == stats.dropped["unsealed_overflow"].records


def test_sqlite_full_degrades_to_accounted_drops_and_recovers(open_store: OpenStore) -> None:
    store = open_store(small())
    fill(store, "syslog", 500, T0)
    conn: sqlite3.Connection = store._conn  # fault injection: cap the file as a full disk would
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count={pages + 2}")
    store.append("syslog", make_records("syslog", 500, 500, T0 + 1), T0 + 1)
    assert store.seal_all(T0 + 1) == []  # did not raise
    assert store.stats(T0 + 1).storage_failing
    assert store.stats(T0 + 1).services["syslog"].dropped["disk_full"].records == 500
    lost = fill(store, "syslog", 1500, T0 + 1, start=1000)
    stats = store.stats(T0 + 1)
    full = stats.services["syslog"].dropped["disk_full"].records
    assert full > 0
    assert stats.records + full == 2500
    conn.execute("PRAGMA max_page_count=1073741823")
    fill(store, "syslog", 100, T0 + 2, start=2500)
    stats = store.stats(T0 + 2)
    assert not stats.storage_failing
    assert ledger_totals(store, "syslog") == {"disk_full": full}
    assert stats.records + full == 2600
    assert_partition(seq_ranges(store, "syslog"), 2600)
    assert read_all(store, "syslog")[-100:] != lost[-100:]


def test_low_disk_space_recycles_the_buffer_with_disk_full_reason(
    open_store: OpenStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(BufferLimits(seal_bytes=16 * KIB, min_free_disk_bytes=50 * 1024 * KIB))
    fill(store, "syslog", 2000, T0)
    stored = store.stats(T0).stored_bytes
    real_statvfs = os.statvfs

    def nearly_full(path: Any) -> Any:
        real = real_statvfs(path)
        return SimpleNamespace(f_bavail=(40 * 1024 * KIB) // real.f_frsize, f_frsize=real.f_frsize)

    monkeypatch.setattr(store_module.os, "statvfs", nearly_full)
    fill(store, "syslog", 2000, T0 + 1, start=2000)
    stats = store.stats(T0 + 1)
    assert stats.disk_limited
    assert stats.stored_bytes <= stored + 64 * KIB  # page reuse only, no growth
    dropped = stats.services["syslog"].dropped["disk_full"].records
    assert dropped > 0 and stats.records + dropped == 4000
    monkeypatch.setattr(store_module.os, "statvfs", real_statvfs)
    fill(store, "syslog", 2000, T0 + 2, start=4000)
    assert store.stats(T0 + 2).services["syslog"].dropped["disk_full"].records == dropped


def test_stats_and_forecast(open_store: OpenStore, tmp_path: Path) -> None:
    limits = BufferLimits(total_bytes=64 * 1024 * KIB, seal_bytes=16 * KIB, min_free_disk_bytes=0)
    store = open_store(limits)
    idle = store.stats(T0)
    assert idle.forecast_days is None and idle.records == 0 and idle.compression_ratio is None
    # 1000 records/s for 60 s of simulated time.
    for second in range(60):
        store.append("syslog", make_records("syslog", second * 1000, 1000, T0 + second), T0 + second)
        store.seal_due(T0 + second + 0.2)
    stats = store.stats(T0 + 60)
    syslog = stats.services["syslog"]
    assert syslog.ingest_records_per_s == pytest.approx(1000, rel=0.1)
    expected_days = limits.total_bytes / syslog.ingest_stored_bytes_per_s / 86_400
    assert stats.forecast_days == pytest.approx(expected_days)
    assert syslog.forecast_days == pytest.approx(expected_days)
    assert syslog.oldest == T0 and syslog.newest == pytest.approx(T0 + 59)
    assert stats.compression_ratio is not None and stats.compression_ratio > 1.5
    assert syslog.raw_bytes > syslog.stored_bytes > 0
    store.seal_all(T0 + 61)
    store.close()
    # Reopened, the rate comes from recent segment metadata: the forecast stays meaningful.
    again = open_store(limits, now=T0 + 61)
    assert again.stats(T0 + 61).services["syslog"].ingest_records_per_s == pytest.approx(1000, rel=0.1)
    # Idle for longer than the window: no rate, no forecast; an age limit bounds it.
    assert again.stats(T0 + 1000).forecast_days is None
    again.close()
    aged = open_store(BufferLimits(default_service=ServiceLimits(max_age_s=2 * 86_400)), now=T0 + 5000)
    assert aged.stats(T0 + 5000).forecast_days == pytest.approx(2.0)


def test_tail_includes_unsealed_and_orders_services_by_receive_time(open_store: OpenStore) -> None:
    store = open_store(small())
    syslog = fill(store, "syslog", 300, T0)
    flow = make_records("flow", 0, 5, T0 + 5)
    store.append("flow", flow, T0 + 5)  # unsealed
    late_syslog = make_records("syslog", 300, 2, T0 + 6)
    store.append("syslog", late_syslog, T0 + 6)
    assert store.tail("syslog", 4) == syslog[-2:] + late_syslog
    assert store.tail("flow", 10) == flow
    assert store.tail(limit=8) == syslog[-1:] + flow + late_syslog
    assert len(store.tail("syslog", 10_000)) == 302
    assert store.tail("nothing") == []


def test_export_filters_by_received_at(open_store: OpenStore) -> None:
    store = open_store(small())
    for minute in range(10):
        moment = T0 + minute * 60
        store.append("syslog", make_records("syslog", minute * 10, 10, moment), moment)
        store.seal_all(moment)
    store.append("syslog", make_records("syslog", 100, 10, T0 + 600), T0 + 600)  # unsealed
    window = list(store.export("syslog", since=T0 + 120, until=T0 + 300))
    assert len(window) == 30
    assert {json.loads(r)["received_at"] for r in window} == {rfc3339(T0 + m * 60) for m in (2, 3, 4)}
    assert len(list(store.export("syslog"))) == 110
    from datetime import UTC, datetime

    since = datetime.fromtimestamp(T0 + 540, UTC)
    assert len(list(store.export("syslog", since=since))) == 20


def test_purge(open_store: OpenStore) -> None:
    store = open_store(small())
    fill(store, "syslog", 500, T0)
    fill(store, "flow", 50, T0)
    store.append("syslog", make_records("syslog", 500, 5, T0), T0)
    result = store.purge("syslog", T0 + 1)
    assert (result.records, result.service) == (505, "syslog")
    stats = store.stats(T0 + 1)
    assert stats.services["syslog"].records == 0 and stats.services["syslog"].unsealed_records == 0
    assert stats.services["flow"].records == 50
    assert ledger_totals(store, "syslog") == {"purged": 505}
    assert_partition(seq_ranges(store, "syslog"), 505)
    store.append("syslog", make_records("syslog", 600, 1, T0), T0)
    store.seal_all(T0 + 2)
    assert store.stats(T0 + 2).services["syslog"].last_seq == 506


def test_ledger_paging_and_trimming(open_store: OpenStore) -> None:
    store = open_store(BufferLimits(ledger_max_rows=5, min_free_disk_bytes=0))
    for i in range(12):
        store.record_drop(f"svc{i}", DropReason.KERNEL_DROP, 1, 10, T0 + i)
        store.seal_due(T0 + i)
    rows = store.ledger()
    assert [row.id for row in rows] == list(range(8, 13))
    assert [row.id for row in store.ledger(since_id=10, limit=1)] == [11]
    # Totals outlive trimmed rows.
    assert store.stats(T0 + 20).dropped["kernel_drop"].records == 12


def test_open_reads_no_blobs(open_store: OpenStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = open_store(small())
    for service in ("syslog", "flow", "trap"):
        fill(store, service, 2000, T0)
    store.close()
    statements: list[str] = []

    def traced_connect(path: Path) -> sqlite3.Connection:
        conn = schema.connect(path)
        conn.set_trace_callback(statements.append)
        return conn

    monkeypatch.setattr(store_module, "connect", traced_connect)
    again = open_store(small(), now=T0 + 10)
    assert statements and not [s for s in statements if "segment_blobs" in s]
    assert again.stats(T0 + 10).records == 6000


def test_schema_is_versioned_and_inspectable(open_store: OpenStore) -> None:
    store = open_store(small())
    fill(store, "syslog", 100, T0)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT max(version) FROM schema_version").fetchone() == (schema.SCHEMA_VERSION,)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        tables = schema.describe(conn)
    assert tables["segments"] == tables["segment_blobs"] > 0
    assert {"ledger", "cursors", "service_state", "drop_totals", "quarantine", "dictionaries"} <= set(tables)
    with sqlite3.connect(store.path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 0)")
    store.close()
    with pytest.raises(RuntimeError, match="newer than this software"):
        SegmentStore.open(store.path.parent, small(), T0)


def test_concurrent_appenders_and_seal_worker(open_store: OpenStore) -> None:
    store = open_store(BufferLimits(seal_bytes=16 * KIB, min_free_disk_bytes=0))
    stop = threading.Event()
    clock = [T0]

    def worker() -> None:
        while not stop.is_set():
            store.seal_due(clock[0])
            clock[0] += 0.05

    def appender(name: str) -> None:
        for i in range(200):
            store.append("syslog", [json.dumps({"thread": name, "i": i, "k": k}).encode() for k in range(10)], clock[0])

    seal_thread = threading.Thread(target=worker)
    seal_thread.start()
    threads = [threading.Thread(target=appender, args=(f"t{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    seal_thread.join()
    store.seal_all(clock[0])
    records = [json.loads(r) for r in read_all(store, "syslog")]
    assert len(records) == 8000
    for name in ("t0", "t1", "t2", "t3"):
        mine = [(r["i"], r["k"]) for r in records if r["thread"] == name]
        assert mine == sorted(mine) and len(mine) == 2000
