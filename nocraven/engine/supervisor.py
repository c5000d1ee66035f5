"""Component supervision: start in order, restart crashes with backoff, stop in reverse order.

A component that crashes is logged once with its traceback, reported as an event, and restarted
after a delay that doubles up to a ceiling; it never takes the engine down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from nocraven.engine.bus import EventBus
from nocraven.engine.component import Component
from nocraven.events import ComponentStateChanged

log = logging.getLogger("nocraven.supervisor")


@dataclass
class Supervised:
    component: Component
    state: str = "stopped"
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

    def add(self, component: Component) -> None:
        self._order.append(Supervised(component))

    def components(self) -> list[Component]:
        return [s.component for s in self._order]

    def start_all(self) -> None:
        for s in self._order:
            s.state = "starting"  # before the task runs, so wait_started() sees it
            s.task = asyncio.create_task(self._keep_running(s), name=f"component:{s.component.name}")

    async def wait_started(self, timeout: float) -> None:
        """Wait until every component is running or has failed once (for orderly startup)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(s.state != "starting" for s in self._order):
                return
            await asyncio.sleep(0.02)

    async def stop_all(self, timeout_each_s: float = 5.0) -> None:
        # Reverse order: collectors stop before the buffer they write into flushes.
        for s in reversed(self._order):
            if s.task is None:
                continue
            s.task.cancel()
            try:
                await asyncio.wait_for(asyncio.shield(s.task), timeout_each_s)
            except (asyncio.CancelledError, TimeoutError):
                pass
            except Exception:
                log.exception("component %s failed while stopping", s.component.name)
            self._set_state(s, "stopped")

    def states(self) -> dict[str, dict[str, Any]]:
        out = {}
        for s in self._order:
            try:
                detail = s.component.status()
            except Exception as exc:  # a status bug must not break /v1/status
                log.exception("status() of %s failed", s.component.name)
                detail = {"status_error": str(exc)}
            out[s.component.name] = {
                "state": s.state,
                "since": s.since,
                "restarts": s.restarts,
                "last_error": s.last_error,
                "detail": detail,
            }
        return out

    def _set_state(self, s: Supervised, state: str, error: str | None = None) -> None:
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
        while True:
            if s.restarts:
                self._set_state(s, "restarting")
            started = time.monotonic()
            try:
                await s.component.run(lambda: self._set_state(s, "running"))
                error = "stopped by itself"
                log.error("component %s returned unexpectedly; restarting", name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.exception("component %s crashed; restarting in %.0f s", name, delay)
            if time.monotonic() - started >= self._healthy_after:
                delay = self._backoff_initial
            s.restarts += 1
            self._set_state(s, "failed", error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._backoff_max)
