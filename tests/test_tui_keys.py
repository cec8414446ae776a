"""Keys in the console: digits switch panes from anywhere, the first focus is the pane's
table, the footer follows the pane in front, dialogs say how to confirm and scroll their
plan, and every wrong typed name is audited as refused.

Driven through Textual's pilot against the embedded PostgreSQL (no mocks)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from textual.widgets import Button, Checkbox, DataTable, Footer, Input, TabbedContent

from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.screens.forms import CreateVectorMigrationScreen
from migctl.tui.console.screens.reset import ResetConfirmScreen, ResetResultScreen, ResetScopeScreen
from migctl.tui.console.widgets.history import HistoryPane
from tests.tui_support import (
    click_again,
    console_config,
    idle,
    make_app,
    ready,
    screen_text,
    wait_for,
)

pytestmark = pytest.mark.slow

MIDDLE = "e8f2c6a4d091"  # a revision below the head


def footer_items(app) -> list[tuple[str, object]]:
    """The footer as the terminal shows it: ``key description`` and where, per item."""
    from textual.widgets._footer import FooterKey

    return [(f"{k.key_display} {k.description}".strip(), k.region)
            for k in app.screen.query_one(Footer).query(FooterKey)]


async def _screen(pilot, screen_type) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), 60, screen_type.__name__)
    await pilot.pause(0.1)


async def _key(pilot, key: str) -> None:
    await pilot.press(key)
    await pilot.pause(0.1)


async def test_digits_switch_panes_from_anywhere(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        tabs = app.query_one(TabbedContent)
        table = app.query_one("#history-table", DataTable)
        history = app.query_one(HistoryPane)
        # First screen: the table has the focus, so Down moves the revision cursor at once.
        assert app.focused is table
        before, selected = table.cursor_row, history.selected
        await _key(pilot, "down")
        assert table.cursor_row == before + 1 and history.selected not in (None, selected)

        # After Tab into the pane (focus off the table), digits still switch panes.
        await _key(pilot, "tab")
        assert app.focused is not table
        await _key(pilot, "3")
        assert tabs.active == "templates" and app.focused is app.query_one("#templates-table")
        # From the tab bar too.
        await pilot.press("shift+tab")
        await _key(pilot, "5")
        assert tabs.active == "activity" and app.focused is app.query_one("#audit-table")

        # After a click inside a pane.
        await _key(pilot, "1")
        assert tabs.active == "history" and app.focused is table
        await pilot.click("#history-table", offset=(5, 3))
        await _key(pilot, "2")
        assert tabs.active == "vector" and app.focused is app.query_one("#vector-table")

        # While a dialog is open the digit is the dialog's; after it closes a table has the
        # focus and digits switch panes again.
        await _key(pilot, "1")
        await pilot.press("x")
        await _screen(pilot, ResetScopeScreen)
        await _key(pilot, "4")
        assert isinstance(app.screen, ResetScopeScreen) and tabs.active == "history"
        await _key(pilot, "escape")
        assert not app.screen.is_modal and isinstance(app.focused, DataTable), app.focused
        await _key(pilot, "4")
        assert tabs.active == "collections" and app.focused is app.query_one("#collections-table")

        # A text field keeps its digits.
        await pilot.press("c")
        await _screen(pilot, CreateVectorMigrationScreen)
        await pilot.press(*"add 2 stores")
        await pilot.pause(0.1)
        assert app.screen.query_one("#description", Input).value == "add 2 stores"
        assert tabs.active == "collections"
        await _key(pilot, "escape")
        await _key(pilot, "1")
        assert tabs.active == "history" and app.focused is table


async def test_footer_shows_the_keys_of_the_pane_in_front(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)

        def shown() -> list[str]:
            """The items wholly inside 80 columns and not under the palette key."""
            items = footer_items(app)
            palette = min((r.x for text, r in items if "palette" in text), default=80)
            return [text for text, r in items if r.width and r.right <= palette]

        alembic = shown()
        assert {"u Upgrade", "d Down -1", "s Stamp", "i Init", "x Reset", "? Help", "q Quit"} <= set(alembic), alembic
        assert "v Upgrade" not in alembic
        await _key(pilot, "2")
        vector = shown()
        assert {"v Upgrade", "V Downgrade", "S Stamp", "? Help", "q Quit"} <= set(vector), vector
        assert not {"u Upgrade", "d Down -1", "s Stamp"} & set(vector)
        await _key(pilot, "3")
        templates = shown()
        assert {"i Init", "x Reset", "? Help", "q Quit"} <= set(templates), templates
        assert not {"u Upgrade", "v Upgrade"} & set(templates)
        # Hidden from this pane's footer, the key still works here.
        await pilot.press("u")
        await _screen(pilot, ConfirmScreen)
        assert "Upgrade test to heads" in screen_text(app)
        await _key(pilot, "escape")
        await idle(pilot)


async def test_dialog_says_how_to_confirm_and_scrolls_its_plan(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("i")
        await _screen(pilot, ConfirmScreen)
        assert "tab, enter: Init · esc: cancel · pgup/pgdn: scroll the plan" in screen_text(app)
        assert app.focused is app.screen.query_one("#cancel", Button)
        assert "--" not in app.screen.plan_text.replace("-- SQL --", "")  # no CLI flags in the console
        plan = app.screen.query_one("#plan-scroll")
        assert plan.max_scroll_y > 3, "the init plan should not fit at 80x24"
        await _key(pilot, "pagedown")
        paged = plan.scroll_y
        assert paged > 0
        await _key(pilot, "up")
        assert plan.scroll_y == paged - 1
        await _key(pilot, "down")
        await _key(pilot, "down")
        assert plan.scroll_y == paged + 1
        await _key(pilot, "pageup")
        assert plan.scroll_y < paged
        assert app.focused is app.screen.query_one("#cancel", Button)  # scrolling left the focus alone
        await _key(pilot, "escape")
        await idle(pilot)


def test_console_plans_name_no_cli_flags() -> None:
    from migctl.core.relational.plan import Plan
    from migctl.tui.formatting import plan_lines

    fields = {f.name: None for f in dataclasses.fields(Plan) if f.default is dataclasses.MISSING
              and f.default_factory is dataclasses.MISSING}
    plan = Plan(**{**fields, "action": "upgrade", "target": "heads", "environment": "dev", "url": "x",
                   "current": (), "after": ("a",), "steps": (), "protected": False})
    plan = dataclasses.replace(plan, analysed=False, purge=("a",))
    assert any("--dry-run" in line for line in plan_lines(plan))
    console = plan_lines(plan, cli=False)
    assert any("SQL not analysed for destructive statements" in line for line in console)
    assert not any("--" in line for line in console), console


async def test_palette_lists_each_action_once_with_its_key(pg_db: tuple[str, str], tmp_path: Path) -> None:
    from textual.command import CommandList

    from migctl.tui.console.actions import ACTIONS

    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        commands = list(app.get_system_commands(app.screen))
        names = [c.title for c in commands]
        assert len(names) == len(set(names)), names
        for a in ACTIONS:
            if a.name not in ("help", "quit"):
                assert names.count(a.description) == 1, a.name
        # The palette as drawn: the key hint in brackets is shown, not eaten as markup.
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"stamp the selected revision")
        shown: list[str] = []

        def drawn() -> bool:
            options = app.screen.query(CommandList)
            shown[:] = [str(o.prompt) for o in options.first().options] if options else []
            return any("[s]" in text for text in shown)

        await wait_for(pilot, drawn, 10, "the stamp command in the palette")
        stamp = [text for text in shown if "Alembic: stamp" in text]
        assert len(stamp) == 1 and "key [s]" in stamp[0], shown
        assert stamp[0].count("Alembic: stamp") == 1, stamp  # the help line no longer repeats it
        await _key(pilot, "escape")


async def test_wrong_typed_names_are_audited_as_refused(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url, name="dev", protected=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        api = app.api

        async def refusals() -> list[tuple[str, str, str]]:
            rows = await app.call(lambda: api.audit(50))
            return [(r["action"], r["outcome"], r["error"]) for r in reversed(rows) if r["outcome"] == "refused"]

        await pilot.press("u")
        await _screen(pilot, ConfirmScreen)
        assert "shift+tab: name field · enter: Upgrade · esc: cancel" in screen_text(app)
        for typed in ("", "DEV"):
            app.screen.query_one("#typed-name", Input).value = typed
            await click_again(pilot, "#confirm")
            await pilot.pause(0.1)
        # As the hint says, from the keyboard: shift+tab from Cancel to the field, type, Enter.
        app.screen.query_one("#typed-name", Input).value = ""
        app.screen.query_one("#cancel", Button).focus()
        await pilot.press("shift+tab", *"dve", "enter")
        await pilot.pause(0.1)
        assert "refused: the typed name does not match 'dev'" in screen_text(app)
        await wait_for(pilot, lambda: len([w for w in app.workers if w.group == "audit" and not w.is_finished]) == 0,
                       30, "the refusals to be recorded")
        rows = await refusals()
        assert rows == [("upgrade", "refused", f"typed name {t!r} does not match 'dev'") for t in ("", "DEV", "dve")]
        assert isinstance(app.screen, ConfirmScreen)  # still open for another try
        await _key(pilot, "escape")
        await idle(pilot)

        await pilot.press("x")
        await _screen(pilot, ResetScopeScreen)
        await pilot.click("#next")
        await _screen(pilot, ResetConfirmScreen)
        assert "shift+tab: name field · enter: Reset · esc: cancel" in screen_text(app)
        app.screen.query_one("#typed-name", Input).value = "dve"
        await pilot.click("#confirm")
        await pilot.pause(0.2)
        assert "refused: 'dve' is not 'dev'" in screen_text(app)
        await wait_for(pilot, lambda: len([w for w in app.workers if w.group == "audit" and not w.is_finished]) == 0,
                       30, "the refusal to be recorded")
        rows = await refusals()
        assert rows[-1] == ("reset", "refused", "typed name 'dve' does not match 'dev'"), rows
        await _key(pilot, "escape")
        await idle(pilot)
        rows = await app.call(lambda: api.audit(50))
        assert rows[0]["error"] == "declined in the console"  # Escape still audited as before


async def test_console_reset_records_the_revisions_before(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        table = app.query_one("#history-table", DataTable)
        table.move_cursor(row=table.get_row_index(MIDDLE))
        await pilot.pause(0.1)
        await pilot.press("t")  # upgrade to the selected revision, as the operator did
        await _screen(pilot, ConfirmScreen)
        await pilot.press("tab", "enter")
        await idle(pilot)
        assert app.status["relational"]["current"] == [MIDDLE]
        await pilot.press("x")
        await _screen(pilot, ResetScopeScreen)
        await pilot.click("#next")
        await _screen(pilot, ResetConfirmScreen)
        app.screen.query_one("#backup", Checkbox).value = False
        app.screen.query_one("#typed-name", Input).value = "test"
        await pilot.click("#confirm")
        await _screen(pilot, ResetResultScreen)
        await _key(pilot, "enter")
        await idle(pilot)
        rows = await app.call(lambda: app.api.audit(5))
    reset = rows[0]
    assert (reset["action"], reset["outcome"]) == ("reset", "ok"), rows
    assert reset["revisions_before"] == MIDDLE, reset


async def test_the_panes_fill_in_while_help_is_open_from_the_start(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Help opened before the databases answered: the first refresh and the operation's
    events still reach the header and panes behind it (they used to look in the screen in
    front and stop there)."""
    from migctl.tui.console.screens.help import HelpScreen
    from migctl.tui.console.widgets.header import StatusHeader

    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await _key(pilot, "f1")
        assert isinstance(app.screen, HelpScreen)
        await ready(pilot)
        assert isinstance(app.screen, HelpScreen)
        header = app.screen_stack[0].query_one(StatusHeader)
        assert header.relational_state == "connected"
        assert "relational" in app.status  # the first refresh went through
        await _key(pilot, "escape")
        assert "connected" in screen_text(app)


