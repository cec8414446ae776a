"""What the dialogs share: the safe button has the focus, Escape and Cancel/Close dismiss."""

from __future__ import annotations

from typing import TypeVar

from textual import on
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A modal that dismisses with ``None`` on Escape, Cancel or Close."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]
    FOCUS = "#cancel"  # what has the focus when the dialog opens

    def on_mount(self) -> None:
        self.query_one(self.FOCUS).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    @on(Button.Pressed, "#close")
    def _dismiss_none(self) -> None:
        self.dismiss(None)


def say(screen: Screen, text: str) -> None:
    """Show why a dialog refused (wrong typed name, empty field) in its error line."""
    error = screen.query_one("#dialog-error", Static)
    error.update(text)
    error.add_class("-shown")
