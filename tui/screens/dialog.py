"""What the dialogs share."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Static


def say(screen: Screen, text: str) -> None:
    """Show why a dialog refused (wrong typed name, empty field) in its error line."""
    error = screen.query_one("#dialog-error", Static)
    error.update(text)
    error.add_class("-shown")
