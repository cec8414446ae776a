"""What the dialogs share: the safe button has the focus, Escape and Cancel/Close dismiss,
and the plan scrolls from the keyboard while a button keeps the focus."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from textual import on
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Static

ResultType = TypeVar("ResultType")


class Dialog(ModalScreen[ResultType]):
    """A modal that dismisses with ``None`` on Escape, Cancel or Close."""

    # Arrows and pages reach the plan only when the focused widget has no use for them (a
    # button); a focused list or radio set keeps its own.
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel"),
                Binding("pagedown", "scroll_plan('page_down')", "Scroll", show=False),
                Binding("pageup", "scroll_plan('page_up')", "Scroll", show=False),
                Binding("down", "scroll_plan('down')", "Scroll", show=False),
                Binding("up", "scroll_plan('up')", "Scroll", show=False)]
    FOCUS = "#cancel"  # what has the focus when the dialog opens

    def on_mount(self) -> None:
        self.query_one(self.FOCUS).focus()

    def action_scroll_plan(self, how: str) -> None:
        for plan in self.query("#plan-scroll"):
            getattr(plan, f"scroll_{how}")(animate=False)

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


def hint(text: str) -> Static:
    """The line that says how to confirm: Cancel has the focus, so Enter alone cancels."""
    return Static(text, id="dialog-hint", markup=False)


def typed_name_refusal(typed: str, expected: str) -> str:
    """Why a typed confirmation was refused, for the dialog and the audit (cut short: a
    mistyped name is no place for anything long)."""
    shown = typed if len(typed) <= 40 else typed[:40] + "..."
    return f"typed name {shown!r} does not match {expected!r}"


RefusalSink = Callable[[str], None]
