"""System: the engine, the box's interfaces and listeners; restart and support bundle for admins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.widgets import Button, DataTable, Static

from nocraven.humanize import human_bytes, human_count, human_duration
from nocraven.schema.collector import CollectorStatus
from nocraven.schema.engine import BundleWritten, Listener, StopRequested, SystemInfo
from nocraven_tui.exchange import Read, Write
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.confirm import ConfirmModal
from nocraven_tui.widgets.sync import Row, TableSync, show

SYSTEM: Read[SystemInfo] = Read("system", lambda client: client.system())
RESTART: Write[StopRequested] = Write(
    "restart",
    "Restart engine",
    lambda client: client.stop_engine(),
    lambda _: "Engine restart requested; the console reconnects when it is back.",
)
BUNDLE: Write[BundleWritten] = Write(
    "bundle",
    "Support bundle",
    lambda client: client.write_bundle(),
    lambda written: f"Support bundle written on the box: {written.path} ({human_bytes(written.bytes)})",
)


class SystemScreen(ModeScreen):
    HELP = "Engine, interfaces, listeners, restart, support bundle"
    READS = (SYSTEM,)
    poll_every_s = 10.0
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("b", "bundle", "Support bundle"),
        Binding("R", "restart_engine", "Restart engine"),
    ]
    WRITE_ACTIONS = frozenset({"bundle", "restart_engine"})
    TOPICS = frozenset({"system", "status", "role", "action", "connected"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._interfaces: TableSync
        self._listeners: TableSync

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="system-body"):
            with Horizontal(id="system-top"):
                yield Static(id="engine-panel", classes="panel")
                with Vertical(id="system-actions", classes="panel"):
                    yield Button("Restart engine", id="restart", variant="warning", compact=True, classes="write")
                    yield Button("Export support bundle", id="bundle", compact=True, classes="write")
                    yield Button("Refresh", id="refresh", compact=True)
            yield Static(id="action-result")
            yield Static(id="system-note")
            yield DataTable(id="interfaces", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="listeners", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#engine-panel").border_title = "Engine"
        self.query_one("#system-actions").border_title = "Actions"
        interfaces = self.query_one("#interfaces", DataTable)
        interfaces.border_title = "Interfaces"
        for label in ("Name", "State", "MAC", "MTU", "Addresses"):
            interfaces.add_column(label, key=label.lower())
        listeners = self.query_one("#listeners", DataTable)
        listeners.border_title = "Listeners"
        for label in ("Service", "Listener", "Address", "Proto", "State", "Received"):
            listeners.add_column(label, key=label.lower())
        self._interfaces = TableSync(interfaces)
        self._listeners = TableSync(listeners)
        super().on_mount()

    def tick(self) -> None:
        self._render_engine()  # uptime

    def on_resize(self) -> None:
        if self._poll is not None:  # mounted
            self._render_engine()  # long paths are cut to the panel's width

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def refresh_body(self) -> None:
        can_write = self.state.can_write
        for button_id in ("#restart", "#bundle"):
            self.query_one(button_id).display = can_write
        result = self.state.write_result(RESTART.key, BUNDLE.key)
        if not can_write:
            result = "Read-only role: restart and support bundle need the admin role."
        panel = self.query_one("#action-result", Static)
        panel.display = bool(result)
        show(panel, escape(result or ""), layout=True)
        self._render_engine()
        self._render_tables()

    def _render_engine(self) -> None:
        state = self.state
        status = state.status
        system = state.value(SYSTEM)
        uptime = state.uptime(self.console.clock())

        room = self.query_one("#engine-panel", Static).content_size.width - 9

        def pair(label: str, value: object) -> str:
            text = str(value if value is not None else "-")
            if 10 < room < len(text):  # long paths: the end says more than the start
                text = "..." + text[-(room - 3) :]
            return f"[$text-muted]{label:<9}[/]{escape(text)}"

        def row(left: tuple[str, object], right: tuple[str, object]) -> str:
            # Pad on the plain text so markup does not skew the columns.
            plain = str(left[1] if left[1] is not None else "-")
            return pair(*left) + " " * max(1, 20 - len(plain)) + pair(*right)

        version = status.version if status else system.version if system else None
        hostname = status.hostname if status else system.hostname if system else None
        lines = [
            row(("Version", version), ("Uptime", human_duration(uptime))),
            row(("Hostname", hostname), ("PID", status.pid if status else None)),
            row(("State", state.connection), ("Role", state.role)),
            pair("Config", status.config if status else None),
            pair("Socket", status.socket if status else None),
        ]
        if status is not None and status.api_tcp:
            lines.append(pair("NOC API", status.api_tcp))
        show(self.query_one("#engine-panel", Static), "\n".join(lines), layout=True)

    def _render_tables(self) -> None:
        outcome = self.state.outcome(SYSTEM)
        info = self.state.value(SYSTEM)
        note = self.query_one("#system-note", Static)
        if info is None:
            reason = outcome.error_message or "loading..."
            show(note, f"[$text-muted]{'not available: ' if outcome.not_available else ''}{escape(reason)}[/]")
            note.display = True
            self._interfaces.show([])
            self._listeners.show([])
            return
        note.display = False
        interfaces: list[Row] = []
        for index, iface in enumerate(info.interfaces):
            state = iface.state or "-"
            kind = "success" if state == "up" else "error" if state == "down" else "muted"
            cells: tuple[Any, ...] = (
                Text(iface.name or "-"),
                self.styled(state, kind),
                Text(iface.mac or "-"),
                str(iface.mtu or "-"),
                Text("\n".join(iface.addresses) or "-"),
            )
            interfaces.append((f"{index}:{iface.name}", cells, max(1, len(iface.addresses))))
        self._interfaces.show(interfaces)
        listeners: list[Row] = []
        for index, entry in enumerate(info.listeners):
            service = entry.service or "-"
            # A running listener is as up as the component that owns it.
            owner = self.state.component(service).state
            state = str(entry.state) if entry.state != "running" else "listening" if owner == "running" else owner
            kind = "success" if state in ("listening", "bound", "up", "running") else "warning"
            row: tuple[Any, ...] = (
                Text(service),
                Text(entry.listener or "-"),
                Text(entry.address or "-"),
                Text(entry.proto or "-"),
                self.styled(state, kind),
                self._received(entry),
            )
            listeners.append((f"{index}:{service}:{entry.listener}", row, 1))
        if not listeners:
            row = (self.styled("none", "muted"), self.styled("no collector listens yet", "muted"), "", "", "", "")
            listeners.append(("none", row, 1))
        self._listeners.show(listeners)

    def _received(self, listener: Listener) -> str:
        """What the listener took, from its collector's status detail (the listing has no counters)."""
        collector = self.state.component(listener.service).detail_as(CollectorStatus)
        found = next((s for s in collector.listeners if s.listener == listener.listener), None) if collector else None
        if found is None:
            return "-"
        if found.counters.messages or found.counters.active_connections is msgspec.UNSET:
            return human_count(found.counters.messages)
        return f"{found.counters.active_connections} conn"

    # ---- actions ------------------------------------------------------------------------

    @on(Button.Pressed, "#refresh")
    def _refresh_pressed(self) -> None:
        self.action_refresh()

    @on(Button.Pressed, "#bundle")
    def action_bundle(self) -> None:
        if self.state.can_write:
            self.console.write(BUNDLE)

    @on(Button.Pressed, "#restart")
    def action_restart_engine(self) -> None:
        if not self.state.can_write:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.console.write(RESTART)

        self.app.push_screen(
            ConfirmModal(
                "Restart the engine?",
                "Collectors stop for a few seconds while the engine restarts; senders over UDP lose "
                "what they send meanwhile. Buffered records are kept. The console reconnects by itself.",
                "Restart",
            ),
            confirmed,
        )

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("System: refresh", "Ask the engine for interfaces and listeners again", "refresh")
        yield ScreenCommand(
            "System: restart engine", "Stop the engine; systemd starts it again", "restart_engine", write=True
        )
        yield ScreenCommand("System: export support bundle", "Write a support bundle on the box", "bundle", True)
