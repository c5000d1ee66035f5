"""Dashboard: ingest per collector, the buffer, forwarding, alerts and every component at a glance."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.markup import escape
from textual.widgets import DataTable, Static

from nocraven.humanize import clock_time, human_bytes, human_count, human_duration, human_rate
from nocraven_tui.exchange import BUFFER_STATS
from nocraven_tui.figures import Counters, sink_state_markup, summary_fields
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
    TOPICS = frozenset({"status", "counters", "connected", "role", "buffer_stats", "alerts"})

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
        stale = state.stale
        if stale:
            headline = f"{human_rate(rate)} [b]stale[/b]"  # the last rate, greyed with the panel
        else:
            headline = f"[b]{human_rate(rate)}[/b]"
            if view.state != "running":
                headline += f" {state_markup(view.state)}"
        summary = view.summary
        if summary is None:
            panel.show(headline, history, ["- messages", "- rejected"], stale=stale)
            return
        lines = [
            f"[b]{human_count(summary.messages)}[/b] messages",
            f"{human_count(summary.rejected)} rejected",
            f"{human_count(summary.kernel_drops)} dropped by OS",
            # Shown when the panel is tall enough (wide terminals); clipped otherwise.
            f"[$text-muted]{human_bytes(summary.bytes)} received[/]",
            f"[$text-muted]{summary.sources:,} senders[/]",
        ]
        panel.show(headline, history, lines, stale=stale)

    def _refresh_buffer(self, state: ConsoleState) -> None:
        panel = self.query_one("#buffer-panel", Static)
        panel.set_class(state.stale, "-stale")
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
        panel.set_class(state.stale, "-stale")
        view = state.component("forward")
        if not view.available:
            show(panel, "[$text-muted]not available\nin this build[/]")
            return
        figures = state.forward_figures()
        if view.state != "running" or figures is None:
            show(panel, state_markup(view.state))
            return
        if not figures.sinks:
            show(panel, "[$text-muted]no sink configured[/]")
            return
        count = len(figures.sinks)
        lines = [
            f"[b]{sink_state_markup(figures.state)}[/b] ({count} sink{'s' if count > 1 else ''})",
            f"backlog [b]{human_count(figures.backlog_records)}[/b]",
            human_rate(figures.rate_rps),
        ]
        worst = next((s for s in figures.sinks if s.state == figures.state and s.reason), None)
        if worst is not None:
            lines.append(f"[$text-muted]{escape(worst.name)}: {escape(worst.reason)}[/]")
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
        stale = self.state.stale
        table.set_class(stale, "-stale")
        table.border_title = (
            f"Components, as last seen at {clock_time(self.state.stale_since or 0)}Z" if stale else "Components"
        )
        now = self.console.clock()
        rows: list[Row] = []
        for view in self.state.sorted_components():
            since = human_duration(now - view.since) if view.since and view.available and not stale else "-"
            detail = view.last_error if view.state in ("failed", "restarting") and view.last_error else None
            if detail is None:
                detail = view.description if not view.available else _counter_summary(view.counters)
            state_cell = self.styled(view.state.replace("_", " "), STATE_KIND.get(view.state, "muted"))
            if stale and view.available:
                # Nobody knows what runs now: say what it was, greyed, never a green "running".
                state_cell = self.styled("unknown", "muted")
                detail = f"was {view.state.replace('_', ' ')}; {detail}" if detail else f"was {view.state}"
            cells = (
                Text(view.name),
                state_cell,
                since,
                str(view.restarts) if view.available else "-",
                self.styled(detail, "muted" if not view.available or stale else None),
            )
            rows.append((view.name, cells, 1))
        self._components.show(rows)

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        return ()


# Counter fields in the words a technician uses (a field not listed is shown with its name spelled out).
COUNTER_WORDS = {
    "messages": "messages",
    "bytes": "received",
    "rejected": "rejected",
    "kernel_drops": "dropped by the OS",
    "framing_errors": "framing errors",
    "rate_mps": "per second",
    "sources": "senders",
    "records_stored": "stored",
    "lost_without_buffer": "lost while no buffer ran",
    "lost_in_crashes": "lost in collector crashes",
    "records": "records",
    "raw_bytes": "as records",
    "stored_bytes": "on disk",
    "fill_percent": "full",
    "forecast_days": "days left",
    "dropped_records": "dropped",
}


def _counter_summary(counters: Counters | None) -> str:
    parts = []
    for key, value in summary_fields(counters) if counters is not None else ():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        label = COUNTER_WORDS.get(key, key.replace("_", " "))
        if key == "rate_mps":
            parts.append(f"{human_rate(value)}")
        elif key.endswith("bytes"):
            parts.append(f"{human_bytes(value)} {label}")
        elif key.endswith("percent"):
            parts.append(f"{value:.1f}% {label}")
        elif key.endswith("days"):
            parts.append(f"{value:.1f} {label}")
        else:
            parts.append(f"{human_count(value)} {label}")
    return ", ".join(parts)
