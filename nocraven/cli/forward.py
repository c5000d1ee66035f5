"""`nocraven forward ...`: where records go to the NOC, how far behind each sink is, pause/resume."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, out
from nocraven.humanize import human_bytes, human_duration
from nocraven.schema.forward import ForwardStatus

app = typer.Typer(help="Forwarding to the NOC.", no_args_is_help=True)

SinkArgument = typer.Argument(None, metavar="[SINK]", help="A sink's name; every sink when left out.")


@app.command("status")
def status(as_json: bool = JsonOption) -> None:
    """Each sink: state and why, backlog (records, bytes, oldest), drain rate, time to empty, last delivery."""
    with client() as c:
        emit(c.forward_status(), as_json, render_status)


def render_status(data: ForwardStatus) -> None:
    if not data.sinks:
        out.print("no sink configured: records stay in the buffer (add [[forward.sinks]] to the config)")
        return
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("sink", "left"),
        ("type", "left"),
        ("state", "left"),
        ("backlog", "right"),
        ("bytes", "right"),
        ("oldest", "right"),
        ("rate/s", "right"),
        ("empty in", "right"),
        ("last delivery", "left"),
    ]:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    now = time.time()
    for sink in data.sinks:
        table.add_row(
            sink.name,
            sink.type,
            sink.state,
            f"{sink.backlog_records:,}",
            human_bytes(sink.backlog_bytes),
            human_duration(sink.oldest_age_s),
            f"{sink.rate_rps:,.0f}",
            human_duration(sink.eta_s),
            f"{human_duration(now - sink.last_delivery)} ago" if sink.last_delivery is not None else "never",
        )
    out.print(table)
    for sink in data.sinks:
        if sink.reason:
            out.print(f"{sink.name}: {sink.reason}", markup=False)
        if sink.last_error and sink.last_error != sink.reason:
            out.print(f"{sink.name}: last error: {sink.last_error}", markup=False)


@app.command("pause")
def pause(sink: str = SinkArgument) -> None:
    """Stop sending (admin): records keep arriving and stay in the buffer until `resume`."""
    with client() as c:
        done = c.forward_pause(sink)
    err.print(f"paused: {', '.join(done.sinks)}", markup=False)


@app.command("resume")
def resume(sink: str = SinkArgument) -> None:
    """Send again (admin): the backlog drains beside new records."""
    with client() as c:
        done = c.forward_resume(sink)
    err.print(f"resumed: {', '.join(done.sinks)}", markup=False)
