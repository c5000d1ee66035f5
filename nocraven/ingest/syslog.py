"""The syslog collector's engine part: the settings its child process is handed, and its API routes."""

from __future__ import annotations

from aiohttp import web

from collectors.syslog.settings import SyslogSettings
from nocraven.api.roles import Peer
from nocraven.api.routes import Result, Route
from nocraven.ingest.collector import CollectorProcess, SocketSpec
from nocraven.schema.collector import CollectorSources


class SyslogComponent(CollectorProcess):
    name = "syslog"
    module = "collectors.syslog.service"
    service = "syslog"

    def enabled(self) -> bool:
        syslog = self.ctx.config.syslog
        return bool(syslog.udp or syslog.tcp or syslog.tls)

    def child_settings(self) -> SyslogSettings:
        return self.ctx.config.syslog

    def socket_specs(self) -> dict[str, SocketSpec]:
        syslog = self.ctx.config.syslog
        specs = {}
        if syslog.udp:
            specs["udp"] = SocketSpec("udp", syslog.udp, syslog.receive_buffer_bytes)
        if syslog.tcp:
            specs["tcp"] = SocketSpec("tcp", syslog.tcp)
        if syslog.tls:
            specs["tls"] = SocketSpec("tcp", syslog.tls)
        return specs

    def routes(self) -> list[Route]:
        async def get_sources(request: web.Request, peer: Peer) -> Result:
            return CollectorSources(sources=self.counters.sources, listeners=self.detail().listeners)

        return [Route("GET", "/v1/syslog/sources", get_sources)]
