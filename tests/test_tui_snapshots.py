"""Snapshots of the console at 80x24 and 160x48: main screen, confirmation, reset wizard.

The console runs on the embedded default (PostgreSQL 18 + pgvector, port 55433 so that the
masked URL in the header is the same on every machine) with a fresh database per test.
Update after an intended change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at ``snapshot_report.html``.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from migctl.core.config import load_environment
from migctl.core.embedded import EmbeddedPostgres, bin_dir
from migctl.tui.console.app import MigctlApp
from migctl.tui.console.screens.confirm import ConfirmScreen
from migctl.tui.console.screens.reset import ResetConfirmScreen
from tests.support import REFERENCE_SECTIONS, REPO
from tests.tui_support import ready, wait_for

pytestmark = pytest.mark.slow

SNAPSHOT_PORT = 55433
SIZES = [(80, 24), (160, 48)]


@pytest.fixture(scope="module")
def snapshot_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("snapshots") / ".migctl"
    (state / "pg").mkdir(parents=True)
    (state / "pg" / "port").write_text(str(SNAPSHOT_PORT))
    server = EmbeddedPostgres(state).ensure_running()
    assert f":{SNAPSHOT_PORT}/" in server.url, (
        f"port {SNAPSHOT_PORT} was busy, so the header would differ from the snapshots: {server.url}")
    yield state
    server.stop()


@pytest.fixture()
def fresh_app(snapshot_state: Path) -> MigctlApp:
    """The console on a freshly created ``migctl`` database of the embedded server."""
    psql = [str(bin_dir() / "psql"), "-h", "127.0.0.1", "-p", str(SNAPSHOT_PORT), "-U", "postgres", "-d", "postgres",
            "-v", "ON_ERROR_STOP=1", "-q"]
    for sql in ("DROP DATABASE IF EXISTS migctl WITH (FORCE)", "CREATE DATABASE migctl"):
        subprocess.run([*psql, "-c", sql], check=True, capture_output=True)
    config = snapshot_state.parent / "migctl.yaml"
    config.write_text(f"default_environment: dev\nstate_dir: {snapshot_state}\n" + "\n".join(REFERENCE_SECTIONS)
                      + "\nenvironments:\n  dev:\n    database_url: embedded\n    vector:\n      store: pgvector\n"
                      f"      migrations_dir: {REPO / 'vector_migrations' / 'versions'}\n"
                      f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}\n")
    return MigctlApp(load_environment(config_file=str(config)))


async def _settled(pilot) -> None:
    """Ready, with the selected revision's SQL loaded (it arrives from the core thread)."""
    await ready(pilot)
    await wait_for(pilot, lambda: "(loading" not in str(pilot.app.query_one("#history-detail").render()), 30,
                   "revision SQL")
    await pilot.pause(0.2)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(fresh_app: MigctlApp, snap_compare, size: tuple[int, int]) -> None:
    assert snap_compare(fresh_app, terminal_size=size, run_before=_settled)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_confirmation_dialog(fresh_app: MigctlApp, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await _settled(pilot)
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 30, "the confirmation")
        await pilot.pause(0.3)

    assert snap_compare(fresh_app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_reset_wizard(fresh_app: MigctlApp, snap_compare, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        from tests.tui_support import idle

        await _settled(pilot)
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ConfirmScreen), 60, "the init confirmation")
        await pilot.press("tab", "enter")
        await idle(pilot, 240)
        # The "init done" toast would stay drawn on the main screen behind the wizard for its
        # timeout, or not, depending on how long the plan takes: clear it while that screen is active.
        pilot.app.clear_notifications()
        await wait_for(pilot, lambda: not pilot.app.screen.query("Toast"), 10, "the toasts to go")
        await pilot.press("x")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "ResetScopeScreen", 30, "the wizard")
        await pilot.click("#next")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, ResetConfirmScreen), 60, "the reset plan")
        pilot.app.clear_notifications()  # toasts time out: not part of what is compared
        await pilot.pause(0.3)

    assert snap_compare(fresh_app, terminal_size=size, run_before=run_before)
