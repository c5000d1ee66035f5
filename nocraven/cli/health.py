"""`nocraven health`: is this box healthy? Resources, alerts, forecasts; JSON for scripts,
Prometheus text for anything that scrapes. Exits 1 while a critical alert is active."""

from __future__ import annotations

import sys

import typer
from rich.table import Table

from nocraven.cli.common import client, fail, out, print_json
from nocraven.exitcodes import ExitCode
from nocraven.humanize import clock_time, human_bytes
from nocraven.schema.health import HealthReport

FORMATS = ("text", "json", "prometheus")
COLOURS = {"ok": "green", "warning": "yellow", "critical": "red"}


def health(
    fmt: str = typer.Option("text", "--format", help="text, json or prometheus", metavar="text|json|prometheus"),
) -> None:
    """The appliance's health: resources, components, alerts and forecasts (exit 1 on a critical alert)."""
    if fmt not in FORMATS:
        raise fail(f"--format {fmt!r}: use one of {', '.join(FORMATS)}", ExitCode.USAGE)
    with client() as c:
        report = c.health()
        text = c.health_metrics() if fmt == "prometheus" else None
    if text is not None:
        sys.stdout.write(text)
    elif fmt == "json":
        print_json(report)
    else:
        render(report)
    if report.status == "critical":
        raise typer.Exit(ExitCode.FAILED)


def render(report: HealthReport) -> None:
    colour = COLOURS[report.status]
    out.print(f"health: [{colour}]{report.status}[/]")
    s = report.system
    if s is not None:
        table = Table(box=None, pad_edge=False, show_header=False)
        table.add_column("resource")
        table.add_column("value")
        table.add_row("CPU", f"{s.cpu_percent:.0f} % of {s.cpu_count}, load {s.load1:.2f} {s.load5:.2f} {s.load15:.2f}")
        used = s.memory_total_bytes - s.memory_available_bytes
        table.add_row(
            "memory", f"{s.memory_percent:.0f} % ({human_bytes(used)} of {human_bytes(s.memory_total_bytes)})"
        )
        free, total = human_bytes(s.disk_free_bytes), human_bytes(s.disk_total_bytes)
        table.add_row("data disk", f"{s.disk_percent:.0f} % ({free} free of {total}) at {s.disk_path}")
        table.add_row("inodes", f"{s.inodes_percent:.0f} %")
        if report.buffer_fill_percent is not None:
            table.add_row("buffer", f"{report.buffer_fill_percent:.1f} % full")
        table.add_row("engine", f"{human_bytes(s.process_rss_bytes)} resident, {s.process_open_files} open files")
        out.print(table)
    else:
        out.print("no sample yet (the first comes within a few seconds of the engine starting)")
    not_running = {name: state for name, state in report.components.items() if state != "running"}
    out.print("components: " + (", ".join(f"{n} {st}" for n, st in not_running.items()) or "all running"))
    for forecast in report.forecasts:
        out.print(f"forecast: {forecast.text}")
    if report.active:
        for alert in report.active:
            out.print(
                f"[{COLOURS[alert.severity]}]{alert.severity}[/] since {clock_time(alert.raised_at)}: {alert.message}"
            )
    else:
        out.print("no active alert")
