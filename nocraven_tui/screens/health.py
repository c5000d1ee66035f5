"""Health: is this box well? Its active alerts and forecasts first, then every resource with its
trend over the last hour, the alerts' history, each component's state and each listener's status.

Reads: GET /v1/health (the report: the latest sample, forecasts, history, components, listeners)
and GET /v1/health/history (one point a minute). The active alerts come from the state, which
follows the `health.alert_raised` / `health.alert_cleared` events, so they move the moment the
engine says so, as the header's count does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widgets import DataTable, Static

from nocraven.humanize import clock_time, human_bytes, human_duration, timestamp
from nocraven.schema.health import Alert, Forecast, HealthHistory, HealthReport, HistoryPoint, SystemSample
from nocraven_tui.exchange import Read
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.spark_rows import SparkRow, SparkRows
from nocraven_tui.widgets.sync import Row, TableSync, show

HISTORY_MINUTES = 60
HEALTH_REPORT: Read[HealthReport] = Read("health", lambda client: client.health())
HEALTH_HISTORY: Read[HealthHistory] = Read(
    "health_history", lambda client: client.health_history(minutes=HISTORY_MINUTES)
)
HISTORY_ROWS = 30
# A forecast this close is an emergency; within a week it needs planning (colours of its sentence).
FORECAST_URGENT_S = 86400.0
FORECAST_SOON_S = 7 * 86400.0
STATE_KIND = {"running": "success", "failed": "error", "restarting": "warning", "starting": "warning"}


def series(points: Sequence[HistoryPoint], metric: str) -> tuple[tuple[float, float], ...]:
    """(time, value) of one metric over the history; points taken before it existed are skipped."""
    return tuple((p.at, p.values[metric]) for p in points if metric in p.values)


def increases(points: Sequence[HistoryPoint], metric: str, per_second: bool) -> tuple[tuple[float, float], ...]:
    """What a counter since boot added between consecutive points (per second if asked); a fall
    (the box rebooted, the counter restarted) is no point rather than a negative one."""
    out = []
    samples = series(points, metric)
    for (t0, v0), (t1, v1) in itertools.pairwise(samples):
        if v1 < v0 or t1 <= t0:
            continue
        out.append((t1, (v1 - v0) / (t1 - t0) if per_second else v1 - v0))
    return tuple(out)


def percent_kind(value: float | None, warning: float = 85.0, critical: float = 95.0) -> str | None:
    if value is None:
        return "muted"
    return "error" if value >= critical else "warning" if value >= warning else None


def resource_rows(
    system: SystemSample | None, buffer_fill: float | None, points: Sequence[HistoryPoint], active: Iterable[Alert]
) -> list[SparkRow]:
    """One row per resource, coloured by the alert the engine holds on it (else by plain levels)."""
    alerted = {alert.metric: "error" if alert.severity == "critical" else "warning" for alert in active}

    def percent(label: str, metric: str, value: float | None, note: str) -> SparkRow:
        kind = alerted.get(metric) or percent_kind(value)
        text = f"{value:.1f} %" if value is not None else "-"
        return SparkRow(label, text, series(points, metric), 100.0, note, kind)

    s = system
    rows = [
        percent("CPU", "cpu", s.cpu_percent if s else None, f"{s.cpu_count} cores" if s else ""),
        SparkRow(
            "Load",
            f"{s.load1:.2f}" if s else "-",
            series(points, "load1"),
            None,
            f"5m {s.load5:.2f}, 15m {s.load15:.2f}" if s else "",
            "warning" if s and s.load5 > s.cpu_count else None,
        ),
        percent(
            "Memory",
            "memory",
            s.memory_percent if s else None,
            f"{human_bytes(s.memory_available_bytes)} free of {human_bytes(s.memory_total_bytes)}" if s else "",
        ),
        percent(
            "Disk",
            "disk",
            s.disk_percent if s else None,
            f"{human_bytes(s.disk_free_bytes)} free on {s.disk_path}" if s else "",
        ),
        percent("Inodes", "inodes", s.inodes_percent if s else None, f"{s.inodes_free:,} free" if s else ""),
    ]
    for label, metric in (("Net in", "net_rx_bytes"), ("Net out", "net_tx_bytes")):
        rates = increases(points, metric, per_second=True)
        interfaces = len(s.interfaces) if s else 0
        rows.append(
            SparkRow(
                label,
                f"{human_bytes(rates[-1][1])}/s" if rates else "-",
                rates,
                None,
                f"{interfaces} interfaces" if s else "",
            )
        )
    for label, metric, field in (("Net errors", "net_errors", "errors"), ("Net drops", "net_drops", "drops")):
        added = increases(points, metric, per_second=False)
        gained = sum(v for _, v in added)
        rows.append(
            SparkRow(
                label,
                f"+{gained:,.0f}" if added else "-",
                added,
                None,
                _interface_note(s, field),
                "warning" if gained else None,
            )
        )
    rows.append(
        SparkRow(
            "Engine RSS",
            human_bytes(s.process_rss_bytes) if s else "-",
            series(points, "rss_bytes"),
            None,
            "the engine process",
            relative=True,
        )
    )
    rows.append(
        SparkRow(
            "Open files",
            f"{s.process_open_files:,}" if s else "-",
            series(points, "open_files"),
            None,
            "",
            relative=True,
        )
    )
    rows.append(percent("Buffer", "buffer", buffer_fill, "of its budget"))
    return rows


def _interface_note(system: SystemSample | None, field: str) -> str:
    """The interfaces that have any, since boot: "enp1s0 12, tun0 3"."""
    if system is None:
        return ""
    counts = []
    for name, counters in sorted(system.interfaces.items()):
        total = getattr(counters, f"{field}_in") + getattr(counters, f"{field}_out")
        if total:
            counts.append(f"{name} {total:,}")
    return ", ".join(counts[:3]) + " since boot" if counts else "none since boot"


def forecast_kind(forecast: Forecast) -> str:
    if forecast.seconds is None:
        return "muted"
    if forecast.seconds < FORECAST_URGENT_S:
        return "$error"
    return "$warning" if forecast.seconds < FORECAST_SOON_S else "$text"


class HealthScreen(ModeScreen):
    HELP = "Resources and their trend, alerts, forecasts, components and listeners"
    READS = (HEALTH_REPORT, HEALTH_HISTORY)
    poll_every_s = 5.0
    BINDINGS = [Binding("r", "refresh", "Refresh")]
    TOPICS = frozenset({"health", "health_history", "alerts", "status", "connected"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._history: TableSync
        self._components: TableSync
        self._listeners: TableSync

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="health-body"):
            yield Static(id="health-summary", classes="panel")
            yield SparkRows(self.console.glyphs, id="health-resources")
            yield DataTable(id="health-history", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="health-parts"):
                yield DataTable(id="health-components", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="health-listeners", cursor_type="none", zebra_stripes=True)
        yield Static(id="health-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#health-summary").border_title = "Health"
        self.query_one("#health-resources").border_title = f"Resources, last {HISTORY_MINUTES} min"
        history = self.query_one("#health-history", DataTable)
        history.border_title = "Alerts, newest first"
        for label in ("Severity", "Alert", "Raised", "Cleared", "Lasted"):
            history.add_column(label, key=label.lower())
        components = self.query_one("#health-components", DataTable)
        components.border_title = "Components"
        for label in ("Component", "State"):
            components.add_column(label, key=label.lower())
        listeners = self.query_one("#health-listeners", DataTable)
        listeners.border_title = "Listeners"
        for label in ("Service", "Listener", "Address", "State"):
            listeners.add_column(label, key=label.lower())
        self._history = TableSync(history)
        self._components = TableSync(components)
        self._listeners = TableSync(listeners)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def tick(self) -> None:
        self._render_summary()  # how long the active alerts have held

    # ---- drawing --------------------------------------------------------------------------

    def refresh_body(self) -> None:
        outcome = self.state.outcome(HEALTH_REPORT)
        body = self.query_one("#health-body")
        na = self.query_one("#health-na", Static)
        if self.state.value(HEALTH_REPORT) is None and (
            outcome.not_available or not self.state.component("health").available
        ):
            body.display = False
            na.display = True
            message = outcome.error_message or "health monitoring is not available in this build"
            show(na, f"[b]Health: not available[/b]\n\n[$text-muted]{escape(message)}[/]", layout=True)
            return
        body.display = True
        na.display = False
        self._render_summary()
        self._render_resources()
        self._render_history()
        self._render_parts()

    def _render_summary(self) -> None:
        panel = self.query_one("#health-summary", Static)
        report = self.state.value(HEALTH_REPORT)
        error = self.state.outcome(HEALTH_REPORT).error_message
        active = sorted(self.state.health.active.values(), key=lambda a: (a.severity != "critical", -a.raised_at))
        stale = self.state.stale
        panel.set_class(stale, "-stale")
        worst = self.state.health.worst()
        headline = {"critical": "[b $error]CRITICAL[/]", "warning": "[b $warning]WARNING[/]"}.get(
            worst or "", "[b $success]OK[/]"
        )
        count = f"{len(active)} active alert{'s' if len(active) != 1 else ''}" if active else "no active alert"
        lines = [f"{headline}  {count}"]
        if report is not None:
            lines[0] += f"  [$text-muted]sampled every {report.interval_s:g} s[/]"
        if stale:
            lines[0] += f"  [$text-muted]{escape(self.state.stale_note() or '')}[/]"
        now = self.console.clock()
        glyph = self.console.glyphs.dot
        for alert in active:
            style = "$error" if alert.severity == "critical" else "$warning"
            lines.append(
                f"[{style}]{glyph} {escape(alert.message)}[/]  [$text-muted]since {clock_time(alert.raised_at)}Z "
                f"({human_duration(now - alert.raised_at)})[/]"
            )
        if report is None:
            lines.append(f"[$text-muted]{escape(error or 'loading...')}[/]")
        else:
            for forecast in report.forecasts:
                lines.append(f"[{forecast_kind(forecast)}]{escape(forecast.text)}[/]")
            if not report.forecasts:
                lines.append("[$text-muted]no forecast yet: it needs a few minutes of samples[/]")
            if error:
                lines.append(f"[$warning]last refresh failed: {escape(error)}[/]")
        text = "\n".join(lines)
        # Once a second the ages move: a new layout only when the panel gains or loses a line.
        show(panel, text, layout=str(panel.content).count("\n") != text.count("\n"))

    def _render_resources(self) -> None:
        report = self.state.value(HEALTH_REPORT)
        history = self.state.value(HEALTH_HISTORY)
        points = history.points if history is not None else []
        resolution = history.resolution_s if history is not None and history.resolution_s > 0 else 60.0
        rows = resource_rows(
            report.system if report is not None else None,
            report.buffer_fill_percent if report is not None else None,
            points,
            self.state.health.active.values(),
        )
        window = HISTORY_MINUTES * 60.0
        self.query_one("#health-resources", SparkRows).show(
            rows, window, int(window / resolution), stale=self.state.stale
        )

    def _render_history(self) -> None:
        report = self.state.value(HEALTH_REPORT)
        alerts = self.state.health.history(report.history if report is not None else ())
        now = self.console.clock()
        rows: list[Row] = []
        for alert in alerts[:HISTORY_ROWS]:
            active = alert.cleared_at is None
            kind = "error" if alert.severity == "critical" else "warning"
            lasted = (alert.cleared_at or now) - alert.raised_at
            cells = (
                self.styled(alert.severity, kind if active else "muted"),
                self.styled(alert.message, None if active else "muted"),
                timestamp(alert.raised_at),
                timestamp(alert.cleared_at) if alert.cleared_at is not None else Text("active"),
                human_duration(lasted) + ("" if alert.cleared_at is not None else " so far"),
            )
            rows.append((f"{alert.metric}@{alert.raised_at}", cells, 1))
        self._history.show(rows)

    def _render_parts(self) -> None:
        report = self.state.value(HEALTH_REPORT)
        components: list[Row] = []
        states = report.components if report is not None else {}
        for name, state in sorted(states.items()):
            if state == "not_available":
                continue  # a capability not in this build: nothing to watch
            components.append(
                (name, (Text(name), self.styled(state.replace("_", " "), STATE_KIND.get(state, "muted"))), 1)
            )
        self._components.show(components)
        listeners: list[Row] = []
        for listener in report.listeners if report is not None else []:
            state = str(listener.state)
            row = (
                Text(listener.service),
                Text(f"{listener.listener}/{listener.proto}"),
                Text(listener.address),
                self.styled(state, STATE_KIND.get(state, "muted")),
            )
            listeners.append((f"{listener.service}.{listener.listener}.{listener.address}", row, 1))
        self._listeners.show(listeners)

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Health: refresh", "Ask the engine for its resources, alerts and forecasts", "refresh")
