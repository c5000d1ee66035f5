"""Buffer: what the store-and-forward buffer holds per service, what it dropped and why; purge for admins."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.widgets import Button, DataTable, Static

from nocraven.capabilities import CAPABILITIES, buffer_services
from nocraven.humanize import epoch_seconds, human_bytes, human_count, human_duration, timestamp
from nocraven.schema.buffer import BufferStats, Purged
from nocraven_tui.exchange import BUFFER_STATS, Write
from nocraven_tui.screens.base import ModeScreen, ScreenCommand
from nocraven_tui.screens.dashboard import FILL_BAR_WIDTH, fill_bar
from nocraven_tui.state import ConsoleState
from nocraven_tui.widgets.confirm import ConfirmModal
from nocraven_tui.widgets.sync import Row, TableSync, selected_key, show

WIDE = 110  # columns from which oldest/newest show the time as well as the age


def purge(service: str) -> Write[Purged]:
    title = f"Purge {service}"
    return Write(
        f"purge:{service}",
        title,
        lambda client: client.buffer_purge(service),
        lambda done: f"{title}: done, {done.records:,} records ({human_bytes(done.bytes)}) deleted",
        then_read=(BUFFER_STATS,),
    )


class BufferScreen(ModeScreen):
    HELP = "What the store-and-forward buffer holds, per service"
    READS = (BUFFER_STATS,)
    poll_every_s = 5.0
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("x", "purge_selected", "Purge..."),
    ]
    WRITE_ACTIONS = frozenset({"purge_selected", "purge"})
    TOPICS = frozenset({"buffer_stats", "status", "role", "connected", "action"})

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self._services: TableSync
        self._drops: TableSync

    def compose_body(self) -> ComposeResult:
        with Vertical(id="buffer-body"):
            yield Static(id="buffer-total", classes="panel")
            yield DataTable(id="services", cursor_type="row", zebra_stripes=True)
            yield DataTable(id="drops", cursor_type="none", zebra_stripes=True)
            with Horizontal(id="buffer-actions", classes="actions"):
                yield Button("Refresh", id="refresh", compact=True)
                yield Button("Purge service...", id="purge", variant="error", compact=True, classes="write")
                yield Static(id="buffer-result")
        yield Static(id="buffer-na", classes="na-panel")

    def on_mount(self) -> None:
        self.query_one("#buffer-total").border_title = "Buffer"
        services = self.query_one("#services", DataTable)
        services.border_title = "Services"
        # Three sizes, named for what they are: what senders sent, the same as JSON records, and
        # those records compressed on disk. Only the last two make the compression figure.
        for label, key in (
            ("Service", "service"),
            ("Records", "records"),
            ("Received", "received"),
            ("As records", "raw"),
            ("On disk", "stored"),
            ("Oldest", "oldest"),
            ("Newest", "newest"),
            ("Dropped", "dropped"),
        ):
            services.add_column(label, key=key)
        drops = self.query_one("#drops", DataTable)
        drops.border_title = "Drops by reason"
        for label, key in (("Service", "service"), ("Reason", "reason"), ("Records", "records"), ("Bytes", "bytes")):
            drops.add_column(label, key=key)
        self._services = TableSync(services)
        self._drops = TableSync(drops)
        super().on_mount()

    def on_engine_connected(self) -> None:
        self.action_refresh()

    def refresh_body(self) -> None:
        outcome = self.state.outcome(BUFFER_STATS)
        stats = self.state.value(BUFFER_STATS)
        buffer_available = self.state.component("buffer").available
        na = self.query_one("#buffer-na", Static)
        body = self.query_one("#buffer-body")
        if stats is None and (outcome.not_available or (not buffer_available and outcome.error_code is None)):
            body.display = False
            na.display = True
            message = outcome.error_message or "the store-and-forward buffer is not available in this build"
            show(na, f"[b]Buffer: not available[/b]\n\n[$text-muted]{escape(message)}[/]", layout=True)
            return
        body.display = True
        na.display = False
        self.query_one("#purge").display = self.state.can_write
        show(self.query_one("#buffer-result", Static), escape(self.state.write_result("purge:") or ""))
        self._render_total(stats, outcome.error_message)
        self._render_services(stats)
        self._render_drops(stats)

    def _render_total(self, stats: BufferStats | None, error: str | None) -> None:
        panel = self.query_one("#buffer-total", Static)
        if stats is None:
            show(panel, f"[$text-muted]{escape(error or 'loading...')}[/]")
            return
        total = stats.total
        fill = total.fill_percent
        forecast = stats.forecast_days
        g = self.console.glyphs
        forecast_text = f"holds {forecast:.1f} days at current rates" if forecast is not None else "no ingest yet"
        received = self._received(stats.services)
        lines = [
            f"{fill_bar(fill, FILL_BAR_WIDTH, g.bar_full, g.bar_empty)} [b]{fill:.1f}%[/b] of "
            f"{human_bytes(total.budget_bytes)}; {forecast_text}",
            f"{total.records:,} records: {human_bytes(received)} received, "
            f"{human_bytes(total.raw_bytes)} as records, {human_bytes(total.stored_bytes)} on disk",
        ]
        if total.stored_bytes:
            ratio = total.raw_bytes / total.stored_bytes
            lines.append(f"on disk the records take {ratio:.1f}x less room than as records")
        if error:
            lines.append(f"[$warning]last refresh failed: {escape(error)}[/]")
        show(panel, "\n".join(lines))

    def _render_services(self, stats: BufferStats | None) -> None:
        wide = self.size.width >= WIDE
        rows: list[Row] = []
        for name, svc in sorted(stats.services.items() if stats is not None else ()):
            raw, stored, dropped = svc.raw_bytes, svc.stored_bytes, svc.dropped_records
            received = self._received({name: svc})
            cells = (
                Text(name),
                f"{svc.records:,}" if wide else human_count(svc.records),  # every column fits 80
                human_bytes(received) if received is not None else "-",
                human_bytes(raw),
                human_bytes(stored),
                self._when(svc.oldest, wide),
                self._when(svc.newest, wide),
                self.styled(f"{dropped:,}", "warning" if dropped else "muted"),
            )
            rows.append((name, cells, 1))
        self._services.show(rows)

    def _received(self, services: Mapping[str, object]) -> int | None:
        """Bytes the records held took on the wire (the buffer's count), else what the collectors
        of `services` took off the wire (their own counters); None if none reports."""
        held = sum(getattr(svc, "received_bytes", 0) for svc in services.values())
        if held:
            return held
        found = [
            summary.bytes
            for capability in CAPABILITIES
            if capability.buffer_service in services
            and (summary := self.state.component(capability.name).summary) is not None
        ]
        return sum(found) if found else None

    def _when(self, value: str | None, wide: bool) -> str:
        """How far back the buffer reaches: an age fits 80 columns, a wide screen also gets the time."""
        epoch = epoch_seconds(value)
        if epoch is None:
            return timestamp(value)
        age = human_duration(self.console.clock() - epoch)
        return f"{timestamp(value)[5:16]} ({age})" if wide else age

    def on_resize(self) -> None:
        if self._poll is not None:  # mounted: the tables have their columns
            self.refresh_body()

    def _render_drops(self, stats: BufferStats | None) -> None:
        rows: list[Row] = []
        for name, svc in sorted(stats.services.items() if stats is not None else ()):
            for reason, count in sorted(svc.dropped_by_reason.items()):
                cells = (Text(name), Text(reason), f"{count.records:,}", human_bytes(count.bytes))
                rows.append((f"{name}:{reason}", cells, 1))
        if not rows:
            cells = (self.styled("none", "muted"), self.styled("nothing dropped", "muted"), "0", "0 B")
            rows.append(("none", cells, 1))
        self._drops.show(rows)

    # ---- purge (admin) ------------------------------------------------------------------

    def _selected_service(self) -> str | None:
        return selected_key(self.query_one("#services", DataTable))

    @on(Button.Pressed, "#refresh")
    def _refresh_pressed(self) -> None:
        self.action_refresh()

    @on(Button.Pressed, "#purge")
    def action_purge_selected(self) -> None:
        service = self._selected_service()
        if service is None:
            self.notify("No service selected: the buffer holds nothing yet.", severity="warning")
            return
        self.action_purge(service)

    def action_purge(self, service: str) -> None:
        if not self.state.can_write:
            return  # palette and bindings are gated too; this keeps a stray call harmless

        def confirmed(ok: bool | None) -> None:
            if ok:
                self.console.write(purge(service))

        self.app.push_screen(
            ConfirmModal(
                f"Purge the {service} buffer?",
                f"This deletes every buffered {service} record on this box, including any not yet "
                "forwarded to the NOC. The drop ledger counts them as purged. It cannot be undone.",
                "Purge",
                expected=service,
            ),
            confirmed,
        )

    @classmethod
    def palette_commands(cls, state: ConsoleState) -> Iterable[ScreenCommand]:
        yield ScreenCommand("Buffer: refresh statistics", "Ask the engine for fresh buffer statistics", "refresh")
        if not state.component("buffer").available:
            return
        stats = state.value(BUFFER_STATS)
        services = sorted(stats.services if stats is not None else ()) or list(buffer_services())
        for service in services:
            yield ScreenCommand(
                f"Buffer: purge {service}",
                f"Delete every buffered {service} record (asks you to type the service name)",
                f"purge('{service}')",
                write=True,
            )
