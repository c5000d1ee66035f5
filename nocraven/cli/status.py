"""`nocraven status`: the engine and every component at a glance."""

from __future__ import annotations

import time

from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, fail, out
from nocraven.exitcodes import ExitCode
from nocraven.humanize import human_duration
from nocraven.schema.base import ComponentState
from nocraven.schema.engine import EngineStatus

STATE_STYLE = {
    ComponentState.RUNNING: "green",
    ComponentState.STARTING: "yellow",
    ComponentState.RESTARTING: "yellow",
    ComponentState.FAILED: "red",
    ComponentState.STOPPED: "dim",
    ComponentState.NOT_AVAILABLE: "dim",
}


def status(as_json: bool = JsonOption) -> None:
    """Engine version, uptime, and each component's state. Exits 1 when a component has failed,
    so a script can check the box with `nocraven status --json >/dev/null`."""
    with client() as c:
        data = c.status()
    emit(data, as_json, render_status)
    failed = sorted(name for name, comp in data.components.items() if comp.state == ComponentState.FAILED)
    if failed:
        raise fail(f"failed: {', '.join(failed)} (see `nocraven status` and the engine log)", ExitCode.FAILED)


def render_status(data: EngineStatus) -> None:
    out.print(
        f"NoC Raven engine {data.version} on {data.hostname}, up {human_duration(data.uptime_s)} "
        f"(pid {data.pid}, config {data.config}, your role: {data.role})"
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("component")
    table.add_column("state")
    table.add_column("since")
    table.add_column("restarts", justify="right")
    table.add_column("last error", overflow="fold")
    now = time.time()
    unavailable = ComponentState.NOT_AVAILABLE
    for name, comp in sorted(data.components.items(), key=lambda kv: (kv[1].state == unavailable, kv[0])):
        state = comp.state
        table.add_row(
            name,
            f"[{STATE_STYLE.get(state, '')}]{state.replace('_', ' ')}[/]",
            human_duration(now - comp.since) + " ago" if comp.since else "-",
            str(comp.restarts) if state != unavailable else "-",
            comp.last_error or "",
        )
    out.print(table)
