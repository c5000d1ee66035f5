"""`nocraven snmp ...`: the polled devices (`[[snmp.poll]]`)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, out
from nocraven.humanize import human_bits, human_duration
from nocraven.schema.snmppoll import PollTargets

app = typer.Typer(help="SNMP polling: the devices polled for interface counters.", no_args_is_help=True)


@app.command("targets")
def targets(as_json: bool = JsonOption) -> None:
    """Per polled device: state, last poll, duration, errors and the last error."""
    with client() as c:
        emit(c.snmp_targets(), as_json, render_targets)


def render_targets(data: PollTargets) -> None:
    if not data.targets:
        out.print("no devices are polled (add [[snmp.poll]] targets to the config)", markup=False)
        return
    if not data.running:
        err.print("the poller is not running (see `nocraven status`)", markup=False)
    now = time.time()
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("target", "left"),
        ("address", "left"),
        ("state", "left"),
        ("last poll", "left"),
        ("took", "right"),
        ("polls", "right"),
        ("failed", "right"),
        ("errors", "left"),
    ]:
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for t in data.targets:
        errors = ", ".join(f"{kind} {count:,}" for kind, count in sorted(t.errors.items()))
        table.add_row(
            t.target,
            f"{t.host}:{t.port} v{t.version}",
            t.state,
            f"{human_duration(now - t.last_poll)} ago" if t.last_poll else "-",
            f"{t.duration_s:.2f}s" if t.duration_s is not None else "-",
            f"{t.polls:,}",
            f"{t.failures:,}",
            errors or "-",
        )
    out.print(table)
    for t in data.targets:
        busiest = t.busiest[0] if t.busiest else None
        if busiest is not None:
            out.print(
                f"{t.target}: {t.interfaces} interfaces, busiest {busiest.name or busiest.index}: "
                f"in {human_bits(busiest.in_bps)}, out {human_bits(busiest.out_bps)}",
                markup=False,
            )
        if t.last_error:
            out.print(t.last_error, markup=False)  # it names the target itself
    for problem in data.problems:
        out.print(f"problem: {problem}", markup=False)
