"""Supervision: a crashing component is restarted with backoff and reported, never fatal."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from nocraven.config import Config
from nocraven.engine.bus import EventBus
from nocraven.engine.component import Component, EngineContext
from nocraven.engine.supervisor import Supervisor
from nocraven.schema.events import ComponentStateChanged


class Flaky(Component):
    name = "flaky"

    def __init__(self, ctx: EngineContext, failures: int) -> None:
        super().__init__(ctx)
        self.failures = failures
        self.runs = 0
        self.flushed = False

    async def run(self, ready: Callable[[], None]) -> None:
        self.runs += 1
        if self.runs <= self.failures:
            raise RuntimeError(f"boom {self.runs}")
        ready()
        try:
            await asyncio.Event().wait()
        finally:
            self.flushed = True


class Steady(Flaky):
    name = "steady"


async def test_crashes_are_restarted_with_backoff_and_reported() -> None:
    bus = EventBus()
    watcher = bus.subscribe()
    ctx = EngineContext(config=Config(), bus=bus)
    flaky, steady = Flaky(ctx, failures=2), Steady(ctx, failures=0)
    sup = Supervisor(bus, backoff_initial_s=0.01, backoff_max_s=0.02)
    sup.add(steady)
    sup.add(flaky)
    sup.start_all()
    for _ in range(200):
        await asyncio.sleep(0.01)
        if sup.states()["flaky"].state == "running":
            break
    states = sup.states()
    assert states["flaky"].state == "running"
    assert states["flaky"].restarts == 2
    assert states["flaky"].last_error == "RuntimeError: boom 2"
    assert states["steady"].state == "running" and states["steady"].restarts == 0
    events = [p.event for p in await watcher.next_batch()]
    failed = [e for e in events if isinstance(e, ComponentStateChanged) and e.state == "failed"]
    assert [f.error for f in failed] == ["RuntimeError: boom 1", "RuntimeError: boom 2"]
    await sup.stop_all()
    assert flaky.flushed and steady.flushed
    assert {s.state for s in sup.states().values()} == {"stopped"}


async def test_restart_on_request_flushes_and_starts_one_component_again() -> None:
    bus = EventBus()
    ctx = EngineContext(config=Config(), bus=bus)
    flaky, steady = Flaky(ctx, failures=0), Steady(ctx, failures=0)
    sup = Supervisor(bus)
    sup.add(steady)
    sup.add(flaky)
    sup.start_all()
    await sup.wait_started(timeout=5)
    await sup.restart("flaky")
    await sup.wait_started(timeout=5)
    states = sup.states()
    assert flaky.flushed and flaky.runs == 2
    assert steady.runs == 1 and not steady.flushed
    assert states["flaky"].state == "running" and states["flaky"].restarts == 0
    await sup.stop_all()


async def test_a_component_failing_while_the_engine_stops_is_not_restarted() -> None:
    bus = EventBus()
    ctx = EngineContext(config=Config(), bus=bus)

    class FailsOnStop(Flaky):
        name = "fails_on_stop"

        async def run(self, ready: Callable[[], None]) -> None:
            self.runs += 1
            ready()
            await stop_seen.wait()
            raise RuntimeError("lost my child process")

    stop_seen = asyncio.Event()
    component = FailsOnStop(ctx, failures=0)
    sup = Supervisor(bus, backoff_initial_s=0.01)
    sup.add(component)
    sup.start_all()
    await sup.wait_started(timeout=5)
    sup.stopping = True
    stop_seen.set()
    await asyncio.sleep(0.1)
    assert component.runs == 1
    await sup.stop_all()
    assert sup.states()["fails_on_stop"].state == "stopped"
