"""The forwarder against a real nats-server with JetStream: outage, replay, cluster failover."""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.forward.forwarder import Forwarder, ForwardEvent, SinkStateChanged
from nocraven.forward.health import Backoff, SinkState
from nocraven.forward.settings import ForwardSettings, SinkSettings
from tests.support.forwarding import (
    NATS_SERVER,
    by_service,
    fill,
    kill_quietly,
    nats_cluster,
    nats_server,
    read_stream,
    running,
    wait_until,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not shutil.which(NATS_SERVER), reason="needs nats-server (Debian package nats-server)"),
]

SERVICES = ("syslog", "flow", "trap", "winevent")
ROOT = Path(__file__).resolve().parents[2]
FAST = Backoff(base_s=0.1, cap_s=1.0)


def nats_settings(urls: list[str], **extra: Any) -> ForwardSettings:
    options: dict[str, Any] = {"timeout_s": 3.0, "batch_records": 1000, **extra}
    sink = SinkSettings(name="noc", type="nats", urls=urls, **options)
    return ForwardSettings(site="arena-01", sinks=[sink])


class NoAckStore:
    """The buffer as a forwarder that crashes before persisting any ack would see it."""

    def __init__(self, store: SegmentStore) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def ack(self, *args: Any, **kwargs: Any) -> None:
        pass

    def ack_ledger(self, *args: Any, **kwargs: Any) -> None:
        pass


def caught_up(store: SegmentStore) -> bool:
    return all(store.cursor("noc", s) == store.sealed_seq(s) for s in SERVICES)


def assert_exactly_once_in_order(messages: list[Any], appended: dict[str, list[bytes]]) -> None:
    received = by_service(messages)
    for service, records in appended.items():
        assert len(received.get(service, [])) == len(records), service
        assert received[service] == records, f"{service}: content or order differs"
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids)), "a batch is stored twice"


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_records_buffered_while_nats_is_down_arrive_once_in_order(tmp_path: Path) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    appended = fill(store, {"syslog": 20_000, "flow": 15_000, "trap": 5_000, "winevent": 10_000}, now)
    assert sum(len(r) for r in appended.values()) == 50_000
    server = nats_server(tmp_path)
    events: list[ForwardEvent] = []
    forwarder = Forwarder(store, nats_settings([server.url]), SERVICES, events.append, backoff=FAST)
    forwarder.start()
    with running([server]):
        try:
            await wait_until(lambda: any(isinstance(e, SinkStateChanged) for e in events), 10, "a state event")
            status = forwarder.status()[0]
            assert status.state == "buffering"
            assert "unreachable" in status.reason and str(server.port) in status.reason
            assert status.backlog_records == 50_000
            assert status.oldest_age_s is not None and status.backlog_bytes > 50_000 * 50
            server.start()
            await wait_until(lambda: caught_up(store), 60, "the backlog to drain")
            status = forwarder.status()[0]
            assert status.backlog_records == 0 and status.delivered_records == 50_000
            assert status.last_delivery is not None
        finally:
            await forwarder.stop()
        states = [e.state for e in events if isinstance(e, SinkStateChanged)]
        assert SinkState.BUFFERING in states and SinkState.DRAINING in states
        assert states[-1] is SinkState.FORWARDING
        messages = await read_stream([server.url], "NOCRAVEN")
        assert_exactly_once_in_order(messages, appended)
        first = messages[0]
        assert first.subject.startswith("nocraven.arena-01.")
        assert first.headers["Content-Encoding"] == "zstd"
        assert first.headers["Nats-Msg-Id"] == (
            f"arena-01.{first.headers['Nocraven-Service']}.1-{first.headers['Nocraven-Records']}"
        )
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_replay_after_a_crash_before_the_ack_is_removed_by_jetstream(tmp_path: Path) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    appended = fill(store, {"syslog": 6_000, "flow": 4_000}, now)
    with running([nats_server(tmp_path).start()]) as (server,):
        settings = nats_settings([server.url], services=["syslog", "flow"])
        # First run: everything reaches the NOC, but no ack is persisted (it dies before).
        crashed = Forwarder(NoAckStore(store), settings, SERVICES, backoff=FAST)  # type: ignore[arg-type]
        crashed.start()
        try:
            await wait_until(lambda: crashed.status()[0].delivered_records >= 10_000, 60, "the first run")
        finally:
            await crashed.stop()
        assert store.cursor("noc", "syslog") == 0
        first_run = await read_stream([server.url], "NOCRAVEN")
        # Restarted: it replays from the persisted cursor (0) and JetStream drops every batch.
        restarted = Forwarder(store, settings, SERVICES, backoff=FAST)
        restarted.start()
        try:
            await wait_until(
                lambda: store.cursor("noc", "syslog") == 6_000 and store.cursor("noc", "flow") == 4_000,
                60,
                "the replay",
            )
            status = restarted.status()[0]
        finally:
            await restarted.stop()
        assert status.duplicate_batches == len(first_run)
        messages = await read_stream([server.url], "NOCRAVEN")
        assert len(messages) == len(first_run)
        assert_exactly_once_in_order(messages, appended)
    store.close()


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_three_node_cluster_loses_nothing_when_a_node_dies_mid_drain(tmp_path: Path) -> None:
    now = time.time()
    store = SegmentStore.open(tmp_path / "buffer", BufferLimits(), now)
    appended = fill(store, {"syslog": 20_000, "flow": 10_000}, now)
    servers = nats_cluster(tmp_path, 3)
    with running(servers):
        for server in servers:
            server.start()
        urls = [server.url for server in servers]
        # The drain is capped (~8 s) so the node surely dies in the middle of it.
        settings = nats_settings(
            urls, services=["syslog", "flow"], stream_replicas=3, batch_records=200, max_bytes_per_s=500_000
        )
        forwarder = Forwarder(store, settings, SERVICES, backoff=FAST, rng=random.Random(5))
        forwarder.start()
        try:
            await wait_until(lambda: store.cursor("noc", "syslog") > 2_000, 60, "the drain to start")
            victim = random.Random(1).choice(servers)
            victim.kill()
            delivered_at_kill = forwarder.status()[0].delivered_records
            await wait_until(lambda: caught_up_two(store), 120, "the drain through the other nodes")
        finally:
            await forwarder.stop()
        assert delivered_at_kill < 30_000, "the node died after the drain ended: the test proves nothing"
        alive = [server.url for server in servers if server is not victim]
        messages = await read_stream(alive, "NOCRAVEN", timeout=30)
        assert_exactly_once_in_order_by_id(messages, appended)
    store.close()


