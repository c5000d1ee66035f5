"""The ports component: `GET /v1/ports` (the registry) and `POST /v1/ports/set` (a live change).

A change is checked (syntax, range, privilege, our own listeners), the new config text is built
and validated, then the new socket is bound (another process holding the port is named) and
handed to the running collector; only once it serves the new socket is the in-memory config
replaced and the file rewritten. Any refusal before that leaves everything as it was.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from nocraven import config as config_mod
from nocraven.api.params import json_body
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import Result, Route
from nocraven.config import Config, ConfigError
from nocraven.engine.component import Component, EngineContext
from nocraven.errors import ApiError, ErrorCode
from nocraven.ingest.collector import CollectorProcess, RebindRefused
from nocraven.ports.checks import Bound, ChangeRefused, check_change, may_bind_privileged
from nocraven.ports.configfile import WriteBackFailed, replace_atomically, with_value
from nocraven.ports.registry import Configured, configured_listeners, find, persisted_to
from nocraven.ports.sockets import BindFailed, bind, close_quietly
from nocraven.schema.base import ComponentState
from nocraven.schema.engine import Listener
from nocraven.schema.ports import PortChange, PortChanged, PortCounters, PortEntry, PortsList

log = logging.getLogger("nocraven.ports")

LIVE_NOTE = "edit {key} in the config file and restart the engine"
OFF_NOTE = "{key} is empty (off): set it in the config file and restart the engine"


def lowest_bindable_port() -> int:
    """0 when this process may bind any port, else the first unprivileged one."""
    caps = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                caps = int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_unprivileged_port_start").read_text())
    except (OSError, ValueError):
        start = 1024
    return may_bind_privileged(os.geteuid(), caps, start)


class PortsComponent(Component):
    name = "ports"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self._changing = asyncio.Lock()

    async def run(self, ready: Callable[[], None]) -> None:
        ready()
        await asyncio.Event().wait()

    # ---- the registry ----------------------------------------------------------------------

    def _components(self) -> dict[str, Component]:
        supervisor = self.ctx.supervisor
        return {c.name: c for c in supervisor.components()} if supervisor is not None else {}

    def entries(self) -> list[PortEntry]:
        supervisor = self.ctx.supervisor
        bound: dict[str, Listener] = {}
        states: dict[str, ComponentState] = {}
        if supervisor is not None:
            bound = {f"{b.service}.{b.listener}": b for b in supervisor.listeners()}
            states = supervisor.component_states()
        components = self._components()
        return [
            self._entry(c, bound.get(c.name), states.get(c.service), components.get(c.service))
            for c in configured_listeners(self.ctx.config)
        ]

    def _entry(
        self, c: Configured, bound: Listener | None, state: ComponentState | None, component: Component | None
    ) -> PortEntry:
        counters = PortCounters()
        changeable = isinstance(component, CollectorProcess) and c.listener in component.rebindable()
        if isinstance(component, CollectorProcess):
            reported = component.counters.listeners.get(c.listener)
            if reported is not None:
                counters = PortCounters(
                    messages=reported.messages,
                    bytes=reported.bytes,
                    rejected=reported.rejected,
                    kernel_drops=reported.kernel_drops,
                    active_connections=reported.active_connections or 0,
                )
        if not c.address:
            status, detail = "off", f"{c.config_key} is empty in the config"
        elif bound is not None:
            status, detail = "listening", ""
        else:
            status = "down"
            detail = f"{c.service} is {state or 'not running'}"
            if isinstance(component, CollectorProcess) and component.last_message:
                detail += f": {component.last_message}"
        return PortEntry(
            name=c.name,
            service=c.service,
            listener=c.listener,
            proto=c.proto,
            config_key=c.config_key,
            configured=c.address,
            address=bound.address if bound is not None else "",
            state=status,
            state_detail=detail,
            changeable=changeable,
            why_not="" if changeable else (OFF_NOTE if not c.address else LIVE_NOTE).format(key=c.config_key),
            counters=counters,
        )

    def ports_list(self) -> PortsList:
        path = persisted_to(self.ctx.config)
        return PortsList(
            ports=self.entries(),
            config=path or self.ctx.config.source,
            persisted=path is not None,
        )

    # ---- a change --------------------------------------------------------------------------

    async def change(self, request: PortChange) -> PortChanged:
        async with self._changing:
            return await self._change(request)

    async def _change(self, request: PortChange) -> PortChanged:
        name, address = request.listener, request.address.strip()
        config = self.ctx.config
        configured = find(config, name)
        entries = {e.name: e for e in self.entries()}
        if configured is None:
            known = ", ".join(entries)
            raise ApiError(ErrorCode.BAD_REQUEST, f"no listener named {name!r}; the listeners are: {known}")
        entry = entries[name]
        if not entry.changeable:
            raise ApiError(ErrorCode.CONFLICT, f"{name} cannot be moved live: {entry.why_not}")
        if entry.state == "off":
            raise ApiError(
                ErrorCode.CONFLICT, f"{name} is off ({entry.config_key} is empty): set it in the config file"
            )
        ours = [Bound(e.name, e.proto, e.address or e.configured) for e in entries.values() if e.state != "off"]
        try:
            check_change(name, configured.proto, entry.address, address, ours, lowest_bindable_port())
        except ChangeRefused as exc:
            raise ApiError(ErrorCode.BAD_REQUEST, str(exc)) from None
        path = persisted_to(config)
        new_text: str | None = None
        new_config = self._with_address(config, configured, address)
        if path is not None:
            new_text = await asyncio.to_thread(self._new_file_text, Path(path), configured.config_key, address)
        component = self._components()[configured.service]
        assert isinstance(component, CollectorProcess)
        if request.check:
            try:
                trial = bind(name, configured.proto, address)
            except BindFailed as exc:
                raise self._bind_error(exc) from None
            close_quietly(trial)
            return PortChanged(
                listener=name,
                previous=entry.address,
                address=address,
                applied=False,
                persisted=False,
                config=path or config.source,
                message=f"{name} can move to {address}" + ("" if path else " (live only: no config file to save to)"),
            )
        try:
            bound = await component.rebind(configured.listener, address)
        except BindFailed as exc:
            raise self._bind_error(exc) from None
        except RebindRefused as exc:
            raise ApiError(ErrorCode.UNAVAILABLE, str(exc)) from None
        # Serving the new address now: the running config says so before anything else runs.
        self.ctx.config = new_config
        log.info("%s moved from %s to %s", name, entry.address, bound)
        if path is None or new_text is None:
            return PortChanged(
                listener=name,
                previous=entry.address,
                address=bound,
                applied=True,
                persisted=False,
                config=config.source,
                message=(
                    f"{name} now listens on {bound}; live only, not saved: the engine runs on "
                    f"{config.source}, which has no file (start it with --config FILE to keep changes)"
                ),
            )
        try:
            await asyncio.to_thread(replace_atomically, Path(path), new_text)
        except WriteBackFailed as exc:
            log.error("%s", exc)
            persisted, outcome = False, f", but {exc}"
        else:
            persisted, outcome = True, f"; saved to {path}"
        return PortChanged(
            listener=name,
            previous=entry.address,
            address=bound,
            applied=True,
            persisted=persisted,
            config=path,
            message=f"{name} now listens on {bound}{outcome}",
        )

    @staticmethod
    def _with_address(config: Config, configured: Configured, address: str) -> Config:
        section_name, key = configured.config_key.split(".", 1)
        section = dataclasses.replace(getattr(config, section_name), **{key: address})
        return dataclasses.replace(config, **{section_name: section})

    @staticmethod
    def _new_file_text(path: Path, key: str, address: str) -> str:
        """The config file with the one value changed, checked to load as a config."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ApiError(
                ErrorCode.WRITE_FAILED, f"cannot read {path} to save the change: {exc.strerror}; nothing was changed"
            ) from None
        try:
            new_text = with_value(text, key, address)
            config_mod.from_toml_text(new_text, str(path))
        except ConfigError as exc:
            problems = "; ".join(exc.problems)
            raise ApiError(
                ErrorCode.CONFLICT, f"{path} would not load with {key} = {address!r}: {problems}; nothing was changed"
            ) from None
        except (WriteBackFailed, ValueError) as exc:
            raise ApiError(ErrorCode.CONFLICT, f"{path}: {exc}; nothing was changed") from None
        return new_text

    @staticmethod
    def _bind_error(exc: BindFailed) -> ApiError:
        import errno

        code = ErrorCode.PORT_IN_USE if exc.errno == errno.EADDRINUSE else ErrorCode.CONFLICT
        return ApiError(code, f"{exc}; nothing was changed")

    # ---- API ---------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        async def get_ports(request: web.Request, peer: Peer) -> Result:
            return self.ports_list()

        async def post_set(request: web.Request, peer: Peer) -> Result:
            return await self.change(await json_body(request, PortChange))

        return [
            Route("GET", "/v1/ports", get_ports),
            Route("POST", "/v1/ports/set", post_set, Role.ADMIN),
        ]
