"""The per-sink loop on a real buffer with an in-memory sink: live first, fair, paused, VPN."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from nocraven.buffer.limits import BufferLimits, ServiceLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.batching import Batch
from nocraven.forward.forwarder import Forwarder, ForwardEvent, SinkStateChanged
from nocraven.forward.health import Backoff, SinkState
from nocraven.forward.settings import ForwardSettings, SinkSettings
from nocraven.forward.sinks import Delivered, Outcome, Sink
from tests.support.forwarding import make_record, wait_until

SERVICES = ("syslog", "flow")


class MemorySink:
    """Takes batches after `delay_s`, remembering their order."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.name = "mem"
        self.delay_s = delay_s
        self.batches: list[Batch] = []
        self.connects = 0
        self.closes = 0
        self.stuck: asyncio.Event | None = None  # set: deliveries hang until it is set (a dead path)

    async def connect(self) -> None:
        self.connects += 1

    async def deliver(self, batch: Batch) -> Outcome:
        if self.stuck is not None:
            await self.stuck.wait()
        await asyncio.sleep(self.delay_s)
        self.batches.append(batch)
        return Delivered()

    async def close(self) -> None:
        self.closes += 1


def segments(store: SegmentStore, service: str, count: int, size: int) -> None:
    now = time.time()
    for index in range(count):
        store.append(service, [make_record(service, index * size + i, now) for i in range(size)], now)
        store.seal_all(now)


def forwarder(store: SegmentStore, sink: MemorySink, events: list[ForwardEvent], **extra: object) -> Forwarder:
    settings = ForwardSettings(site="arena-01", sinks=[SinkSettings(name="mem", urls=["nats://x:1"], **extra)])  # type: ignore[arg-type]

    def factory(_: SinkSettings, __: str) -> Sink:
        return sink

    return Forwarder(store, settings, SERVICES, events.append, sink_factory=factory, backoff=Backoff(0.01, 0.05))


@pytest.fixture
def store(tmp_path: Path) -> SegmentStore:
    return SegmentStore.open(tmp_path / "buffer", BufferLimits(), time.time())


async def test_a_new_record_overtakes_the_backlog(store: SegmentStore) -> None:
    segments(store, "syslog", 40, 50)
    sink = MemorySink(delay_s=0.01)
    events: list[ForwardEvent] = []
    running = forwarder(store, sink, events, in_flight=1)
    running.start()
    try:
        await wait_until(lambda: len(sink.batches) >= 3, 10, "the drain to start")
        now = time.time()
        store.append("syslog", [make_record("syslog", 9999, now, message="live")], now)
        store.seal_all(now)
        await wait_until(lambda: store.cursor("mem", "syslog") == 2001, 20, "everything")
    finally:
        await running.stop()
    firsts = [b.first_seq for b in sink.batches]
    live_at = firsts.index(2001)
    assert live_at < 10, f"the live batch went out as batch {live_at} of {len(firsts)}"
    assert sorted(firsts) == [i * 50 + 1 for i in range(41)]
    states = [e.state for e in events if isinstance(e, SinkStateChanged)]
    assert states[0] is SinkState.DRAINING and states[-1] is SinkState.FORWARDING


async def test_backlog_drains_in_turns_between_services(store: SegmentStore) -> None:
    segments(store, "syslog", 10, 20)
    segments(store, "flow", 3, 20)
    sink = MemorySink()
    running = forwarder(store, sink, [], in_flight=1)
    running.start()
    try:
        await wait_until(lambda: store.cursor("mem", "syslog") == 200 and store.cursor("mem", "flow") == 60, 10, "all")
    finally:
        await running.stop()
    order = [b.service for b in sink.batches]
    assert order[:6] == ["syslog", "flow"] * 3
    assert [b.first_seq for b in sink.batches if b.service == "syslog"] == [i * 20 + 1 for i in range(10)]


