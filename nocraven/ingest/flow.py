"""The flow collector's engine part: the setup its child process is handed, and its API routes.

The collector reports its exporters, templates and per-minute traffic summaries in DETAIL
frames (`collectors.flow.report.FlowReport`, about once a second): the engine keeps the last
ones and the last hour of minutes, so `top` costs nothing per record here.
"""

from __future__ import annotations

import time

import msgspec
from aiohttp import web

from collectors.common.frames import FrameError
from collectors.flow.report import ExporterCounters, FlowReport, FlowSetup, MinuteTop, TemplateInfo, Usage
from collectors.flow.top import MEASURES, ranking
from nocraven.api.params import choice_param, int_param
from nocraven.api.roles import Peer
from nocraven.api.routes import Result, Route
from nocraven.engine.component import EngineContext
from nocraven.ingest.collector import CollectorProcess, SocketSpec
from nocraven.schema.flow import ExporterStatus, FlowExporters, FlowTemplates, FlowTop, TopHost, TopProtocol

MINUTES_KEPT = 60
TOP_LIMIT = 20
PROTOCOL_NAMES = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    58: "ipv6-icmp",
    132: "sctp",
}


class FlowComponent(CollectorProcess):
    name = "flow"
    module = "collectors.flow.service"
    service = "flow"

    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(ctx)
        self.exporters: dict[str, ExporterCounters] = {}
        self.templates: list[TemplateInfo] = []
        self.minutes: dict[int, MinuteTop] = {}
        self._rates: dict[str, float] = {}
        self._marks: dict[str, tuple[float, int]] = {}
        self._decode_report = msgspec.json.Decoder(FlowReport).decode

    def enabled(self) -> bool:
        flow = self.ctx.config.flow
        return bool(flow.netflow or flow.ipfix or flow.sflow)

    def socket_specs(self) -> dict[str, SocketSpec]:
        flow = self.ctx.config.flow
        return {
            name: SocketSpec("udp", address, flow.receive_buffer_bytes)
            for name, address in (("netflow", flow.netflow), ("ipfix", flow.ipfix), ("sflow", flow.sflow))
            if address
        }

    def child_settings(self) -> FlowSetup:
        return FlowSetup(flow=self.ctx.config.flow, state_dir=str(self.ctx.config.engine.data_dir / "flow"))

    def on_detail(self, payload: bytes, now: float) -> None:
        try:
            report = self._decode_report(payload)
        except msgspec.DecodeError as exc:
            raise FrameError(f"DETAIL frame: {exc}") from None
        for address, counters in report.exporters.items():
            mark = self._marks.get(address)
            if mark is not None and now > mark[0]:
                self._rates[address] = max(0.0, (counters.records - mark[1]) / (now - mark[0]))
            self._marks[address] = (now, counters.records)
        self.exporters = report.exporters
        if report.templates is not None:
            self.templates = report.templates
        for summary in report.top:
            self.minutes[summary.minute] = summary
        if len(self.minutes) > MINUTES_KEPT + 1:
            for minute in sorted(self.minutes)[: -(MINUTES_KEPT + 1)]:
                del self.minutes[minute]

    def exporter_list(self) -> FlowExporters:
        per_exporter: dict[str, int] = {}
        for template in self.templates:
            per_exporter[template.exporter] = per_exporter.get(template.exporter, 0) + 1
        exporters = [
            ExporterStatus(
                address=address,
                rate_rps=round(self._rates.get(address, 0.0), 1),
                templates=per_exporter.get(address, 0),
                counters=counters,
            )
            for address, counters in sorted(self.exporters.items(), key=lambda item: -item[1].records)
        ]
        return FlowExporters(exporters=exporters, listeners=self.detail().listeners)

    def top(self, by: str, minutes: int, now: float, limit: int = TOP_LIMIT) -> FlowTop:
        first = int(now // 60) - minutes + 1  # the current minute counts as one
        span = [summary for minute, summary in self.minutes.items() if minute >= first]
        hosts, protocols = ranking(span, by, limit)
        other = Usage(
            bytes=sum(s.other.bytes for s in span),
            packets=sum(s.other.packets for s in span),
            flows=sum(s.other.flows for s in span),
        )
        return FlowTop(
            by=by,  # type: ignore[arg-type]
            minutes=minutes,
            covered_minutes=len(span),
            hosts=[TopHost(address=address, usage=usage) for address, usage in hosts],
            protocols=[
                TopProtocol(protocol=number, name=PROTOCOL_NAMES.get(number, str(number)), usage=usage)
                for number, usage in protocols
            ],
            other=other,
        )

    def routes(self) -> list[Route]:
        async def get_exporters(request: web.Request, peer: Peer) -> Result:
            return self.exporter_list()

        async def get_templates(request: web.Request, peer: Peer) -> Result:
            return FlowTemplates(templates=self.templates)

        async def get_top(request: web.Request, peer: Peer) -> Result:
            by = choice_param(request, "by", MEASURES) or "bytes"
            minutes = int_param(request, "minutes", 5, 1, MINUTES_KEPT)
            limit = int_param(request, "limit", TOP_LIMIT, 1, 1000)
            return self.top(by, minutes, time.time(), limit)

        return [
            Route("GET", "/v1/flow/exporters", get_exporters),
            Route("GET", "/v1/flow/templates", get_templates),
            Route("GET", "/v1/flow/top", get_top),
        ]
