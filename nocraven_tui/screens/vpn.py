"""VPN: the tunnel to the NOC, its profiles by priority, their certificates and the failover history;
connect, back to automatic, disconnect, remove and import from a path for admins."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, DataTable, Input, Static

from nocraven.humanize import human_bytes, human_duration, timestamp
from nocraven.schema.vpn import VpnHistory, VpnImported, VpnProfiles, VpnRemoved, VpnStatus
from nocraven_tui.exchange import Read, Write
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.confirm import ConfirmModal
from nocraven_tui.widgets.spark import sparkline
from nocraven_tui.widgets.sync import Row, TableSync, selected_key, show

VPN_STATUS: Read[VpnStatus] = Read("vpn_status", lambda client: client.vpn_status())
VPN_PROFILES: Read[VpnProfiles] = Read("vpn_profiles", lambda client: client.vpn_profiles())
VPN_HISTORY: Read[VpnHistory] = Read("vpn_history", lambda client: client.vpn_history(limit=20))
ALL_READS = (VPN_STATUS, VPN_PROFILES, VPN_HISTORY)
SPARK_POINTS = 40


def connect(name: str) -> Write[VpnStatus]:
    return Write(
        f"vpn:connect:{name}",
        f"Connect {name}",
        lambda client: client.vpn_connect(name),
        lambda status: f"Connect {name}: pinned ({status.state.value}); `Auto` returns to priority order",
        then_read=ALL_READS,
    )


def auto() -> Write[VpnStatus]:
    return Write(
        "vpn:auto",
        "Automatic selection",
        lambda client: client.vpn_auto(),
        lambda status: (
            f"Automatic selection: {status.state.value}" + (f" via {status.active}" if status.active else "")
        ),
        then_read=ALL_READS,
    )


def disconnect() -> Write[VpnStatus]:
    return Write(
        "vpn:disconnect",
        "Disconnect",
        lambda client: client.vpn_disconnect(),
        lambda status: "Disconnect: the tunnel stays down until Connect or Auto",
        then_read=ALL_READS,
    )


def remove(name: str) -> Write[VpnRemoved]:
    return Write(
        f"vpn:remove:{name}",
        f"Remove {name}",
        lambda client: client.vpn_remove(name),
        lambda done: f"Remove {done.name}: done",
        then_read=ALL_READS,
    )


def import_path(path: str, priority: int) -> Write[VpnImported]:
    return Write(
        "vpn:import",
        f"Import {path}",
        lambda client: client.vpn_import_file(Path(path), priority=priority),
        lambda done: (
            f"Imported {done.profile.name} (priority {done.profile.priority})"
            + (f"; {len(done.warnings)} warning(s): {done.warnings[0]}" if done.warnings else "")
        ),
        then_read=ALL_READS,
    )


class VpnScreen(ModeScreen):
    HELP = "Tunnel profiles, state and failover history"
    READS = ALL_READS
    poll_every_s = 3.0
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("c", "connect_selected", "Connect"),
        Binding("a", "auto", "Auto"),
        Binding("d", "disconnect", "Disconnect"),
        Binding("x", "remove_selected", "Remove..."),
    ]
    WRITE_ACTIONS = frozenset({"connect_selected", "connect", "auto", "disconnect", "remove_selected", "remove"})
    TOPICS = frozenset(
        {"vpn_status", "vpn_profiles", "vpn_history", "status", "counters", "role", "connected", "action"}
    )

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._profiles: TableSync
        self._history: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="vpn-body"):
            yield Static(id="vpn-tunnel", classes="panel")
            yield DataTable(id="vpn-profiles", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="vpn-history", cursor_type="none", zebra_stripes=True)
            with Horizontal(id="vpn-actions", classes="actions"):
                yield Button("Connect", id="vpn-connect", compact=True, classes="write")
                yield Button("Auto", id="vpn-auto", compact=True, classes="write")
                yield Button("Disconnect", id="vpn-disconnect", variant="error", compact=True, classes="write")
                yield Button("Remove...", id="vpn-remove", variant="error", compact=True, classes="write")
                yield Static(id="vpn-result")
            with Horizontal(id="vpn-import", classes="actions write"):
                yield Input(placeholder="/path/to/profile.ovpn", id="vpn-import-path", compact=True)
                yield Input(value="100", id="vpn-import-priority", compact=True, type="integer")
                yield Button("Import", id="vpn-import-go", compact=True)
        yield Static(id="vpn-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#vpn-tunnel").border_title = "Tunnel"
        profiles = self.query_one("#vpn-profiles", DataTable)
        profiles.border_title = "Profiles (lower priority preferred)"
        for label in ("Name", "Priority", "State", "Remotes", "Cert days", "Last connected"):
            profiles.add_column(label, key=label.lower())
        history = self.query_one("#vpn-history", DataTable)
        history.border_title = "History"
        for label in ("Started", "Profile", "Up for", "Why it started", "Why it ended"):
            history.add_column(label, key=label.lower())
        self._profiles = TableSync(profiles)
        self._history = TableSync(history)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    # ---- drawing --------------------------------------------------------------------------

    def refresh_body(self) -> None:
        outcome = self.state.outcome(VPN_STATUS)
        body = self.query_one("#vpn-body")
        na = self.query_one("#vpn-na", Static)
        available = self.state.component("vpn").available
        if self.state.value(VPN_STATUS) is None and (outcome.not_available or not available):
            body.display = False
            na.display = True
            message = outcome.error_message or "VPN management is not available in this build"
            show(na, f"[b]VPN: not available[/b]\n\n[$text-muted]{escape(message)}[/]", layout=True)
            return
        body.display = True
        na.display = False
        writable = self.state.can_write
        for widget in self.query(".write"):
            widget.display = writable
        show(self.query_one("#vpn-result", Static), escape(self.state.write_result("vpn:") or ""))
        self._render_tunnel()
        self._render_profiles()
        self._render_history()

    def _render_tunnel(self) -> None:
        panel = self.query_one("#vpn-tunnel", Static)
        status = self.state.value(VPN_STATUS)
        outcome = self.state.outcome(VPN_STATUS)
        if status is None:
            show(panel, f"[$text-muted]{escape(outcome.error_message or 'loading...')}[/]")
            return
        if not status.enabled:
            show(panel, "[$text-muted]VPN manager off (vpn.enabled = false): profiles can be imported[/]")
            return
        style = "$success" if status.connected else "$warning" if status.state.value == "connecting" else "$error"
        mode = {"auto": "automatic", "manual": f"pinned to {status.override}", "off": "off"}.get(
            status.mode, status.mode
        )
        lines = [
            f"[{style}][b]{status.state.value}[/b][/]"
            + (f" via [b]{escape(status.active)}[/b]" if status.active else "")
            + f"  selection {escape(mode)}"
        ]
        if status.connected:
            lines.append(
                f"remote {escape(status.remote)}  local {escape(status.local_ip or '-')}  "
                f"in {human_bytes(status.bytes_in)} out {human_bytes(status.bytes_out)}"
            )
        history = self.state.value(VPN_HISTORY)
        latencies = [p.latency_ms for p in (history.probes if history else [])][-SPARK_POINTS:]
        if status.probe is not None:
            probe = status.probe
            latency = f"{probe.latency_ms:.0f} ms" if probe.latency_ms is not None else "no answer"
            spark = sparkline(latencies, self.console.glyphs) if latencies else ""
            lines.append(f"probe {latency}, loss {probe.loss_percent:.0f} %  {spark}")
        if status.alert:
            lines.append(f"[$warning]alert: {escape(status.alert)}[/]")
        if status.last_reason:
            lines.append(f"[$text-muted]last change: {escape(status.last_reason)}[/]")
        show(panel, "\n".join(lines), layout=True)

    def _render_profiles(self) -> None:
        data = self.state.value(VPN_PROFILES)
        rows: list[Row] = []
        for profile in data.profiles if data is not None else []:
            kind = {"active": "success", "connecting": "warning", "cooldown": "error"}.get(profile.state, "muted")
            days = profile.cert_days_left
            state = profile.state if profile.state != "cooldown" else f"cooldown {profile.cooldown_s:.0f}s"
            cells = (
                Text(profile.name),
                str(profile.priority),
                self.styled(state, kind),
                Text(", ".join(profile.remotes)),
                self.styled("-" if days is None else str(days), "warning" if days is not None and days < 30 else None),
                timestamp(profile.last_connected) if profile.last_connected else "-",
            )
            rows.append((profile.name, cells, 1))
        self._profiles.show(rows)

    def _render_history(self) -> None:
        data = self.state.value(VPN_HISTORY)
        rows: list[Row] = []
        for index, entry in enumerate(data.entries if data is not None else []):
            up = human_duration(entry.duration_s) if entry.duration_s is not None else "never"
            cells = (
                timestamp(entry.started),
                Text(entry.profile),
                up,
                Text(entry.reason_started),
                Text(entry.reason_ended or ("still up" if entry.ended is None else "")),
            )
            rows.append((str(index), cells, 1))
        self._history.show(rows)

    # ---- actions --------------------------------------------------------------------------

    def _selected_profile(self) -> str | None:
        return selected_key(self.query_one("#vpn-profiles", DataTable))

    @on(Button.Pressed, "#vpn-connect")
    def action_connect_selected(self) -> None:
        name = self._selected_profile()
        if name is None:
            self.notify("No profile selected: import one first.", severity="warning")
            return
        self.action_connect(name)

    def action_connect(self, name: str) -> None:
        if self.state.can_write:
            self.console.write(connect(name))

    @on(Button.Pressed, "#vpn-auto")
    def action_auto(self) -> None:
        if self.state.can_write:
            self.console.write(auto())

    @on(Button.Pressed, "#vpn-disconnect")
    def action_disconnect(self) -> None:
        if self.state.can_write:
            self.console.write(disconnect())

    @on(Button.Pressed, "#vpn-remove")
    def action_remove_selected(self) -> None:
        name = self._selected_profile()
        if name is None:
            self.notify("No profile selected.", severity="warning")
            return
        self.action_remove(name)

    def action_remove(self, name: str) -> None:
        if not self.state.can_write:
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.console.write(remove(name))

        self.app.push_screen(
            ConfirmModal(
                f"Remove the VPN profile {name}?",
                f"This deletes {name}, its keys and credentials from this box. A tunnel running on it "
                "moves to the next profile. It cannot be undone: keep the .ovpn file to import it again.",
                "Remove",
                expected=name,
            ),
            confirmed,
        )

    @on(Button.Pressed, "#vpn-import-go")
    def _import_pressed(self) -> None:
        if not self.state.can_write:
            return
        path = self.query_one("#vpn-import-path", Input).value.strip()
        priority_text = self.query_one("#vpn-import-priority", Input).value.strip() or "100"
        if not path:
            self.notify("Type the path of the .ovpn file to import.", severity="warning")
            return
        self.console.write(import_path(path, int(priority_text)))

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("VPN: refresh", "Ask the engine for the tunnel, profiles and history", "refresh")
        if not state.component("vpn").available:
            return
        yield ScreenCommand("VPN: automatic selection", "Back to priority order and fail-back", "auto", write=True)
        yield ScreenCommand("VPN: disconnect", "Drop the tunnel until Connect or Auto", "disconnect", write=True)
        profiles = state.value(VPN_PROFILES)
        for profile in profiles.profiles if profiles is not None else []:
            yield ScreenCommand(
                f"VPN: connect {profile.name}",
                f"Pin the tunnel to {profile.name} until Auto",
                f"connect('{profile.name}')",
                write=True,
            )
