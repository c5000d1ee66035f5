"""The error modal: what failed, why, and what to do; every failure a user can hit ends here."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ErrorModal(ModalScreen[None]):
    DEFAULT_CSS = """
    ErrorModal { align: center middle; }
    ErrorModal > Vertical {
        width: 70;
        max-width: 95%;
        height: auto;
        border: heavy $error;
        background: $surface;
        padding: 1 2;
    }
    ErrorModal #title { text-style: bold; color: $error; margin-bottom: 1; }
    ErrorModal #code { color: $text-muted; margin-top: 1; }
    ErrorModal Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    """

    BINDINGS = [Binding("escape,enter", "close", "Close")]

    def __init__(self, title: str, message: str, code: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.message_text = message
        self.code = code

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(escape(self.title_text), id="title")
            yield Static(escape(self.message_text), id="message")
            if self.code:
                yield Static(f"error code: {escape(self.code)}", id="code")
            with Horizontal():
                yield Button("OK", id="ok", variant="primary", compact=True)

    def on_mount(self) -> None:
        self.query_one("#ok", Button).focus()

    @on(Button.Pressed, "#ok")
    def action_close(self) -> None:
        self.dismiss(None)
