"""Dashboard: ingest per collector, the buffer, forwarding, alerts and every component at a glance."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.widgets import DataTable, Static

from nocraven.humanize import human_bytes, human_count, human_duration, human_rate
from nocraven_tui.exchange import BUFFER_STATS
from nocraven_tui.figures import Counters, summary_fields
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import COLLECTORS, ConsoleState
from nocraven_tui.widgets.spark import SparkPanel
from nocraven_tui.widgets.sync import Row, TableSync, show

# Component states by theme colour kind ("muted" is dimmed text).
STATE_KIND = {
    "running": "success",
    "starting": "warning",
    "restarting": "warning",
    "failed": "error",
    "stopped": "muted",
    "not_available": "muted",
}


def state_markup(state: str) -> str:
    kind = STATE_KIND.get(state, "muted")
    variable = "$text-muted" if kind == "muted" else f"${kind}"
    return f"[{variable}]{escape(state.replace('_', ' '))}[/]"


FILL_BAR_WIDTH = 14


def fill_bar(percent: float, width: int, full: str, empty: str) -> str:
    filled = max(0, min(width, round(percent / 100 * width)))
    return full * filled + empty * (width - filled)


class DashboardScreen(ModeScreen):
    HELP = "Ingest rates, buffer, forwarding, alerts, components"
    READS = (BUFFER_STATS,)  # read with every snapshot (the buffer's fill), never polled here
    TOPICS = frozenset({"status", "counters", "connected", "role", "buffer_stats"})

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="collectors"):
            for name, title in COLLECTORS:
                yield SparkPanel(title, self.console.glyphs, id=f"spark-{name}")
        with Horizontal(id="summary"):
            yield Static(id="buffer-panel", classes="panel")
            yield Static(id="forward-panel", classes="panel")
            yield Static(id="alerts-panel", classes="panel")
        yield DataTable(id="components", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#buffer-panel").border_title = "Buffer"
        self.query_one("#forward-panel").border_title = "Forwarding"
        self.query_one("#alerts-panel").border_title = "Alerts"
        table = self.query_one("#components", DataTable)
        table.border_title = "Components"
        table.add_column("Component", key="name", width=10)
        table.add_column("State", key="state", width=13)
        table.add_column("Since", key="since", width=8)
        table.add_column("Restarts", key="restarts", width=8)
        table.add_column("Detail", key="detail")
        self._components = TableSync(table)
        super().on_mount()

    def tick(self) -> None:
        self._refresh_components()  # "since" ages

    def refresh_body(self) -> None:
        state = self.state
        for name, _ in COLLECTORS:
            self._refresh_collector(name, state)
        self._refresh_buffer(state)
        self._refresh_forwarding(state)
        self._refresh_alerts(state)
        self._refresh_components()

    def _refresh_collector(self, name: str, state: ConsoleState) -> None:
        panel = self.query_one(f"#spark-{name}", SparkPanel)
        view = state.component(name)
        if not view.available:
            panel.show("[$text-muted]not available[/]", None, ["[$text-muted]in this build[/]"], available=False)
            return
        history = state.rates.get(name)
        rate = history.latest if history else None
        headline = f"[b]{human_rate(rate)}[/b]"
        if view.state != "running":
            headline += f" {state_markup(view.state)}"
        summary = view.summary
        if summary is None:
            panel.show(headline, history, [f"rec [b]{human_count(None)}[/b]", "rej - kdrop -"])
            return
        lines = [
            f"rec [b]{human_count(summary.messages)}[/b]",
            f"rej {human_count(summary.rejected)} kdrop {human_count(summary.kernel_drops)}",
            # Shown when the panel is tall enough (wide terminals); clipped otherwise.
            f"[$text-muted]{human_bytes(summary.bytes)} received[/]",
            f"[$text-muted]{summary.sources:,} sources[/]",
        ]
        panel.show(headline, history, lines)

    def _refresh_buffer(self, state: ConsoleState) -> None:
        panel = self.query_one("#buffer-panel", Static)
        if not state.component("buffer").available:
            show(panel, "[$text-muted]not available\nin this build[/]")
            return
        figures = state.buffer_figures()
        fill = state.buffer_fill()
        g = self.console.glyphs
        lines = []
        if fill is not None:
            lines.append(f"{fill_bar(fill, FILL_BAR_WIDTH, g.bar_full, g.bar_empty)} [b]{fill:.1f}%[/b]")
        forecast = figures.forecast_days if figures is not None else None
        lines.append(f"forecast {f'{forecast:.1f} days' if forecast is not None else '-'}")
        lines.append(f"{human_bytes(figures.stored_bytes if figures is not None else None)} stored")
        if figures is not None:
            dropped = figures.dropped_records
            lines.append(f"dropped [{'$warning' if dropped else '$text-muted'}]{human_count(dropped)}[/]")
        show(panel, "\n".join(lines))

    def _refresh_forwarding(self, state: ConsoleState) -> None:
        panel = self.query_one("#forward-panel", Static)
        view = state.component("forward")
        if not view.available:
            show(panel, "[$text-muted]not available\nin this build[/]")
            return
        lines = [state_markup(view.state)]
        details = view.plain()  # no forwarding schema yet: its figures as they come
        for key, value in list(details.items())[:3]:
            if isinstance(value, str | int | float) and key != "description":
                lines.append(f"{escape(key)} {escape(str(value))}")
        show(panel, "\n".join(lines))

    def _refresh_alerts(self, state: ConsoleState) -> None:
        panel = self.query_one("#alerts-panel", Static)
        alerts = state.alerts()
        if not alerts:
            show(panel, "[$success]none[/]")
            return
        lines = [f"[b]{len(alerts)}[/b] active"]
        for alert in alerts[:3]:
            style = "$error" if alert.severity == "critical" else "$warning"
            lines.append(f"[{style}]{escape(alert.text)}[/]")
        show(panel, "\n".join(lines))

    def _refresh_components(self) -> None:
        if not self.is_mounted:
            return
        table = self.query_one("#components", DataTable)
        status = self.state.status
        table.border_subtitle = f"engine {status.version}" if status is not None and status.version else None
        now = self.console.clock()
        rows: list[Row] = []
        for view in self.state.sorted_components():
            since = human_duration(now - view.since) if view.since and view.available else "-"
            detail = view.last_error if view.state in ("failed", "restarting") and view.last_error else None
            if detail is None:
                detail = view.description if not view.available else _counter_summary(view.counters)
            cells = (
                Text(view.name),
                self.styled(view.state.replace("_", " "), STATE_KIND.get(view.state, "muted")),
                since,
                str(view.restarts) if view.available else "-",
                self.styled(detail, "muted" if not view.available else None),
            )
            rows.append((view.name, cells, 1))
        self._components.show(rows)

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        return ()


def _counter_summary(counters: Counters | None) -> str:
    parts = []
    for key, value in summary_fields(counters) if counters is not None else ():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        label = key.replace("_", " ")
        if key.endswith("bytes"):
            parts.append(f"{label} {human_bytes(value)}")
        elif key.endswith("percent"):
            parts.append(f"{label.removesuffix(' percent')} {value:.1f}%")
        else:
            parts.append(f"{label} {human_count(value)}")
    return ", ".join(parts)
