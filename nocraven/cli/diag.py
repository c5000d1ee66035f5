"""`nocraven diag ...`: network diagnostics run by the engine, shown as they happen.

Each command posts its request and reads the job's event stream: a line per ping reply, the mtr
table when a trace ends, the DNS answers with their TTLs, throughput as it is measured, the
port's state. `--json` prints the progress events and then the summary as NDJSON (the job's own
start and end markers are left out: the exit code and stderr tell how it ended). Ctrl-C closes
the stream and cancels the job in the engine. Requests are checked by the engine, so the CLI and
the console refuse the same inputs with the same one line (exit 2).

Exit codes: 0 when the target answered (ping: a reply; trace: the destination reached; dns:
status noerror; bandwidth: bytes moved; port: open, and with --tls a verified certificate),
1 when it did not or the job failed, 5 when the job was stopped at its time limit, 130 on Ctrl-C.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import typer
from rich.status import Status
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, fail, out, print_json_line
from nocraven.client import Client
from nocraven.exitcodes import ExitCode
from nocraven.humanize import human_bytes
from nocraven.schema import diag as wire

app = typer.Typer(
    help="Network diagnostics run by the engine: ping, trace, dns, bandwidth, port.", no_args_is_help=True
)

INTERRUPTED = 130  # the shell's convention for a command stopped by Ctrl-C


def _default(request_type: type[msgspec.Struct], name: str) -> Any:
    """A request field's default, for help texts: the wire schema owns the value."""
    field = next(f for f in msgspec.structs.fields(request_type) if f.name == name)
    return field.default


def _given(**values: Any) -> dict[str, Any]:
    """The options a person gave; the rest keep the request's own defaults."""
    return {key: value for key, value in values.items() if value is not None}


# ---- running a job -----------------------------------------------------------------------------


class View:
    """How one tool's events look to a person; `ok` says whether the target answered."""

    def show(self, event: wire.DiagEvent) -> None:
        raise NotImplementedError

    def ok(self, summary: wire.DiagEvent) -> bool:
        raise NotImplementedError

    def begin(self) -> None:
        """The engine accepted the job (nothing is printed for a request it refuses)."""

    def idle(self) -> None:
        """The stream is over: views with a live status line stop it."""


SUMMARIES = (
    wire.PingSummary,
    wire.TraceSummary,
    wire.DnsSummary,
    wire.BandwidthSummary,
    wire.IperfSummary,
    wire.PortSummary,
)


def run_job(start: Callable[[Client], Iterator[wire.DiagEvent]], view: View, as_json: bool) -> None:
    """Stream one job to the terminal; raise typer.Exit with the code that says how it went."""
    summary: wire.DiagEvent | None = None
    ended: wire.JobEnded | None = None
    started: wire.JobStarted | None = None
    with client() as c:
        events = start(c)
        try:
            for event in events:
                if isinstance(event, wire.JobStarted):
                    started = event
                    if not as_json:
                        view.begin()
                elif isinstance(event, wire.JobEnded):
                    ended = event
                else:
                    if isinstance(event, SUMMARIES):
                        summary = event
                    print_json_line(event) if as_json else view.show(event)
        except KeyboardInterrupt:
            _close(events)  # the engine sees the stream closed and cancels the job ...
            if started is not None:  # ... and is told so directly, in case it is busy elsewhere
                with contextlib.suppress(Exception):
                    c.diag_cancel(started.job_id)
            err.print(f"nocraven: {started.tool if started else 'diagnostic'} cancelled", markup=False)
            raise typer.Exit(INTERRUPTED) from None
        finally:
            _close(events)
            view.idle()
    if ended is None:
        raise fail("the engine ended the stream before the job ended; see the engine log", ExitCode.FAILED)
    if ended.outcome == "time_limit":
        raise fail(ended.message, ExitCode.TIMEOUT)
    if ended.outcome != "finished":
        raise fail(ended.message, ExitCode.FAILED)
    if summary is None or not view.ok(summary):
        raise typer.Exit(ExitCode.FAILED)


def _close(events: Iterator[wire.DiagEvent]) -> None:
    close = getattr(events, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}" if value < 10 else f"{value:.1f}"


