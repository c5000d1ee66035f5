"""Live: a tail of the records the engine samples, filtered by service, source and text; pausable.

The app's handler only appends sampled records to a bounded ring. This screen takes what is new
a few times a second, keeps at most ROW_CAP matching rows, and the view formats only the lines on
screen: thousands of records a second cost a few milliseconds per tick.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from nocraven.humanize import human_count
from nocraven_tui.records import RecordFilter
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.record_view import RecordView
from nocraven_tui.widgets.sync import show

ROW_CAP = 1000  # rows kept for scrolling back while paused
TICK_S = 0.2


class LiveScreen(ModeScreen):
    HELP = "Live tail of sampled records, with filters"
    TOPICS = frozenset({"status", "connected"})  # records arrive through the ring, not through topics
    BINDINGS = [
        Binding("space", "toggle_pause", "Pause/resume"),
        Binding("slash", "focus_filter('text')", "Filter"),
        Binding("c", "clear", "Clear"),
        Binding("escape", "leave_filter", "Back to tail", show=False),
    ]

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.paused = False
        self.filter = RecordFilter()
        self.rows: list[dict[str, Any]] = []
        self._mark = 0  # the ring position this view has taken up to
        self._missed_while_paused = 0
        self._render_timer: Timer | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="live-filters"):
            yield Label("Service", classes="filter-label")
            yield Input(placeholder="all", id="filter-service", compact=True)
            yield Label("Source", classes="filter-label")
            yield Input(placeholder="any", id="filter-source", compact=True)
            yield Label("Text", classes="filter-label")
            yield Input(placeholder="any", id="filter-text", compact=True)
        yield Static(id="live-status")
        yield RecordView(id="records")

    def on_mount(self) -> None:
        self._render_timer = self.set_interval(TICK_S, self.take_new_records)
        super().on_mount()
        self.query_one(RecordView).focus()

    def on_screen_resume(self) -> None:
        super().on_screen_resume()
        if self._render_timer is not None:
            self._render_timer.resume()
        self.take_new_records()

    def on_screen_suspend(self) -> None:
        super().on_screen_suspend()
        if self._render_timer is not None:
            self._render_timer.pause()

    def refresh_body(self) -> None:
        self._render_status()

    # ---- taking records from the ring ---------------------------------------------------

    def take_new_records(self) -> None:
        with contextlib.suppress(NoMatches):  # see ModeScreen.refresh_view
            self._take_new_records()

    def _take_new_records(self) -> None:
        ring = self.state.live
        if ring.appended == self._mark:
            return
        if self.paused:
            self._missed_while_paused = ring.appended - self._mark
            self._render_status()
            return
        new, self._mark = ring.since(self._mark)
        self._add_rows(new)

    def _add_rows(self, new: list[dict[str, Any]]) -> None:
        if self.filter.active:
            matched: list[dict[str, Any]] = []
            for record in reversed(new):  # newest first: stop once the cap is met
                if self.filter.matches(record):
                    matched.append(record)
                    if len(matched) >= ROW_CAP:
                        break
            matched.reverse()
        else:
            matched = new[-ROW_CAP:]
        if matched:
            self.rows.extend(matched)
            if len(self.rows) > ROW_CAP:
                del self.rows[: len(self.rows) - ROW_CAP]
            self.query_one(RecordView).set_rows(self.rows, follow=True)
        self._render_status()

    def _rebuild(self) -> None:
        """Re-filter what the ring holds (the filter changed, or a resume after a pause)."""
        self.rows = []
        everything, self._mark = self.state.live.since(0)
        self._missed_while_paused = 0
        self.query_one(RecordView).set_rows([], follow=True)
        self._add_rows(everything)

    def _render_status(self) -> None:
        ring = self.state.live
        if self.paused:
            head = f"[b $warning]PAUSED[/] {human_count(self._missed_while_paused)} new (space resumes)"
        else:
            head = "[$success]following[/]"
        shown = f"{len(self.rows):,} shown"
        sampled = f"{human_count(ring.appended)} sampled of {human_count(ring.represented)} ingested"
        status = f" {head}  {shown}  [$text-muted]{sampled}[/]"
        if not self.state.connected:
            status += "  [$error]engine down[/]"
        show(self.query_one("#live-status", Static), status)

    # ---- actions ------------------------------------------------------------------------

    def action_toggle_pause(self) -> None:
        self.paused = not self.paused
        if not self.paused:
            self._rebuild()
        self._render_status()

    def action_pause(self) -> None:
        if not self.paused:
            self.action_toggle_pause()

    def action_resume(self) -> None:
        if self.paused:
            self.action_toggle_pause()

    def action_clear(self) -> None:
        self.rows = []
        self._mark = self.state.live.appended
        self._missed_while_paused = 0
        self.query_one(RecordView).set_rows([], follow=True)
        self._render_status()

    def action_focus_filter(self, which: str) -> None:
        self.query_one(f"#filter-{which}", Input).focus()

    def action_leave_filter(self) -> None:
        self.query_one(RecordView).focus()

    def action_clear_filters(self) -> None:
        for which in ("service", "source", "text"):
            self.query_one(f"#filter-{which}", Input).value = ""

    @on(Input.Changed)
    def _filter_changed(self) -> None:
        self.filter = RecordFilter(
            service=self.query_one("#filter-service", Input).value.strip(),
            source=self.query_one("#filter-source", Input).value.strip(),
            text=self.query_one("#filter-text", Input).value.strip(),
        )
        self._rebuild()

    @on(Input.Submitted)
    def _filter_submitted(self) -> None:
        self.query_one(RecordView).focus()

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Live: pause", "Freeze the live tail (records keep arriving in the ring)", "pause")
        yield ScreenCommand("Live: resume", "Follow the live tail again", "resume")
        yield ScreenCommand("Live: filter by text", "Type text the records must contain", "focus_filter('text')")
        yield ScreenCommand("Live: filter by service", "syslog, flow, trap or winevent", "focus_filter('service')")
        yield ScreenCommand("Live: filter by source", "Part of the sender's IP:port", "focus_filter('source')")
        yield ScreenCommand("Live: clear filters", "Show every record again", "clear_filters")
        yield ScreenCommand("Live: clear", "Empty the tail", "clear")
