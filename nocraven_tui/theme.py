"""Looks: the console's themes and the glyphs it draws with, chosen for the terminal it runs on.

On the appliance's own Linux console (TERM=linux) there are 16 colours and a VGA font without
most block and line glyphs: the console then uses an ANSI theme, ASCII borders and ASCII
sparklines. Everywhere else (SSH from a modern terminal, the web panel) it uses its own theme.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from textual.scrollbar import ScrollBarRender
from textual.theme import Theme

PLAIN_ENV = "NOCRAVEN_CONSOLE_PLAIN"  # "1" forces the plain look, "0" forbids it

MODERN = Theme(
    name="nocraven",
    primary="#4EA1D3",
    secondary="#7F8FA6",
    accent="#E0A030",
    warning="#E0A030",
    error="#E05252",
    success="#4CB782",
    foreground="#D8DEE6",
    background="#0F161D",
    surface="#16202A",
    panel="#1D2935",
    dark=True,
    variables={
        "footer-key-foreground": "#4EA1D3",
        "block-cursor-background": "#2B5B7A",
        "block-cursor-foreground": "#FFFFFF",
    },
)

PLAIN = Theme(
    name="nocraven-plain",
    ansi=True,
    primary="ansi_cyan",
    secondary="ansi_white",
    accent="ansi_yellow",
    warning="ansi_yellow",
    error="ansi_red",
    success="ansi_green",
    foreground="ansi_default",
    background="ansi_default",
    surface="ansi_default",
    panel="ansi_default",
    boost="ansi_default",
    dark=True,
    variables={
        "ansi-background": "ansi_black",
        "ansi-foreground": "ansi_white",
        "border-blurred": "ansi_white",
        "block-cursor-foreground": "ansi_black",
        "block-cursor-background": "ansi_cyan",
        "input-cursor-background": "ansi_white",
        "input-cursor-foreground": "ansi_black",
        "input-cursor-text-style": "none",
        "input-selection-background": "ansi_blue",
        "screen-selection-background": "ansi_blue",
        "footer-key-foreground": "ansi_cyan",
    },
)


@dataclass(frozen=True)
class Glyphs:
    spark: str  # lowest to highest bar
    spark_gap: str  # a bucket without samples
    bar_full: str
    bar_empty: str
    dot: str
    separator: str


UNICODE = Glyphs(spark="▁▂▃▄▅▆▇█", spark_gap=" ", bar_full="█", bar_empty="░", dot="●", separator="│")
ASCII = Glyphs(spark="_.-=+*#", spark_gap=" ", bar_full="#", bar_empty="-", dot="*", separator="|")


def wants_plain(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    forced = env.get(PLAIN_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    # Under textual-serve the browser draws, whatever TERM the server inherited.
    if "web_driver" in env.get("TEXTUAL_DRIVER", ""):
        return False
    return env.get("TERM", "") == "linux"


def rich_color(theme: Theme, kind: str) -> str | None:
    """A theme colour as Rich understands it (for DataTable cells, which take Rich text)."""
    color = getattr(theme, kind, None)
    if not isinstance(color, str):
        return None
    return color.removeprefix("ansi_")


class PlainScrollBarRender(ScrollBarRender):
    """Scrollbars in whole cells only: the Linux console font has no eighth-block glyphs."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8
