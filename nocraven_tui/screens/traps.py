"""Traps: the newest SNMP traps coloured by what they mean, the agents sending them, the MIBs,
and the devices polled over SNMP with their busiest interfaces."""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, DataTable, Static

from nocraven.client import AsyncClient
from nocraven.humanize import clock_time, human_bits, human_count
from nocraven.schema.records import Record
from nocraven.schema.snmppoll import InterfaceLoad, PollTargets
from nocraven.schema.snmptrap import TrapAgents, TrapMibs
from nocraven_tui.exchange import Read
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.sync import Row, TableSync, show

RECENT = 30  # traps shown
AGENTS_SHOWN = 50
INTERFACES_SHOWN = 3  # busiest interfaces per polled device
PROBLEM_CHARS = 48  # the whole line is in `nocraven snmp targets`; the table keeps its start
POLL_STATE_KIND = {"ok": "success", "failing": "error", "waiting": "muted"}

# What a trap's name says about the venue, as the colour it is shown in. First match wins.
SEVERITY: tuple[tuple[str, str], ...] = (
    ("linkUp", "success"),
    ("linkDown", "error"),
    ("authenticationFailure", "error"),
    ("Fault", "error"),
    ("Fail", "error"),
    ("Alarm", "error"),
    ("OnBattery", "error"),
    ("Down", "error"),
    ("coldStart", "warning"),
    ("warmStart", "warning"),
    ("Warning", "warning"),
)


def severity(trap_name: str | None) -> str | None:
    """The theme colour for a trap, from its MIB name (None: an ordinary notice)."""
    if not trap_name:
        return None
    symbol = trap_name.rpartition("::")[2]
    return next((kind for word, kind in SEVERITY if word in symbol), None)


async def _recent(client: AsyncClient) -> list[Record]:
    return [record async for record in client.buffer_tail(service="trap", limit=RECENT)]


TRAP_AGENTS: Read[TrapAgents] = Read("trap_agents", lambda client: client.traps_agents())
TRAP_MIBS: Read[TrapMibs] = Read("trap_mibs", lambda client: client.traps_mibs())
RECENT_TRAPS: Read[list[Record]] = Read("recent_traps", _recent)
POLL_TARGETS: Read[PollTargets] = Read("poll_targets", lambda client: client.snmp_targets())


def _varbind_text(record: Record) -> str:
    """The first varbinds as `name=value`, short names (the table is one line a trap)."""
    parts = []
    varbinds = record.get("varbinds")
    for varbind in varbinds[:3] if isinstance(varbinds, list) else ():
        if not isinstance(varbind, dict):
            continue
        name = str(varbind.get("name") or varbind.get("oid") or "?").rpartition("::")[2]
        parts.append(f"{name}={varbind.get('value')}")
    return " ".join(parts)