async def test_a_paused_sink_keeps_records_in_the_buffer_until_resumed(store: SegmentStore) -> None:
    sink = MemorySink()
    events: list[ForwardEvent] = []
    running = forwarder(store, sink, events)
    running.pause("mem")
    running.start()
    try:
        segments(store, "flow", 2, 10)
        await wait_until(lambda: any(getattr(e, "state", None) is SinkState.PAUSED for e in events), 5, "paused")
        status = running.status()[0]
        assert (status.state, status.backlog_records) == ("paused", 20)
        assert sink.batches == []
        running.resume("mem")
        await wait_until(lambda: store.cursor("mem", "flow") == 20, 5, "the resume")
    finally:
        await running.stop()
    assert len(sink.batches) == 2
    with pytest.raises(KeyError, match="no sink named 'nope'"):
        running.pause("nope")


async def test_a_sink_that_requires_the_vpn_waits_for_it(store: SegmentStore) -> None:
    segments(store, "syslog", 1, 10)
    sink = MemorySink()
    events: list[ForwardEvent] = []
    running = forwarder(store, sink, events, requires_vpn=True)
    running.start()
    try:
        await wait_until(lambda: bool(events), 5, "a state")
        assert running.status()[0].state == "buffering" and "VPN" in running.status()[0].reason
        assert sink.connects == 0
        running.set_vpn(True)
        await wait_until(lambda: store.cursor("mem", "syslog") == 10, 5, "the tunnel")
    finally:
        await running.stop()
    assert sink.connects == 1


def test_the_backlog_shown_leaves_out_records_evicted_before_they_were_sent(store: SegmentStore) -> None:
    segments(store, "syslog", 10, 50)
    waiting = forwarder(store, MemorySink(), [])  # never started: nothing is delivered
    assert waiting.status()[0].backlog_records == 500
    store.purge("syslog", time.time())  # the ledger accounts for these; gap events carry them
    assert waiting.status()[0].backlog_records == 0
    segments(store, "syslog", 2, 50)
    shown = waiting.status()[0]
    assert shown.backlog_records == 100
    assert 0 < shown.backlog_bytes < 100 * 200


def test_the_backlog_shown_leaves_out_records_refused_by_a_full_quota(tmp_path: Path) -> None:
    # drop_newest: once the quota is full, new segments are refused (seqs spent, ledger entry).
    limits = BufferLimits(
        services={"syslog": ServiceLimits(quota_bytes=64 * 1024, overflow="drop_newest")},
        min_free_disk_bytes=0,
    )
    store = SegmentStore.open(tmp_path / "buffer", limits, time.time())
    now = time.time()
    for index in range(40):
        records = [make_record("syslog", index * 200 + i, now, pad=os.urandom(64).hex()) for i in range(200)]
        store.append("syslog", records, now)
        store.seal_all(now)
    stats = store.stats(now).services["syslog"]
    assert "overflow_newest" in stats.dropped and stats.last_seq == 8000
    waiting = forwarder(store, MemorySink(), [])
    assert waiting.status()[0].backlog_records == stats.records < 8000
    store.close()


async def test_when_the_tunnel_drops_batches_in_flight_are_resent_on_a_new_connection(store: SegmentStore) -> None:
    segments(store, "syslog", 1, 10)
    sink = MemorySink()
    events: list[ForwardEvent] = []
    running = forwarder(store, sink, events, requires_vpn=True)
    running.set_vpn(True)
    running.start()
    try:
        await wait_until(lambda: store.cursor("mem", "syslog") == 10, 5, "the first records")
        sink.stuck = asyncio.Event()  # the tunnel dies under the connection: nothing answers
        segments(store, "syslog", 1, 10)
        await asyncio.sleep(0.3)
        assert store.cursor("mem", "syslog") == 10
        running.set_vpn(False)
        await wait_until(lambda: sink.closes == 1, 5, "the old connection to be closed")
        assert running.status()[0].state == "buffering"
        sink.stuck = None  # the next tunnel works
        running.set_vpn(True)
        await wait_until(lambda: store.cursor("mem", "syslog") == 20, 5, "the records on the new connection")
    finally:
        await running.stop()
    assert sink.connects == 2
    sent = [b.first_seq for b in sink.batches]
    assert sorted(set(sent)) == sent, "each batch delivered once, in order"
