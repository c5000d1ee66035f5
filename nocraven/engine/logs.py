"""The engine's own log: stderr through `logging`, journal-friendly (no colours, no timestamps
under systemd, which adds its own), coloured level names only on a terminal."""

from __future__ import annotations

import logging
import os
import sys


class _Formatter(logging.Formatter):
    COLOURS = {
        "WARNING": "\x1b[33m",
        "ERROR": "\x1b[31m",
        "CRITICAL": "\x1b[1;31m",
        "DEBUG": "\x1b[2m",
    }

    def __init__(self, colour: bool, timestamps: bool) -> None:
        fmt = "%(levelname)s %(name)s: %(message)s"
        super().__init__(("%(asctime)s " + fmt) if timestamps else fmt)
        self._colour = colour

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        colour = self.COLOURS.get(record.levelname) if self._colour else None
        return f"{colour}{text}\x1b[0m" if colour else text


def configure(level: str) -> None:
    under_journal = "JOURNAL_STREAM" in os.environ
    colour = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter(colour=colour, timestamps=not under_journal))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
