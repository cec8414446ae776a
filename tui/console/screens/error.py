"""Where every failure lands: the core's one-line message, the detail on request."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Collapsible, Static

from migctl.tui.console.screens.dialog import Dialog


class ErrorScreen(Dialog[None]):
    FOCUS = "#close"

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