async def test_keys_behind_the_overview_start_nothing(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """With the overview (or any dialog) in front, the Alembic letters are neither in the
    footer nor run: `u` typed there must not plan an upgrade behind it."""
    from migctl.tui.console.screens.environments import EnvironmentsScreen

    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        assert "u Upgrade" in [text for text, _ in footer_items(app)]
        await _key(pilot, "e")
        await _screen(pilot, EnvironmentsScreen)
        shown = [text for text, _ in footer_items(app)]
        assert not {"u Upgrade", "d Down -1", "s Stamp", "x Reset"} & set(shown), shown
        await _key(pilot, "u")
        await pilot.pause(0.5)
        assert isinstance(app.screen, EnvironmentsScreen)
        assert not [w for w in app.workers if w.group == "op" and not w.is_finished]
        await _key(pilot, "escape")
        assert "u Upgrade" in [text for text, _ in footer_items(app)]


async def test_palette_runs_an_action_and_respects_its_state(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """An action picked in the palette runs as its key would, through check_action."""
    from migctl.tui.console.screens.environments import EnvironmentsScreen

    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"Environments overview")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await _screen(pilot, EnvironmentsScreen)
        await _key(pilot, "escape")
        app.connected = False  # as while connecting: mutating actions are disabled
        await pilot.press("ctrl+p")
        await pilot.pause(0.3)
        await pilot.press(*"upgrade to head")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause(0.5)
        assert not isinstance(app.screen, ConfirmScreen)
        assert not [w for w in app.workers if w.group == "op" and not w.is_finished]
