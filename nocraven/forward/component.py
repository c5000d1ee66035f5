"""The forwarder's engine part: runs the `Forwarder` on the open buffer, serves /v1/forward/*,
turns the forwarder's facts into watch events, and follows the VPN.

The VPN hook: a `VpnStateChanged` event on the bus (`vpn.state_changed`, published by the VPN
component) opens or closes the path of the sinks with `requires_vpn = true`; this component needs
nothing else from the VPN. Until the first such event, such sinks wait (buffering).

Stop order: listed after the buffer in `build_components`, so it stops (and persists its
cursors) before the buffer flushes and closes the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from nocraven.api.params import json_body
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Result, Route
from nocraven.buffer.store import SegmentStore
from nocraven.config import SERVICES
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.forward.forwarder import BatchQuarantined, Forwarder, ForwardEvent, SinkStateChanged
from nocraven.forward.health import SinkState, worst
from nocraven.forward.pauses import PauseFile
from nocraven.schema.events import CountersUpdated, Published
from nocraven.schema.forward import (
    ForwardBatchQuarantined,
    ForwardStateChanged,
    ForwardStatus,
    SinkRequest,
    SinksControlled,
    SinkStatus,
)
from nocraven.schema.vpn import VpnStateChanged

log = logging.getLogger("nocraven.forward")

COUNTERS_EVERY_S = 1.0


def summarize(site: str, sinks: list[SinkStatus]) -> ForwardStatus:
    """The sinks, and the worst state among them for the dashboard and the header."""
    state = worst([SinkState(s.state) for s in sinks])
    return ForwardStatus(
        state=state.value if state is not None else None,
        backlog_records=sum(s.backlog_records for s in sinks),
        rate_rps=round(sum(s.rate_rps for s in sinks), 1),
        site=site,
        sinks=sinks,
    )


class ForwardComponent(Component):
    name = "forward"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.forwarder: Forwarder | None = None
        # Kept across restarts of this component: the last VPN state. An operator's pause is
        # kept across engine restarts too: on disk, in the data dir.
        self._pauses = PauseFile(ctx.config.engine.data_dir)
        self._paused: set[str] = self._pauses.load()
        self._vpn_up = False
        self._published: ForwardStatus | None = None

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        settings = self.ctx.config.forward
        store = await self.ctx.buffer.wait_open()
        forwarder = Forwarder(
            store,
            settings,
            SERVICES,
            on_event=self._publish,
            quarantine_dir=self.ctx.config.engine.data_dir / "quarantine",
        )
        forwarder.set_vpn(self._vpn_up)
        for name in self._paused & set(forwarder.runners):
            forwarder.pause(name)
        forwarder.start()
        self.forwarder = forwarder
        log.info("forwarding as site %r to %d sink(s)", settings.site, len(forwarder.runners))
        ready()
        try:
            await self._follow(forwarder, store)
        finally:
            self.forwarder = None
            await forwarder.stop()

    async def _follow(self, forwarder: Forwarder, store: SegmentStore) -> None:
        """Follow the VPN, publish counters each second, and fail if a sink's loop died or the
        buffer was reopened under it (the supervisor then restarts this component)."""
        vpn_events = self.ctx.bus.subscribe(kinds={VpnStateChanged.kind}, component=self.name)
        waiting: asyncio.Task[list[Published]] | None = None
        try:
            while True:
                if waiting is None:
                    waiting = asyncio.create_task(vpn_events.next_batch())
                done, _ = await asyncio.wait({waiting}, timeout=COUNTERS_EVERY_S)
                if waiting in done:
                    batch = waiting.result()
                    waiting = None
                    if not batch:  # dropped as too slow (never expected for two rare kinds)
                        vpn_events = self.ctx.bus.subscribe(kinds={VpnStateChanged.kind}, component=self.name)
                    for published in batch:
                        if isinstance(published.event, VpnStateChanged):
                            self._vpn_changed(forwarder, published.event.connected)
                failure = forwarder.failure()
                if failure is not None:
                    raise RuntimeError(f"forwarding stopped: {failure}")
                if self.ctx.buffer.store is not store:
                    raise RuntimeError("the buffer was closed or reopened; forwarding restarts on it")
                counters = self.status()
                if counters != self._published:  # unchanged figures are not news (no sinks, idle)
                    self._published = counters
                    self.ctx.bus.publish(CountersUpdated.of(self.name, counters))
        finally:
            vpn_events.close()
            if waiting is not None:
                waiting.cancel()

    def _vpn_changed(self, forwarder: Forwarder, up: bool) -> None:
        if up != self._vpn_up:
            log.info("VPN %s: sinks that require it %s", "up" if up else "down", "resume" if up else "wait")
        self._vpn_up = up
        forwarder.set_vpn(up)

    def _publish(self, event: ForwardEvent) -> None:
        if isinstance(event, SinkStateChanged):
            self.ctx.bus.publish(ForwardStateChanged(sink=event.sink, state=event.state.value, reason=event.reason))
        elif isinstance(event, BatchQuarantined):
            self.ctx.bus.publish(
                ForwardBatchQuarantined(
                    sink=event.sink,
                    message_id=event.message_id,
                    service=event.service,
                    records=event.records,
                    reason=event.reason,
                )
            )

    def status(self) -> ForwardStatus:
        forwarder = self.forwarder
        site = self.ctx.config.forward.site
        return summarize(site, forwarder.status() if forwarder is not None else [])

    # ---- API -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/forward/status", self._get_status),
            Route("POST", "/v1/forward/pause", self._post_pause, Role.ADMIN),
            Route("POST", "/v1/forward/resume", self._post_resume, Role.ADMIN),
        ]

    def _require(self) -> Forwarder:
        if self.forwarder is None:
            raise ApiError(ErrorCode.UNAVAILABLE, "the forwarder is not running right now; see `nocraven status`")
        return self.forwarder

    async def _get_status(self, request: web.Request, peer: Peer) -> Result:
        self._require()
        return self.status()

    async def _post_pause(self, request: web.Request, peer: Peer) -> Result:
        return await self._control(request, peer, pause=True)

    async def _post_resume(self, request: web.Request, peer: Peer) -> Result:
        return await self._control(request, peer, pause=False)

    async def _control(self, request: web.Request, peer: Peer, pause: bool) -> Result:
        forwarder = self._require()
        body = await json_body(request, SinkRequest)
        if not forwarder.runners:
            raise ApiError(ErrorCode.CONFLICT, "no sink is configured; add a [[forward.sinks]] table to the config")
        try:
            (forwarder.pause if pause else forwarder.resume)(body.sink)
        except KeyError as exc:
            raise ApiError(ErrorCode.NOT_FOUND, str(exc.args[0])) from None
        names = [body.sink] if body.sink is not None else list(forwarder.runners)
        paused = self._paused | set(names) if pause else self._paused - set(names)
        if paused != self._paused:
            try:
                await asyncio.to_thread(self._pauses.save, paused)
            except OSError as exc:
                # Applied in memory all the same: the operator's intent holds until a restart.
                log.error("the pause of %s is not saved (%s); it lasts until the engine restarts", names, exc)
            self._paused = paused
        action = "paused" if pause else "resumed"
        log.warning("forwarding %s for %s by %s", action, ", ".join(names), peer.who)
        return SinksControlled(action=action, sinks=names)
