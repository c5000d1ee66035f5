"""What a mode screen may ask of the console app, as a Protocol: screens import this, never the app.

The app (`nocraven_tui.app.NocRavenApp`) is the one implementation; a test can supply another.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from nocraven_tui.exchange import EngineMatch, Read, Stream, Write
from nocraven_tui.state import ConsoleState
from nocraven_tui.theme import Glyphs


class ConsoleHost(Protocol):
    state: ConsoleState
    glyphs: Glyphs
    clock: Callable[[], float]

    def read(self, read: Read[Any]) -> None:
        """Ask the engine; the answer lands in `state.reads[read.key]` and topic `read.key`."""

    def write(self, write: Write[Any]) -> None:
        """Change the box; the outcome lands in `state.writes[write.key]` and topic "action"."""

    def stream(self, stream: Stream[Any]) -> None:
        """Follow a stream; its events land in `state.streams[stream.key]`, topic `stream.key`.
        A stream already running under that key is cancelled first."""

    def cancel_stream(self, key: str) -> None:
        """Close the stream running under `key`, if any (the engine stops the job)."""

    def follow_matching(self, match: EngineMatch | None) -> None:
        """Follow every record the engine finds matching `match` (records land in `state.matched`,
        an end in `state.match_ended` and topic "live_match"); None stops it."""

    def show_error(self, title: str, message: str, code: str | None = None) -> None: ...

    def mode_tabs(self) -> list[tuple[str | None, str, str]]:
        """(number key, title, mode name) of every mode, in display order."""
        ...
