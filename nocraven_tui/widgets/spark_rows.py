"""Rows of figures, each with a sparkline as wide as the widget leaves: a label, the value now,
the trend over the window, and a short note ("4.1 GiB free of 7.6 GiB")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.content import Content
from textual.geometry import Size
from textual.markup import escape
from textual.widget import Widget

from nocraven_tui.state import RateHistory
from nocraven_tui.theme import Glyphs
from nocraven_tui.widgets.spark import sparkline

LABEL_WIDTH = 11
VALUE_WIDTH = 11
MIN_SPARK = 12  # narrower than this and the notes give way
VALUE_STYLE = {"warning": "$warning", "error": "$error", "muted": "$text-muted"}


@dataclass(frozen=True)
class SparkRow:
    label: str
    value: str  # plain text, right-aligned
    samples: tuple[tuple[float, float], ...]  # (time, value), oldest first
    ceiling: float | None = None  # 100 for a percentage; None scales to the window's peak
    note: str = ""  # plain text
    kind: str | None = None  # "warning", "error" or "muted": the value's colour
    # Scale between the window's least and greatest value: a slow climb (a leak) shows as a ramp.
    relative: bool = False


class SparkRows(Widget):
    DEFAULT_CSS = """
    SparkRows {
        height: auto;
        border: round $primary 60%;
        border-title-color: $text;
        padding: 0 1;
    }
    SparkRows.-stale { border: round $secondary 40%; color: $text-muted; }
    """

    def __init__(self, glyphs: Glyphs, id: str | None = None) -> None:
        super().__init__(id=id)
        self._glyphs = glyphs
        self._rows: tuple[SparkRow, ...] = ()
        self._window_s = 3600.0
        self._cells = 60
        self._stale = False

    def show(self, rows: Sequence[SparkRow], window_s: float, cells: int, stale: bool = False) -> None:
        """`cells`: the most sparkline cells the window holds (one per history point)."""
        key = (tuple(rows), window_s, cells, stale)
        if key == (self._rows, self._window_s, self._cells, self._stale):
            return  # nothing new: no render
        resized = len(rows) != len(self._rows)
        self._rows, self._window_s, self._cells, self._stale = tuple(rows), window_s, max(1, cells), stale
        self.set_class(stale, "-stale")
        self.refresh(layout=resized)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self._rows))

    def render(self) -> Content:
        width = max(1, self.content_size.width)
        note_width = min(max((len(row.note) for row in self._rows), default=0), width // 3)
        spark_width = width - LABEL_WIDTH - VALUE_WIDTH - note_width - 3
        if spark_width < MIN_SPARK:
            note_width = 0
            spark_width = width - LABEL_WIDTH - VALUE_WIDTH - 2
        spark_width = max(0, spark_width)
        cells = min(spark_width, self._cells)
        colour = "$text-muted" if self._stale else "$primary"
        lines = []
        for row in self._rows:
            history = RateHistory(max_samples=len(row.samples) or 1)
            for at, value in row.samples:
                history.add(at, value)
            buckets = history.buckets(cells, self._window_s / cells) if cells else []
            if row.relative:
                low = min((v for v in buckets if v is not None), default=0.0)
                buckets = [None if v is None else v - low for v in buckets]
            spark = " " * (spark_width - cells) + sparkline(buckets, self._glyphs, row.ceiling)
            value_style = VALUE_STYLE.get(row.kind or "", "b")
            note = row.note if len(row.note) <= note_width else row.note[: max(0, note_width - 1)] + "~"
            line = (
                f"{escape(row.label[:LABEL_WIDTH]):<{LABEL_WIDTH}}"
                f"[{value_style}]{escape(row.value[:VALUE_WIDTH]):>{VALUE_WIDTH}}[/] "
                f"[{colour}]{spark}[/]"
            )
            if note_width:
                line += f" [$text-muted]{escape(note)}[/]"
            lines.append(line)
        return Content.from_markup("\n".join(lines))
