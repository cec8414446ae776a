"""Forms: a new vector migration (description + templates to create)."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, SelectionList, Static

from migctl.tui.console.screens.dialog import Dialog, say
from migctl.tui.console.widgets.toggles import MarkedSelectionList


class CreateVectorMigrationScreen(Dialog[tuple[str, list[str]] | None]):
    """Dismisses with (description, templates) or ``None``."""

    FOCUS = "#description"

    def __init__(self, templates: list[str]) -> None:
        super().__init__()
        self.templates = templates

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("New vector migration", id="dialog-title")
            yield Static("Description", markup=False)
            yield Input(placeholder="e.g. add chunk collection", id="description")
            yield Static("Collections to create from templates (space toggles)", markup=False)
            yield MarkedSelectionList[str](*[(t, t) for t in self.templates], id="templates")
            yield Static("", id="dialog-error", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Create", id="create", variant="warning")

    @on(Button.Pressed, "#create")
    @on(Input.Submitted, "#description")
    def _create(self) -> None:
        description = self.query_one("#description", Input).value.strip()
        if not description:
            say(self, "a description is needed")
            return
        chosen = list(self.query_one("#templates", SelectionList).selected)
        self.dismiss((description, chosen))
