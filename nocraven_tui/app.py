"""The console app: modes from the registry, the command palette, and the handlers that own state.

The one connection worker (EngineLink.watch_forever) and the request workers only post messages
(nocraven_tui.messages). The handlers below are the only code that changes `self.state`; they then
tell the mode screens on the stack which topic changed, and the screens redraw from the state.
Screens see the app as a `ConsoleHost`: they ask for their declared reads and writes by value, so
a new screen needs nothing here.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, SystemCommand, UnknownModeError
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.worker import Worker, WorkerState

from nocraven.client import default_socket
from nocraven_tui import messages
from nocraven_tui.connection import EngineLink
from nocraven_tui.exchange import EngineMatch, Read, Stream, Write
from nocraven_tui.host import ConsoleHost
from nocraven_tui.modes import BuiltMode, built_modes
from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.state import ConsoleState
from nocraven_tui.terminal import CHECK_EVERY_S, hung_up
from nocraven_tui.theme import ASCII, MODERN, PLAIN, UNICODE, PlainScrollBarRender, wants_plain
from nocraven_tui.widgets.error import ErrorModal
from nocraven_tui.widgets.keys import KeysModal

LINK_WORKER = "engine-link"
MATCH_WORKER = "live-match"
Work = Callable[[], Coroutine[None, None, None]]
PREWARM_AFTER_S = 0.3  # after the first paint with engine data
PREWARM_STEP_S = 0.1  # between two screens composed unseen: keys and repaints go first
QUIET_READ_CODES = frozenset({"not_available", "not_found", "unreachable"})


# Textual's own keys (tab focus, copy, ctrl+q, the palette's): not listed as the console's keys.
TEXTUAL_KEYS = frozenset(
    (key.strip(), binding.action)
    for binding in (*App.BINDINGS, *Screen.BINDINGS, Binding(App.COMMAND_PALETTE_BINDING, "command_palette"))
    if isinstance(binding, Binding)
    for key in binding.key.split(",")
)


def _mode_bindings() -> list[BindingType]:
    return [
        Binding(mode.key, f"goto('{mode.spec.name}')", mode.spec.title, show=False)
        for mode in built_modes()
        if mode.key
    ]


class NocRavenApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "NoC Raven console"
    DEFAULT_MODE = built_modes()[0].spec.name  # the first screen paints without a detour
    BINDINGS = [
        *_mode_bindings(),
        Binding("question_mark", "show_keys", "Keys", key_display="?"),
        Binding("f1", "show_keys", "Keys", show=False),
        Binding("q", "quit", "Quit"),
        # Both leave the console, as the README says (and stop `nocraven demo`); see widgets/keys.py.
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        socket_path: Path | None = None,
        *,
        connect: bool = True,
        clock: Callable[[], float] = time.time,
        role_override: str | None = None,
        plain: bool | None = None,
    ) -> None:
        """`connect=False` runs without an engine (tests feed messages); `clock` is injectable so
        snapshots do not move; `role_override` forces a role (e.g. "tech") to test read-only views."""
        self.plain = wants_plain() if plain is None else plain
        self.glyphs = ASCII if self.plain else UNICODE
        # Textual's documented hook; the VGA font has none of the fractional bar glyphs.
        ScrollBar.renderer = PlainScrollBarRender if self.plain else ScrollBarRender
        super().__init__()
        self.register_theme(MODERN)
        self.register_theme(PLAIN)
        self.theme = PLAIN.name if self.plain else MODERN.name
        self.clock = clock
        self.state = ConsoleState(role_override=role_override)
        self.socket_path = socket_path or default_socket()
        self.link = EngineLink(self.socket_path, self.post_message) if connect else None
        self._prewarmed = False
        self._prewarm_pending: list[str] = []  # modes still to compose unseen
        self._prewarm_idle = asyncio.Event()  # no screen is being composed unseen right now
        self._prewarm_idle.set()
        self._last_read_failure: dict[str, tuple[str, str]] = {}
        self.modes_built: list[BuiltMode] = built_modes()
        for mode in self.modes_built:
            self.add_mode(mode.spec.name, partial(mode.screen, mode.spec.name))
        # Reads some screen shows that go stale with every snapshot (the header's buffer fill).
        self._snapshot_reads = {
            read.key: read for mode in self.modes_built for read in mode.screen.READS if read.refresh_with
        }

    # ---- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_class(self.plain, "-plain")
        self.start_link()
        stdin = sys.__stdin__
        if not self.is_headless and stdin is not None and stdin.isatty():
            self.set_interval(CHECK_EVERY_S, partial(self._leave_if_hung_up, stdin.fileno()))

    def _leave_if_hung_up(self, fd: int) -> None:
        if hung_up(fd):
            # Ended as a hangup ends it (SIGHUP's default action, as at an SSH logout): a
            # shutdown through Textual would write to the dead terminal. Under nohup, Textual's exit.
            if signal.getsignal(signal.SIGHUP) == signal.SIG_DFL:
                signal.raise_signal(signal.SIGHUP)
            self.exit(return_code=129)

    async def _shutdown(self) -> None:
        # A shutdown from outside the app's message loop (Textual's test harness) must not tear
        # the screens down under a screen still being composed unseen: its widgets would mount
        # into a closed DOM. Textual is pinned exactly, so overriding this private step is safe.
        self._prewarm_pending.clear()
        await self._prewarm_idle.wait()
        await super()._shutdown()

    async def on_unmount(self) -> None:
        if self.link is not None:
            await self.link.aclose()

    def start_link(self) -> None:
        if self.link is not None:
            work: Work = self.link.watch_forever
            self._spawn(work, name=LINK_WORKER, group=LINK_WORKER, exclusive=True)

    def _spawn(self, work: Work, *, group: str, name: str = "", exclusive: bool = False) -> Worker[None]:
        """Every worker here ends in a message, so an error must not take the app down."""
        worker: Worker[None] = self.run_worker(work, name=name, group=group, exclusive=exclusive, exit_on_error=False)
        return worker

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name != LINK_WORKER or event.state != WorkerState.ERROR:
            return
        # A bug in the link must not leave the console silently disconnected.
        error = event.worker.error
        self.show_error("Engine connection failed", f"{type(error).__name__}: {error}; reconnecting.", "internal")
        self.set_timer(1.0, self.start_link)

    async def _prewarm_modes(self) -> None:
        """Compose every mode's screen once, unseen, so a first visit is as quick as a later one.

        One screen per step, off the display: the technician's screen keeps painting and taking
        keys. (Composing all of them at once, by switching to each behind a batched update, once
        froze keys and the clock for seconds after the first paint on a busy box.)
        """
        self._prewarm_pending = [m.spec.name for m in self.modes_built if m.spec.name != self.current_mode]
        await self._prewarm_step()

    async def _prewarm_step(self) -> None:
        if not self.is_running or not self._prewarm_pending:
            return
        mode = self._prewarm_pending.pop(0)
        if not self._screen_stacks.get(mode):  # not visited meanwhile
            # Textual (pinned exactly) builds a mode's screen stack in `_init_mode` without making
            # it current: compose, mount and lay out at the terminal's size happen here, unseen.
            self._prewarm_idle.clear()
            try:
                with contextlib.suppress(UnknownModeError):
                    await self._init_mode(mode)
                    self._screen_stacks[mode][0].post_message(events.ScreenSuspend())
            finally:
                self._prewarm_idle.set()
        if self._prewarm_pending:
            self.set_timer(PREWARM_STEP_S, self._prewarm_step)

    def mode_tabs(self) -> list[tuple[str | None, str, str]]:
        return [(m.key, m.spec.title, m.spec.name) for m in self.modes_built]

    # ---- state ownership: one handler per message ---------------------------------------

    def publish(self, topic: str) -> None:
        """Tell the mode screens on the current stack that `topic` changed in the state."""
        for screen in self.screen_stack:
            if isinstance(screen, ModeScreen):
                screen.state_changed(topic)

    def on_engine_connected(self, message: messages.EngineConnected) -> None:
        self.log.info(f"engine connected on {message.socket_path}")

    def on_snapshot_received(self, message: messages.SnapshotReceived) -> None:
        role_before = self.state.role
        self.state.apply_snapshot(message.status, message.seq, self.clock())
        if self.state.role != role_before:
            self.publish("role")
        self.publish("connected")
        for read in self._snapshot_reads.values():
            if read.refresh_with is not None and self.state.component(read.refresh_with).available:
                self.read(read)
        if not self._prewarmed and self.link is not None:  # offline (tests, snapshots): no surprises
            self._prewarmed = True
            self.set_timer(PREWARM_AFTER_S, self._prewarm_modes)

    def on_component_state_changed(self, message: messages.ComponentStateChanged) -> None:
        self.state.apply_state_change(message.component, message.state, message.error, message.restarts, message.at)
        self.publish("status")

    def on_counters_updated(self, message: messages.CountersUpdated) -> None:
        self.state.apply_counters(message.component, message.counters, message.at)
        self.publish("counters")

    def on_records_sampled(self, message: messages.RecordsSampled) -> None:
        # Hot path: append only; the Live screen takes batches from the ring on its own tick.
        self.state.live.extend(message.records, message.total, message.at)

    def on_records_matched(self, message: messages.RecordsMatched) -> None:
        if message.generation == self.state.match_generation:  # else: a filter since replaced
            self.state.matched.extend(message.records, len(message.records))

    def on_match_stream_ended(self, message: messages.MatchStreamEnded) -> None:
        if message.generation == self.state.match_generation:
            self.state.match_ended = message.reason
            self.publish("live_match")

    def on_alert_raised(self, message: messages.AlertRaised) -> None:
        self.state.apply_alert_raised(message.alert)
        self.publish("alerts")
        alert = message.alert
        self.notify(
            alert.message,
            title=f"Health: {alert.severity}",
            severity="error" if alert.severity == "critical" else "warning",
        )

    def on_alert_cleared(self, message: messages.AlertCleared) -> None:
        self.state.apply_alert_cleared(message.alert)
        self.publish("alerts")

    def on_engine_stopping(self, message: messages.EngineStopping) -> None:
        self.state.mark_stopping(message.reason, self.clock())
        self.publish("status")

    def on_watch_dropped(self, message: messages.WatchDropped) -> None:
        self.log.warning(f"watch dropped: {message.reason}")

    def on_engine_disconnected(self, message: messages.EngineDisconnected) -> None:
        self.state.mark_down(message.reason, self.clock(), message.retry_in)
        self.publish("status")

    def on_read_completed(self, message: messages.ReadCompleted) -> None:
        self.state.apply_read(message.key, message.value, self.clock())
        self._last_read_failure.pop(message.key, None)
        self.publish(message.key)

    def on_read_failed(self, message: messages.ReadFailed) -> None:
        self.state.apply_read_failure(message.key, message.code, message.message, self.clock())
        self.publish(message.key)
        failure = (message.code, message.message)
        if message.code in QUIET_READ_CODES or self._last_read_failure.get(message.key) == failure:
            return
        self._last_read_failure[message.key] = failure
        self.show_error(f"Could not read {message.key.replace('_', ' ')}", message.message, message.code)

    def on_action_completed(self, message: messages.ActionCompleted) -> None:
        write = message.write
        text = write.describe(message.result)
        self.state.apply_write(write.key, text)
        self.notify(text, title=write.title)
        for read in write.then_read:
            self.read(read)
        self.publish("action")

    def on_action_failed(self, message: messages.ActionFailed) -> None:
        self.state.apply_write(message.action, f"{message.title} failed: {message.message}")
        self.publish("action")
        self.show_error(f"{message.title} failed", message.message, message.code)

    def on_stream_event(self, message: messages.StreamEvent) -> None:
        self.state.apply_stream_event(message.key, message.run, message.event)
        self.publish(message.key)

    def on_stream_ended(self, message: messages.StreamEnded) -> None:
        self.state.apply_stream_end(message.key, message.run, message.code, message.message, self.clock())
        self.publish(message.key)

    def show_error(self, title: str, message: str, code: str | None = None) -> None:
        self.push_screen(ErrorModal(title, message, code))

    # ---- requests: each runs in a worker that ends in a message ---------------------------

    def read(self, read: Read[Any]) -> None:
        if self.link is None:
            return
        # A partial, not a coroutine: an exclusive worker cancelled before it starts leaves nothing unawaited.
        work: Work = partial(self.link.read, read)
        self._spawn(work, group=f"read:{read.key}", exclusive=True)

    def write(self, write: Write[Any]) -> None:
        if self.link is None:
            self.post_message(
                messages.ActionFailed(write.key, write.title, "unreachable", "this console has no engine link")
            )
            return
        work: Work = partial(self.link.write, write)
        self._spawn(work, group=f"write:{write.key}")

    def stream(self, stream: Stream[Any]) -> None:
        # Exclusive per key: a new run closes the one before it (the engine cancels that job).
        run = self.state.start_stream(stream.key, self.clock())
        self.publish(stream.key)
        if self.link is None:
            self.post_message(messages.StreamEnded(stream.key, run, "unreachable", "this console has no engine link"))
            return
        work: Work = partial(self.link.stream, stream, run)
        self._spawn(work, group=f"stream:{stream.key}", exclusive=True)

    def cancel_stream(self, key: str) -> None:
        self.workers.cancel_group(self, f"stream:{key}")
        log = self.state.streams.get(key)
        if log is not None and log.running:
            # A worker cancelled before it began posts nothing; the state hears it ended here
            # (whichever StreamEnded comes first counts).
            self.post_message(messages.StreamEnded(key, log.run, "cancelled", "cancelled from the console"))

    def follow_matching(self, match: EngineMatch | None) -> None:
        """Start (or replace, or with None stop) the engine-filtered follow stream for the Live screen."""
        self.workers.cancel_group(self, MATCH_WORKER)
        generation = self.state.start_match(match)
        if match is None or self.link is None:
            return  # offline (tests, snapshots): records come as RecordsMatched messages
        work: Work = partial(self.link.follow_matching, generation, match)
        self._spawn(work, group=MATCH_WORKER)

    # ---- actions and the command palette -------------------------------------------------

    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_reconnect(self) -> None:
        if self.link is not None:
            self.link.retry_now()

    def action_show_keys(self) -> None:
        """The keys that work on the current screen, in a modal that Escape closes."""
        if isinstance(self.screen, KeysModal):
            self.screen.dismiss(None)
            return
        by_action: dict[tuple[str, str], list[str]] = {}  # one line per action, its keys together
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            # The console's own keys: a focused widget's cursor keys and Textual's defaults are noise here.
            if active.node not in (self, self.screen) or binding.system or (key, binding.action) in TEXTUAL_KEYS:
                continue
            if not active.enabled or not binding.description or binding.action == "show_keys":
                continue
            description = binding.description
            if binding.action.startswith("goto("):
                description = f"go to {description}"
            shown = by_action.setdefault((binding.action, description), [])
            if (display := self.get_key_display(binding)) not in shown:
                shown.append(display)
        keys = [(" / ".join(displays), description) for (_, description), displays in by_action.items()]
        keys.append(("ctrl+p", "every command, searchable"))
        keys.append(("? / F1", "these keys"))
        title = next((m.spec.title for m in self.modes_built if m.spec.name == self.current_mode), "console")
        self.push_screen(KeysModal(f"Keys: {title}", keys))

    def action_show_help_panel(self) -> None:
        # Textual's side panel squeezes an 80x24 screen and ignores Escape: the modal replaces it.
        self.action_show_keys()

    async def _run_screen_command(self, mode: str, action: str) -> None:
        await self.switch_mode(mode)
        await self.screen.run_action(action)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for mode in self.modes_built:
            key = f" (key {mode.key})" if mode.key else ""
            yield SystemCommand(
                f"Go to {mode.spec.title}", f"{mode.spec.help}{key}", partial(self.action_goto, mode.spec.name)
            )
        for mode in self.modes_built:
            for command in mode.screen.palette_commands(self.state):
                if command.write and not self.state.can_write:
                    continue
                yield SystemCommand(
                    command.title, command.help, partial(self._run_screen_command, mode.spec.name, command.action)
                )
        yield SystemCommand("Reconnect to the engine", "Retry the engine connection now", self.action_reconnect)
        yield SystemCommand("Keys", "Show the keys that work here (? or F1)", self.action_show_keys)
        yield SystemCommand("Quit", "Leave the console (ends a kiosk session)", self.action_quit)


def _as_host(app: NocRavenApp) -> ConsoleHost:
    """Not called: here mypy checks that the app gives screens all that `ConsoleHost` promises."""
    return app
