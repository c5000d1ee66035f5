"""Flows: exporters with their rate, templates and loss; the busiest hosts and protocols.

What a technician asks first when "the network is slow": who talks most, over what, and is
the flow data itself complete (sequence gaps, kernel drops, decode errors per exporter).
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.markup import escape
from textual.widgets import DataTable, Static

from nocraven.humanize import human_bytes, human_count, human_duration
from nocraven.schema.flow import FlowExporters, FlowTop
from nocraven_tui.exchange import Read
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.sync import Row, TableSync, show

TOP_MINUTES = 5
EXPORTERS: Read[FlowExporters] = Read("flow_exporters", lambda client: client.flow_exporters())
TOP: Read[FlowTop] = Read("flow_top", lambda client: client.flow_top(by="bytes", minutes=TOP_MINUTES, limit=10))


class FlowsScreen(ModeScreen):
    HELP = "Flow exporters, their loss, and the top talkers and protocols"
    READS = (EXPORTERS, TOP)
    poll_every_s = 3.0
    BINDINGS = [Binding("r", "refresh", "Refresh")]
    TOPICS = frozenset({"status", "connected", "flow_exporters", "flow_top"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._exporters: TableSync
        self._hosts: TableSync
        self._protocols: TableSync

    def compose_body(self) -> ComposeResult:
        with VerticalScroll(id="flows-body"):
            yield Static(id="flows-note")
            yield DataTable(id="flow-exporters", cursor_type="row", zebra_stripes=True)
            with Horizontal(id="flows-top"):
                yield DataTable(id="flow-hosts", cursor_type="row", zebra_stripes=True)
                yield DataTable(id="flow-protocols", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        exporters = self.query_one("#flow-exporters", DataTable)
        exporters.border_title = "Exporters"
        for label in ("Exporter", "Records/s", "Records", "Templates", "Lost", "Errors", "Last seen"):
            exporters.add_column(label, key=label.lower())
        hosts = self.query_one("#flow-hosts", DataTable)
        hosts.border_title = f"Top talkers, last {TOP_MINUTES} min"
        for label in ("Host", "Bytes", "Packets", "Flows"):
            hosts.add_column(label, key=label.lower())
        protocols = self.query_one("#flow-protocols", DataTable)
        protocols.border_title = "Top protocols"
        for label in ("Protocol", "Bytes", "Packets"):
            protocols.add_column(label, key=label.lower())
        self._exporters = TableSync(exporters)
        self._hosts = TableSync(hosts)
        self._protocols = TableSync(protocols)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def refresh_body(self) -> None:
        self._render_exporters()
        self._render_top()

    def _render_exporters(self) -> None:
        outcome = self.state.outcome(EXPORTERS)
        data = self.state.value(EXPORTERS)
        note = self.query_one("#flows-note", Static)
        if data is None:
            reason = outcome.error_message or "loading..."
            show(note, f"[$text-muted]{'not available: ' if outcome.not_available else ''}{escape(reason)}[/]")
            self._exporters.show([])
            return
        drops = sum(listener.counters.kernel_drops for listener in data.listeners)
        listening = ", ".join(f"{lst.listener} {lst.address}" for lst in data.listeners) or "no listener"
        drop_text = f"; [$error]{human_count(drops)} datagrams dropped by the kernel[/]" if drops else ""
        show(note, f"[$text-muted]Listening: {escape(listening)}[/]{drop_text}")
        now = time.time()
        rows: list[Row] = []
        for exporter in data.exporters:
            counters = exporter.counters
            lost = counters.lost_records + counters.lost_datagrams
            lost_text = self.styled(human_count(lost), "error") if lost else Text("0")
            errors = counters.decode_errors + counters.expired_sets
            cells: tuple[Any, ...] = (
                Text(exporter.address),
                f"{exporter.rate_rps:,.0f}",
                human_count(counters.records),
                str(exporter.templates),
                lost_text,
                self.styled(human_count(errors), "warning") if errors else Text("0"),
                human_duration(max(0.0, now - counters.last_seen)) + " ago" if counters.last_seen else "-",
            )
            rows.append((exporter.address, cells, 1))
        if not rows:
            rows.append(("none", (self.styled("no exporter has sent yet", "muted"), "", "", "", "", "", ""), 1))
        self._exporters.show(rows)

    def _render_top(self) -> None:
        top = self.state.value(TOP)
        if top is None:
            self._hosts.show([])
            self._protocols.show([])
            return
        hosts: list[Row] = [
            (
                host.address,
                (
                    Text(host.address),
                    human_bytes(host.usage.bytes),
                    human_count(host.usage.packets),
                    human_count(host.usage.flows),
                ),
                1,
            )
            for host in top.hosts
        ]
        protocols: list[Row] = [
            (
                str(proto.protocol),
                (Text(proto.name), human_bytes(proto.usage.bytes), human_count(proto.usage.packets)),
                1,
            )
            for proto in top.protocols
        ]
        self._hosts.show(hosts or [("none", (self.styled("no traffic yet", "muted"), "", "", ""), 1)])
        self._protocols.show(protocols or [("none", (self.styled("-", "muted"), "", ""), 1)])

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> list[ScreenCommand]:
        return [ScreenCommand("Flows: refresh", "Ask the engine for exporters and top talkers again", "refresh")]
