"""Diagnostics: ping, trace, DNS, port check and bandwidth run by the engine, watched live.

Pick a tool, fill its few fields, run: the job's events stream in (`ConsoleHost.stream`) and the
screen redraws from `state.streams["diag:<tool>"]`: ping lines with an RTT sparkline, the mtr
table updated in place, the DNS answers, the port's state and certificate. Escape (or Cancel)
closes the stream, which the engine takes as "cancel the job". Each tool keeps its last run and
the one before it, to compare. "NOC check" (key n) runs a gateway ping, a DNS lookup and a port
check to the NOC together and says pass or fail for each. The wording follows `nocraven diag`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, Checkbox, DataTable, Input, Select, Static

from nocraven.client import AsyncClient
from nocraven.humanize import human_bytes
from nocraven.schema import diag as wire
from nocraven_tui.exchange import Read, Stream
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState, StreamLog
from nocraven_tui.widgets.spark import sparkline
from nocraven_tui.widgets.sync import Row, TableSync, show

TOOLS: tuple[tuple[str, str], ...] = (
    ("Ping", "ping"),
    ("Trace", "trace"),
    ("DNS", "dns"),
    ("Port", "port"),
    ("Bandwidth", "bandwidth"),
)
RECORD_TYPES = ("A", "AAAA", "MX", "CNAME", "TXT", "PTR")
PING_LINES = 12  # the newest reply lines shown; the summary says the rest
NOC_CHECKS = ("ping", "dns", "port")
DIAG_KEYS = frozenset({f"diag:{tool}" for _, tool in TOOLS} | {f"noc:{check}" for check in NOC_CHECKS})
NOT_ALLOWED = "Diagnostics need the tech or admin role; this session is read-only."


# ---- streams -----------------------------------------------------------------------------------


def diag_stream(key: str, request: wire.DiagRequest) -> Stream[wire.DiagEvent]:
    """The client stream that runs `request`; closing it cancels the job in the engine."""
    opener: Callable[[AsyncClient], Any]
    if isinstance(request, wire.PingRequest):
        opener = lambda client: client.diag_ping(request)  # noqa: E731
    elif isinstance(request, wire.TraceRequest):
        opener = lambda client: client.diag_trace(request)  # noqa: E731
    elif isinstance(request, wire.DnsRequest):
        opener = lambda client: client.diag_dns(request)  # noqa: E731
    elif isinstance(request, wire.PortRequest):
        opener = lambda client: client.diag_port(request)  # noqa: E731
    elif isinstance(request, wire.BandwidthRequest):
        opener = lambda client: client.diag_bandwidth(request)  # noqa: E731
    else:
        opener = lambda client: client.diag_iperf(request)  # noqa: E731
    return Stream(key, opener)


def noc_requests(plan: wire.NocPlan) -> dict[str, wire.DiagRequest]:
    """The NOC check's jobs; a step the plan has no target for is left out (its notes say why)."""
    requests: dict[str, wire.DiagRequest] = {
        "ping": wire.PingRequest(host=plan.gateway, count=3, interval=0.5, timeout=1.0)
    }
    if plan.dns_name:
        requests["dns"] = wire.DnsRequest(name=plan.dns_name, server=plan.dns_server)
    if plan.host and plan.port:
        requests["port"] = wire.PortRequest(host=plan.host, port=plan.port)
    return requests


# The engine decides what the NOC check probes ([diag], the forward sinks, its routing table).
NOC_PLAN: Read[wire.NocPlan] = Read("diag_noc", lambda client: client.diag_noc_plan())


# ---- words, as `nocraven diag` says them ----------------------------------------------------------


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}" if value < 10 else f"{value:.1f}"


def bits(bits_per_second: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.2f} {unit}"
    return f"{bits_per_second:.0f} bit/s"


STOPPED_BY = {
    "complete": "the transfer completed",
    "byte_limit": "the byte limit was reached",
    "time_limit": "the time limit was reached",
}


def ping_line(event: object) -> str | None:
    if isinstance(event, wire.PingReplied):
        ttl = f" ttl={event.ttl}" if event.ttl is not None else ""
        return f"{event.bytes} bytes from {event.address}: seq={event.seq}{ttl} time={ms(event.rtt_ms)} ms"
    if isinstance(event, wire.PingTimedOut):
        return f"seq={event.seq}: no reply (timed out)"
    return None


