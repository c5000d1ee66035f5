"""`nocraven flow ...`: the flow exporters, their templates, and who uses the network."""

from __future__ import annotations

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, out
from nocraven.humanize import clock_time, human_bytes, human_count, human_rate
from nocraven.schema.flow import FlowExporters, FlowTemplates, FlowTop

app = typer.Typer(help="The flow collector (NetFlow v5/v9, IPFIX, sFlow).", no_args_is_help=True)

VERSIONS = {5: "v5", 9: "v9", 10: "IPFIX"}


def _table(*columns: tuple[str, str]) -> Table:
    table = Table(box=None, pad_edge=False)
    for name, justify in columns:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    return table


@app.command("exporters")
def exporters(as_json: bool = JsonOption) -> None:
    """Every exporter: record rate, templates, loss (sequence gaps, kernel drops), errors."""
    with client() as c:
        emit(c.flow_exporters(), as_json, render_exporters)


def render_exporters(data: FlowExporters) -> None:
    if not data.exporters:
        out.print("no flow exporter heard yet")
    else:
        table = _table(
            ("exporter", "left"),
            ("records/s", "right"),
            ("records", "right"),
            ("datagrams", "right"),
            ("templates", "right"),
            ("seq gaps", "right"),
            ("lost", "right"),
            ("errors", "right"),
            ("held/expired", "right"),
            ("last seen", "left"),
        )
        for exporter in data.exporters:
            c = exporter.counters
            lost = c.lost_datagrams + c.lost_records
            table.add_row(
                exporter.address,
                human_rate(exporter.rate_rps),
                human_count(c.records),
                human_count(c.datagrams),
                str(exporter.templates),
                f"[red]{c.sequence_gaps:,}[/]" if c.sequence_gaps else "0",
                f"[red]{lost:,}[/]" if lost else "0",
                f"[red]{c.decode_errors:,}[/]" if c.decode_errors else "0",
                f"{c.held_sets:,}/{c.expired_sets:,}",
                clock_time(c.last_seen) if c.last_seen else "-",
            )
        out.print(table)
        for exporter in data.exporters:
            if exporter.counters.last_error:
                out.print(f"{exporter.address}: {exporter.counters.last_error}", markup=False)
    for listener in data.listeners:
        drops = listener.counters.kernel_drops
        note = f"[red]{drops:,} datagrams dropped by the kernel[/]" if drops else "no kernel drops"
        out.print(f"listener {listener.listener} on {listener.address}/{listener.proto}: {note}")


@app.command("templates")
def templates(as_json: bool = JsonOption) -> None:
    """The NetFlow v9 and IPFIX templates learned (kept across restarts), by exporter."""
    with client() as c:
        emit(c.flow_templates(), as_json, render_templates)


def render_templates(data: FlowTemplates) -> None:
    if not data.templates:
        out.print("no templates learned yet")
        return
    table = _table(
        ("exporter", "left"),
        ("version", "left"),
        ("domain", "right"),
        ("id", "right"),
        ("kind", "left"),
        ("fields", "left"),
        ("learned", "left"),
    )
    for t in data.templates:
        table.add_row(
            f"{t.exporter}:{t.port}",
            VERSIONS.get(t.version, str(t.version)),
            str(t.domain),
            str(t.template_id),
            t.kind,
            ", ".join(t.fields),
            clock_time(t.learned_at),
        )
    out.print(table)


@app.command("top")
def top(
    by: str = typer.Option("bytes", "--by", help="bytes, packets or flows"),
    minutes: int = typer.Option(5, "--minutes", min=1, max=60, help="Over the last N minutes (1-60)."),
    limit: int = typer.Option(10, "--limit", min=1, max=1000, help="Rows per table."),
    as_json: bool = JsonOption,
) -> None:
    """Top talkers and top protocols over the last minutes (sampled traffic scaled up)."""
    if by not in ("bytes", "packets", "flows"):
        raise typer.BadParameter(f"{by!r} is not one of bytes, packets, flows", param_hint="--by")
    with client() as c:
        emit(c.flow_top(by=by, minutes=minutes, limit=limit), as_json, render_top)


def render_top(data: FlowTop) -> None:
    span = f"last {data.minutes} min" + ("" if data.covered_minutes else ": no flows counted")
    hosts = _table(("host", "left"), ("bytes", "right"), ("packets", "right"), ("flows", "right"))
    hosts.title = f"top talkers by {data.by} ({span})"
    for host in data.hosts:
        u = host.usage
        hosts.add_row(host.address, human_bytes(u.bytes), human_count(u.packets), human_count(u.flows))
    out.print(hosts)
    protocols = _table(("protocol", "left"), ("bytes", "right"), ("packets", "right"), ("flows", "right"))
    protocols.title = f"top protocols by {data.by}"
    for protocol in data.protocols:
        u = protocol.usage
        protocols.add_row(protocol.name, human_bytes(u.bytes), human_count(u.packets), human_count(u.flows))
    out.print(protocols)
