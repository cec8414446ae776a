"""The confirmation every mutating action passes: the plan, then Cancel (focused) or Confirm.

A protected environment also needs its name typed; Confirm refuses until it matches, and
each wrong name goes to ``on_refused`` (the console audits it). Dismisses with ``None`` when
cancelled, else with the typed name ("" when not protected).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Static

from migctl.tui.console.screens.dialog import Dialog, RefusalSink, hint, say, typed_name_refusal


class ConfirmScreen(Dialog[str | None]):

    def __init__(self, title: str, plan_text: str, *, sql: str | None = None, environment: str,
                 protected: bool, destructive: bool = False, confirm_label: str = "Confirm",
                 on_refused: RefusalSink | None = None, typed_note: str | None = None) -> None:
        super().__init__()
        self.title_text = title
        self.plan_text = plan_text
        self.sql = sql
        self.environment = environment
        self.protected = protected
        self.destructive = destructive
        self.confirm_label = confirm_label
        self.on_refused = on_refused
        # What the typed-name line says; by default the protected database's name is asked for.
        self.typed_note = typed_note or f"{environment} is PROTECTED: type its name to confirm"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="-destructive" if self.destructive else ""):
            yield Static(self.title_text, id="dialog-title", markup=False)
            with VerticalScroll(id="plan-scroll"):
                yield Static(self.plan_text, id="plan-text", markup=False)
                if self.sql:
                    yield Static("-- SQL --\n" + self.sql.rstrip(), id="plan-sql", markup=False)
            if self.protected:
                yield Static(self.typed_note, classes="protected-note", markup=False)
                yield Input(placeholder="type the name here", id="typed-name")
            yield Static("", id="dialog-error", markup=False)
            how = "shift+tab: name field · enter" if self.protected else "tab, enter"
            yield hint(f"{how}: {self.confirm_label} · esc: cancel · pgup/pgdn: scroll the plan")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button(self.confirm_label, id="confirm", variant="error" if self.destructive else "warning")

    @on(Button.Pressed, "#confirm")
    @on(Input.Submitted, "#typed-name")
    def _confirm(self) -> None:
        if not self.protected:
            self.dismiss("")
            return
        typed = self.query_one("#typed-name", Input).value.strip()
        if typed != self.environment:
            if self.on_refused is not None:
                self.on_refused(typed_name_refusal(typed, self.environment))
            say(self,
                f"refused: the typed name does not match {self.environment!r}; nothing was changed")
            return
        self.dismiss(typed)
