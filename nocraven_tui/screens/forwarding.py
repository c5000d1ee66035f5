"""Forwarding: one row per sink with its state, backlog, drain rate, time to empty and last error;
pause/resume for admins."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, DataTable, Static

from nocraven.humanize import human_bytes, human_count, human_duration, human_rate
from nocraven.schema.forward import ForwardStatus, SinksControlled
from nocraven_tui.exchange import FORWARD_STATUS, Write
from nocraven_tui.figures import SINK_STATE_KIND, sink_state_markup
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.screens.dashboard import fill_bar
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.sync import Row, TableSync, selected_key, show

BACKLOG_BAR_WIDTH = 10


def control(pause: bool, sink: str) -> Write[SinksControlled]:
    verb = "Pause" if pause else "Resume"
    return Write(
        f"forward:{sink}",
        f"{verb} {sink}",
        lambda client: client.forward_pause(sink) if pause else client.forward_resume(sink),
        lambda done: f"{verb} {sink}: {done.action}",
        then_read=(FORWARD_STATUS,),
    )


class ForwardingScreen(ModeScreen):
    HELP = "Sinks, backlog and drain to the NOC"
    READS = (FORWARD_STATUS,)
    poll_every_s = 2.0
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("p", "pause_selected", "Pause"),
        Binding("u", "resume_selected", "Resume"),
    ]
    WRITE_ACTIONS = frozenset({"pause_selected", "resume_selected", "pause", "resume"})
    TOPICS = frozenset({"forward_status", "status", "role", "connected", "action"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._sinks: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="forward-body"):
            yield Static(id="forward-total", classes="panel")
            yield DataTable(id="sinks", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="forward-actions", classes="actions"):
                yield Button("Refresh", id="refresh", compact=True)
                yield Button("Pause", id="pause", variant="warning", compact=True, classes="write")
                yield Button("Resume", id="resume", variant="success", compact=True, classes="write")
                yield Static(id="forward-result")
        yield Static(id="forward-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#forward-total").border_title = "Forwarding"
        table = self.query_one("#sinks", DataTable)
        table.border_title = "Sinks"
        for label, key in (
            ("Sink", "name"),
            ("Type", "type"),
            ("State", "state"),
            ("Backlog", "backlog"),
            ("Bytes", "bytes"),
            ("Oldest", "oldest"),
            ("Rate", "rate"),
            ("Empty in", "eta"),
            ("Last delivery", "last"),
            ("Last error", "error"),
        ):
            table.add_column(label, key=key)
        self._sinks = TableSync(table)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def tick(self) -> None:
        self.refresh_body()  # ages

    def refresh_body(self) -> None:
        outcome = self.state.outcome(FORWARD_STATUS)
        status = self.state.value(FORWARD_STATUS) or self.state.forward_figures()
        na = self.query_one("#forward-na", Static)
        body = self.query_one("#forward-body")
        if status is None and (outcome.not_available or not self.state.component("forward").available):
            body.display = False
            na.display = True
            message = outcome.error_message or "forwarding to the NOC is not available in this build"
            show(na, f"[b]Forwarding: not available[/b]\n\n[$text-muted]{escape(message)}[/]", layout=True)
            return
        body.display = True
        na.display = False
        for button in ("#pause", "#resume"):
            self.query_one(button).display = self.state.can_write
        show(self.query_one("#forward-result", Static), escape(self.state.write_result("forward:") or ""))
        self._render_total(status, outcome.error_message)
        self._render_sinks(status)

    def _render_total(self, status: ForwardStatus | None, error: str | None) -> None:
        panel = self.query_one("#forward-total", Static)
        if status is None:
            show(panel, f"[$text-muted]{escape(error or 'loading...')}[/]")
            return
        if not status.sinks:
            show(panel, "No sink configured: records stay in the buffer. Add [[forward.sinks]] to the config.")
            return
        site = f"site [b]{escape(status.site)}[/b], " if status.site else ""
        lines = [
            f"{site}{len(status.sinks)} sink(s), worst [b]{sink_state_markup(status.state)}[/b]; "
            f"backlog {human_count(status.backlog_records)} records, draining at {human_rate(status.rate_rps)}"
        ]
        if error:
            lines.append(f"[$warning]last refresh failed: {escape(error)}[/]")
        show(panel, "\n".join(lines))

    def _render_sinks(self, status: ForwardStatus | None) -> None:
        now = self.console.clock()
        g = self.console.glyphs
        sinks = status.sinks if status is not None else []
        largest = max((s.backlog_records for s in sinks), default=0)
        rows: list[Row] = []
        for sink in sinks:
            share = 100.0 * sink.backlog_records / largest if largest else 0.0
            bar = fill_bar(share, BACKLOG_BAR_WIDTH, g.bar_full, g.bar_empty)
            last = f"{human_duration(now - sink.last_delivery)} ago" if sink.last_delivery is not None else "never"
            error = sink.last_error or sink.reason
            cells = (
                Text(sink.name),
                Text(sink.type),
                self.styled(sink.state, SINK_STATE_KIND.get(sink.state, "muted")),
                Text(f"{bar} {human_count(sink.backlog_records)}"),
                human_bytes(sink.backlog_bytes),
                human_duration(sink.oldest_age_s),
                human_rate(sink.rate_rps),
                human_duration(sink.eta_s),
                last,
                self.styled(error, "muted" if not sink.last_error else "warning"),
            )
            rows.append((sink.name, cells, 1))
        self._sinks.show(rows)

    # ---- pause / resume (admin) ----------------------------------------------------------

    def _selected_sink(self) -> str | None:
        return selected_key(self.query_one("#sinks", DataTable))

    @on(Button.Pressed, "#refresh")
    def _refresh_pressed(self) -> None:
        self.action_refresh()

    @on(Button.Pressed, "#pause")
    def action_pause_selected(self) -> None:
        self._on_selected(pause=True)

    @on(Button.Pressed, "#resume")
    def action_resume_selected(self) -> None:
        self._on_selected(pause=False)

    def _on_selected(self, pause: bool) -> None:
        sink = self._selected_sink()
        if sink is None:
            self.notify("No sink selected: none is configured.", severity="warning")
            return
        (self.action_pause if pause else self.action_resume)(sink)

    def action_pause(self, sink: str) -> None:
        if self.state.can_write:  # palette and bindings are gated too; this keeps a stray call harmless
            self.console.write(control(True, sink))

    def action_resume(self, sink: str) -> None:
        if self.state.can_write:
            self.console.write(control(False, sink))

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Forwarding: refresh", "Ask the engine for every sink's state and backlog", "refresh")
        figures = state.forward_figures()
        for sink in figures.sinks if figures is not None else []:
            yield ScreenCommand(
                f"Forwarding: pause {sink.name}",
                "Stop sending; records stay in the buffer",
                f"pause('{sink.name}')",
                write=True,
            )
            yield ScreenCommand(
                f"Forwarding: resume {sink.name}",
                "Send again; the backlog drains beside new records",
                f"resume('{sink.name}')",
                write=True,
            )
