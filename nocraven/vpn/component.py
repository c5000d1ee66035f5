"""The VPN manager's engine part: runs the supervisor, serves /v1/vpn/*, publishes the tunnel's
state on the bus.

Profiles live in the store whether or not the supervisor runs (so a technician can import
profiles with `vpn.enabled = false`); the commands that drive openvpn need it running. Every
connect/drop the supervisor reports is published as it is and summed up as one
`vpn.state_changed` (retained on the bus): the fact the forwarder's `requires_vpn` follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable

from aiohttp import web

from nocraven.api.params import int_param, json_body, rfc3339
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Result, Route
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.schema import vpn as wire
from nocraven.schema.events import CountersUpdated, Event
from nocraven.vpn.profile import Credentials, ProfileError
from nocraven.vpn.store import BadProfileName, ProfileExists, ProfileMeta, ProfileNotFound, ProfileStore, StoreError
from nocraven.vpn.supervisor import VpnSupervisor

log = logging.getLogger("nocraven.vpn")

PROBES_SHOWN_S = 3600.0  # the active tunnel's probes in GET /v1/vpn/history (a sparkline's worth)
PRIORITY_MAX = 1_000_000
COUNTERS_EVERY_S = 1.0


class VpnComponent(Component):
    name = "vpn"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.settings = ctx.config.vpn
        self.store = ProfileStore(ctx.config.engine.data_dir)
        self.supervisor: VpnSupervisor | None = None
        self._last_probe: wire.VpnProbe | None = None
        self._state = wire.VpnStateChanged(
            profile=None, connected=False, reason="the VPN manager has not started", state=wire.TunnelState.IDLE
        )

    # ---- lifecycle -------------------------------------------------------------------------

    async def run(self, ready: Callable[[], None]) -> None:
        if not self.settings.enabled:
            self._set_state(None, False, "the VPN manager is off (vpn.enabled = false)", wire.TunnelState.DISABLED)
            ready()
            await asyncio.Event().wait()
        supervisor = VpnSupervisor(self.store, self.settings, self.ctx.config.engine.data_dir, self._on_event)
        self._set_state(None, False, "the VPN manager started", wire.TunnelState.IDLE)
        try:
            await supervisor.start()  # restores the profile that ran before a restart, or picks one
            self.supervisor = supervisor
            ready()
            while True:  # live figures (state, traffic) for the console's header and VPN screen
                self._publish_counters()
                await asyncio.sleep(COUNTERS_EVERY_S)
        finally:
            self.supervisor = None
            last = supervisor.policy.active
            await supervisor.stop()
            self._set_state(last, False, "the VPN manager stopped", wire.TunnelState.STOPPED)

    def _on_event(self, event: Event) -> None:
        """What the supervisor reports: published as is, and as the state it amounts to."""
        self.ctx.bus.publish(event)
        if isinstance(event, wire.VpnProbed):
            self._last_probe = wire.VpnProbe(
                at=rfc3339(time.time()) or "",
                ok=event.ok,
                latency_ms=event.latency_ms,
                loss_percent=event.loss_percent,
                jitter_ms=event.jitter_ms,
            )
        elif isinstance(event, wire.VpnConnecting):
            self._set_state(event.profile, False, event.reason, wire.TunnelState.CONNECTING)
        elif isinstance(event, wire.VpnConnected):
            self._set_state(event.profile, True, f"connected to {event.remote}", wire.TunnelState.CONNECTED)
        elif isinstance(event, wire.VpnDisconnected):
            self._set_state(event.profile, False, event.reason, wire.TunnelState.DISCONNECTED)

    def _set_state(self, profile: str | None, connected: bool, reason: str, state: wire.TunnelState) -> None:
        self._state = wire.VpnStateChanged(profile=profile, connected=connected, reason=reason, state=state)
        self.ctx.bus.publish(self._state)
        with contextlib.suppress(RuntimeError):  # no loop: nothing watches yet
            # Once the supervisor has applied the change, so the figures agree with the event.
            asyncio.get_running_loop().call_soon(self._publish_counters)
        if state is wire.TunnelState.CONNECTING:
            self._last_probe = None
        if state in (wire.TunnelState.CONNECTED, wire.TunnelState.DISCONNECTED):
            log.info("vpn %s %s: %s", profile, state.value, reason)

    def _publish_counters(self) -> None:
        self.ctx.bus.publish(CountersUpdated.of(self.name, self.status()))

    # ---- status ------------------------------------------------------------------------------

    def status(self) -> wire.VpnStatus:
        supervisor = self.supervisor
        profiles = len(self.store.names())
        if supervisor is None:
            return wire.VpnStatus(
                enabled=self.settings.enabled,
                mode="off",
                override=None,
                active=None,
                state=self._state.state,
                connected=False,
                last_reason=self._state.reason,
                profiles=profiles,
            )
        status = supervisor.status()
        state = wire.TunnelState(status.state)
        return wire.VpnStatus(
            enabled=True,
            mode=status.mode,
            override=status.override,
            active=status.active,
            state=state,
            connected=state is wire.TunnelState.CONNECTED,
            remote=status.remote if state is wire.TunnelState.CONNECTED else "",
            local_ip=status.local_ip if state is wire.TunnelState.CONNECTED else "",
            device=status.device if state is wire.TunnelState.CONNECTED else "",
            since=rfc3339(status.since),
            bytes_in=status.bytes_in,
            bytes_out=status.bytes_out,
            last_reason=status.last_reason,
            probe=self._last_probe if state is wire.TunnelState.CONNECTED else None,
            alert=status.alert,
            remotes_skipped=status.remotes_skipped,
            cooldowns={name: round(left, 1) for name, left in status.cooldowns.items()},
            profiles=profiles,
        )

    def _profile(self, meta: ProfileMeta, status: wire.VpnStatus, now: dt.datetime) -> wire.VpnProfile:
        cooldown = status.cooldowns.get(meta.name, 0.0)
        if not meta.enabled:
            state = "disabled"
        elif meta.name == status.active and status.state in (wire.TunnelState.CONNECTED, wire.TunnelState.CONNECTING):
            state = "active" if status.connected else "connecting"
        elif cooldown > 0:
            state = "cooldown"
        else:
            state = "standby"
        return wire.VpnProfile(
            name=meta.name,
            priority=meta.priority,
            enabled=meta.enabled,
            added=meta.added,
            last_connected=meta.last_connected,
            cert_expiry=meta.cert_expiry,
            cert_days_left=meta.days_left(now),
            client_subject=meta.client_subject,
            remotes=list(meta.remotes),
            warnings=list(meta.warnings),
            has_credentials=meta.has_credentials,
            state=state,
            cooldown_s=cooldown,
        )

    # ---- API -------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        return [
            Route("GET", "/v1/vpn/status", self._get_status),
            Route("GET", "/v1/vpn/history", self._get_history),
            Route("GET", "/v1/vpn/profiles", self._get_profiles),
            Route("GET", "/v1/vpn/profiles/{name}", self._get_profile),
            Route("GET", "/v1/vpn/profiles/{name}/export", self._get_export, Role.ADMIN),
            Route("POST", "/v1/vpn/import", self._post_import, Role.ADMIN),
            Route("POST", "/v1/vpn/remove", self._post_remove, Role.ADMIN),
            Route("POST", "/v1/vpn/connect", self._post_connect, Role.TECH),
            Route("POST", "/v1/vpn/auto", self._post_auto, Role.TECH),
            Route("POST", "/v1/vpn/disconnect", self._post_disconnect, Role.ADMIN),
        ]

    async def _get_status(self, request: web.Request, peer: Peer) -> Result:
        return self.status()

    async def _get_history(self, request: web.Request, peer: Peer) -> Result:
        limit = int_param(request, "limit", 100, 1, 10_000)
        supervisor = self.supervisor
        if supervisor is None:
            return wire.VpnHistory(entries=[])
        now = time.time()
        entries = [
            wire.VpnHistoryEntry(
                profile=entry.profile,
                started=rfc3339(entry.started) or "",
                connected=rfc3339(entry.connected),
                ended=rfc3339(entry.ended),
                duration_s=_connected_for(entry.connected, entry.ended, now),
                reason_started=entry.reason_started,
                reason_ended=entry.reason_ended,
            )
            for entry in supervisor.history(limit)
        ]
        active = supervisor.policy.active
        probes = (
            [
                wire.VpnProbe(at=rfc3339(at) or "", ok=ok, latency_ms=latency, loss_percent=loss, jitter_ms=jitter)
                for at, ok, latency, loss, jitter in supervisor.memory.probes(active, now - PROBES_SHOWN_S)
            ]
            if active
            else []
        )
        return wire.VpnHistory(entries=entries, probes=probes, probes_profile=active)

    async def _get_profiles(self, request: web.Request, peer: Peer) -> Result:
        status = self.status()
        now = dt.datetime.now(dt.UTC)
        metas = await asyncio.to_thread(self.store.list)
        return wire.VpnProfiles(profiles=[self._profile(meta, status, now) for meta in metas])

    async def _get_profile(self, request: web.Request, peer: Peer) -> Result:
        meta = self._meta(request.match_info["name"])
        return self._profile(meta, self.status(), dt.datetime.now(dt.UTC))

    async def _get_export(self, request: web.Request, peer: Peer) -> Result:
        name = request.match_info["name"]
        self._meta(name)
        text = await asyncio.to_thread(self.store.export, name)
        log.info("vpn profile %s exported by %s", name, peer.who)
        return wire.VpnExport(name=name, text=text)

    async def _post_import(self, request: web.Request, peer: Peer) -> Result:
        body = await json_body(request, wire.VpnImportRequest)
        if not 0 <= body.priority <= PRIORITY_MAX:
            raise ApiError(ErrorCode.BAD_REQUEST, f"priority must be between 0 and {PRIORITY_MAX}, not {body.priority}")
        credentials = (
            Credentials(body.credentials.username, body.credentials.password) if body.credentials is not None else None
        )
        try:
            result = await asyncio.to_thread(
                self.store.import_text,
                body.text,
                name=body.name,
                priority=body.priority,
                allow=self.settings.allow_directives,
                files=body.files,
                credentials=credentials,
            )
        except ProfileError as exc:
            raise ApiError(ErrorCode.PROFILE_REFUSED, _one_line(str(exc))) from None
        except StoreError as exc:
            raise _store_error(exc) from None
        log.info("vpn profile %s imported by %s (priority %d)", body.name, peer.who, body.priority)
        if self.supervisor is not None:
            self.supervisor.reload_profiles()
        profile = self._profile(result.meta, self.status(), dt.datetime.now(dt.UTC))
        return wire.VpnImported(profile=profile, warnings=[str(w) for w in result.warnings])

    async def _post_remove(self, request: web.Request, peer: Peer) -> Result:
        body = await json_body(request, wire.VpnNameRequest)
        try:
            await asyncio.to_thread(self.store.remove, body.name)
        except StoreError as exc:
            raise _store_error(exc) from None
        log.info("vpn profile %s removed by %s", body.name, peer.who)
        if self.supervisor is not None:
            self.supervisor.reload_profiles()  # the tunnel on it, if any, moves to the next profile
        return wire.VpnRemoved(name=body.name)

    async def _post_connect(self, request: web.Request, peer: Peer) -> Result:
        body = await json_body(request, wire.VpnNameRequest)
        supervisor = self._running()
        meta = self._meta(body.name)
        if not meta.enabled:
            raise ApiError(ErrorCode.CONFLICT, f"the VPN profile {body.name!r} is disabled")
        supervisor.connect(body.name)
        log.info("vpn connect %s (manual override) by %s", body.name, peer.who)
        return self.status()

    async def _post_auto(self, request: web.Request, peer: Peer) -> Result:
        self._running().auto()
        log.info("vpn back to automatic selection by %s", peer.who)
        return self.status()

    async def _post_disconnect(self, request: web.Request, peer: Peer) -> Result:
        self._running().disconnect()
        log.info("vpn disconnected by %s", peer.who)
        return self.status()

    def _running(self) -> VpnSupervisor:
        if self.supervisor is None:
            if not self.settings.enabled:
                raise ApiError(
                    ErrorCode.UNAVAILABLE,
                    f"the VPN manager is off (vpn.enabled = false in {self.ctx.config.source}); enable it to connect",
                )
            raise ApiError(ErrorCode.UNAVAILABLE, "the VPN manager is not running; see `nocraven status`")
        return self.supervisor

    def _meta(self, name: str) -> ProfileMeta:
        try:
            return self.store.meta(name)
        except StoreError as exc:
            raise _store_error(exc) from None


def _store_error(exc: StoreError) -> ApiError:
    if isinstance(exc, ProfileNotFound):
        return ApiError(ErrorCode.NOT_FOUND, str(exc))
    if isinstance(exc, ProfileExists):
        return ApiError(ErrorCode.CONFLICT, str(exc))
    if isinstance(exc, BadProfileName):
        return ApiError(ErrorCode.BAD_REQUEST, str(exc))
    return ApiError(ErrorCode.CONFLICT, str(exc))


def _connected_for(connected: float | None, ended: float | None, now: float) -> float | None:
    """How long a connection was (or, still open, has been) up; None when it never came up."""
    if connected is None:
        return None
    return round((ended if ended is not None else now) - connected, 3)


def _one_line(message: str) -> str:
    return " ".join(message.split())
