"""Monochrome and 16-colour terminals: every choice shows in text, not only in colour.

The dialogs run on a bare App with the console's stylesheet (no database needed); NO_COLOR
is set before the App is built, as a user's shell would.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Checkbox, RadioButton

from migctl.tui.console.app import sixteen_colour_terminal
from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.screens.forms import CreateVectorMigrationScreen
from migctl.tui.console.screens.reset import ResetConfirmScreen, ResetScopeScreen

CSS = Path(__file__).resolve().parent.parent / "tui" / "console" / "app.tcss"


class Host(App[None]):
    CSS_PATH = str(CSS)


def _lines(widget) -> list[str]:
    """What the widget draws, as plain text lines."""
    return [strip.text for strip in (widget.render_line(y) for y in range(widget.size.height))]


@pytest.fixture(autouse=True)
def no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")


async def test_form_marks_chosen_templates_in_text() -> None:
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(CreateVectorMigrationScreen(["chunks", "documents", "images"]))
        await pilot.pause()
        selection = app.screen.query_one("#templates")
        selection.focus()
        await pilot.press("space")  # choose the first
        await pilot.pause()
        lines = [ln for ln in _lines(selection) if ln.strip()]
        assert selection.selected == ["chunks"]
        assert lines[0].startswith("▐X▌ chunks"), lines
        assert lines[1].startswith("▐ ▌ documents") and lines[2].startswith("▐ ▌ images"), lines
        await pilot.press("space")  # and not any more
        await pilot.pause()
        assert _lines(selection)[0].startswith("▐ ▌ chunks")


async def test_reset_scope_and_backup_show_the_choice_in_text() -> None:
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(ResetScopeScreen("dev"))
        await pilot.pause()
        radios = list(app.screen.query(RadioButton))
        drawn = [str(r.render()) for r in radios]
        assert drawn[0].startswith("▐●▌ Both") and all(d.startswith("▐ ▌ ") for d in drawn[1:]), drawn
        radios[2].value = True  # the RadioSet turns the others off
        await pilot.pause()
        drawn = [str(r.render()) for r in radios]
        assert [d[:3] for d in drawn] == ["▐ ▌", "▐ ▌", "▐●▌"], drawn

        app.pop_screen()
        await app.push_screen(ResetConfirmScreen("dev", "Reset plan for dev"))
        await pilot.pause()
        backup = app.screen.query_one("#backup", Checkbox)
        assert str(backup.render()).startswith("▐X▌ Back up first")
        backup.value = False
        await pilot.pause()
        assert str(backup.render()).startswith("▐ ▌ Back up first")


@pytest.mark.parametrize("make", [lambda: ResetConfirmScreen("prod", "plan"),
                                  lambda: ConfirmScreen("Upgrade", "plan", environment="prod", protected=True)],
                         ids=["reset", "protected-confirm"])
async def test_typed_name_field_does_not_look_typed(make) -> None:
    """The expected name is in the label; the empty field's placeholder is no name at all."""
    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(make())
        await pilot.pause()
        field = app.screen.query_one("#typed-name")
        assert field.value == "" and "prod" not in field.placeholder
        assert "name" in field.placeholder
        labels = "\n".join(str(s.render()) for s in app.screen.query("Static") if s.id != "plan-text")
        assert "prod" in labels


@pytest.mark.parametrize(("environ", "expected"), [
    ({"TERM": "linux"}, True), ({"TERM": "vt100"}, True), ({"TERM": "xterm-16color"}, True),
    ({"TERM": "xterm-256color"}, False), ({"TERM": "linux", "COLORTERM": "truecolor"}, False),
    ({"TERM": "xterm"}, False), ({}, False)])
def test_sixteen_colour_terminals(environ: dict[str, str], expected: bool) -> None:
    assert sixteen_colour_terminal(environ) is expected
