"""The console driven through Textual's pilot against a real PostgreSQL 18 + pgvector.

Every mutating path goes through the confirmation; the database is checked afterwards.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from textual.widgets import Button, DataTable, Input, TabbedContent

from migctl.core.vector.loader import load_chain
from migctl.core.vector.templates import DEFAULT_TEMPLATES, load_templates
from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.screens.error import ErrorScreen
from migctl.tui.console.screens.forms import CreateVectorMigrationScreen
from migctl.tui.console.screens.reset import ResetConfirmScreen, ResetResultScreen, ResetScopeScreen
from tests.support import make_project, pg_scalar, reap, spawn_lock_holder
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

HEAD = "f07c3a5e9b18"
BEFORE_HEAD = "4b6d8e0f2a37"


def _version(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0]
        if not exists:
            return set()
        return {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}


def _audit(url: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute("SELECT action, outcome, error FROM migctl_audit ORDER BY id")]


async def _confirm(pilot, screen_type=ConfirmScreen) -> None:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, screen_type), 60, screen_type.__name__)
    await pilot.pause(0.1)


async def test_every_pane_shows_the_real_state(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        tabs = app.query_one(TabbedContent)
        assert "10 revisions · current base · heads f07c3a5e9b18 · pending 10" in screen_text(app)
        assert app.query_one("#history-table", DataTable).row_count == 10
        header = str(app.query_one("#header").render())
        assert "test" in header and "app:***@" in header and "Sup3r" not in header
        assert "db: connected" in header and "lock: free" in header
        for key, pane, expected in (("2", "vector", "4 vector migrations · pgvector"),
                                    ("3", "templates", "3 templates in"),
                                    ("4", "collections", "0 collections in pgvector"),
                                    ("5", "activity", "idle"),
                                    ("1", "history", "pending 10")):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert tabs.active == pane
            assert expected in screen_text(app), (pane, screen_text(app))
        # The selected revision's detail carries its own SQL, loaded off the UI thread.
        await wait_for(pilot, lambda: "CREATE FUNCTION cleanup_old_logs" in screen_text(app), 30, "upgrade SQL")
        assert "DROP FUNCTION cleanup_old_api_stats" in screen_text(app)
        await pilot.press("f1")
        await pilot.pause(0.1)
        assert "Reset wizard" in screen_text(app) or "reset wizard" in screen_text(app)
        await pilot.press("escape")


async def test_upgrade_cancel_changes_nothing_confirm_applies(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("u")
        await _confirm(pilot)
        assert app.focused is app.screen.query_one("#cancel", Button)
        text = screen_text(app)
        assert "Plan: upgrade to heads" in text and "10. upgrade   f07c3a5e9b18" in text
        assert "NON-TRANSACTIONAL" in text and "-- SQL --" in text
        await pilot.press("enter")  # Cancel has the focus
        await idle(pilot)
        assert _version(admin_url) == set()
        assert ("upgrade", "refused", "declined in the console") in _audit(admin_url)

        await pilot.press("u")
        await _confirm(pilot)
        await pilot.press("tab", "enter")
        await idle(pilot)
        assert _version(admin_url) == {HEAD}
        assert pg_scalar(admin_url, "SELECT count(*) FROM pg_proc WHERE proname = 'cleanup_old_logs'") == 1
        assert "current f07c3a5e9b18 · heads f07c3a5e9b18 · pending 0" in screen_text(app)
        await pilot.press("5")
        await pilot.pause(0.1)
        assert "upgrade done: 10 step(s); now at f07c3a5e9b18" in screen_text(app)

        # a downgrade that drops a table says how many rows go with it; Escape cancels
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute("INSERT INTO tasks (task_type) SELECT 'embed' FROM generate_series(1, 3)")
        await pilot.press("1")
        table = app.query_one("#history-table", DataTable)
        table.move_cursor(row=table.get_row_index("e8f2c6a4d091"))
        await pilot.pause(0.1)
        await pilot.press("D")
        await _confirm(pilot)
        text = screen_text(app)
        assert "What is lost:" in text and "drop tasks  (3 rows now)" in text, text
        await pilot.press("escape")
        await idle(pilot)
        assert _version(admin_url) == {HEAD} and pg_scalar(admin_url, "SELECT count(*) FROM tasks") == 3

        # downgrade one step
        await pilot.press("1", "d")
        await _confirm(pilot)
        assert "downgrade f07c3a5e9b18" in screen_text(app)
        await pilot.press("tab", "enter")
        await idle(pilot)
        assert _version(admin_url) == {BEFORE_HEAD}
        assert pg_scalar(admin_url, "SELECT count(*) FROM pg_proc WHERE proname = 'cleanup_old_logs'") == 0

        # stamp the selected revision: the version table moves, no SQL runs
        table = app.query_one("#history-table", DataTable)
        table.move_cursor(row=table.get_row_index("c41d7e9a2f58"))
        await pilot.pause(0.1)
        await pilot.press("s")
        await _confirm(pilot)
        assert "stamp" in screen_text(app) and "c41d7e9a2f58" in screen_text(app)
        await pilot.press("tab", "enter")
        await idle(pilot)
        assert _version(admin_url) == {"c41d7e9a2f58"}
        assert pg_scalar(admin_url, "SELECT to_regclass('public.tasks') IS NOT NULL")  # stamp ran no SQL
        actions = [(a, o) for a, o, _ in _audit(admin_url)]
        assert actions[-4:] == [("upgrade", "ok"), ("downgrade", "refused"), ("downgrade", "ok"), ("stamp", "ok")]


async def test_protected_environment_needs_its_name(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    app = make_app(console_config(tmp_path, app_url, name="prod", protected=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        assert "PROTECTED" in str(app.query_one("#header").render())
        assert app.query_one("#header").has_class("-protected")
        await pilot.press("u")
        await _confirm(pilot)
        assert "prod is PROTECTED: type its name to confirm" in screen_text(app)
        app.screen.query_one("#typed-name", Input).value = "production"
        await pilot.click("#confirm")
        await pilot.pause(0.1)
        assert "refused: the typed name does not match 'prod'" in screen_text(app)
        assert isinstance(app.screen, ConfirmScreen) and _version(admin_url) == set()
        app.screen.query_one("#typed-name", Input).value = "prod"
        await click_again(pilot, "#confirm")
        await idle(pilot)
        assert _version(admin_url) == {HEAD}


async def test_create_vector_migration_through_the_form(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _ = pg_db
    app = make_app(console_config(tmp_path, app_url))
    versions = tmp_path / "vector_versions"
    before = set(versions.glob("*.yaml"))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("c")
        await _confirm(pilot, CreateVectorMigrationScreen)
        await pilot.press(*"add chunk store")
        await pilot.press("tab")  # the template list: chunk, document, image (document already exists)
        await pilot.press("space")
        from textual.widgets import SelectionList

        assert list(app.screen.query_one("#templates", SelectionList).selected) == ["chunk"]
        await pilot.click("#create")
        await idle(pilot)
        assert not isinstance(app.screen, ErrorScreen), screen_text(app)
    created = set(versions.glob("*.yaml")) - before
    assert len(created) == 1, created
    path = created.pop()
    assert "add_chunk_store" in path.name
    chain = load_chain(versions, load_templates(DEFAULT_TEMPLATES))
    newest = chain.migrations[-1]
    assert newest.description == "add chunk store" and newest.depends_on == "20250201_001"
    assert [op.describe().split()[0:3] for op in newest.operations] == [["create", "collection", "chunk"]]


async def test_reset_wizard_refuses_a_wrong_name_and_resets_with_backup(pg_db: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await pilot.press("i")
        await _confirm(pilot)
        await pilot.press("tab", "enter")
        await idle(pilot, 240)
        assert _version(admin_url) == {HEAD}
        assert pg_scalar(admin_url, "SELECT count(*) FROM workspaces") == 1
        assert pg_scalar(admin_url, "SELECT count(*) FROM vector_db_migrations WHERE status = 'applied'") == 4

        await pilot.press("x")
        await _confirm(pilot, ResetScopeScreen)
        assert app.focused is app.screen.query_one("#cancel", Button)
        await pilot.click("#next")  # scope: both
        await _confirm(pilot, ResetConfirmScreen)
        text = screen_text(app)
        assert "public.workspaces" in text and "vectors.document" in text
        assert " 1 row\n" in text and "1 rows" not in text, text
        app.screen.query_one("#typed-name", Input).value = "tset"
        await pilot.click("#confirm")
        await pilot.pause(0.2)
        assert "refused: 'tset' is not 'test'; nothing was changed" in screen_text(app)
        assert _version(admin_url) == {HEAD}
        app.screen.query_one("#typed-name", Input).value = "test"
        await click_again(pilot, "#confirm")
        await _confirm(pilot, ResetResultScreen)
        summary = screen_text(app)
        assert "Backup: " in summary, summary
        backup = Path(summary.split("Backup: ", 1)[1].splitlines()[0].strip())
        assert (backup / "relational.dump").is_file() and (backup / "manifest.json").is_file()
        await pilot.press("enter")
        await idle(pilot)
    assert _version(admin_url) == set()
    assert pg_scalar(admin_url, "SELECT to_regclass('public.workspaces')") is None
    assert pg_scalar(admin_url, "SELECT to_regclass('vectors.document')") is None
    assert [(a, o) for a, o, _ in _audit(admin_url)][-1] == ("reset", "ok")


async def test_failing_revision_opens_the_error_dialog(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """The error dialog, and (issue 13.19) the failed step and the failure in migrations.log, as
    the CLI writes them."""
    import logging

    from migctl.tui.log_setup import add_log_file, log

    app_url, admin_url = pg_db
    ini = make_project(tmp_path, "failing")
    app = make_app(console_config(tmp_path, app_url, alembic_ini=ini), vector=False)
    # What `migctl tui` sets up before the console starts (tui.cli._setup_logging).
    add_log_file(app.environment.log_file, logging.Formatter("%(levelname)s %(message)s"))
    level, propagate = log.level, log.propagate
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await pilot.press("u")
            await _confirm(pilot)
            await pilot.press("tab", "enter")
            await _confirm(pilot, ErrorScreen)
            text = screen_text(app)
            assert "revision ddd444ddd444 (up) failed" in text and 'relation "no_such_table" does not exist' in text
            message = str(app.screen.query_one("#error-message").render())
            assert message.startswith("revision ddd444ddd444 (up) failed") and "\n" not in message.strip()
            await pilot.press("escape")
            await idle(pilot)
            assert _version(admin_url) == {"bbb222bbb222"}
            assert "current bbb222bbb222" in screen_text(app)
    finally:
        log.setLevel(level)
        log.propagate = propagate
        for handler in [h for h in log.handlers if isinstance(h, logging.FileHandler)]:
            log.removeHandler(handler)
            handler.close()
    lines = app.environment.log_file.read_text().splitlines()
    assert any(ln.startswith("INFO step ") and "aaa111aaa111 finished" in ln for ln in lines), lines
    assert any(ln.startswith("ERROR step ") and "ddd444ddd444 failed" in ln for ln in lines), lines
    assert any(ln.startswith("ERROR ") and "failed: revision ddd444ddd444 (up) failed" in ln for ln in lines), lines


async def test_another_holders_lock_is_shown_and_upgrade_refused(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    holder = spawn_lock_holder(app_url, 60)
    try:
        app = make_app(console_config(tmp_path, app_url), vector=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            header = str(app.query_one("#header").render())
            assert "lock held by" in header and "running test-holder" in header, header
            await pilot.press("u")
            await _confirm(pilot)
            await pilot.press("tab", "enter")
            await _confirm(pilot, ErrorScreen)
            text = screen_text(app)
            assert "migration lock is held by" in text and "test-holder" in text, text
            await pilot.press("escape")
            await idle(pilot)
    finally:
        reap([holder])
    assert _version(admin_url) == set()
    assert [(a, o) for a, o, _ in _audit(admin_url)][-1] == ("upgrade", "refused")
