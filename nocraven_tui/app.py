"""The console app: modes from the registry, the command palette, and the handlers that own state.

The one connection worker (EngineLink.watch_forever) and the request workers only post messages
(nocraven_tui.messages). The handlers below are the only code that changes `self.state`; they then
tell the mode screens on the stack which topic changed, and the screens redraw from the state.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand, UnknownModeError
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.worker import Worker, WorkerState

from nocraven.client import default_socket
from nocraven.humanize import human_bytes
from nocraven_tui import messages
from nocraven_tui.connection import EngineLink
from nocraven_tui.modes import BuiltMode, built_modes
from nocraven_tui.screens.base import ModeScreen
from nocraven_tui.state import ConsoleState, ReadOutcome
from nocraven_tui.theme import ASCII, MODERN, PLAIN, UNICODE, PlainScrollBarRender, wants_plain
from nocraven_tui.widgets.error import ErrorModal

LINK_WORKER = "engine-link"
Work = Callable[[], Coroutine[None, None, None]]
PREWARM_AFTER_S = 0.3  # after the first paint with engine data
QUIET_READ_CODES = frozenset({"not_available", "not_found", "unreachable"})


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
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "ctrl_c", show=False, priority=True),
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
        # The last write's outcome by action ("purge:syslog", "bundle", ...), for the screens to show.
        self.action_results: dict[str, str] = {}
        self._prewarmed = False
        self._last_read_failure: dict[str, tuple[str, str]] = {}
        self.modes_built: list[BuiltMode] = built_modes()
        for mode in self.modes_built:
            self.add_mode(mode.spec.name, partial(mode.screen, mode.spec.name))

    # ---- lifecycle ----------------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_class(self.plain, "-plain")
        self.start_link()

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
        """Compose every mode's screen once, unseen, so a first visit is as quick as a later one."""
        if len(self.screen_stack) > 1 or not self.is_running:
            return  # a modal is open, or the console is closing: first visits just take longer
        home = self.current_mode
        # Nothing is painted until we are back home; a console closing meanwhile drops its modes.
        with self.batch_update(), contextlib.suppress(UnknownModeError):
            for mode in self.modes_built:
                if mode.spec.name != home and self.is_running:
                    await self.switch_mode(mode.spec.name)
            await self.switch_mode(home)

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
        if self.state.component("buffer").available:
            self.request_buffer_stats()
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
        self.state.live.extend(message.records, message.total)

    def on_engine_stopping(self, message: messages.EngineStopping) -> None:
        self.state.mark_stopping(message.reason)
        self.publish("status")

    def on_watch_dropped(self, message: messages.WatchDropped) -> None:
        self.log.warning(f"watch dropped: {message.reason}")

    def on_engine_disconnected(self, message: messages.EngineDisconnected) -> None:
        self.state.mark_down(message.reason, self.clock(), message.retry_in)
        self.publish("status")

    def on_buffer_stats_received(self, message: messages.BufferStatsReceived) -> None:
        self.state.buffer_stats = ReadOutcome(data=message.stats, at=self.clock())
        self._last_read_failure.pop("buffer_stats", None)
        self.publish("buffer_stats")

    def on_system_info_received(self, message: messages.SystemInfoReceived) -> None:
        self.state.system = ReadOutcome(data=message.info, at=self.clock())
        self._last_read_failure.pop("system", None)
        self.publish("system")

    def on_read_failed(self, message: messages.ReadFailed) -> None:
        outcome: ReadOutcome = getattr(self.state, message.what)
        # Keep the last good figures on screen and say why they are not fresh.
        keep = None if message.code in ("not_available", "not_found") else outcome.data
        setattr(
            self.state,
            message.what,
            ReadOutcome(data=keep, error_code=message.code, error_message=message.message, at=self.clock()),
        )
        self.publish(message.what)
        failure = (message.code, message.message)
        if message.code in QUIET_READ_CODES or self._last_read_failure.get(message.what) == failure:
            return
        self._last_read_failure[message.what] = failure
        self.show_error(f"Could not read {message.what.replace('_', ' ')}", message.message, message.code)

    def on_action_succeeded(self, message: messages.ActionSucceeded) -> None:
        text = _describe_result(message.action, message.title, message.result)
        self._note_result(message.action, text)
        self.notify(text, title=message.title)
        if message.action.startswith("purge"):
            self.request_buffer_stats()
        self.publish("action")

    def on_action_failed(self, message: messages.ActionFailed) -> None:
        self._note_result(message.action, f"{message.title} failed: {message.message}")
        self.publish("action")
        self.show_error(f"{message.title} failed", message.message, message.code)

    def _note_result(self, action: str, text: str) -> None:
        self.action_results.pop(action, None)  # re-insert: the dict's order is newest last
        self.action_results[action] = text

    def action_result(self, *prefixes: str) -> str | None:
        """The newest outcome among actions whose name starts with one of `prefixes`."""
        found = [text for action, text in self.action_results.items() if action.startswith(prefixes)]
        return found[-1] if found else None

    def show_error(self, title: str, message: str, code: str | None = None) -> None:
        self.push_screen(ErrorModal(title, message, code))

    # ---- requests: each runs in a worker that ends in a message ---------------------------

    def request_buffer_stats(self) -> None:
        self._read("buffer_stats", "/v1/buffer/stats", messages.BufferStatsReceived)

    def request_system(self) -> None:
        self._read("system", "/v1/system", messages.SystemInfoReceived)

    def purge_buffer(self, service: str) -> None:
        self._write(f"purge:{service}", f"Purge {service}", "/v1/buffer/purge", {"service": service})

    def restart_engine(self) -> None:
        self._write("restart", "Restart engine", "/v1/engine/stop", {})

    def export_bundle(self) -> None:
        self._write("bundle", "Support bundle", "/v1/system/bundle", {})

    def _read(self, what: str, path: str, make: Callable[[Any], Message]) -> None:
        if self.link is None:
            return
        # A partial, not a coroutine: an exclusive worker cancelled before it starts leaves nothing unawaited.
        work: Work = partial(self.link.read, what, path, make)
        self._spawn(work, group=f"read:{what}", exclusive=True)

    def _write(self, action: str, title: str, path: str, body: dict[str, Any]) -> None:
        if self.link is None:
            self.post_message(messages.ActionFailed(action, title, "unreachable", "this console has no engine link"))
            return
        work: Work = partial(self.link.write, action, title, path, body)
        self._spawn(work, group=f"write:{action}")

    # ---- actions and the command palette -------------------------------------------------

    def action_goto(self, mode: str) -> None:
        self.switch_mode(mode)

    def action_reconnect(self) -> None:
        if self.link is not None:
            self.link.retry_now()

    def action_ctrl_c(self) -> None:
        # Ctrl-C must never end a kiosk session by accident.
        self.notify("Ctrl-C does not quit here: press q.", timeout=3)

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
        yield SystemCommand("Keys", "Show the keys that work here", self.action_show_help_panel)
        yield SystemCommand("Quit", "Leave the console (ends a kiosk session)", self.action_quit)


def _describe_result(action: str, title: str, result: Any) -> str:
    if action == "bundle" and isinstance(result, dict):
        return f"Support bundle written on the box: {result.get('path')} ({human_bytes(result.get('bytes'))})"
    if action == "restart":
        return "Engine restart requested; the console reconnects when it is back."
    if action.startswith("purge") and isinstance(result, dict):
        purged = result.get("records")
        if not isinstance(purged, int):
            return f"{title}: done"
        return f"{title}: done, {purged:,} records ({human_bytes(result.get('bytes'))}) deleted"
    return f"{title}: done"
