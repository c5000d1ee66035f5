"""A confirmation modal; for destructive actions the user must type a word (the service name)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmModal(ModalScreen[bool]):
    DEFAULT_CSS = """
    ConfirmModal { align: center middle; }
    ConfirmModal > Vertical {
        width: 64;
        max-width: 95%;
        height: auto;
        border: heavy $warning;
        background: $surface;
        padding: 1 2;
    }
    ConfirmModal #title { text-style: bold; color: $warning; margin-bottom: 1; }
    ConfirmModal #prompt { margin-top: 1; }
    ConfirmModal Input { margin: 1 0 0 0; }
    ConfirmModal Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmModal Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, body: str, confirm_label: str, expected: str | None = None) -> None:
        super().__init__()
        self._title = title
        self._body = body
        self._confirm_label = confirm_label
        self._expected = expected

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(escape(self._title), id="title")
            yield Static(escape(self._body), id="body")
            if self._expected is not None:
                yield Static(f"Type [b]{escape(self._expected)}[/b] to confirm:", id="prompt")
                yield Input(placeholder=self._expected, id="typed", compact=True)
            with Horizontal():
                yield Button("Cancel", id="cancel", compact=True)
                yield Button(
                    self._confirm_label,
                    id="confirm",
                    variant="error",
                    compact=True,
                    disabled=self._expected is not None,
                )

    def on_mount(self) -> None:
        self.query_one("#typed" if self._expected is not None else "#cancel").focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value != self._expected

    @on(Input.Submitted, "#typed")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value == self._expected:
            self.dismiss(True)

    @on(Button.Pressed, "#confirm")
    def _confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
