"""? / F1: the panes and every action with its key, from the one action registry."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from migctl.tui.console.actions import ACTIONS, PANES, key_label

FOOTNOTE = ("The footer shows the keys of the pane in front; every key works from any pane. "
            "Every change shows its plan first; Cancel has the focus. Protected environments need their "
            "name typed. Over SSH: no mouse needed; run with --no-mouse to keep the terminal's own "
            "selection; NO_COLOR=1 for monochrome.")


def help_rows() -> list[tuple[str, str]]:
    """(key, description) rows; a row with an empty key and a description starts a group."""
    rows = [("", "Panes: keys 1-5 (anywhere but in a text field)")]
    rows += [(key, desc) for key, _name, desc in PANES]
    group = None
    for a in ACTIONS:
        if a.group != group:
            group = a.group
            rows.append(("", group))
        rows.append((key_label(a.key), a.description))
    rows += [("", "Other"), ("ctrl+p", "command palette (every action above, searchable)"),
             ("arrows", "move in tables; pgup/pgdn scroll (in a dialog: its plan)"), ("escape", "close a dialog (Cancel)")]
    return rows


def help_text() -> str:
    """The same help as plain text (one line per row)."""
    lines = []
    for key, desc in help_rows():
        lines += ["", desc] if not key else [f"  {key:<10} {desc}"]
    return "\n".join([*lines[1:], "", FOOTNOTE])


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "Close", id="help.close")]

    def compose(self) -> ComposeResult:
        # Two columns, so that a description wrapped on a narrow terminal stays under its own
        # column instead of running back to column 0.
        with Vertical(id="dialog"):
            yield Static("migctl console: keys", id="dialog-title")
            with VerticalScroll(id="plan-scroll"), Vertical(id="help-rows"):
                for i, (key, desc) in enumerate(help_rows()):
                    if not key:
                        yield Static(desc, classes="help-group" if i else "help-group first", markup=False)
                        continue
                    with Horizontal(classes="help-row"):
                        yield Static(key, classes="help-key", markup=False)
                        yield Static(desc, classes="help-desc", markup=False)
                yield Static(FOOTNOTE, classes="help-note", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