def ping_summary(event: wire.PingSummary) -> list[str]:
    shown = event.host if event.host == event.address else f"{event.host} ({event.address})"
    line = f"{event.sent} sent, {event.received} received, {event.loss_pct:g} % loss"
    if event.received:
        figures = "/".join(ms(v) for v in (event.min_ms, event.avg_ms, event.max_ms, event.stddev_ms))
        line += f"; rtt min/avg/max/stddev {figures} ms"
    if event.rejected:
        line += f"; {event.rejected} malformed ICMP message(s) ignored"
    return [f"--- {shown} ---", line]


def trace_verdict(summary: wire.TraceSummary) -> str:
    if summary.reached:
        return f"reached {summary.address} in {len(summary.hops)} hop(s)"
    if summary.last_answering_hop is None:
        return f"not reached: no hop answered on the way to {summary.address}"
    return f"not reached: the path stops after hop {summary.last_answering_hop}; nothing answers beyond it"


def dns_lines(event: wire.DnsSummary) -> list[str]:
    status = event.status.upper()
    if event.rcode and event.rcode != status:
        status += f" (rcode {event.rcode})"
    took = f" in {ms(event.response_ms)} ms" if event.response_ms is not None else ""
    auth = ", authoritative" if event.authoritative else ""
    lines = [f"{event.name} {event.type}: {status} from {event.server}:{event.port}{took}{auth}"]
    lines.extend(f"  {r.name}  {r.ttl}  {r.type}  {r.value}" for r in event.answers)
    if event.status != "noerror":
        lines.append(event.detail)
    return lines


def port_lines(event: wire.PortSummary) -> list[str]:
    shown = event.host if event.host == event.address else f"{event.host} ({event.address})"
    lines = [f"{shown} port {event.port}/tcp: {event.state}; {event.detail}"]
    tls = event.tls
    if tls is not None:
        lines.append(f"  TLS {tls.version or '?'} {tls.cipher or ''}".rstrip())
        lines.append(f"  subject  {tls.subject}")
        lines.append(f"  issuer   {tls.issuer}")
        if tls.sans:
            lines.append(f"  names    {', '.join(tls.sans)}")
        lines.append(f"  valid    {tls.not_before} to {tls.not_after} ({tls.days_left} days left)")
        lines.append(f"  chain    {'verified' if tls.verified else f'NOT verified: {tls.verify_error}'}")
    if event.tls_error:
        lines.append(f"  TLS failed: {event.tls_error}")
    return lines


def bandwidth_line(event: object) -> str | None:
    if isinstance(event, wire.BandwidthProgressed):
        return f"{event.direction} {human_bytes(event.bytes)} in {event.elapsed_s:.1f} s: {bits(event.bits_per_second)}"
    if isinstance(event, wire.BandwidthSummary):
        return (
            f"{event.direction} {event.url}: {human_bytes(event.bytes)} ({event.bytes:,} bytes) in "
            f"{event.seconds:.2f} s = {bits(event.bits_per_second)}; HTTP {event.http_status}, "
            f"{STOPPED_BY[event.stopped_by]}"
        )
    return None


def job_line(log: StreamLog) -> tuple[str, str | None]:
    """How the run stands, in one line, and its colour."""
    ended = log.last(wire.JobEnded)
    if log.running:
        return "running ... (Escape cancels)", "primary"
    if log.cancelled or (ended is not None and ended.outcome == "cancelled"):
        return "cancelled: the job was stopped", "warning"
    if ended is None:
        return log.message or "the stream ended before the job did; see the engine log", "error"
    if ended.outcome == "finished":
        return f"finished in {ended.seconds:.1f} s", "success"
    return ended.message or ended.outcome, "error"


def short_result(tool: str, log: StreamLog) -> str:
    """One line per run, to set the previous run beside the newest."""
    if tool == "ping" and (p := log.last(wire.PingSummary)):
        return f"{p.host}: {p.received}/{p.sent} replies, {p.loss_pct:g} % loss, avg {ms(p.avg_ms)} ms"
    if tool == "trace" and (t := log.last(wire.TraceSummary)):
        return f"{t.host}: {trace_verdict(t)}"
    if tool == "dns" and (d := log.last(wire.DnsSummary)):
        return f"{d.name} {d.type}: {d.status.upper()}, {len(d.answers)} answer(s), {ms(d.response_ms)} ms"
    if tool == "port" and (s := log.last(wire.PortSummary)):
        return f"{s.host} port {s.port}: {s.state}, connect {ms(s.connect_ms)} ms"
    if tool == "bandwidth" and (b := log.last(wire.BandwidthSummary)):
        return f"{b.url}: {bits(b.bits_per_second)}"
    return job_line(log)[0]


