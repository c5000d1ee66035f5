"""Windows: recent events with the security-relevant ones highlighted, events per computer,
failed logons per minute, and the agents (one per token) with their errors.

Recent events are the newest `RECENT` winevent records in the buffer (read every few seconds);
the per-computer counts and the failed logons per minute are over those records, so they say
what the last few hundred events were, not the day's totals. The agents come from
`GET /v1/winevents/agents`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Static

from nocraven.client import AsyncClient
from nocraven.humanize import epoch_seconds, human_duration, human_rate
from nocraven.schema.collector import CollectorSummary
from nocraven.schema.records import Record
from nocraven.schema.winevents import WineventsAgents
from nocraven_tui.exchange import Read
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.sync import Row, TableSync, show

COMPONENT = "winevents"
RECENT = 300  # records read for the recent list and the counts over them
SHOWN = 100  # rows of the recent list
FAILED_LOGON = "logon.failure"


async def _recent(client: AsyncClient) -> list[Record]:
    return [record async for record in client.buffer_tail(service="winevent", limit=RECENT)]


AGENTS: Read[WineventsAgents] = Read("winevents_agents", lambda client: client.winevents_agents())
RECENT_EVENTS: Read[list[Record]] = Read("winevents_recent", _recent)


def failed_logons_per_minute(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, int]]:
    """Failed logons counted per minute of arrival (`received_at` cut to the minute), oldest first."""
    minutes: Counter[str] = Counter()
    for record in records:
        if record.get("security") == FAILED_LOGON:
            minutes[str(record.get("received_at", ""))[:16]] += 1
    return sorted(minutes.items())


def per_computer(records: Iterable[Mapping[str, Any]]) -> list[tuple[str, int, int]]:
    """(computer, events, security events) over the records, busiest first."""
    events: Counter[str] = Counter()
    security: Counter[str] = Counter()
    for record in records:
        computer = str(record.get("computer") or "-")
        events[computer] += 1
        if record.get("security"):
            security[computer] += 1
    return [(computer, count, security[computer]) for computer, count in events.most_common()]


class WindowsScreen(ModeScreen):
    HELP = "Windows events: recent (security highlighted), per computer, failed logons, agents"
    READS = (AGENTS, RECENT_EVENTS)
    poll_every_s = 5.0
    BINDINGS = [Binding("r", "refresh", "Refresh")]
    TOPICS = frozenset({"winevents_agents", "winevents_recent", "counters", "status", "connected"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._recent: TableSync
        self._computers: TableSync
        self._agents: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="windows-body"):
            yield Static(id="windows-summary", classes="panel")
            yield DataTable(id="windows-recent", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="windows-lower"):
                yield DataTable(id="windows-computers", cursor_type="none", zebra_stripes=True)
                yield DataTable(id="windows-agents", cursor_type="none", zebra_stripes=True)
        yield Static(id="windows-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#windows-summary").border_title = "Windows events"
        columns = {
            "#windows-recent": (
                "Recent events",
                (
                    ("Time", "time"),
                    ("Computer", "computer"),
                    ("ID", "id"),
                    ("Security", "security"),
                    ("Message", "message"),
                ),
            ),
            "#windows-computers": (
                "Per computer (recent)",
                (("Computer", "computer"), ("Events", "events"), ("Security", "security")),
            ),
            "#windows-agents": (
                "Agents",
                (("Agent", "agent"), ("Events", "events"), ("Errors", "errors"), ("Last seen", "seen")),
            ),
        }
        tables = {}
        for selector, (title, headings) in columns.items():
            table = self.query_one(selector, DataTable)
            table.border_title = title
            for label, key in headings:
                table.add_column(label, key=key)
            tables[selector] = TableSync(table)
        self._recent = tables["#windows-recent"]
        self._computers = tables["#windows-computers"]
        self._agents = tables["#windows-agents"]
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def refresh_body(self) -> None:
        view = self.state.component(COMPONENT)
        body = self.query_one("#windows-body")
        na = self.query_one("#windows-na", Static)
        if not view.available:
            body.display = False
            na.display = True
            show(
                na,
                "[b]Windows events: not available[/b]\n\n"
                "[$text-muted]the Windows event collector is not in this build[/]",
                layout=True,
            )
            return
        body.display = True
        na.display = False
        records = self.state.value(RECENT_EVENTS) or []
        self._render_summary(view.counters, records)
        self._render_recent(records)
        self._computers.show(
            [
                (name, (Text(name), f"{count:,}", self.styled(f"{sec:,}", "warning" if sec else "muted")), 1)
                for name, count, sec in per_computer(records)[:20]
            ]
        )
        self._render_agents(self.state.value(AGENTS))

    def _render_summary(self, counters: object, records: list[Record]) -> None:
        lines = []
        if isinstance(counters, CollectorSummary):
            lines.append(
                f"[b]{human_rate(counters.rate_mps)}[/b] events; {counters.messages:,} stored since the "
                f"collector started, {counters.rejected:,} refused"
            )
        else:
            lines.append("[$text-muted]no counters yet[/]")
        minutes = failed_logons_per_minute(records)
        if minutes:
            recent = ", ".join(f"{minute[11:16]} {count}" for minute, count in minutes[-6:])
            lines.append(f"failed logons per minute (recent events): [$warning]{recent}[/]")
        else:
            lines.append("failed logons per minute (recent events): none")
        show(self.query_one("#windows-summary", Static), "\n".join(lines))

    def _render_recent(self, records: list[Record]) -> None:
        rows: list[Row] = []
        for position, record in enumerate(reversed(records[-SHOWN:])):
            security = record.get("security")
            kind = "warning" if security else None
            when = str(record.get("time_created") or record.get("received_at") or "")[11:19]
            cells = (
                self.styled(when, kind),
                self.styled(str(record.get("computer") or "-"), kind),
                self.styled(str(record.get("event_id", "")), kind),
                self.styled(str(security or ""), kind),
                self.styled(
                    str(record.get("message") or "").splitlines()[0][:120] if record.get("message") else "", kind
                ),
            )
            rows.append((f"{position}", cells, 1))
        if not rows:
            rows.append(("none", (self.styled("-", "muted"), self.styled("no events yet", "muted"), "", "", ""), 1))
        self._recent.show(rows)

    def _render_agents(self, agents: WineventsAgents | None) -> None:
        rows: list[Row] = []
        now = self.console.clock()
        for name, agent in agents.agents.items() if agents is not None else ():
            seen = epoch_seconds(agent.last_seen)
            cells = (
                Text(name),
                f"{agent.events:,}",
                self.styled(f"{agent.errors:,}", "warning" if agent.errors else "muted"),
                f"{human_duration(now - seen)} ago" if seen is not None else "never",
            )
            rows.append((name, cells, 1))
        self._agents.show(rows)

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Windows: refresh", "Read the newest Windows events and the agents again", "refresh")
