"""The forward component in an engine context (in process, no NOC listening): the VPN hook, its
watch events, its status detail, and a restart when the buffer goes away under it."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from nocraven.buffer.limits import BufferLimits
from nocraven.buffer.store import SegmentStore
from nocraven.config import Config, from_toml_text
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.forward.component import ForwardComponent
from nocraven.schema.forward import ForwardStateChanged, ForwardStatus
from nocraven.schema.vpn import VpnStateChanged
from tests.support.forwarding import free_port


def vpn(connected: bool) -> VpnStateChanged:
    """What the VPN component publishes when the tunnel comes up or goes down."""
    return VpnStateChanged(profile="hq" if connected else None, connected=connected)


def config(tmp_path: Path, requires_vpn: bool) -> Config:
    text = f"""
[forward]
site = "arena-01"

[[forward.sinks]]
name = "noc"
type = "nats"
urls = ["nats://127.0.0.1:{free_port()}"]
requires_vpn = {"true" if requires_vpn else "false"}
timeout_s = 0.5
"""
    parsed = from_toml_text(text, "test")
    return dataclasses.replace(parsed, engine=dataclasses.replace(parsed.engine, data_dir=tmp_path))


class Running:
    def __init__(self, ctx: EngineContext) -> None:
        self.component = ForwardComponent(ctx)
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.ready.clear()
        self.task = asyncio.create_task(self.component.run(self.ready.set))
        await asyncio.wait_for(self.ready.wait(), 10)

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def status(self) -> ForwardStatus:
        return self.component.status()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SegmentStore]:
    opened = SegmentStore.open(tmp_path / "buffer", BufferLimits(), time.time())
    yield opened
    opened.close()


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_vpn_events_open_and_close_the_path_of_a_sink_that_requires_the_vpn(
    tmp_path: Path, store: SegmentStore
) -> None:
    bus = EventBus()
    ctx = EngineContext(config=config(tmp_path, requires_vpn=True), bus=bus)
    ctx.buffer.attach(store)
    watcher = bus.subscribe(kinds={ForwardStateChanged.kind})
    running = Running(ctx)
    await running.start()
    try:
        await eventually(lambda: "VPN down" in running.status().sinks[0].reason, "the VPN reason")
        assert running.status().state == "buffering"
        assert bus.watcher_count == 0  # neither the component nor a subscriber to a few kinds watches
        bus.publish(vpn(True))
        # Now the sink tries the NOC itself, which does not answer.
        await eventually(lambda: "unreachable" in running.status().sinks[0].reason, "a connection attempt")
        bus.publish(vpn(False))
        await eventually(lambda: "VPN down" in running.status().sinks[0].reason, "the VPN reason again")
    finally:
        await running.stop()
    reasons = [p.event.reason for p in await watcher.next_batch() if isinstance(p.event, ForwardStateChanged)]
    assert "VPN down" in reasons[0]
    assert any("unreachable" in reason for reason in reasons[1:])
    assert "VPN down" in reasons[-1]


async def test_the_vpn_state_and_a_pause_survive_a_restart_of_the_component(
    tmp_path: Path, store: SegmentStore
) -> None:
    bus = EventBus()
    ctx = EngineContext(config=config(tmp_path, requires_vpn=True), bus=bus)
    ctx.buffer.attach(store)
    running = Running(ctx)
    await running.start()
    bus.publish(vpn(True))
    await eventually(lambda: "unreachable" in running.status().sinks[0].reason, "a connection attempt")
    assert running.component.forwarder is not None
    running.component._paused.add("noc")  # as POST /v1/forward/pause records it
    await running.stop()
    assert running.status().state is None and running.status().sinks == []  # stopped: no sinks shown
    await running.start()
    try:
        await eventually(lambda: running.status().state == "paused", "paused after the restart")
        running.component.forwarder.resume("noc")  # type: ignore[union-attr]
        # The VPN is still known to be up: no "VPN down" wait after the restart.
        await eventually(lambda: "unreachable" in running.status().sinks[0].reason, "a connection attempt")
    finally:
        await running.stop()


async def test_the_component_fails_when_the_buffer_closes_under_it(tmp_path: Path, store: SegmentStore) -> None:
    ctx = EngineContext(config=config(tmp_path, requires_vpn=False), bus=EventBus())
    ctx.buffer.attach(store)
    component = ForwardComponent(ctx)
    ready = asyncio.Event()
    task = asyncio.create_task(component.run(ready.set))
    await asyncio.wait_for(ready.wait(), 10)
    ctx.buffer.detach()  # the buffer component stopped or crashed
    with pytest.raises(RuntimeError, match="buffer was closed"):
        await asyncio.wait_for(task, 5)
    assert component.forwarder is None


async def test_without_sinks_the_status_says_so_and_the_counters_are_published(
    tmp_path: Path, store: SegmentStore
) -> None:
    bus = EventBus()
    ctx = EngineContext(config=dataclasses.replace(Config(), engine=Config().engine), bus=bus)
    ctx.buffer.attach(store)
    watcher = bus.subscribe(kinds={"counters.updated"})
    running = Running(ctx)
    await running.start()
    try:
        batch = await asyncio.wait_for(watcher.next_batch(), 5)
    finally:
        await running.stop()
    assert running.component.status() == ForwardStatus(state=None, backlog_records=0, rate_rps=0.0, site="", sinks=[])
    counters = batch[0].event
    assert counters.component == "forward"  # type: ignore[attr-defined]
    assert counters.counters_as(ForwardStatus).sinks == []  # type: ignore[attr-defined]
