"""The syslog collector's engine part: the settings its child process is handed, and its API routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from collectors.syslog.settings import SyslogSettings
from nocraven.api.roles import Peer
from nocraven.api.routes import Route
from nocraven.ingest.collector import CollectorProcess


class SyslogComponent(CollectorProcess):
    name = "syslog"
    module = "collectors.syslog.service"
    service = "syslog"

    def child_settings(self) -> SyslogSettings:
        return self.ctx.config.syslog

    def routes(self) -> list[Route]:
        async def get_sources(request: web.Request, peer: Peer) -> Any:
            return {"sources": self.sources(), "listeners": self.status()["listeners"]}

        return [Route("GET", "/v1/syslog/sources", get_sources)]
