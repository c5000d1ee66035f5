"""A virtual list of records: only the visible lines are formatted, so a busy tail costs little."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from nocraven_tui.records import SERVICE_WIDTH, SOURCE_WIDTH, one_line

SERVICE_STYLES = {
    "syslog": Style(color="cyan"),
    "flow": Style(color="magenta"),
    "trap": Style(color="yellow"),
    "winevent": Style(color="blue"),
}
TIME_STYLE = Style(dim=True)
URGENT_STYLE = Style(color="red", bold=True)
WARNING_STYLE = Style(color="yellow")


class RecordView(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    RecordView {
        background: $surface;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[dict[str, Any]] = []

    def set_rows(self, rows: list[dict[str, Any]], follow: bool) -> None:
        self.rows = rows
        self.virtual_size = Size(self.size.width, len(rows))
        if follow:
            self.scroll_to(y=max(0, len(rows) - self.size.height), animate=False, immediate=True)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        index = self.scroll_offset.y + y
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        record = self.rows[index]
        line = one_line(record)
        text = Text(line, no_wrap=True, style=self.rich_style)
        text.stylize(TIME_STYLE, 0, 8)
        service_style = SERVICE_STYLES.get(str(record.get("service")))
        if service_style is not None:
            text.stylize(service_style, 9, 9 + SERVICE_WIDTH)
        severity = record.get("severity")
        if isinstance(severity, int) and record.get("service") == "syslog" and severity <= 4:
            text.stylize(URGENT_STYLE if severity <= 3 else WARNING_STYLE, 9 + SERVICE_WIDTH + 1 + SOURCE_WIDTH + 1)
        text.truncate(width, pad=True)
        return Strip(text.render(self.app.console), width)
