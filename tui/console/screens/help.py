"""? / F1: the panes and every action with its key, from the one action registry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from migctl.tui.console.actions import ACTIONS, PANES, key_label


def help_text() -> str:
    lines = ["Panes: keys 1-5 (anywhere but in a text field)"]
    lines += [f"  {key:<10} {desc}" for key, _name, desc in PANES]
    group = None
    for a in ACTIONS:
        if a.group != group:
            group = a.group
            lines += ["", group]
        lines.append(f"  {key_label(a.key):<10} {a.description}")
    lines += ["", "The footer shows the pane in front's keys; every key works from any pane.",
              "", "Other", "  ctrl+p     command palette (every action above, searchable)",
              "  arrows     move in tables; pgup/pgdn scroll (in a dialog: its plan)",
              "  escape     close a dialog (Cancel)",
              "", "Every change shows its plan first; Cancel has the focus. Protected environments",
              "need their name typed. Over SSH: no mouse needed; run with --no-mouse to keep the",
              "terminal's own selection; NO_COLOR=1 for monochrome."]
    return "\n".join(lines)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static("migctl console: keys", id="dialog-title")
            with VerticalScroll(id="plan-scroll"):
                yield Static(help_text(), id="help-text", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