class TrapsScreen(ModeScreen):
    HELP = "SNMP traps: the newest, the agents sending them, the MIBs naming them; the polled devices"
    READS = (RECENT_TRAPS, TRAP_AGENTS, TRAP_MIBS, POLL_TARGETS)
    poll_every_s = 2.0
    TOPICS = frozenset({"status", "connected", "role", "recent_traps", "trap_agents", "trap_mibs", "poll_targets"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._recent: TableSync
        self._agents: TableSync
        self._polled: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="traps-body"):
            yield Static(id="traps-summary", classes="panel")
            yield DataTable(id="recent-traps", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="trap-agents", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="polled-devices", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="traps-actions", classes="actions"):
                yield Button("Refresh", id="traps-refresh", compact=True)
        yield Static(id="traps-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#traps-summary").border_title = "Trap receiver"
        recent = self.query_one("#recent-traps", DataTable)
        recent.border_title = "Newest traps"
        for label, key in (
            ("Time", "time"),
            ("Agent", "agent"),
            ("Ver", "version"),
            ("Trap", "trap"),
            ("Varbinds", "varbinds"),
        ):
            recent.add_column(label, key=key)
        agents = self.query_one("#trap-agents", DataTable)
        agents.border_title = "Agents"
        for label, key in (
            ("Agent", "agent"),
            ("Ver", "version"),
            ("Traps", "traps"),
            ("Informs", "informs"),
            ("Auth fail", "auth"),
            ("Malformed", "malformed"),
            ("Last seen", "last_seen"),
        ):
            agents.add_column(label, key=key)
        polled = self.query_one("#polled-devices", DataTable)
        polled.border_title = "Polled devices"
        for label, key in (
            ("Device", "device"),
            ("State", "state"),
            ("Last poll", "last_poll"),
            ("Interface", "interface"),
            ("In", "in"),
            ("Out", "out"),
            ("Errors", "errors"),
            ("Problem", "problem"),
        ):
            polled.add_column(label, key=key)
        self._recent = TableSync(recent)
        self._agents = TableSync(agents)
        self._polled = TableSync(polled)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def refresh_body(self) -> None:
        component = self.state.component("snmptrap")
        agents = self.state.value(TRAP_AGENTS)
        body = self.query_one("#traps-body")
        na = self.query_one("#traps-na", Static)
        if agents is None and not component.available:
            body.display = False
            na.display = True
            show(na, f"[b]Traps: not available[/b]\n\n[$text-muted]{escape(component.description)}[/]", layout=True)
            return
        body.display = True
        na.display = False
        polled = self.state.value(POLL_TARGETS)
        self._render_summary(agents, self.state.value(TRAP_MIBS), self.state.outcome(TRAP_AGENTS).error_message, polled)
        self._render_recent(self.state.value(RECENT_TRAPS) or [])
        self._render_agents(agents)
        self._render_polled(polled)

    def _render_summary(
        self, agents: TrapAgents | None, mibs: TrapMibs | None, error: str | None, polled: PollTargets | None
    ) -> None:
        panel = self.query_one("#traps-summary", Static)
        if agents is None:
            show(panel, f"[$text-muted]{escape(error or 'loading...')}[/]")
            return
        totals, receive = agents.totals, agents.receive
        listening = "[$success]listening[/]" if agents.running else "[$warning]not listening[/]"
        lines = [
            f"{listening}; {human_count(totals.traps)} traps, {human_count(totals.informs)} informs "
            f"({receive.acks_sent:,} acknowledged once stored), {len(agents.agents)} agents",
            f"refused {totals.refused:,} (authentication failures {totals.auth_failures:,}), "
            f"malformed {totals.malformed:,}, dropped by the kernel {receive.kernel_drops:,}",
        ]
        # before the MIB lines: on a small terminal the panel keeps its first lines
        if polled is not None and polled.targets:
            failing = sum(1 for target in polled.targets if target.state == "failing")
            state = f"[$error]{failing} failing[/]" if failing else "[$success]all answering[/]"
            lines.append(f"polling {len(polled.targets)} devices: {state}")
        if mibs is not None:
            status = mibs.status
            text = f"{status.loaded:,} MIB modules; operator MIBs: {', '.join(status.operator) or 'none'}"
            lines.append(escape(text))
            lines += [f"[$warning]{escape(problem)}[/]" for problem in status.problems[:3]]
        if error:
            lines.append(f"[$warning]last refresh failed: {escape(error)}[/]")
        show(panel, "\n".join(lines))

    def _render_recent(self, records: list[Record]) -> None:
        rows: list[Row] = []
        for index, record in enumerate(reversed(records)):  # newest first
            name = record.get("trap_name")
            kind = severity(name if isinstance(name, str) else None)
            received = str(record.get("received_at") or "")
            cells = (
                received[11:19],
                Text(str(record.get("agent_addr") or record.get("source") or "?")),
                str(record.get("version") or ""),
                self.styled(str(name or record.get("trap_oid") or "?"), kind),
                Text(_varbind_text(record), overflow="ellipsis", no_wrap=True),
            )
            rows.append((f"{received}:{index}", cells, 1))
        if not rows:
            rows.append(("none", (self.styled("-", "muted"), self.styled("no traps yet", "muted"), "", "", ""), 1))
        self._recent.show(rows)

    def _render_agents(self, agents: TrapAgents | None) -> None:
        rows: list[Row] = []
        ranked = sorted(
            (agents.agents if agents is not None else {}).items(),
            key=lambda item: (item[1].auth_failures, item[1].traps + item[1].informs),
            reverse=True,
        )
        for ip, agent in ranked[:AGENTS_SHOWN]:
            cells = (
                Text(ip),
                agent.last_version or "-",
                f"{agent.traps:,}",
                f"{agent.informs:,}",
                self.styled(f"{agent.auth_failures:,}", "error" if agent.auth_failures else "muted"),
                self.styled(f"{agent.malformed:,}", "warning" if agent.malformed else "muted"),
                clock_time(agent.last_seen) if agent.last_seen else "-",
            )
            rows.append((ip, cells, 1))
        self._agents.show(rows)

    def _render_polled(self, polled: PollTargets | None) -> None:
        table = self.query_one("#polled-devices", DataTable)
        table.display = bool(polled is not None and polled.targets)  # no polling configured: no panel
        rows: list[Row] = []
        for target in polled.targets if polled is not None else []:
            kind = POLL_STATE_KIND.get(target.state)
            text = target.last_error or ""
            text = text if len(text) <= PROBLEM_CHARS else text[: PROBLEM_CHARS - 1] + "…"
            problem = self.styled(text, "error" if target.state == "failing" else "warning")
            head = (
                Text(target.target),
                self.styled(target.state, kind),
                clock_time(target.last_poll) if target.last_poll else "-",
            )
            interfaces: list[InterfaceLoad | None] = [*target.busiest[:INTERFACES_SHOWN]] or [None]
            for n, interface in enumerate(interfaces):
                cells = head if n == 0 else (Text(""), Text(""), "")
                if interface is None:
                    load: tuple[str | Text, ...] = ("-", "", "", "")
                else:
                    errors = (interface.in_errors or 0) + (interface.out_errors or 0)
                    load = (
                        Text(str(interface.name or interface.index)),
                        human_bits(interface.in_bps),
                        human_bits(interface.out_bps),
                        self.styled(f"{errors:,}", "warning" if errors else "muted"),
                    )
                rows.append((f"{target.target}:{n}", (*cells, *load, problem if n == 0 else Text("")), 1))
        if not rows:
            rows.append(("none", (self.styled("no devices polled ([[snmp.poll]])", "muted"), *[""] * 7), 1))
        self._polled.show(rows)

    @on(Button.Pressed, "#traps-refresh")
    def _refresh_pressed(self) -> None:
        self.action_refresh()

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Traps: refresh", "Ask the engine for the newest traps, agents and MIBs", "refresh")
