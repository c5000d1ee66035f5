"""Ports: every listener (address, state, counters), and moving one to another address live.

The form checks what is typed at once (syntax, range, another listener of ours on that port),
`Check` asks the engine (which also bind-tests the address and names a process holding it), and
`Apply` asks for confirmation, then moves the listener. Changing needs the admin role; others
see the table and a line saying why the form is not there.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, DataTable, Input, Static

from nocraven.ports.checks import Bound, ChangeRefused, check_change
from nocraven.schema.ports import PortChanged, PortsList
from nocraven_tui.exchange import Read, Write
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.confirm import ConfirmModal
from nocraven_tui.widgets.sync import Row, TableSync, show

PORTS: Read[PortsList] = Read("ports", lambda client: client.ports())


def check(listener: str, address: str) -> Write[PortChanged]:
    return Write(
        "ports:check",
        f"Check {listener} -> {address}",
        lambda client: client.ports_set(listener, address, check=True),
        lambda done: f"Check: {done.message}",
    )


def apply(listener: str, address: str) -> Write[PortChanged]:
    return Write(
        "ports:set",
        f"Move {listener} to {address}",
        lambda client: client.ports_set(listener, address),
        lambda done: done.message + ("" if done.persisted else " (NOT saved: lost at the next engine restart)"),
        then_read=(PORTS,),
    )


def local_problem(data: PortsList | None, listener: str, address: str) -> str | None:
    """What is wrong with the change as typed, before the engine is asked (None: looks fine)."""
    if data is None:
        return "waiting for the list of listeners"
    entry = next((e for e in data.ports if e.name == listener), None)
    if entry is None:
        return f"no listener named {listener!r}: pick one in the table"
    if not entry.changeable:
        return f"{listener} cannot be moved live: {entry.why_not}"
    ours = [Bound(e.name, e.proto, e.address or e.configured) for e in data.ports if e.state != "off"]
    try:
        # The privilege check needs the engine's capabilities: `Check` asks it.
        check_change(listener, entry.proto, entry.address, address, ours, lowest_port=0)
    except ChangeRefused as exc:
        return str(exc)
    return None


class PortsScreen(ModeScreen):
    HELP = "Every listener and its port; move one live (admin)"
    READS = (PORTS,)
    poll_every_s = 3.0
    BINDINGS = [Binding("r", "refresh", "Refresh")]
    WRITE_ACTIONS = frozenset({"check", "apply"})
    TOPICS = frozenset({"ports", "status", "counters", "role", "connected", "action"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._table: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="ports-body"):
            yield DataTable(id="ports-table", cursor_type="row", zebra_stripes=True)
            yield Static(id="ports-note")
            with Horizontal(id="ports-form", classes="actions write"):
                yield Input(placeholder="syslog.udp", id="ports-listener", compact=True)
                yield Input(placeholder="0.0.0.0:1514", id="ports-address", compact=True)
                yield Button("Check", id="ports-check", compact=True)
                yield Button("Apply...", id="ports-apply", variant="warning", compact=True)
            yield Static(id="ports-validation", classes="write")
            yield Static(id="ports-result")

    def on_mount(self) -> None:
        table = self.query_one("#ports-table", DataTable)
        table.border_title = "Listeners"
        for label in ("Listener", "Proto", "Address", "State", "Messages", "Rejected", "Kernel drops", "Live change"):
            table.add_column(label, key=label.lower())
        self._table = TableSync(table)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    # ---- drawing --------------------------------------------------------------------------

    def refresh_body(self) -> None:
        data = self.state.value(PORTS)
        outcome = self.state.outcome(PORTS)
        writable = self.state.can_write
        for widget in self.query(".write"):
            widget.display = writable
        note = self.query_one("#ports-note", Static)
        lines = []
        if data is None:
            lines.append(f"[$text-muted]{escape(outcome.error_message or 'loading...')}[/]")
        else:
            where = (
                f"changes are saved to {data.config}"
                if data.persisted
                else f"changes are live only: the engine runs on {data.config} (no file to save to)"
            )
            lines.append(f"[$text-muted]{escape(where)}[/]")
        if not writable:
            lines.append(
                f"[$warning]Read-only: changing a port needs the admin role (you are {escape(self.state.role)})[/]"
            )
        show(note, "\n".join(lines), layout=True)
        show(self.query_one("#ports-result", Static), escape(self.state.write_result("ports:") or ""))
        self._render_table(data)
        self._validate()

    def _render_table(self, data: PortsList | None) -> None:
        rows: list[Row] = []
        for entry in data.ports if data is not None else []:
            kind = {"listening": "success", "down": "error"}.get(entry.state, "muted")
            counters = entry.counters
            cells = (
                Text(entry.name),
                entry.proto,
                Text(entry.address or entry.configured or "-"),
                self.styled(entry.state, kind),
                f"{counters.messages:,}",
                f"{counters.rejected:,}",
                f"{counters.kernel_drops:,}",
                "yes" if entry.changeable else "restart",
            )
            rows.append((entry.name, cells, 1))
        self._table.show(rows)

    def _typed(self) -> tuple[str, str]:
        return (
            self.query_one("#ports-listener", Input).value.strip(),
            self.query_one("#ports-address", Input).value.strip(),
        )

    def _validate(self) -> str | None:
        """Show what is wrong with the form now; returns it (None: it may be sent)."""
        listener, address = self._typed()
        panel = self.query_one("#ports-validation", Static)
        if not listener or not address:
            show(panel, "[$text-muted]pick a listener in the table, type the new HOST:PORT, then Check[/]")
            return "incomplete"
        problem = local_problem(self.state.value(PORTS), listener, address)
        if problem is None:
            show(panel, f"[$success]looks valid: {escape(listener)} -> {escape(address)} (Check asks the engine)[/]")
        else:
            show(panel, f"[$error]{escape(problem)}[/]")
        return problem

    @on(Input.Changed)
    def _typed_changed(self) -> None:
        self._validate()

    @on(DataTable.RowHighlighted, "#ports-table")
    def _row_picked(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self.query_one("#ports-listener", Input).value = str(event.row_key.value)

    # ---- actions --------------------------------------------------------------------------

    @on(Button.Pressed, "#ports-check")
    def action_check(self) -> None:
        if not self.state.can_write:
            return
        listener, address = self._typed()
        problem = self._validate()
        if problem is not None:
            self.notify(problem, severity="warning")
            return
        self.console.write(check(listener, address))

    @on(Button.Pressed, "#ports-apply")
    def action_apply(self) -> None:
        if not self.state.can_write:
            return
        listener, address = self._typed()
        problem = self._validate()
        if problem is not None:
            self.notify(problem, severity="warning")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.console.write(apply(listener, address))

        self.app.push_screen(
            ConfirmModal(
                f"Move {listener} to {address}?",
                f"The engine binds {address} first (refused, with nothing changed, if it cannot); "
                f"the old address is still served for 2 s, then closed. Senders must be pointed at "
                f"{address}. The config file is rewritten with the new address.",
                "Move",
            ),
            confirmed,
        )

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Ports: refresh", "Ask the engine for every listener", "refresh")
