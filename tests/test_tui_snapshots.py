"""Snapshots of the console at 80x24 and 160x48: every pane, the dialogs, the reset wizard,
the vector form, the environments overview, a terminal too small, and NO_COLOR.

The console runs against the suite's embedded PostgreSQL (any free port) on databases with
fixed names, recreated per test. The port is never in the config: the URL names none and
libpq takes it from ``PGPORT``, so the header reads the same on every machine. Nothing else on
screen may vary either (no timestamps, temporary paths or spinners in what is compared).
Update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at ``snapshot_report.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from migctl.tui.console.app import MigctlApp
from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.screens.forms import CreateVectorMigrationScreen
from migctl.tui.console.screens.reset import ResetConfirmScreen
from tests.support import APP_PASSWORD, REFERENCE_SECTIONS, REPO
from tests.tui_support import idle, make_app, ready, wait_for

pytestmark = pytest.mark.slow

SIZES = [(80, 24), (160, 48)]
SIZE_IDS = ["80x24", "160x48"]
DATABASES = {"dev": "snapshots", "staging": "snapshots_staging"}
PANE_KEYS = {"1": "history", "2": "vector", "3": "templates", "4": "collections", "5": "activity"}


@pytest.fixture()
def console(embedded_pg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., MigctlApp]:
    """Makes the console on fresh ``snapshots`` (dev) and ``snapshots_staging`` databases.

    Call it after setting ``NO_COLOR``: the app reads it when built."""
    monkeypatch.setenv("PGPORT", str(embedded_pg.port))
    # The same colours on every runner: a 16-colour TERM would switch the console's theme.
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    with psycopg.connect(embedded_pg.admin_url, autocommit=True) as conn:
        for name in DATABASES.values():
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" OWNER app')
    vector = ("    vector:\n      store: pgvector\n"
              f"      migrations_dir: {REPO / 'vector_migrations' / 'versions'}\n"
              f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}\n")
    environments = "".join(
        f"  {env}:\n    database_url: \"postgresql://app:{APP_PASSWORD}@{embedded_pg.host}/{db}\"\n{vector}"
        + ("    protected: true\n" if env == "staging" else "")
        for env, db in DATABASES.items())
    config = tmp_path / "migctl.yaml"
    config.write_text(f"default_environment: dev\nstate_dir: {tmp_path / 'state'}\n"
                      + "\n".join(REFERENCE_SECTIONS) + "\nenvironments:\n" + environments)
    def build() -> MigctlApp:
        app = make_app(config)
        # The idle progress bar and button presses animate with the clock: drawn at rest.
        app.animation_level = "none"
        return app

    return build


async def _settled(pilot) -> None:
    """Ready, with the selected revision's SQL loaded (it arrives from the core thread)."""
    await ready(pilot)
    await wait_for(pilot, lambda: "(loading" not in str(pilot.app.query_one("#history-detail").render()), 30,
                   "revision SQL")
    await pilot.pause(0.2)


async def _init_and_clear(pilot) -> None:
    """Init both sides (so there is something to reset), then drop the toasts: they time out,
    so whether one is still drawn depends on how long the next step takes."""
    await _settled(pilot)
    await pilot.press("i")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 60, "the init confirmation")
    await pilot.press("tab", "enter")
    await idle(pilot, 240)
    pilot.app.clear_notifications()
    await wait_for(pilot, lambda: not pilot.app.screen.query("Toast"), 10, "the toasts to go")


async def _open_form(pilot) -> None:
    """The vector form with its first template chosen and the cursor on the second (not chosen)."""
    await _settled(pilot)
    await pilot.press("c")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CreateVectorMigrationScreen), 30, "the form")
    form_list = pilot.app.screen.query_one("#templates")
    form_list.focus()
    await pilot.press("space", "down")
    await wait_for(pilot, lambda: len(form_list.selected) == 1, 5, "one template chosen")
    await pilot.pause(0.3)


async def _open_scope(pilot) -> None:
    await _settled(pilot)
    await pilot.press("x")
    await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResetScopeScreen", 30, "the wizard")
    await pilot.pause(0.3)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("key", list(PANE_KEYS), ids=list(PANE_KEYS.values()))
