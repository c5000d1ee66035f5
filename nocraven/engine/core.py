"""The Engine: config in, components supervised, the control API serving their routes."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

import msgspec
from aiohttp import web

import nocraven
from nocraven import config as config_mod
from nocraven.api.roles import Peer, Role
from nocraven.api.routes import JsonDocument, Result, Route
from nocraven.api.server import ApiServer
from nocraven.api.watch import stream_watch
from nocraven.capabilities import CAPABILITIES
from nocraven.config import Config, parse_listen
from nocraven.engine import files, system
from nocraven.engine.bus import EventBus
from nocraven.engine.component import EngineContext
from nocraven.engine.components import build_components
from nocraven.engine.supervisor import Supervisor
from nocraven.schema.base import ComponentState
from nocraven.schema.engine import (
    BundleWritten,
    ComponentStatus,
    Description,
    EngineStatus,
    StopRequested,
    SystemInfo,
)
from nocraven.schema.events import EngineStopping

log = logging.getLogger("nocraven.engine")

# Set by whatever restarts the engine when it stops (the demo launcher); systemd sets its own.
SUPERVISOR_ENV = "NOCRAVEN_SUPERVISOR"


def supervisor_name() -> str | None:
    if os.environ.get(SUPERVISOR_ENV):
        return os.environ[SUPERVISOR_ENV]
    if os.environ.get("INVOCATION_ID"):  # systemd sets it for every unit it runs
        return "systemd"
    return None


class Engine:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.bus = EventBus()
        self.supervisor = Supervisor(self.bus)
        self.ctx = EngineContext(config=config, bus=self.bus, supervisor=self.supervisor)
        for component in build_components(self.ctx):
            self.supervisor.add(component)
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._umask_before: int | None = None  # the process's umask before the engine set its own
        routes = self._routes()
        for component in self.supervisor.components():
            routes.extend(component.routes())
        self.api = ApiServer(
            routes,
            config.engine.socket,
            config.engine.admin_group,
            config.engine.tech_group,
            tcp=config.api,
        )

    # ---- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the control socket first: a second engine must fail before touching anything."""
        await self.api.start()
        self._umask_before = os.umask(files.umask_for(self.config.engine.admin_group))
        files.secure_data_dir(self.config.engine.data_dir, self.config.engine.admin_group)
        self.supervisor.start_all()
        await self.supervisor.wait_started(timeout=10.0)
        log.info(
            "engine %s ready on %s (config %s)",
            nocraven.__version__,
            self.config.engine.socket,
            self.config.source,
        )

    def request_stop(self, reason: str) -> None:
        if not self._stop.is_set():
            self._stop_reason = reason
            self._stop.set()

    async def wait_stopped(self) -> None:
        await self._stop.wait()

    async def stop(self) -> None:
        log.info("engine stopping: %s", self._stop_reason or "requested")
        self.supervisor.stopping = True
        self.bus.publish(EngineStopping(reason=self._stop_reason or "requested"))
        await asyncio.sleep(0)  # let watchers write the notice before their streams end
        await self.api.stop()
        await self.supervisor.stop_all()
        if self._umask_before is not None:  # an engine run in a larger process (tests) gives it back
            os.umask(self._umask_before)
        log.info("engine stopped")

    # ---- status -------------------------------------------------------------------------

    def status(self, role: Role = Role.NONE) -> EngineStatus:
        components = self.supervisor.states()
        for capability in CAPABILITIES:
            if capability.name not in components:
                detail = Description(description=capability.description)
                components[capability.name] = ComponentStatus(
                    state=ComponentState.NOT_AVAILABLE, detail=msgspec_raw(detail)
                )
        api_tcp = f"{parse_listen(self.config.api.tcp)[0]}:{self.api.tcp_port}" if self.api.tcp_port else None
        return EngineStatus(
            version=nocraven.__version__,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            uptime_s=round(time.time() - self.started_at, 3),
            config=self.config.source,
            socket=str(self.config.engine.socket),
            api_tcp=api_tcp,
            watchers=self.bus.watcher_count,
            components=components,
            role=role.name.lower(),
            supervisor=supervisor_name(),
        )

    async def system_info(self) -> SystemInfo:
        return SystemInfo(
            hostname=socket.gethostname(),
            version=nocraven.__version__,
            uptime_s=round(time.time() - self.started_at, 3),
            interfaces=await asyncio.to_thread(system.interfaces),
            listeners=self.supervisor.listeners(),
        )

    def _routes(self) -> list[Route]:
        async def get_status(request: web.Request, peer: Peer) -> Result:
            return self.status(peer.role)

        async def get_watch(request: web.Request, peer: Peer) -> Result:
            return await stream_watch(request, self.bus, lambda: self.status(peer.role))

        async def get_config(request: web.Request, peer: Peer) -> Result:
            # One object per config section, as in the TOML file, plus where it was read from.
            # The context's config: a port change replaces it (the rest never changes at run time).
            config = self.ctx.config
            return JsonDocument(config_mod.to_dict(config) | {"source": config.source})

        async def post_stop(request: web.Request, peer: Peer) -> Result:
            # Under systemd (Restart=always) or the demo launcher, a stop is a restart.
            asyncio.get_running_loop().call_later(0.1, self.request_stop, f"requested by {peer.who}")
            return StopRequested()

        async def get_system(request: web.Request, peer: Peer) -> Result:
            return await self.system_info()

        async def post_bundle(request: web.Request, peer: Peer) -> Result:
            documents = {
                "status": self.status(peer.role),
                "config": config_mod.to_dict(self.config),
                "system": await self.system_info(),
            }
            path = await asyncio.to_thread(
                system.write_support_bundle, self.config.engine.data_dir / "support", documents
            )
            return BundleWritten(path=str(path), bytes=path.stat().st_size)

        return [
            Route("GET", "/v1/status", get_status),
            Route("GET", "/v1/system", get_system),
            Route("POST", "/v1/system/bundle", post_bundle, Role.ADMIN),
            Route("GET", "/v1/watch", get_watch),
            Route("GET", "/v1/config", get_config),
            Route("POST", "/v1/engine/stop", post_stop, Role.ADMIN),
        ]


def msgspec_raw(detail: object) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(detail))
