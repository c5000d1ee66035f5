"""A bordered panel with a headline figure, a sparkline over the last minutes and a few stat lines."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content
from textual.widget import Widget

from nocraven_tui.state import RateHistory
from nocraven_tui.theme import Glyphs

BUCKET_S = 10.0  # one sparkline cell per 10 s: 18 cells are the last 3 minutes


def sparkline(values: Sequence[float | None], glyphs: Glyphs, ceiling: float | None = None) -> str:
    """Bars scaled to the window's own peak (or to a fixed `ceiling`, 100 for a percentage, so
    a calm 3 % does not draw as a full bar); gaps where no sample arrived."""
    peak = ceiling if ceiling is not None else max((v for v in values if v is not None), default=0.0)
    levels = glyphs.spark
    out = []
    for value in values:
        if value is None:
            out.append(glyphs.spark_gap)
        elif peak <= 0:
            out.append(levels[0])
        else:
            out.append(levels[max(0, min(len(levels) - 1, int(value / peak * (len(levels) - 1) + 0.5)))])
    return "".join(out)


class SparkPanel(Widget):
    DEFAULT_CSS = """
    SparkPanel {
        height: 6;
        border: round $primary 60%;
        border-title-color: $text;
        padding: 0 1;
    }
    SparkPanel.-na { border: round $secondary 40%; color: $text-muted; }
    SparkPanel.-stale { border: round $secondary 40%; color: $text-muted; }
    """

    def __init__(self, title: str, glyphs: Glyphs, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = title
        self._glyphs = glyphs
        self._headline = ""
        self._history: RateHistory | None = None
        self._lines: list[str] = []
        self._available = True
        self._stale = False
        self._shown: object = None

    def show(
        self,
        headline: str,
        history: RateHistory | None,
        lines: list[str],
        available: bool = True,
        stale: bool = False,
    ) -> None:
        """Headline and lines are Textual markup; the sparkline is drawn to the panel's width.
        `stale`: the engine is gone, so the panel greys out rather than show old figures as live."""
        newest = history.samples[-1] if history and history.samples else None
        key = (headline, tuple(lines), available, stale, id(history), newest)
        if key == self._shown:
            return  # nothing new: no render
        self._shown = key
        self._headline = headline
        self._history = history
        self._lines = lines
        self._available = available
        self._stale = stale
        self.set_class(not available, "-na")
        self.set_class(stale, "-stale")
        self.refresh()

    def render(self) -> Content:
        width = max(1, self.content_size.width)
        rows = [self._headline]
        if self._available:
            buckets = self._history.buckets(width, BUCKET_S) if self._history else [None] * width
            colour = "$text-muted" if self._stale else "$primary"
            rows.append(f"[{colour}]{sparkline(buckets, self._glyphs)}[/]")
        rows.extend(self._lines)
        return Content.from_markup("\n".join(rows))