def test_pane(console, snap_compare, size: tuple[int, int], key: str) -> None:
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press(key)
        await wait_for(pilot, lambda: pilot.app.query_one("#panes").active == PANE_KEYS[key], 10, "the pane")
        if key == "3":  # the rendered collection of the selected template, not just its name
            await wait_for(pilot, lambda: "CREATE" in str(pilot.app.query_one("#templates-detail").render())
                           or "dim" in str(pilot.app.query_one("#templates-detail").render()), 30,
                           "the rendered template")
        await pilot.pause(0.3)

    assert snap_compare(console(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_confirmation_dialog(console, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 30, "the confirmation")
        await pilot.pause(0.3)

    assert snap_compare(console(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_reset_wizard(console, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _init_and_clear(pilot)
        await pilot.press("x")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResetScopeScreen", 30, "the wizard")
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ResetConfirmScreen), 60, "the reset plan")
        pilot.app.clear_notifications()
        await pilot.pause(0.3)

    assert snap_compare(console(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_vector_form(console, snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(console(), terminal_size=size, run_before=_open_form)


@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
def test_environments_overview(console, snap_compare, size: tuple[int, int]) -> None:
    overview = pytest.importorskip("migctl.tui.console.screens.environments")

    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("e")
        await wait_for(pilot, lambda: pilot.app.screen.__module__ == overview.__name__, 30, "the overview")
        # Every environment answered (or timed out): the summary counts them.
        await wait_for(pilot, lambda: "Environments: 2 read" in _text(pilot.app), 60, "every environment's row")
        await pilot.pause(0.3)

    assert snap_compare(console(), terminal_size=size, run_before=run_before)


def test_terminal_too_small(console, snap_compare) -> None:
    """50x15 is below what the console supports: it says so instead of a broken layout."""
    async def run_before(pilot) -> None:
        await wait_for(pilot, lambda: pilot.app.ready, 90, "the console's first refresh")
        await pilot.pause(0.3)

    assert snap_compare(console(), terminal_size=(50, 15), run_before=run_before)


@pytest.mark.parametrize("screen", ["main", "vector_form", "reset_scope"])
def test_no_color(console, snap_compare, monkeypatch: pytest.MonkeyPatch, screen: str) -> None:
    """NO_COLOR: the cursor row, chosen templates and the chosen reset scope show in text."""
    monkeypatch.setenv("NO_COLOR", "1")
    run_before = {"main": _settled, "vector_form": _open_form, "reset_scope": _open_scope}[screen]
    assert snap_compare(console(), terminal_size=(80, 24), run_before=run_before)


def _text(app: MigctlApp) -> str:
    from tests.tui_support import screen_text

    return screen_text(app)


def test_confirmation_through_a_broken_step(embedded_pg: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            snap_compare) -> None:
    """``migctl verify``'s verdicts in the confirmation of a downgrade through broken steps (the
    verify fixture project, verified for real on the suite's server)."""
    import shutil

    from tests.support import clean_env, run_cli

    monkeypatch.setenv("PGPORT", str(embedded_pg.port))
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.setenv("COLORTERM", "truecolor")
    with psycopg.connect(embedded_pg.admin_url, autocommit=True) as conn:
        conn.execute('DROP DATABASE IF EXISTS "snapshots_verify" WITH (FORCE)')
        conn.execute('CREATE DATABASE "snapshots_verify" OWNER app')
    project = tmp_path / "project"
    shutil.copytree(REPO / "tests" / "fixtures" / "verify_project", project,
                    ignore=shutil.ignore_patterns("__pycache__"))
    config = tmp_path / "migctl.yaml"
    config.write_text(f"default_environment: dev\nstate_dir: {tmp_path / 'state'}\nverify:\n  on: server\n"
                      "environments:\n  dev:\n"
                      f"    database_url: \"postgresql://app:{APP_PASSWORD}@{embedded_pg.host}/snapshots_verify\"\n"
                      f"    alembic:\n      ini: {project / 'alembic.ini'}\n")
    env = clean_env(PGPORT=str(embedded_pg.port))
    for args in (("upgrade", "head", "--yes"), ("verify",)):
        result = run_cli("--config", str(config), *args, cwd=tmp_path, env=env)
        assert result.code in (0, 4), result.err
    app = make_app(config)
    app.animation_level = "none"

    async def run_before(pilot) -> None:
        await _settled(pilot)
        await wait_for(pilot, lambda: str(pilot.app.query_one("#history-table").get_cell(
            "7a0000000007", "state")).strip().endswith("BROKEN-down"), 30, "the verdicts")
        await pilot.press("B")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 30, "the confirmation")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
