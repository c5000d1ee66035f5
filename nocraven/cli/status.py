"""`nocraven status`: the engine and every component at a glance."""

from __future__ import annotations

import time
from typing import Any

from rich.table import Table

from nocraven.cli.common import JsonOption, client, emit, out
from nocraven.humanize import human_duration

STATE_STYLE = {
    "running": "green",
    "starting": "yellow",
    "restarting": "yellow",
    "failed": "red",
    "stopped": "dim",
    "not_available": "dim",
}


def status(as_json: bool = JsonOption) -> None:
    """Engine version, uptime, and each component's state."""
    with client() as c:
        emit(c.status(), as_json, render_status)


def render_status(data: dict[str, Any]) -> None:
    out.print(
        f"NoC Raven engine {data['version']} on {data['hostname']}, up {human_duration(data['uptime_s'])} "
        f"(pid {data['pid']}, config {data['config']}, your role: {data.get('role', '?')})"
    )
    table = Table(box=None, pad_edge=False)
    table.add_column("component")
    table.add_column("state")
    table.add_column("since")
    table.add_column("restarts", justify="right")
    table.add_column("last error", overflow="fold")
    now = time.time()
    for name, comp in sorted(data["components"].items(), key=lambda kv: (kv[1]["state"] == "not_available", kv[0])):
        state = comp["state"]
        since = comp.get("since")
        table.add_row(
            name,
            f"[{STATE_STYLE.get(state, '')}]{state.replace('_', ' ')}[/]",
            human_duration(now - since) + " ago" if since else "-",
            str(comp.get("restarts", "-")) if state != "not_available" else "-",
            comp.get("last_error") or "",
        )
    out.print(table)
