"""The status header every mode shows: who and how the box is, the mode tabs, and the down banner."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.markup import escape
from textual.widget import Widget
from textual.widgets import Static

from nocraven.humanize import clock_time, human_duration
from nocraven_tui.figures import sink_state_markup
from nocraven_tui.state import ConsoleState
from nocraven_tui.theme import Glyphs
from nocraven_tui.widgets.sync import show

HEALTH_MODE = "health"
SHORT_TITLE = 4  # "Diag", "Forw": the other tabs' titles where the whole ones do not fit
CLOCK_WIDTH = 11  # " HH:MM:SSZ "
MIN_HOSTNAME = 8


class StatusHeader(Widget):
    DEFAULT_CSS = """
    StatusHeader {
        dock: top;
        height: auto;
        background: $panel;
    }
    StatusHeader Horizontal { height: 1; }
    StatusHeader #status { width: 1fr; }
    StatusHeader #clock { width: auto; padding: 0 1; color: $text-muted; }
    StatusHeader #tabs { width: 1fr; background: $surface; link-style: none; link-style-hover: bold; }
    StatusHeader #role { width: auto; padding: 0 1; background: $surface; color: $text-muted; }
    StatusHeader #status, StatusHeader #tabs { text-wrap: nowrap; text-overflow: ellipsis; }
    StatusHeader #banner { display: none; background: $error; color: $text; padding: 0 1; }
    StatusHeader.-down #banner { display: block; }
    """

    def __init__(self, tabs: list[tuple[str | None, str, str]], active: str, glyphs: Glyphs) -> None:
        super().__init__()
        self._tabs = tabs  # (key, title, mode name)
        self._active = active
        self._glyphs = glyphs

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="status")
            yield Static(id="clock")
        with Horizontal():
            yield Static(self._tabs_markup(), id="tabs")
            yield Static(id="role")
        yield Static(id="banner")

    def _tabs_markup(self, width: int = 0) -> str:
        """Every tab with its key. Where all titles do not fit (a dozen modes at 80 or 120
        columns), the other tabs shorten their titles, then show their key alone; the active
        tab always shows its whole title."""
        for short in (None, SHORT_TITLE, 0):
            labels = []
            for key, title, name in self._tabs:
                shown = title if name == self._active or short is None else title[:short]
                labels.append(" " + " ".join(part for part in (key, shown) if part) + " ")
            if not width or short == 0 or sum(len(label) for label in labels) <= width:
                break
        parts = []
        for label, (_, _, name) in zip(labels, self._tabs, strict=True):
            style = "reverse $primary" if name == self._active else "$text-muted"
            # A click on a tab goes there, as its key does.
            parts.append(f"[{style} @click=app.goto('{name}')]{escape(label)}[/]")
        return "".join(parts)

    def update_status(self, state: ConsoleState, now: float) -> None:
        g = self._glyphs
        sep = f" [$text-muted]{g.separator}[/] "
        parts = [self._engine_markup(state, now)]
        vpn = state.vpn_label()
        vpn_style = {"up": "$success", "down": "$error"}.get(vpn, "$text-muted")
        profile = state.vpn_profile()
        if state.stale:
            vpn_style = "$text-muted"  # the last word from an engine that is gone: greyed, not green
        parts.append(f"VPN [{vpn_style}]{escape(vpn)}[/]" + (f" {escape(profile)}" if profile else ""))
        fill = state.buffer_fill()
        if fill is None:
            parts.append("Buffer [$text-muted]n/a[/]")
        else:
            fill_style = "$error" if fill >= 90 else "$warning" if fill >= 75 else "$success"
            parts.append(f"Buffer [{'$text-muted' if state.stale else fill_style}]{fill:.0f}%[/]")
        forward = state.forward_figures()
        if forward is not None and forward.state is not None:  # the worst sink's; nothing without sinks
            parts.append(f"Fwd {sink_state_markup(forward.state)}")
        alerts = state.alerts()
        critical = any(a.severity == "critical" for a in alerts)
        alert_style = "$error" if critical else "$warning" if alerts else "$success"
        # A click on the count (or the Health tab's key) opens the Health screen, where they are listed.
        count = f"Alerts [{alert_style}]{len(alerts)}[/]"
        if any(name == HEALTH_MODE for _, _, name in self._tabs):
            count = f"[@click=app.goto('{HEALTH_MODE}')]{count}[/]"
        parts.append(count)
        rest = sep.join(parts)
        # The hostname gets what the figures leave on the line, so they never fall off at 80 columns.
        room = self.size.width - CLOCK_WIDTH - Content.from_markup(rest).cell_length - 4
        host = state.hostname
        if len(host) > max(room, MIN_HOSTNAME):
            host = host[: max(room, MIN_HOSTNAME) - 1] + "~"
        # Too narrow for even a shortened hostname (80 columns with every figure): figures first.
        shown_host = f"[b $accent]{escape(host)}[/]{sep}" if room >= MIN_HOSTNAME else ""
        show(self.query_one("#status", Static), f" {shown_host}{rest}")
        show(self.query_one("#clock", Static), f"{clock_time(now)}Z")
        role = state.role if state.connected or state.role_override else "-"
        role_text = "admin" if role == "admin" else f"{role}: read-only" if role not in ("-", "unknown") else ""
        show(self.query_one("#role", Static), f"[b]NoC Raven[/b] {escape(role_text)}".rstrip(), layout=True)
        tabs = self.query_one("#tabs", Static)
        show(tabs, self._tabs_markup(tabs.size.width))
        self.set_class(state.connection in ("down", "stopping"), "-down")
        if state.connection in ("down", "stopping"):
            show(self.query_one("#banner", Static), escape(self._banner_text(state, now)), layout=True)

    def _engine_markup(self, state: ConsoleState, now: float) -> str:
        dot = self._glyphs.dot
        if state.connection == "connected":
            return f"[$success]{dot}[/] engine up {human_duration(state.uptime(now))}"
        if state.connection == "stopping":
            return f"[$warning]{dot}[/] engine [$warning]stopping[/]"
        if state.connection == "connecting":
            return f"[$warning]{dot}[/] engine [$warning]connecting[/]"
        return f"[$error]{dot}[/] engine [b $error]DOWN[/]"

    @staticmethod
    def _banner_text(state: ConsoleState, now: float) -> str:
        stale = state.stale_note()
        reason = state.down_reason or "engine unreachable"
        if state.connection == "stopping":
            head = f"{reason}; figures are from {clock_time(state.stale_since)}Z" if state.stale_since else reason
            supervisor = state.status.supervisor if state.status is not None else None
            if supervisor is None:
                return f"{head}; nothing starts it again: start it on the box"
            return f"{head}; {supervisor} starts it again, waiting for it"
        head = stale or reason  # when stale, the reason is in the alerts: the banner stays short
        retry = max(0.0, (state.retry_at or now) - now)
        return f"{head}; reconnecting in {retry:.0f}s (press ctrl+p, Reconnect)"
