"""`nocraven winevents ...`: the Windows event endpoint's agents (one per token)."""

from __future__ import annotations

import time

import typer
from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, err, out
from nocraven.humanize import human_duration
from nocraven.schema.winevents import WineventsAgents

app = typer.Typer(help="Windows events from NXLog, Vector, Winlogbeat and scripts.", no_args_is_help=True)


@app.command("agents")
def agents(as_json: bool = JsonOption) -> None:
    """Per agent (token name): events stored, duplicates, refused events, errors, last seen."""
    with client() as c:
        emit(c.winevents_agents(), as_json, render_agents)


def render_agents(data: WineventsAgents) -> None:
    if not data.listeners:
        err.print("the Windows event endpoint is off (winevents.listen is empty)", markup=False)
    for listener in data.listeners:
        err.print(f"listening on {listener.address}", markup=False)
    if not data.agents:
        err.print("no agent token is configured (winevents.tokens), so every request is refused", markup=False)
        return
    wide = out.width >= 120  # the sender's address only where it fits beside the rest
    table = Table(box=None, pad_edge=False)
    for column, justify in [
        ("agent", "left"),
        ("events", "right"),
        ("security", "right"),
        ("dupes", "right"),
        ("refused", "right"),
        ("errors", "right"),
        ("dialect", "left"),
        ("last seen", "left"),
        *([("from", "left")] if wide else []),
        ("last error", "left"),
    ]:
        table.add_column(column, justify=justify, no_wrap=column != "last error")  # type: ignore[arg-type]
    now = time.time()
    for name, agent in data.agents.items():
        seen = f"{human_duration(now - agent.last_seen)} ago" if agent.last_seen is not None else "never"
        table.add_row(
            name,
            f"{agent.events:,}",
            f"{agent.security_events:,}",
            f"{agent.duplicates:,}",
            f"{agent.refused_events:,}",
            f"{agent.errors:,}",
            agent.last_dialect or "-",
            seen,
            *([agent.last_source or "-"] if wide else []),
            agent.last_error or "",
        )
    out.print(table)
