"""Live: a tail of the records the engine samples, or of every record matching a filter; pausable.

Unfiltered, the view shows what the engine samples for live views and says how much that is.
A source or text filter runs in the engine over every record (the buffer's follow stream with
`source`/`grep`), so a filtered view misses nothing. Either way the app's handler only appends to
a bounded ring; this screen takes what is new a few times a second, keeps at most ROW_CAP rows,
and the view formats only the lines on screen.
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
from textual.markup import escape
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from nocraven.capabilities import buffer_services
from nocraven.humanize import human_count
from nocraven_tui.exchange import EngineMatch
from nocraven_tui.records import RecordFilter
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState, LiveRing
from nocraven_tui.widgets.record_view import RecordView
from nocraven_tui.widgets.sync import show

ROW_CAP = 1000  # rows kept for scrolling back while paused
TICK_S = 0.2
FILTER_SETTLE_S = 0.4  # the engine is asked once typing pauses, not once per key


class LiveScreen(ModeScreen):
    HELP = "Live tail of sampled records, with filters"
    # Records arrive through the rings, not through topics.
    TOPICS = frozenset({"status", "connected", "live_match"})
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
        self._filter_timer: Timer | None = None

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

    def tick(self) -> None:
        self._render_status()  # the sampling rate

    def on_engine_connected(self) -> None:
        if self.state.match is not None:
            self._ask_engine()  # the filtered stream ended with the old connection

    # ---- where records come from --------------------------------------------------------

    def _engine_match(self) -> EngineMatch | None:
        """The part of the filter the engine runs over every record; None leaves the view sampled."""
        if not (self.filter.source or self.filter.text):
            return None
        service = self.filter.service if self.filter.service in buffer_services() else None
        return EngineMatch(service=service, source=self.filter.source, grep=self.filter.text, limit=ROW_CAP)

    def _ask_engine(self) -> None:
        self._filter_timer = None
        match = self._engine_match()
        if match is not None or self.state.match is not None:  # a new filter, a reconnect, or back to sampling
            self.console.follow_matching(match)
        self._rebuild()

    def _ring(self) -> LiveRing:
        return self.state.matched if self.state.match is not None else self.state.live

    def _local_filter(self) -> RecordFilter:
        """What the screen still filters itself: everything when sampling, the service prefix when
        the engine filters (it takes only an exact service)."""
        if self.state.match is not None:
            return RecordFilter(service=self.filter.service)
        return self.filter

    # ---- taking records from the ring ---------------------------------------------------

    def take_new_records(self) -> None:
        with contextlib.suppress(NoMatches):  # see ModeScreen.refresh_view
            self._take_new_records()

    def _take_new_records(self) -> None:
        ring = self._ring()
        if ring.appended == self._mark:
            return
        if self.paused:
            self._missed_while_paused = ring.appended - self._mark
            self._render_status()
            return
        new, self._mark = ring.since(self._mark)
        self._add_rows(new)

    def _add_rows(self, new: list[dict[str, Any]]) -> None:
        local = self._local_filter()
        if local.active:
            matched: list[dict[str, Any]] = []
            for record in reversed(new):  # newest first: stop once the cap is met
                if local.matches(record):
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
        everything, self._mark = self._ring().since(0)
        self._missed_while_paused = 0
        self.query_one(RecordView).set_rows([], follow=True)
        self._add_rows(everything)

    def _render_status(self) -> None:
        if self.paused:
            head = f"[b $warning]PAUSED[/] {human_count(self._missed_while_paused)} new (space resumes)"
        else:
            head = "[$success]following[/]"
        shown = f"{len(self.rows):,} shown"
        status = f" {head}  {shown}  {self._source_note()}"
        if not self.state.connected:
            status += "  [$error]engine down[/]"
        show(self.query_one("#live-status", Static), status)

    def _source_note(self) -> str:
        """Where the rows come from, honestly: every matching record, or a sample and how much."""
        if self._filter_timer is not None:
            return "[$text-muted]asking the engine...[/]"
        if self.state.match is not None:
            if self.state.match_ended:
                return f"[$warning]filter stopped: {escape(self.state.match_ended)}[/]"
            return "[$text-muted]every match, filtered in the engine[/]"
        rate = self.state.live.sampling_rate()
        if rate is None:
            return "[$text-muted]sampled: nothing yet[/]"
        shown, ingested = rate
        return f"[$warning]sampled[/][$text-muted]: {shown:,.0f} of {ingested:,.0f} records/s shown[/]"

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
        self._mark = self._ring().appended
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
        if self._filter_timer is not None:
            self._filter_timer.stop()
            self._filter_timer = None
        if self._engine_match() is None and self.state.match is None:
            self._rebuild()  # sampled before and after: filter what the ring holds, at once
            return
        self._filter_timer = self.set_timer(FILTER_SETTLE_S, self._ask_engine)
        self._render_status()

    @on(Input.Submitted)
    def _filter_submitted(self) -> None:
        if self._filter_timer is not None:  # Enter says typing is done: ask now, not after the pause
            self._filter_timer.stop()
            self._ask_engine()
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