def _bits(bits_per_second: float) -> str:
    for unit, scale in (("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if bits_per_second >= scale:
            return f"{bits_per_second / scale:.2f} {unit}"
    return f"{bits_per_second:.0f} bit/s"


# ---- ping --------------------------------------------------------------------------------------


class PingView(View):
    def __init__(self, request: wire.PingRequest) -> None:
        self.request = request

    def begin(self) -> None:
        out.print(f"PING {self.request.host}: {self.request.count} requests of {self.request.size} bytes", markup=False)

    def show(self, event: wire.DiagEvent) -> None:
        if isinstance(event, wire.PingReplied):
            ttl = f" ttl={event.ttl}" if event.ttl is not None else ""
            out.print(f"{event.bytes} bytes from {event.address}: seq={event.seq}{ttl} time={_ms(event.rtt_ms)} ms")
        elif isinstance(event, wire.PingTimedOut):
            out.print(f"seq={event.seq}: no reply (timed out)")
        elif isinstance(event, wire.PingSummary):
            shown = event.host if event.host == event.address else f"{event.host} ({event.address})"
            out.print(f"--- {shown} ---")
            line = f"{event.sent} sent, {event.received} received, {event.loss_pct:g} % loss"
            if event.received:
                line += (
                    f"; rtt min/avg/max/stddev {_ms(event.min_ms)}/{_ms(event.avg_ms)}/"
                    f"{_ms(event.max_ms)}/{_ms(event.stddev_ms)} ms"
                )
            if event.rejected:
                line += f"; {event.rejected} malformed ICMP message(s) ignored"
            out.print(line)

    def ok(self, summary: wire.DiagEvent) -> bool:
        return isinstance(summary, wire.PingSummary) and summary.received > 0


@app.command("ping")
def ping(
    host: str = typer.Argument(..., help="Host name or IP address (v4 or v6)."),
    count: int = typer.Option(
        None, "--count", "-c", help=f"Echo requests to send [{_default(wire.PingRequest, 'count')}]"
    ),
    interval: float = typer.Option(
        None, "--interval", "-i", help=f"Seconds between requests [{_default(wire.PingRequest, 'interval')}]"
    ),
    timeout: float = typer.Option(
        None, "--timeout", "-W", help=f"Seconds to wait for each reply [{_default(wire.PingRequest, 'timeout')}]"
    ),
    size: int = typer.Option(None, "--size", "-s", help=f"ICMP payload bytes [{_default(wire.PingRequest, 'size')}]"),
    source: str = typer.Option(None, "--source", "-I", help="Source address or interface name."),
    as_json: bool = JsonOption,
) -> None:
    """Ping a host: a line per reply, then sent/received/loss and min/avg/max/stddev RTT."""
    request = wire.PingRequest(
        host=host, **_given(count=count, interval=interval, timeout=timeout, size=size, source=source)
    )
    run_job(lambda c: c.diag_ping(request), PingView(request), as_json)


# ---- trace -------------------------------------------------------------------------------------


class TraceView(View):
    def __init__(self, cycles: int, live: bool) -> None:
        self.cycles = cycles
        # A live "cycle n of N" on a terminal's stderr; stdout keeps only the table.
        self.live = live and err.is_terminal
        self.status: Status | None = None

    def begin(self) -> None:
        if self.live:
            self.status = err.status("tracing ...")
            self.status.start()

    def idle(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def show(self, event: wire.DiagEvent) -> None:
        if isinstance(event, wire.HopUpdated):
            if self.status is not None:
                self.status.update(f"cycle {event.cycle} of {self.cycles}, hop {event.stats.hop}")
        elif isinstance(event, wire.TraceSummary):
            self.idle()
            render_trace(event)

    def ok(self, summary: wire.DiagEvent) -> bool:
        return isinstance(summary, wire.TraceSummary) and summary.reached


def render_trace(summary: wire.TraceSummary) -> None:
    out.print(f"trace to {summary.host} ({summary.address}), {summary.protocol}, {summary.cycles} cycles", markup=False)
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("hop", "right"),
        ("host", "left"),
        ("loss%", "right"),
        ("snt", "right"),
        ("last", "right"),
        ("avg", "right"),
        ("best", "right"),
        ("wrst", "right"),
        ("stdev", "right"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for hop in summary.hops:
        if hop.address is None:
            host = "???"
        elif hop.name and hop.name != hop.address:
            host = f"{hop.name} ({hop.address})"
        else:
            host = hop.address
        table.add_row(
            str(hop.hop),
            host,
            f"{hop.loss_pct:.1f}",
            str(hop.sent),
            _ms(hop.last_ms),
            _ms(hop.avg_ms),
            _ms(hop.best_ms),
            _ms(hop.worst_ms),
            _ms(hop.stddev_ms),
        )
    out.print(table)
    if summary.reached:
        out.print(f"reached {summary.address} in {len(summary.hops)} hop(s)", markup=False)
    elif summary.last_answering_hop is None:
        out.print(f"not reached: no hop answered on the way to {summary.address}", markup=False)
    else:
        out.print(
            f"not reached: the path stops after hop {summary.last_answering_hop}; nothing answers beyond it",
            markup=False,
        )
    if summary.rejected:
        out.print(f"{summary.rejected} malformed ICMP message(s) ignored", markup=False)


@app.command("trace")
def trace(
    host: str = typer.Argument(..., help="Host name or IP address."),
    cycles: int = typer.Option(
        None, "--cycles", help=f"Rounds of probes over every hop [{_default(wire.TraceRequest, 'cycles')}]"
    ),
    max_hops: int = typer.Option(None, "--max-hops", help=f"[{_default(wire.TraceRequest, 'max_hops')}]"),
    udp: bool = typer.Option(False, "--udp", help="UDP probes instead of ICMP echo."),
    no_names: bool = typer.Option(False, "--no-names", help="Do not look up the hops' names."),
    as_json: bool = JsonOption,
) -> None:
    """Traceroute in the style of mtr: per hop loss, last/avg/best/worst/stddev over the cycles."""
    request = wire.TraceRequest(
        host=host,
        protocol="udp" if udp else "icmp",
        resolve_names=not no_names,
        **_given(cycles=cycles, max_hops=max_hops),
    )
    run_job(lambda c: c.diag_trace(request), TraceView(request.cycles, live=not as_json), as_json)


# ---- dns ---------------------------------------------------------------------------------------


class DnsView(View):
    def show(self, event: wire.DiagEvent) -> None:
        if isinstance(event, wire.DnsQuerySent):
            out.print(f"asking {event.server}:{event.port} over {event.transport}", markup=False)
        elif isinstance(event, wire.DnsSummary):
            status = event.status.upper()
            if event.rcode and event.rcode != status:
                status += f" (rcode {event.rcode})"
            took = f" in {_ms(event.response_ms)} ms" if event.response_ms is not None else ""
            auth = ", authoritative" if event.authoritative else ""
            out.print(f"{event.name} {event.type}: {status} from {event.server}:{event.port}{took}{auth}", markup=False)
            if event.answers:
                table = Table(box=None, pad_edge=False)
                for column, justify in [("name", "left"), ("ttl", "right"), ("type", "left"), ("value", "left")]:
                    table.add_column(column, justify=justify)  # type: ignore[arg-type]
                for record in event.answers:
                    table.add_row(record.name, str(record.ttl), record.type, record.value)
                out.print(table)
            if event.status != "noerror":
                out.print(event.detail, markup=False)

    def ok(self, summary: wire.DiagEvent) -> bool:
        return isinstance(summary, wire.DnsSummary) and summary.status == "noerror"


@app.command("dns")
def dns(
    name: str = typer.Argument(..., help="The name to resolve (an IP address for PTR)."),
    rtype: str = typer.Option(None, "--type", "-t", help="A, AAAA, MX, CNAME, TXT or PTR [A]"),
    server: str = typer.Option(None, "--server", help="IP[:PORT] to ask instead of the system resolver."),
    tcp: bool = typer.Option(False, "--tcp", help="Ask over TCP."),
    timeout: float = typer.Option(None, "--timeout", help=f"Seconds [{_default(wire.DnsRequest, 'timeout')}]"),
    as_json: bool = JsonOption,
) -> None:
    """Resolve a name: answers with TTLs, the answering server and time; NXDOMAIN, SERVFAIL,
    REFUSED and timeout told apart."""
    request = wire.DnsRequest(name=name, tcp=tcp, **_given(type=rtype, server=server, timeout=timeout))
    run_job(lambda c: c.diag_dns(request), DnsView(), as_json)


# ---- bandwidth and iperf -----------------------------------------------------------------------

STOPPED_BY = {
    "complete": "the transfer completed",
    "byte_limit": "the byte limit was reached",
    "time_limit": "the time limit was reached",
}


class BandwidthView(View):
    def show(self, event: wire.DiagEvent) -> None:
        if isinstance(event, wire.BandwidthProgressed):
            out.print(
                f"{event.direction} {human_bytes(event.bytes)} in {event.elapsed_s:.1f} s: "
                f"{_bits(event.bits_per_second)}",
                markup=False,
            )
        elif isinstance(event, wire.BandwidthSummary):
            out.print(
                f"{event.direction} {event.url}: {human_bytes(event.bytes)} ({event.bytes:,} bytes) in "
                f"{event.seconds:.2f} s = {_bits(event.bits_per_second)}; HTTP {event.http_status}, "
                f"{STOPPED_BY[event.stopped_by]}",
                markup=False,
            )

    def ok(self, summary: wire.DiagEvent) -> bool:
        return isinstance(summary, wire.BandwidthSummary) and summary.bytes > 0


@app.command("bandwidth")
def bandwidth(
    url: str = typer.Argument(..., help="http:// or https:// URL to download from (or upload to)."),
    seconds: float = typer.Option(
        None, "--seconds", help=f"Stop after this long [{_default(wire.BandwidthRequest, 'max_seconds'):g}]"
    ),
    max_bytes: int = typer.Option(
        None, "--bytes", help=f"Stop after this many bytes [{_default(wire.BandwidthRequest, 'max_bytes')}]"
    ),
    upload: bool = typer.Option(False, "--upload", help="POST data to the URL instead of downloading."),
    as_json: bool = JsonOption,
) -> None:
    """HTTP throughput to or from a URL, bounded in time and bytes, with progress."""
    request = wire.BandwidthRequest(
        url=url, direction="upload" if upload else "download", **_given(max_seconds=seconds, max_bytes=max_bytes)
    )
    run_job(lambda c: c.diag_bandwidth(request), BandwidthView(), as_json)


class IperfView(View):
    def show(self, event: wire.DiagEvent) -> None:
        if isinstance(event, wire.IperfSummary):
            retransmits = f", {event.retransmits} retransmits" if event.retransmits is not None else ""
            out.print(
                f"iperf3 {event.direction} with {event.server}:{event.port}: {human_bytes(event.bytes)} in "
                f"{event.seconds:.2f} s = {_bits(event.bits_per_second)}{retransmits}",
                markup=False,
            )

    def ok(self, summary: wire.DiagEvent) -> bool:
        return isinstance(summary, wire.IperfSummary) and summary.bytes > 0


@app.command("iperf")
def iperf(
    server: str = typer.Argument(..., help="An iperf3 server (host name or address)."),
    port: int = typer.Option(None, "--port", help=f"[{_default(wire.IperfRequest, 'port')}]"),
    seconds: int = typer.Option(None, "--seconds", help=f"[{_default(wire.IperfRequest, 'seconds')}]"),
    reverse: bool = typer.Option(False, "--reverse", help="The server sends (download)."),
    streams: int = typer.Option(None, "--streams", help=f"Parallel streams [{_default(wire.IperfRequest, 'streams')}]"),
    as_json: bool = JsonOption,
) -> None:
    """TCP throughput with an iperf3 server (needs iperf3 on the appliance)."""
    request = wire.IperfRequest(server=server, reverse=reverse, **_given(port=port, seconds=seconds, streams=streams))
    run_job(lambda c: c.diag_iperf(request), IperfView(), as_json)


# ---- port --------------------------------------------------------------------------------------


class PortView(View):
    def show(self, event: wire.DiagEvent) -> None:
        if not isinstance(event, wire.PortSummary):
            return
        shown = event.host if event.host == event.address else f"{event.host} ({event.address})"
        out.print(f"{shown} port {event.port}/tcp: {event.state}; {event.detail}", markup=False)
        tls = event.tls
        if tls is not None:
            out.print(f"  TLS {tls.version or '?'} {tls.cipher or ''}".rstrip(), markup=False)
            out.print(f"  subject  {tls.subject}", markup=False)
            out.print(f"  issuer   {tls.issuer}", markup=False)
            if tls.sans:
                out.print(f"  names    {', '.join(tls.sans)}", markup=False)
            out.print(f"  valid    {tls.not_before} to {tls.not_after} ({tls.days_left} days left)", markup=False)
            verdict = "verified" if tls.verified else f"NOT verified: {tls.verify_error}"
            out.print(f"  chain    {verdict}", markup=False)
        if event.tls_error:
            out.print(f"  TLS failed: {event.tls_error}", markup=False)

    def ok(self, summary: wire.DiagEvent) -> bool:
        if not isinstance(summary, wire.PortSummary) or summary.state != "open" or summary.tls_error:
            return False
        return summary.tls is None or summary.tls.verified


@app.command("port")
def port(
    host: str = typer.Argument(..., help="Host name or IP address."),
    port_number: int = typer.Argument(..., metavar="PORT", help="TCP port."),
    tls: bool = typer.Option(False, "--tls", help="Also do a TLS handshake and summarise the certificate."),
    server_name: str = typer.Option(None, "--server-name", help="SNI name to send and verify [the host]"),
    timeout: float = typer.Option(None, "--timeout", help=f"Seconds [{_default(wire.PortRequest, 'timeout')}]"),
    as_json: bool = JsonOption,
) -> None:
    """TCP connect to HOST PORT: open, refused or filtered, with the connect time."""
    request = wire.PortRequest(host=host, port=port_number, tls=tls, **_given(server_name=server_name, timeout=timeout))
    run_job(lambda c: c.diag_port(request), PortView(), as_json)


# ---- the NOC check ------------------------------------------------------------------------------


@app.command("noc")
def noc(as_json: bool = JsonOption) -> None:
    """Can this box reach the NOC? Ping the gateway, resolve the NOC's name, connect to its port
    (the targets come from [diag] or the first forward sink); the console's key n runs the same."""
    with client() as c:
        plan = c.diag_noc_plan()
    if as_json:
        print_json_line(plan)
    else:
        target = f"{plan.host}:{plan.port} ({plan.source})" if plan.host else "none"
        out.print(f"NOC check: gateway {plan.gateway}, name {plan.dns_name or '-'}, NOC {target}", markup=False)
        for note in plan.notes:
            out.print(f"  note: {note}", markup=False)
    steps: list[tuple[str, Callable[[Client], Iterator[wire.DiagEvent]], View]] = []
    ping_request = wire.PingRequest(host=plan.gateway, count=3, interval=0.5, timeout=1.0)
    steps.append(("gateway", lambda c: c.diag_ping(ping_request), PingView(ping_request)))
    if plan.dns_name:
        dns_request = wire.DnsRequest(name=plan.dns_name, server=plan.dns_server)
        steps.append(("dns", lambda c: c.diag_dns(dns_request), DnsView()))
    if plan.host and plan.port:
        port_request = wire.PortRequest(host=plan.host, port=plan.port)
        steps.append(("noc port", lambda c: c.diag_port(port_request), PortView()))
    failed: list[str] = []
    for name, start, view in steps:
        try:
            run_job(start, view, as_json)
        except typer.Exit as stopped:
            if stopped.exit_code == INTERRUPTED:
                raise
            if stopped.exit_code:
                failed.append(name)
    if failed:
        raise fail(f"NOC check failed at: {', '.join(failed)}", ExitCode.FAILED)
    if not as_json:
        out.print("NOC check passed" + ("" if plan.host else " (no NOC port to check)"), markup=False)


# ---- jobs --------------------------------------------------------------------------------------


@app.command("jobs")
def jobs(as_json: bool = JsonOption) -> None:
    """The diagnostics running now, and who started them."""
    with client() as c:
        emit(c.diag_jobs(), as_json, render_jobs)


def render_jobs(data: wire.DiagJobs) -> None:
    if not data.jobs:
        out.print(f"no diagnostics running (at most {data.max_running} at once)", markup=False)
        return
    table = Table(box=None, pad_edge=False)
    for column in ("job", "tool", "target", "running", "limit", "started by"):
        table.add_column(column)
    for job in data.jobs:
        table.add_row(
            job.job_id, job.tool, job.target, f"{job.elapsed_s:.1f} s", f"{job.time_limit_s:g} s", job.started_by
        )
    out.print(table)


@app.command("cancel")
def cancel(job_id: str = typer.Argument(..., metavar="JOB", help="A job id from `nocraven diag jobs`.")) -> None:
    """Stop a running diagnostic; whoever watches it sees it end as cancelled."""
    with client() as c:
        cancelled = c.diag_cancel(job_id)
    err.print(f"cancelled {cancelled.tool} job {cancelled.job_id}", markup=False)
