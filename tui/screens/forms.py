"""Forms: a new vector migration (description + templates to create)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, SelectionList, Static

from tui.screens.dialog import say


class CreateVectorMigrationScreen(ModalScreen[tuple[str, list[str]] | None]):
    """Dismisses with (description, templates) or ``None``."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="form.cancel")]

    def __init__(self, templates: list[str]) -> None:
        super().__init__()
        self.templates = templates

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("New vector migration", id="dialog-title")
            yield Static("Description", markup=False)
            yield Input(placeholder="e.g. add chunk collection", id="description")
            yield Static("Collections to create from templates (space toggles)", markup=False)
            yield SelectionList[str](*[(t, t) for t in self.templates], id="templates")
            yield Static("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Create", id="create", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#description", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    @on(Input.Submitted, "#description")
    def _create(self) -> None:
        description = self.query_one("#description", Input).value.strip()
        if not description:
            say(self, "a description is needed")
            return
        chosen = list(self.query_one("#templates", SelectionList).selected)
        self.dismiss((description, chosen))
