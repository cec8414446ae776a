"""The reset wizard's screens: scope -> plan with counts, backup and typed name -> result.

The App drives the steps (it plans between them in the core thread); each screen only
collects one decision.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Checkbox, Input, RadioSet, Static

from migctl.tui.console.screens.dialog import Dialog, RefusalSink, hint, say, typed_name_refusal
from migctl.tui.console.widgets.toggles import MarkedCheckbox, MarkedRadioButton

SCOPES = (("both", "Both: relational tables and vector collections"),
          ("relational", "Relational only: the Alembic schema (keep the vector store)"),
          ("vector", "Vector only: collections and their tracking (keep the Alembic schema)"))


class ResetScopeScreen(Dialog[str | None]):
    """Step 1 of 3: what to reset."""

    def __init__(self, environment: str) -> None:
        super().__init__()
        self.environment = environment

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-destructive"):
            yield Static(f"Reset {self.environment} · step 1 of 3: scope", id="dialog-title", markup=False)
            with RadioSet(id="scope"):
                for i, (_key, label) in enumerate(SCOPES):
                    yield MarkedRadioButton(label, value=i == 0)
            yield Static("Next shows exactly what will be dropped, with row counts. Nothing changes yet.",
                         markup=False)
            yield hint("shift+tab: scope (arrows, space) · tab, enter: Next · esc: cancel")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Next", id="next", variant="warning")

    @on(Button.Pressed, "#next")
    def _next(self) -> None:
        index = self.query_one("#scope", RadioSet).pressed_index
        self.dismiss(SCOPES[max(index, 0)][0])


class ResetConfirmScreen(Dialog[tuple[bool, str] | None]):
    """Step 2 of 3: the plan with counts, the backup switch (on), the typed name.

    Dismisses with (backup, typed name) once the name matches, else stays, says why and hands
    the reason to ``on_refused`` (the console audits it).
    """

    def __init__(self, environment: str, plan_text: str, on_refused: RefusalSink | None = None) -> None:
        super().__init__()
        self.environment = environment
        self.plan_text = plan_text
        self.refusals = 0
        self.on_refused = on_refused

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-destructive"):
            yield Static(f"Reset {self.environment} · step 2 of 3: plan and confirmation", id="dialog-title",
                         markup=False)
            with VerticalScroll(id="plan-scroll"):
                yield Static(self.plan_text, id="plan-text", markup=False)
            yield MarkedCheckbox("Back up first (pg_dump and collection rows, restorable with migctl restore)",
                           value=True, id="backup")
            # The expected name is in the label, not the placeholder: a grey placeholder
            # reads as already typed on terminals that draw it like the input text.
            yield Static(f"To reset it, type the environment name: {self.environment}", markup=False)
            yield Input(placeholder="type the name here", id="typed-name")
            yield Static("", id="dialog-error", markup=False)
            yield hint("shift+tab: name field · enter: Reset · esc: cancel · pgup/pgdn: scroll the plan")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Reset", id="confirm", variant="error")

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#typed-name")
    def _confirm(self) -> None:
        typed = self.query_one("#typed-name", Input).value.strip()
        if typed != self.environment:
            self.refusals += 1
            if self.on_refused is not None:
                self.on_refused(typed_name_refusal(typed, self.environment))
            say(self,
                f"refused: {typed!r} is not {self.environment!r}; nothing was changed")
            return
        self.dismiss((self.query_one("#backup", Checkbox).value, typed))


class ResetResultScreen(Dialog[None]):
    """Step 3 of 3: what was dropped and where the backup is."""

    FOCUS = "#close"

    def __init__(self, environment: str, summary: str) -> None:
        super().__init__()
        self.environment = environment
        self.summary = summary

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"Reset {self.environment} · step 3 of 3: done", id="dialog-title", markup=False)
            yield Static(self.summary, id="reset-summary", markup=False)
            with Horizontal(id="dialog-buttons"):
                yield Button("Close", id="close", variant="primary")
