"""Where every failure lands: the core's one-line message, the detail on request."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Collapsible, Static


class ErrorScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "close", "Close", id="error.close")]

    def __init__(self, title: str, message: str, detail: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.detail = detail

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-error"):
            yield Static(self.title_text, id="dialog-title", markup=False)
            yield Static(self.message, id="error-message", markup=False)
            if self.detail:
                with Collapsible(title="Detail", collapsed=True, id="error-detail"):
                    with VerticalScroll():
                        yield Static(self.detail, markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#close", Button).focus()

    def action_close(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.dismiss(None)
