"""Component supervision: start in order, restart crashes with backoff, stop in reverse order.

A component that crashes is logged once with its traceback, reported as an event, and restarted
after a delay that doubles up to a ceiling; it never takes the engine down. `restart(name)`
restarts one component on request (a port change, a VPN action). Once the engine is stopping,
nothing is restarted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import msgspec

from nocraven.engine.bus import EventBus
from nocraven.engine.component import Component
from nocraven.schema.base import ComponentState
from nocraven.schema.engine import ComponentStatus, Listener
from nocraven.schema.events import ComponentStateChanged

log = logging.getLogger("nocraven.supervisor")


class StatusFailed(msgspec.Struct):
    status_error: str


@dataclass
class Supervised:
    component: Component
    state: ComponentState = ComponentState.STOPPED
    restarts: int = 0
    last_error: str | None = None
    since: float = 0.0
    task: asyncio.Task[None] | None = None


class Supervisor:
    def __init__(
        self,
        bus: EventBus,
        *,
        backoff_initial_s: float = 1.0,
        backoff_max_s: float = 60.0,
        healthy_after_s: float = 30.0,
    ) -> None:
        self._bus = bus
        self._backoff_initial = backoff_initial_s
        self._backoff_max = backoff_max_s
        self._healthy_after = healthy_after_s
        self._order: list[Supervised] = []
        self.stopping = False

    def add(self, component: Component) -> None:
        self._order.append(Supervised(component))

    def components(self) -> list[Component]:
        return [s.component for s in self._order]

    def start_all(self) -> None:
        for s in self._order:
            self._start(s)

    def _start(self, s: Supervised) -> None:
        s.state = ComponentState.STARTING  # before the task runs, so wait_started() sees it
        s.task = asyncio.create_task(self._keep_running(s), name=f"component:{s.component.name}")

    async def wait_started(self, timeout: float) -> None:
        """Wait until every component is running or has failed once (for orderly startup)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.state != ComponentState.STARTING for s in self._order):
                return
            await asyncio.sleep(0.02)

    async def restart(self, name: str, timeout_s: float = 5.0) -> None:
        """Stop one component (it flushes in its `finally`) and start it again at once."""
        s = next((s for s in self._order if s.component.name == name), None)
        if s is None:
            raise KeyError(name)
        if self.stopping:
            return
        await self._cancel(s, timeout_s)
        log.info("restarting %s on request", name)
        self._start(s)

    async def stop_all(self, timeout_each_s: float = 5.0) -> None:
        self.stopping = True
        # Reverse order: collectors stop before the buffer they write into flushes.
        for s in reversed(self._order):
            await self._cancel(s, timeout_each_s)
            self._set_state(s, ComponentState.STOPPED)

    async def _cancel(self, s: Supervised, timeout_s: float) -> None:
        if s.task is None:
            return
        s.task.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(s.task), timeout_s)
        except (asyncio.CancelledError, TimeoutError):
            pass
        except Exception:
            log.exception("component %s failed while stopping", s.component.name)
        s.task = None

    def component_states(self) -> dict[str, ComponentState]:
        """Each component's state alone, without asking it for its detail (safe to call from a
        component's own `status()`)."""
        return {s.component.name: s.state for s in self._order}

    def states(self) -> dict[str, ComponentStatus]:
        out = {}
        for s in self._order:
            detail: msgspec.Struct
            try:
                detail = s.component.status()
            except Exception as exc:  # a status bug must not break /v1/status
                log.exception("status() of %s failed", s.component.name)
                detail = StatusFailed(status_error=str(exc))
            out[s.component.name] = ComponentStatus(
                state=s.state,
                since=s.since,
                restarts=s.restarts,
                last_error=s.last_error,
                detail=msgspec.Raw(msgspec.json.encode(detail)),
            )
        return out

    def listeners(self) -> list[Listener]:
        return [
            msgspec.structs.replace(listener, state=s.state)
            for s in self._order
            for listener in s.component.listeners()
        ]

    def _set_state(self, s: Supervised, state: ComponentState, error: str | None = None) -> None:
        if state == s.state and error is None:
            return
        previous, s.state, s.since = s.state, state, time.time()
        if error is not None:
            s.last_error = error
        self._bus.publish(
            ComponentStateChanged(
                component=s.component.name,
                state=state,
                previous=previous,
                error=error,
                restarts=s.restarts,
            )
        )

    async def _keep_running(self, s: Supervised) -> None:
        delay = self._backoff_initial
        name = s.component.name
        repeats = 0  # the same failure again: logged as one line with a count, not a traceback each time
        while True:
            if s.restarts:
                self._set_state(s, ComponentState.RESTARTING)
            started = time.monotonic()
            try:
                await s.component.run(lambda: self._set_state(s, ComponentState.RUNNING))
                error = "stopped by itself"
                if self.stopping:
                    return
                log.error("component %s returned unexpectedly; restarting", name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                if self.stopping:  # a failure while the engine stops is not worth a restart
                    log.info("component %s ended while stopping: %s", name, error)
                    return
                repeats = repeats + 1 if error == s.last_error else 0
                if repeats == 0:
                    log.exception("component %s crashed; restarting in %.0f s", name, delay)
                elif repeats in (1, 10, 100) or repeats % 1000 == 0:
                    log.error("component %s failed again (%d times in a row): %s", name, repeats + 1, error)
            if time.monotonic() - started >= self._healthy_after:
                delay = self._backoff_initial
            s.restarts += 1
            self._set_state(s, ComponentState.FAILED, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)
