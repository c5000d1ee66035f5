"""The Windows event collector's engine part: the settings its child process is handed, its
per-agent counters, and its API route. The child acknowledges a batch only once the engine has
committed it (`CollectorProcess` answers its RECORDS_DURABLE frames)."""

from __future__ import annotations

from aiohttp import web

from collectors.winevents.report import LISTENER, AgentCounters, WineventsCounters
from collectors.winevents.settings import WineventsSettings
from collectors.winevents.tokens import split_token
from nocraven.api.roles import Peer
from nocraven.api.routes import Result, Route
from nocraven.ingest.collector import CollectorProcess, SocketSpec
from nocraven.schema.winevents import WineventsAgents


class WineventsComponent(CollectorProcess):
    name = "winevents"
    module = "collectors.winevents.service"
    service = "winevent"
    counters_type = WineventsCounters

    def child_settings(self) -> WineventsSettings:
        return self.ctx.config.winevents

    def socket_specs(self) -> dict[str, SocketSpec]:
        listen = self.ctx.config.winevents.listen
        return {LISTENER: SocketSpec("tcp", listen)} if listen else {}

    def enabled(self) -> bool:
        return bool(self.ctx.config.winevents.listen)

    def agents(self) -> WineventsAgents:
        counters = self.counters
        seen = counters.agents if isinstance(counters, WineventsCounters) else {}
        configured = [split_token(entry, n)[0] for n, entry in enumerate(self.ctx.config.winevents.tokens, 1)]
        agents = {name: AgentCounters() for name in configured} | seen
        return WineventsAgents(
            agents=dict(sorted(agents.items())),
            configured=configured,
            listeners=self.detail().listeners,
            busy_refusals=counters.busy_refusals if isinstance(counters, WineventsCounters) else 0,
        )

    def routes(self) -> list[Route]:
        async def get_agents(request: web.Request, peer: Peer) -> Result:
            return self.agents()

        return [Route("GET", "/v1/winevents/agents", get_agents)]
