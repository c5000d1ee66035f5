"""`nocraven ports ...`: every listener, and moving one to another address live."""

from __future__ import annotations

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, out, print_json
from nocraven.schema.ports import PortChanged, PortsList

app = typer.Typer(help="Listener ports: list, change (live, saved to the config file).", no_args_is_help=True)


@app.command("list")
def ports_list(as_json: bool = JsonOption) -> None:
    """Every listener: its address, state and counters, and whether it can move live."""
    with client() as c:
        emit(c.ports(), as_json, render_list)


def render_list(data: PortsList) -> None:
    table = Table(box=None, pad_edge=False)
    table.add_column("listener", no_wrap=True)
    table.add_column("address", no_wrap=True)
    table.add_column("state")
    table.add_column("messages", justify="right")
    table.add_column("drops", justify="right")  # rejected + kernel drops
    table.add_column("live")  # `ports set` can move it without a restart
    for entry in data.ports:
        counters = entry.counters
        address = entry.address or entry.configured or "-"
        table.add_row(
            entry.name,
            f"{address}/{entry.proto}",
            entry.state,
            f"{counters.messages:,}",
            f"{counters.rejected + counters.kernel_drops:,}",
            "yes" if entry.changeable else "no",
        )
    out.print(table)
    for entry in data.ports:
        if entry.state == "down":
            err.print(f"{entry.name} is down: {entry.state_detail}", markup=False)
    where = f"changes are saved to {data.config}" if data.persisted else f"changes are live only ({data.config})"
    err.print(where, markup=False)


@app.command("set")
def ports_set(
    listener: str = typer.Argument(..., metavar="SERVICE.LISTENER", help="e.g. syslog.udp (see `ports list`)"),
    address: str = typer.Argument(..., metavar="HOST:PORT", help='e.g. 0.0.0.0:1514 or "[::]:1514"'),
    check: bool = typer.Option(False, "--check", help="Only validate: bind-test the address, change nothing."),
    as_json: bool = JsonOption,
) -> None:
    """Move a listener to another address, live: returns once the new socket is bound and
    served; the old one is drained, then closed; the config file is rewritten (admin only)."""
    with client(timeout=30.0) as c:
        changed = c.ports_set(listener, address, check=check)
    if as_json:
        print_json(changed)
        return
    render_changed(changed)


def render_changed(changed: PortChanged) -> None:
    out.print(changed.message, markup=False)
    if changed.applied and not changed.persisted:
        err.print("warning: the change is NOT saved; it is lost when the engine restarts", markup=False)