def noc_verdict(check: str, log: StreamLog | None) -> tuple[str, str | None, str]:
    """(verdict, colour, detail) of one NOC check."""
    if log is None:
        return "-", "muted", "not run yet (n runs it)"
    if log.running:
        return "...", "primary", "running"
    if check == "ping" and (p := log.last(wire.PingSummary)):
        detail = f"{p.received}/{p.sent} replies from {p.address}, avg {ms(p.avg_ms)} ms"
        return ("PASS", "success", detail) if p.received else ("FAIL", "error", detail)
    if check == "dns" and (d := log.last(wire.DnsSummary)):
        detail = f"{d.name} {d.type}: {d.status.upper()} from {d.server}:{d.port}"
        return ("PASS", "success", detail) if d.status == "noerror" else ("FAIL", "error", f"{detail}; {d.detail}")
    if check == "port" and (s := log.last(wire.PortSummary)):
        detail = f"{s.host} port {s.port}/tcp: {s.state}"
        return ("PASS", "success", detail) if s.state == "open" else ("FAIL", "error", f"{detail}; {s.detail}")
    return "FAIL", "error", job_line(log)[0]


# ---- the screen ----------------------------------------------------------------------------------


class DiagnosticsScreen(ModeScreen):
    HELP = "Ping, trace, DNS, port check and bandwidth, live; the NOC check"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("n", "noc_check", "NOC check"),
        Binding("r", "run", "Run", show=False),
    ]
    TOPICS = frozenset({"status", "connected", "role", NOC_PLAN.key, *DIAG_KEYS})
    READS = (NOC_PLAN,)
    DIAG_ACTIONS = frozenset({"run", "noc_check"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.tool = "ping"
        self._noc: wire.NocPlan | None = None  # what the last NOC check probed
        self._noc_pending = False  # n was pressed before the engine said what to probe
        self._hops: TableSync

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="diag-form"):
            yield Select([(label, tool) for label, tool in TOOLS], value="ping", allow_blank=False, id="diag-tool")
            yield Input(placeholder="host or IP", id="diag-target")
            yield Input(placeholder="count", type="integer", id="diag-count")
            yield Select([(t, t) for t in RECORD_TYPES], value="A", allow_blank=False, id="diag-type")
            yield Input(placeholder="server IP[:port]", id="diag-server")
            yield Input(placeholder="port", type="integer", id="diag-port")
            yield Checkbox("TLS", id="diag-tls")
            yield Button("Run", id="diag-run", variant="primary")
            yield Button("Cancel", id="diag-cancel")
            yield Button("NOC check", id="diag-noc")
        yield Static(id="diag-status")
        with VerticalScroll(id="diag-body"):
            yield Static(id="diag-spark")
            yield DataTable(id="diag-hops", cursor_type="row", zebra_stripes=True)
            yield Static(id="diag-output")
            yield Static(id="diag-previous")
            yield Static(id="diag-noc-result")

    def on_mount(self) -> None:
        hops = self.query_one("#diag-hops", DataTable)
        hops.border_title = "Hops"
        for label in ("hop", "host", "loss%", "snt", "last", "avg", "best", "wrst", "stdev"):
            hops.add_column(label, key=label)
        self._hops = TableSync(hops)
        self._show_fields()
        super().on_mount()

    # ---- the form ----

    def _show_fields(self) -> None:
        tool = self.tool
        placeholders = {
            "ping": "host or IP",
            "trace": "host or IP",
            "dns": "name (an IP for PTR)",
            "port": "host or IP",
            "bandwidth": "http(s):// URL",
        }
        self.query_one("#diag-target", Input).placeholder = placeholders[tool]
        count = self.query_one("#diag-count", Input)
        count.display = tool in ("ping", "trace")
        count.placeholder = "count" if tool == "ping" else "cycles"
        self.query_one("#diag-type", Select).display = tool == "dns"
        self.query_one("#diag-server", Input).display = tool == "dns"
        self.query_one("#diag-port", Input).display = tool == "port"
        self.query_one("#diag-tls", Checkbox).display = tool == "port"
        self.query_one("#diag-spark", Static).display = tool == "ping"
        self.query_one("#diag-hops", DataTable).display = tool == "trace"

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "diag-tool" and isinstance(event.value, str):
            self.tool = event.value
            self._show_fields()
            self.refresh_view()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_run()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"diag-run": self.action_run, "diag-cancel": self.action_cancel, "diag-noc": self.action_noc_check}
        action = actions.get(event.button.id or "")
        if action is not None:
            action()

    def request(self) -> wire.DiagRequest:
        """The selected tool's request from the form; the engine checks it and says what is wrong."""
        target = self.query_one("#diag-target", Input).value.strip()
        count_text = self.query_one("#diag-count", Input).value.strip()
        count = int(count_text) if count_text.lstrip("-").isdigit() else None
        if self.tool == "ping":
            ping = wire.PingRequest(host=target)
            return ping if count is None else msgspec.structs.replace(ping, count=count)
        if self.tool == "trace":
            trace = wire.TraceRequest(host=target)
            return trace if count is None else msgspec.structs.replace(trace, cycles=count)
        if self.tool == "dns":
            kind = self.query_one("#diag-type", Select).value
            server = self.query_one("#diag-server", Input).value.strip() or None
            return wire.DnsRequest(name=target, type=kind if isinstance(kind, str) else "A", server=server)
        if self.tool == "port":
            port_text = self.query_one("#diag-port", Input).value.strip()
            port = int(port_text) if port_text.lstrip("-").isdigit() else 0
            return wire.PortRequest(host=target, port=port, tls=self.query_one("#diag-tls", Checkbox).value)
        return wire.BandwidthRequest(url=target)

    # ---- actions ----

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in self.DIAG_ACTIONS and not self.state.can_diagnose:
            return False
        return super().check_action(action, parameters)

    def action_run(self) -> None:
        if not self.state.can_diagnose:
            self.notify(NOT_ALLOWED, severity="warning")
            return
        if not self.query_one("#diag-target", Input).value.strip():
            self.notify("Type a target first (a host, a name or a URL).", severity="warning")
            self.query_one("#diag-target", Input).focus()
            return
        self.console.stream(diag_stream(f"diag:{self.tool}", self.request()))

    def action_cancel(self) -> None:
        self.console.cancel_stream(f"diag:{self.tool}")
        for check in NOC_CHECKS:
            self.console.cancel_stream(f"noc:{check}")

    def action_noc_check(self) -> None:
        if not self.state.can_diagnose:
            self.notify(NOT_ALLOWED, severity="warning")
            return
        plan = self.state.reads.get(NOC_PLAN.key)
        self.console.read(NOC_PLAN)  # fresh for the next run: the config or the routes may change
        if isinstance(plan, wire.NocPlan):
            self._run_noc(plan)
        else:
            self._noc_pending = True

    def _run_noc(self, plan: wire.NocPlan) -> None:
        self._noc, self._noc_pending = plan, False
        for check, request in noc_requests(plan).items():
            self.console.stream(diag_stream(f"noc:{check}", request))

    # ---- drawing ----

    def refresh_body(self) -> None:
        plan = self.state.reads.get(NOC_PLAN.key)
        if self._noc_pending and isinstance(plan, wire.NocPlan):
            self._run_noc(plan)
        key = f"diag:{self.tool}"
        log = self.state.streams.get(key)
        status = self.query_one("#diag-status", Static)
        self.query_one("#diag-run", Button).disabled = not self.state.can_diagnose
        self.query_one("#diag-noc", Button).disabled = not self.state.can_diagnose
        self.query_one("#diag-cancel", Button).disabled = log is None or not log.running
        if not self.state.can_diagnose:
            show(status, f"[$warning]{escape(NOT_ALLOWED)}[/]")
        elif log is None:
            show(status, "[$text-muted]Fill the form and press Enter (or Run); n runs the NOC check.[/]")
        else:
            text, kind = job_line(log)
            colour = {"primary": "$primary", "success": "$success", "warning": "$warning", "error": "$error"}
            show(status, f"[{colour.get(kind or '', '$text')}]{self.tool}: {escape(text)}[/]")
        lines = self._tool_lines(log) if log is not None else []
        show(self.query_one("#diag-output", Static), "\n".join(escape(line) for line in lines), layout=True)
        previous = self.state.previous_streams.get(key)
        show(
            self.query_one("#diag-previous", Static),
            f"[$text-muted]previous run: {escape(short_result(self.tool, previous))}[/]" if previous else "",
            layout=True,
        )
        if self.tool == "ping":
            self._draw_spark(log)
        if self.tool == "trace":
            self._draw_hops(log)
        self._draw_noc()

    def _tool_lines(self, log: StreamLog) -> list[str]:
        events = list(log.events)
        if self.tool == "ping":
            lines = [line for line in map(ping_line, events) if line is not None][-PING_LINES:]
            if summary := log.last(wire.PingSummary):
                lines.extend(ping_summary(summary))
            return lines
        if self.tool == "trace":
            trace = log.last(wire.TraceSummary)
            return [trace_verdict(trace)] if trace else []
        if self.tool == "dns":
            lines = [
                f"asking {e.server}:{e.port} over {e.transport}" for e in events if isinstance(e, wire.DnsQuerySent)
            ]
            if dns := log.last(wire.DnsSummary):
                lines.extend(dns_lines(dns))
            return lines
        if self.tool == "port":
            port = log.last(wire.PortSummary)
            return port_lines(port) if port else []
        progress = [line for line in map(bandwidth_line, events) if line is not None]
        return progress[-PING_LINES:]

    def _draw_spark(self, log: StreamLog | None) -> None:
        rtts: list[float | None] = []
        if log is not None:
            for event in log.events:
                if isinstance(event, wire.PingReplied):
                    rtts.append(event.rtt_ms)
                elif isinstance(event, wire.PingTimedOut):
                    rtts.append(None)
        spark = self.query_one("#diag-spark", Static)
        width = max(10, spark.size.width - 24)
        if not rtts:
            show(spark, "")
            return
        shown = [r for r in rtts if r is not None]
        newest = f"{ms(shown[-1])} ms" if shown else "no reply"
        show(spark, f"RTT [$primary]{sparkline(rtts[-width:], self.console.glyphs)}[/] {newest}")

    def _draw_hops(self, log: StreamLog | None) -> None:
        hops: dict[int, wire.HopStats] = {}
        if log is not None:
            for event in log.events:
                if isinstance(event, wire.HopUpdated):
                    hops[event.stats.hop] = event.stats
                elif isinstance(event, wire.TraceSummary):
                    hops = {hop.hop: hop for hop in event.hops}
        rows: list[Row] = []
        for number in sorted(hops):
            hop = hops[number]
            if hop.address is None:
                host = "???"
            elif hop.name and hop.name != hop.address:
                host = f"{hop.name} ({hop.address})"
            else:
                host = hop.address
            cells = (
                str(hop.hop),
                host,
                f"{hop.loss_pct:.1f}",
                str(hop.sent),
                ms(hop.last_ms),
                ms(hop.avg_ms),
                ms(hop.best_ms),
                ms(hop.worst_ms),
                ms(hop.stddev_ms),
            )
            rows.append((str(number), cells, 1))
        self._hops.show(rows)

    def _draw_noc(self) -> None:
        logs = {check: self.state.streams.get(f"noc:{check}") for check in NOC_CHECKS}
        panel = self.query_one("#diag-noc-result", Static)
        if all(log is None for log in logs.values()):
            show(panel, "")
            return
        names = {"ping": "gateway ping", "dns": "DNS lookup", "port": "NOC port"}
        colour = {"primary": "$primary", "success": "$success", "error": "$error", "muted": "$text-muted"}
        lines = ["[b]NOC check[/b]"]
        for check, log in logs.items():
            skipped = self._noc is not None and check not in noc_requests(self._noc)
            verdict, kind, detail = (
                ("SKIP", "muted", "nothing to check (see below)") if skipped else noc_verdict(check, log)
            )
            lines.append(f"  [{colour.get(kind or '', '$text')}]{verdict:<4}[/] {names[check]:<13} {escape(detail)}")
        for note in self._noc.notes if self._noc is not None else []:
            lines.append(f"  [$text-muted]{escape(note)}[/]")
        show(panel, "\n".join(lines), layout=True)

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> list[ScreenCommand]:
        if not state.can_diagnose:
            return []
        return [
            ScreenCommand(
                "Diagnostics: NOC check",
                "Gateway ping, DNS lookup and the NOC port check, together, with pass/fail",
                "noc_check",
            )
        ]
