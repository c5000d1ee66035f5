"""The keys that work on the screen below, as a modal: it floats over the screen, Escape closes it."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Static

# Said here and in the README's demo section: both keys leave the console (and stop `nocraven demo`).
QUIT_NOTE = "q or Ctrl-C leaves the console; in `nocraven demo` it stops the demo too."
# How the modes are reached, said once here and in nocraven_tui/README.md (keys: nocraven_tui/modes.py).
MODES_NOTE = "Tabs: 1-9 in order, 0 is System, then the letter on the tab; or click a tab."


class KeysModal(ModalScreen[None]):
    DEFAULT_CSS = """
    KeysModal { align: center middle; }
    KeysModal > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        max-height: 90%;
        border: round $primary;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    KeysModal VerticalScroll { height: auto; max-height: 100%; }
    KeysModal #keys-note { color: $text-muted; margin-bottom: 1; }
    """

    BINDINGS = [
        Binding("escape,question_mark,f1,q", "close", "Close", show=False),
    ]

    def __init__(self, title: str, keys: list[tuple[str, str]]) -> None:
        """`keys`: (key as shown, what it does) for the screen below, in its order."""
        super().__init__()
        self._title = title
        self._keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(key) for key, _ in self._keys), default=0)
        rows = [f"[b]{escape(key):<{width}}[/b]  {escape(what)}" for key, what in self._keys]
        with Vertical() as box:
            box.border_title = self._title
            box.border_subtitle = "Escape closes"
            # The notes first: with a dozen modes the list outgrows 24 rows and scrolls.
            with VerticalScroll():
                yield Static(escape(f"{QUIT_NOTE}\n{MODES_NOTE}"), id="keys-note")
                yield Static("\n".join(rows), id="keys-list")

    def action_close(self) -> None:
        self.dismiss(None)