def caught_up_two(store: SegmentStore) -> bool:
    return store.cursor("noc", "syslog") == 20_000 and store.cursor("noc", "flow") == 10_000


def assert_exactly_once_in_order_by_id(messages: list[Any], appended: dict[str, list[bytes]]) -> None:
    """After a failover a retried batch may land after a later one: order by its seqs."""
    ids = [m.headers["Nats-Msg-Id"] for m in messages]
    assert len(ids) == len(set(ids)), "a batch is stored twice"
    ordered = sorted(messages, key=lambda m: int(m.headers["Nocraven-First-Seq"]))
    assert_exactly_once_in_order(ordered, appended)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_a_forwarder_killed_mid_drain_loses_nothing_when_restarted(tmp_path: Path) -> None:
    now = time.time()
    buffer_dir = tmp_path / "buffer"
    with SegmentStore.open(buffer_dir, BufferLimits(), now) as store:
        appended = fill(store, {"syslog": 15_000, "flow": 5_000}, now)
    with running([nats_server(tmp_path).start()]) as (server,):
        child = [sys.executable, "-m", "tests.support.forward_child", str(buffer_dir), server.url]
        # Capped (~10 s for the whole backlog) so the kill lands in the middle of the drain.
        first = subprocess.Popen([*child, "250000", "syslog", "flow"], cwd=ROOT)
        try:
            await wait_until_stream(server.url, lambda count: count >= 5, 30)
        finally:
            kill_quietly(first)
        assert first.returncode == -signal.SIGKILL
        partial = await read_stream([server.url], "NOCRAVEN")
        assert 0 < sum(len(m.records) for m in partial) < 20_000, "the kill did not land mid-drain"
        second = subprocess.run([*child, "0", "syslog", "flow"], cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr[-2000:]
        messages = await read_stream([server.url], "NOCRAVEN")
        assert_exactly_once_in_order_by_id(messages, appended)


async def wait_until_stream(url: str, predicate: Callable[[int], bool], timeout: float) -> None:
    import nats

    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if predicate((await js.stream_info("NOCRAVEN")).state.messages):
                    return
            except Exception:
                pass  # the stream is created by the forwarder's first connection
            await asyncio.sleep(0.1)
        raise AssertionError(f"the stream did not fill within {timeout} s")
    finally:
        await nc.close()
