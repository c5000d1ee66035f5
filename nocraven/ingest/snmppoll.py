"""The SNMP poller's engine part: its child's setup (v3 users resolved), its report, /v1/snmp."""

from __future__ import annotations

import msgspec
from aiohttp import web

from collectors.common.channel import FrameKind
from collectors.common.frames import FrameError
from collectors.snmppoll.report import PollReport, PollSetup, TargetStatus
from nocraven.api.roles import Peer
from nocraven.api.routes import Result, Route
from nocraven.engine.component import EngineContext
from nocraven.ingest.collector import CollectorProcess
from nocraven.schema.snmppoll import PollTargets

_REPORT = msgspec.json.Decoder(PollReport)


class SnmppollComponent(CollectorProcess):
    name = "snmppoll"
    module = "collectors.snmppoll.service"
    service = "poll"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.report: PollReport | None = None

    def enabled(self) -> bool:
        return bool(self.ctx.config.snmp.poll)

    def child_settings(self) -> PollSetup:
        wanted = {target.user for target in self.ctx.config.snmp.poll if target.version == "3"}
        users = [user for user in self.ctx.config.snmptrap.users if user.name in wanted]
        return PollSetup(settings=self.ctx.config.snmp, users=users)

    def on_detail(self, payload: bytes, now: float) -> None:
        try:
            self.report = _REPORT.decode(payload)
        except msgspec.DecodeError as exc:
            raise FrameError(f"{FrameKind.DETAIL.name} frame: {exc}") from None

    def targets(self) -> PollTargets:
        report = self.report
        configured = self.ctx.config.snmp
        if report is None or not report.targets:
            # Not started (or nothing configured): the targets as configured, none polled yet.
            waiting = [
                TargetStatus(target=t.label, host=t.host, port=t.port, version=t.version, interval_s=t.interval_s)
                for t in configured.poll
            ]
            return PollTargets(
                running=report is not None,
                started=report.started if report else None,
                concurrency=configured.concurrency,
                targets=waiting,
                problems=report.problems if report else [],
            )
        return PollTargets(
            running=True,
            started=report.started,
            concurrency=report.concurrency,
            targets=report.targets,
            problems=report.problems,
        )

    def routes(self) -> list[Route]:
        async def get_targets(request: web.Request, peer: Peer) -> Result:
            return self.targets()

        return [Route("GET", "/v1/snmp/targets", get_targets)]
