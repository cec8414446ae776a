"""The console and ``migctl verify``'s verdicts: the history pane marks them, the confirmation
shows them per step, and a plan through a broken step needs the broken revision's id typed
before it runs. Real verdicts from a real walk (``migctl verify`` on the fixture project), the
console driven through Textual's pilot on the embedded PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input

from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.widgets.history import HistoryPane
from tests.support import REPO, pg_scalar, run_cli
from tests.tui_support import console_config, idle, make_app, ready, screen_text, wait_for

pytestmark = pytest.mark.slow

FIXTURE = REPO / "tests" / "fixtures" / "verify_project"
HEAD, IRREVERSIBLE, MERGE = "8b0000000008", "7a0000000007", "6f0000000006"


def verified_console(tmp: Path, url: str) -> Path:
    """The fixture project upgraded to its head and verified (on the target's server)."""
    shutil.copytree(FIXTURE, tmp / "project", ignore=shutil.ignore_patterns("__pycache__"))
    config = console_config(tmp, url, alembic_ini=tmp / "project" / "alembic.ini")
    config.write_text(config.read_text(encoding="utf-8") + "verify:\n  on: server\n", encoding="utf-8")
    up = run_cli("--config", str(config), "upgrade", "head", "--yes", cwd=tmp)
    assert up.code == 0, up.err
    verify = run_cli("--config", str(config), "verify", cwd=tmp)
    assert verify.code == 4 and f"{IRREVERSIBLE}  BROKEN downgrade: NotImplementedError" in verify.out, verify.out
    return config


async def select(pilot, revision: str) -> None:
    table = pilot.app.query_one("#history-table", DataTable)
    await wait_for(pilot, lambda: revision in table.rows, 30, f"row {revision}")
    table.move_cursor(row=table.get_row_index(revision))
    await pilot.pause(0.2)


def state_cell(app, revision: str) -> str:
    return str(app.query_one("#history-table", DataTable).get_cell(revision, "state"))


async def test_broken_downgrade_needs_the_revision_typed(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    config = verified_console(tmp_path, app_url)
    app = make_app(config)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        history = app.query_one(HistoryPane)
        await wait_for(pilot, lambda: history.verdicts, 30, "the verdicts")
        await wait_for(pilot, lambda: "BROKEN-down" in state_cell(app, IRREVERSIBLE), 10, "the verdict marks")
        assert "incomplete-down" in state_cell(app, "3c0000000003")
        assert "verified" in state_cell(app, HEAD) and "current" in state_cell(app, HEAD)
        await select(pilot, IRREVERSIBLE)
        detail = str(app.query_one("#history-detail").render())
        assert "verify    BROKEN downgrade: NotImplementedError: irreversible" in detail, detail
        assert "(PostgreSQL 18." in detail

        # Down to the merge: through the verified head and the irreversible revision.
        await select(pilot, MERGE)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60, "the confirmation")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert f"{HEAD}" in text and "verified" in text, text
        assert f"{IRREVERSIBLE}" in text and "BROKEN downgrade" in text, text
        await pilot.press("tab", "enter")

        # The second, typed confirmation: a wrong id is refused and audited; Escape runs nothing.
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                       and "BROKEN step" in app.screen.title_text, 30, "the second confirmation")
        second = app.screen
        assert f"type the broken revision {IRREVERSIBLE} to run it anyway" in screen_text(app)
        await pilot.press("shift+tab")  # from Cancel to the name field, as the hint says
        assert app.focused is second.query_one("#typed-name", Input)
        await pilot.press(*HEAD, "enter")
        await pilot.pause(0.3)
        assert app.screen is second and "does not match" in screen_text(app)
        await pilot.press("escape")
        await idle(pilot)
        assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == HEAD
        await wait_for(pilot, lambda: pg_scalar(
            admin_url, "SELECT count(*) FROM migctl_audit WHERE outcome = 'refused' "
                       f"AND error LIKE '%{HEAD}%does not match%{IRREVERSIBLE}%'") == 1, 10, "the refusal's audit row")

        # Typed: it runs, and the irreversible downgrade fails where verify said it would.
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60, "the confirmation")
        await pilot.press("tab", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen)
                       and "BROKEN step" in app.screen.title_text, 30, "the second confirmation")
        await pilot.press("shift+tab", *IRREVERSIBLE, "enter")
        await idle(pilot, 120)
    assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == IRREVERSIBLE
    assert pg_scalar(admin_url, "SELECT count(*) FROM migctl_audit WHERE action = 'downgrade' "
                                f"AND outcome = 'failed' AND error LIKE '%still at {IRREVERSIBLE}; --allow-broken through {IRREVERSIBLE}%'") == 1


async def test_confirmation_shows_lint_with_live_row_counts(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """The lint fixture (eight squawk rules) over a table of 12,000 rows: the console's
    confirmation names each finding with the table's live size, the accepted one as accepted."""
    import psycopg

    app_url, admin_url = pg_db
    shutil.copytree(REPO / "tests" / "fixtures" / "lint_project", tmp_path / "lint",
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = console_config(tmp_path, app_url, alembic_ini=tmp_path / "lint" / "alembic.ini")
    config.write_text(config.read_text(encoding="utf-8") + 'lint:\n  ignore:\n    "0006": [renaming-column]\n',
                      encoding="utf-8")
    assert run_cli("--config", str(config), "upgrade", "0001", "--yes", cwd=tmp_path).code == 0
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, 300) g")
        conn.execute("INSERT INTO documents (title, author_id) SELECT 't' || g, 1 + g % 300 "
                     "FROM generate_series(1, 12000) g")
        conn.execute("ANALYZE")
    app = make_app(config)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), 60, "the confirmation")
        await pilot.pause(0.2)
        lines = [line.strip() for line in screen_text(app).splitlines()]
        for rule in ("adding-required-field", "require-concurrent-index-creation", "constraint-missing-not-valid",
                     "adding-foreign-key-constraint", "changing-column-type", "ban-drop-column",
                     "adding-not-nullable-field"):
            assert any(line.startswith(f"lint: {rule} — ") and "documents (≈12k rows" in line for line in lines), rule
        assert any(line.startswith("lint: renaming-column (accepted) — renames a column of authors (≈300 rows")
                   for line in lines), lines
        await pilot.press("escape")
        await idle(pilot)
    assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == "0001"
