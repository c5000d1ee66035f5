"""What every mode screen shares: the status header, the footer, refresh on state changes, palette commands.

A screen reaches the app only through `ConsoleHost` (`self.console`): it reads the state, and asks
for its declared `READS` and for `Write`s; it never imports the app.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from nocraven_tui.exchange import Read
from nocraven_tui.host import ConsoleHost
from nocraven_tui.state import ConsoleState
from nocraven_tui.theme import rich_color
from nocraven_tui.widgets.status_header import StatusHeader


@dataclass(frozen=True)
class ScreenCommand:
    """A palette entry: the app switches to the screen's mode, then runs `action` on the screen."""

    title: str
    help: str
    action: str
    write: bool = False  # needs the admin role: absent from the palette otherwise


class ModeScreen(Screen[None]):
    # Actions that change the box; hidden from the footer and refused for roles that may not write.
    WRITE_ACTIONS: ClassVar[frozenset[str]] = frozenset()
    # State topics this screen's body shows; others only touch the header.
    TOPICS: ClassVar[frozenset[str]] = frozenset({"status", "counters", "connected", "role", "action"})
    # What the screen is for, in the palette ("Go to ...").
    HELP: ClassVar[str] = ""
    # What this screen shows beyond the watch stream; `action_refresh` asks for it again.
    READS: ClassVar[tuple[Read[Any], ...]] = ()
    # Screens with READS poll the engine this often (seconds), while shown.
    poll_every_s: ClassVar[float | None] = None

    def __init__(self, mode: str) -> None:
        super().__init__(id=f"mode-{mode}")
        self.mode = mode
        self._tick: Timer | None = None
        self._poll: Timer | None = None
        self._stale = False

    @property
    def console(self) -> ConsoleHost:
        return cast(ConsoleHost, self.app)

    @property
    def state(self) -> ConsoleState:
        return self.console.state

    def styled(self, text: str, kind: str | None) -> Text:
        """Rich text in a theme colour ("success", "warning", "error", "primary") or dimmed ("muted")."""
        if kind is None:
            return Text(text)
        if kind == "muted":
            return Text(text, style=Style(dim=True))
        color = rich_color(self.app.current_theme, kind)
        return Text(text, style=Style(color=color) if color else Style())

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.console.mode_tabs(), self.mode, self.console.glyphs)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        # A screen composed ahead of its first visit (the app's prewarm) stays still until
        # on_screen_resume shows it: a dozen unseen screens ticking and polling was most of an
        # idle console's CPU.
        shown = self.is_current
        self._tick = self.set_interval(1.0, self._on_tick, pause=not shown)
        if self.poll_every_s is not None:
            self._poll = self.set_interval(self.poll_every_s, self.action_refresh, pause=not shown)
            if shown:
                self.action_refresh()
        self.refresh_view()

    def on_screen_resume(self) -> None:
        if not self.is_current:
            return  # composed unseen, ahead of a first visit: nothing to poll or draw yet
        for timer in (self._tick, self._poll):
            if timer is not None:
                timer.resume()
        if self._poll is not None:
            self.action_refresh()
        self.refresh_view()

    def on_screen_suspend(self) -> None:
        for timer in (self._tick, self._poll):
            if timer is not None:
                timer.pause()

    def action_refresh(self) -> None:
        """Ask the engine for what this screen shows beyond the watch stream (its READS)."""
        for read in self.READS:
            self.console.read(read)

    def _on_tick(self) -> None:
        if self._stale:
            self._stale = False
            self.refresh_view()
        else:
            self.refresh_header()
        with contextlib.suppress(NoMatches):
            self.tick()

    def tick(self) -> None:
        """Once a second while the screen is shown (ages, uptime)."""

    def refresh_header(self) -> None:
        with contextlib.suppress(NoMatches):
            self.query_one(StatusHeader).update_status(self.state, self.console.clock())

    def refresh_view(self) -> None:
        if not self.is_mounted:
            return
        # Messages keep arriving while a screen mounts its widgets or the app closes: a widget
        # that is not there (yet, or any more) is skipped; the next refresh draws it.
        with contextlib.suppress(NoMatches):
            self.refresh_header()
            self.refresh_body()

    def refresh_body(self) -> None:
        """Redraw the body from `self.state`; called on every relevant state change."""

    def state_changed(self, topic: str) -> None:
        """The app's handlers changed `topic` ("status", "counters", "connected", "role", "action",
        or a read's key such as "buffer_stats")."""
        if topic == "role":
            self.refresh_bindings()
        if topic == "connected" and self.is_current:
            self.on_engine_connected()
        if topic == "alerts":
            self.refresh_header()  # the header's alert count moves at once, on every screen
        if topic not in self.TOPICS:
            return  # the header catches up on the next tick
        if topic == "counters":
            # Counters arrive about once a second per component: draw them with the next tick,
            # once, rather than once per component.
            self._stale = True
            return
        self.refresh_view()

    def on_engine_connected(self) -> None:
        """A (re)connection: screens that read on demand read again."""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.state.can_write or action not in self.WRITE_ACTIONS

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        return ()
