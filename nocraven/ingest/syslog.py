"""The syslog collector's engine part: its child process config and its API routes."""

from __future__ import annotations

import dataclasses
from typing import Any

import msgspec
from aiohttp import web

from nocraven.api.roles import Peer
from nocraven.api.routes import JsonDocument, Result, Route
from nocraven.ingest.collector import CollectorProcess


class SyslogComponent(CollectorProcess):
    name = "syslog"
    module = "collectors.syslog.service"
    service = "syslog"

    def child_config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.ctx.config.syslog)

    def routes(self) -> list[Route]:
        async def get_sources(request: web.Request, peer: Peer) -> Result:
            body = {"sources": self.sources(), "listeners": self.status()["listeners"]}
            return JsonDocument(msgspec.to_builtins(body))

        return [Route("GET", "/v1/syslog/sources", get_sources)]
