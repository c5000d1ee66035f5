"""Model-based test of the buffer: ingest, seal, evict (tiny quotas), read, ack, corrupt, purge,
crash (open segments lost) and reopen, with accounting invariants checked after every step."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from nocraven.buffer import BufferLimits, DropReason, SegmentStore, ServiceLimits
from tests.unit.buffer.buffer_helpers import (
    T0,
    assert_partition,
    flip_blob_byte,
    ledger_totals,
    make_record,
    seq_ranges,
    store_dropped,
    stored_usage,
)

SERVICES = ("syslog", "flow", "trap")
SINKS = ("noc", "archive")
TOTAL = 10 * 1024
PAGE = 4096

LIMITS = BufferLimits(
    total_bytes=TOTAL,
    services={
        "syslog": ServiceLimits(quota_bytes=6 * 1024),
        "flow": ServiceLimits(quota_bytes=6 * 1024, max_age_s=8.0),
        "trap": ServiceLimits(quota_bytes=3 * 1024, overflow="drop_newest"),
    },
    seal_bytes=1024,
    seal_interval_s=1.0,
    min_free_disk_bytes=0,
    evict_batch_fraction=0.1,
    quarantine_max_bytes=4096,
)


class BufferMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="buffer-machine-"))
        self.now = T0
        self.store = SegmentStore.open(self.dir, LIMITS, self.now)
        self.appended: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        self.next_seq = dict.fromkeys(SERVICES, 1)
        self.content: dict[str, dict[int, bytes]] = {service: {} for service in SERVICES}
        self.acked: dict[tuple[str, str], int] = {}
        self.counter = 0
        self.max_segments = 0
        self.input_drops: Counter[str] = Counter()

    @initialize()
    def start(self) -> None:
        assert self.store.stats(self.now).records == 0

    def teardown(self) -> None:
        self.store.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------------ rules

    @rule(service=st.sampled_from(SERVICES), count=st.integers(1, 40), size=st.integers(40, 300))
    def append(self, service: str, count: int, size: int) -> None:
        self._append(service, count, size)

    @rule(service=st.sampled_from(SERVICES), count=st.integers(60, 200))
    def append_burst_and_seal(self, service: str, count: int) -> None:
        for start in range(0, count, 50):
            self._append(service, min(50, count - start), 150)
        self.store.seal_due(self.now)

    def _append(self, service: str, count: int, size: int) -> None:
        records = []
        for _ in range(count):
            self.counter += 1
            records.append(make_record(service, self.counter, self.now, size))
        self.store.append(service, records, self.now, source="10.0.0.1:514")
        for record in records:
            self.content[service][self.next_seq[service]] = record
            self.next_seq[service] += 1
        self.appended[service] += count

    @rule(service=st.sampled_from(SERVICES))
    def append_with_invalid(self, service: str) -> None:
        self.counter += 1
        good = make_record(service, self.counter, self.now, 80)
        self.store.append(service, [b"", good, b'{"bad":\n1}'], self.now)
        self.content[service][self.next_seq[service]] = good
        self.next_seq[service] += 1
        self.appended[service] += 1
        self.input_drops[service] += 2

    @rule(seconds=st.floats(0.05, 6.0))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def seal_due(self) -> None:
        for segment in self.store.seal_due(self.now):
            assert segment.record_count == segment.last_seq - segment.first_seq + 1

    @rule()
    def seal_all(self) -> None:
        self.store.seal_all(self.now)
        assert self.store.stats(self.now).unsealed_records == 0

    @rule(
        sink=st.sampled_from(SINKS),
        service=st.sampled_from(SERVICES),
        max_records=st.integers(1, 120),
        ack_part=st.floats(0, 1),
    )
    def read_and_ack(self, sink: str, service: str, max_records: int, ack_part: float) -> None:
        cursor = self.store.cursor(sink, service)
        assert cursor == self.acked.get((sink, service), 0)
        batch = self.store.read(sink, service, max_records)
        assert len(batch.records) <= max_records
        assert batch.last_seq - batch.first_seq + 1 == len(batch.records)
        gap_start = cursor + 1 if batch.gap is None else batch.gap.last_seq + 1
        if batch.gap is not None:
            assert batch.gap.first_seq == cursor + 1
        assert batch.first_seq == gap_start
        for offset, record in enumerate(batch.records):
            assert record == self.content[service][batch.first_seq + offset]
        if not batch.records and batch.gap is None:
            return
        acked = batch.first_seq - 1 + round(len(batch.records) * ack_part)
        if acked > cursor:
            self.store.ack(sink, service, acked, self.now)
            self.acked[(sink, service)] = acked

    @rule()
    def crash(self) -> None:
        """Kill without sealing: open segments are lost, everything committed survives."""
        before = self.store.stats(self.now)
        self.store.close()
        self.store = SegmentStore.open(self.dir, LIMITS, self.now)
        after = self.store.stats(self.now)
        for service in SERVICES:
            was = before.services.get(service)
            unsealed = was.unsealed_records if was else 0
            self.lost[service] += unsealed
            # Lost records are always the newest; their seqs are handed out again.
            for seq in range(self.next_seq[service] - unsealed, self.next_seq[service]):
                del self.content[service][seq]
            self.next_seq[service] -= unsealed
            now_stats = after.services.get(service)
            # Collector-reported drops not yet written with a seal are the other thing a crash
            # may lose (at most one seal interval of them).
            persisted = ledger_totals(self.store, service)
            input_now = persisted.get("kernel_drop", 0) + persisted.get("rejected_input", 0)
            assert input_now <= self.input_drops[service]
            self.input_drops[service] = input_now
            assert (now_stats.last_seq if now_stats else 0) == self.next_seq[service] - 1
            assert (now_stats.records if now_stats else 0) == (was.records if was else 0)
        assert after.unsealed_records == 0
        assert self.store.cursors() == {k: v for k, v in self.acked.items() if v}

    @rule()
    def reopen(self) -> None:
        self.store.seal_all(self.now)
        before = self.store.stats(self.now)
        self.store.close()
        self.store = SegmentStore.open(self.dir, LIMITS, self.now)
        after = self.store.stats(self.now)
        assert after.records == before.records
        assert after.stored_bytes == before.stored_bytes
        assert {k: v.dropped for k, v in after.services.items()} == {k: v.dropped for k, v in before.services.items()}

    @rule(data=st.data())
    def corrupt_a_segment(self, data: st.DataObject) -> None:
        with sqlite3.connect(self.store.path) as conn:
            ids = [row[0] for row in conn.execute("SELECT id FROM segments ORDER BY id")]
        if not ids:
            return
        flip_blob_byte(self.store.path, data.draw(st.sampled_from(ids)))

    @rule(service=st.sampled_from(SERVICES))
    def purge(self, service: str) -> None:
        result = self.store.purge(service, self.now)
        assert result.records >= 0
        stats = self.store.stats(self.now).services[service]
        assert stats.records == 0 and stats.unsealed_records == 0

    @rule(service=st.sampled_from(SERVICES), records=st.integers(1, 1000))
    def kernel_drop(self, service: str, records: int) -> None:
        self.store.record_drop(service, DropReason.KERNEL_DROP, records, records * 100, self.now)
        self.input_drops[service] += records

    @rule(service=st.sampled_from(SERVICES))
    def read_everything_fresh(self, service: str) -> None:
        """A new reader gets every stored record, in seq order, matching what was appended."""
        self.counter += 1
        sink = f"fresh-{self.counter}"
        position = 0
        while True:
            batch = self.store.read(sink, service, 50, after_seq=position)
            for offset, record in enumerate(batch.records):
                assert record == self.content[service][batch.first_seq + offset]
            if batch.last_seq == position:
                break
            position = batch.last_seq

    # ------------------------------------------------------------- invariants

    @invariant()
    def every_record_is_accounted(self) -> None:
        stats = self.store.stats(self.now)
        for service in SERVICES:
            got = stats.services.get(service)
            if got is None:
                assert self.appended[service] == self.lost[service]
                continue
            dropped = {reason: count.records for reason, count in got.dropped.items()}
            for reason in dropped:
                event(f"dropped: {reason}")
            assert self.appended[service] == (
                got.records + store_dropped(dropped) + got.unsealed_records + self.lost[service]
            ), (service, got, self.lost[service])
            input_dropped = sum(dropped.values()) - store_dropped(dropped)
            assert input_dropped == self.input_drops[service]
            assert got.last_seq + got.unsealed_records == self.next_seq[service] - 1

    @invariant()
    def ledger_and_segments_partition_sealed_seqs(self) -> None:
        stats = self.store.stats(self.now)
        for service in SERVICES:
            got = stats.services.get(service)
            if got is None:
                continue
            assert_partition(seq_ranges(self.store, service), got.last_seq)
            ledger = ledger_totals(self.store, service)
            for reason, count in got.dropped.items():
                if DropReason(reason) not in {DropReason.KERNEL_DROP, DropReason.REJECTED_INPUT}:
                    assert ledger.get(reason, 0) == count.records, (service, reason)

    @invariant()
    def usage_matches_stored_segments(self) -> None:
        stats = self.store.stats(self.now)
        usage = stored_usage(self.store.path)
        for service in SERVICES:
            got = stats.services.get(service)
            segments, records, stored, blob_bytes = usage.get(service, (0, 0, 0, 0))
            assert (got.segments if got else 0) == segments
            assert (got.records if got else 0) == records
            assert (got.stored_bytes if got else 0) == stored == blob_bytes
            quota = LIMITS.quota_of(service)
            assert stored <= quota
        assert stats.stored_bytes <= TOTAL
        self.max_segments = max(self.max_segments, stats.segments)

    @invariant()
    def file_stays_within_budget(self) -> None:
        size = self.store.path.stat().st_size
        # Budget + page slack per segment + schema/index/ledger/quarantine pages.
        bound = TOTAL + (self.max_segments + 1) * PAGE + LIMITS.quarantine_max_bytes + 48 * PAGE
        assert size <= bound, (size, bound)


BufferMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("BUFFER_MACHINE_EXAMPLES", "40")),
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestBufferMachine = BufferMachine.TestCase
