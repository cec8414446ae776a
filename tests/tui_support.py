"""Helpers for console tests: an environment on a real database, and waiting on the app."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support import REPO, unique_name


def console_config(tmp: Path, url: str, *, name: str = "test", protected: bool = False,
                   alembic_ini: Path | None = None, store: str = "pgvector",
                   copy_vector_migrations: bool = True) -> Path:
    """A migctl.yaml for one environment; vector migrations copied so the form can write there."""
    lines = [f"default_environment: {name}", f"state_dir: {tmp / 'state'}", "environments:", f"  {name}:",
             f"    database_url: \"{url}\""]
    if protected:
        lines.append("    protected: true")
    if alembic_ini is not None:
        lines += ["    alembic:", f"      ini: {alembic_ini}"]
    else:  # the bundled reference project, named as a user's config would name it
        lines += ["    alembic:", f"      script_location: {REPO / 'alembic'}", f"    seed_sql: {REPO / 'sql' / 'common'}"]
    lines += ["    vector:", f"      store: {store}", f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}"]
    if copy_vector_migrations:
        versions = tmp / "vector_versions"
        if not versions.exists():
            shutil.copytree(REPO / "vector_migrations" / "versions", versions)
        lines.append(f"      migrations_dir: {versions}")
    else:
        lines.append(f"      migrations_dir: {REPO / 'vector_migrations' / 'versions'}")
    path = tmp / "migctl.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_app(config: Path, **kwargs: Any):
    from migctl.core.config import load_environment
    from migctl.tui.console.app import MigctlApp

    return MigctlApp(load_environment(config_file=str(config)), **kwargs)


async def wait_for(pilot: Any, condition: Callable[[], bool], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or condition}")
        await pilot.pause(0.05)


async def ready(pilot: Any) -> None:
    await wait_for(pilot, lambda: pilot.app.ready, 90, "the console's first refresh")
    await pilot.pause(0.1)


async def idle(pilot: Any, timeout: float = 120) -> None:
    """Until no operation runs and no operation worker is left."""
    app = pilot.app
    await wait_for(pilot, lambda: not app.running and not [w for w in app.workers if w.group == "op"
                                                            and not w.is_finished], timeout, "the operation to end")
    await pilot.pause(0.1)


def screen_text(app: Any) -> str:
    """Everything visible on the current screen as plain text."""
    from textual.widgets import Static

    parts = []
    for widget in app.screen.query(Static):
        try:
            parts.append(str(widget.render()))
        except Exception:  # widgets without a plain render
            continue
    return "\n".join(parts)


async def click_again(pilot: Any, selector: str) -> None:
    """Click a button pressed moments ago: Textual ignores clicks on a button during its 0.2 s
    press animation (class ``-active``), which made a quick second click vanish."""
    button = pilot.app.screen.query_one(selector)
    await wait_for(pilot, lambda: not button.has_class("-active"), 5, f"{selector}'s press animation to end")
    await pilot.click(selector)


# -- the real console in tmux ---------------------------------------------------------------
class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def __call__(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True,
                              check=check).stdout

    def capture(self, escapes: bool = False) -> str:
        return self("capture-pane", "-p", *(["-e"] if escapes else []), "-t", "console", check=False)

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.capture()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} never appeared on the screen; last screen:\n{screen}")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self("send-keys", "-t", "console", key)
            time.sleep(0.15)


def tmux_session() -> Iterator[Tmux]:
    """A tmux server of its own (a fixture in the tests that drive the real console)."""
    assert shutil.which("tmux"), "tmux is needed for the end-to-end console test (apt install tmux)"
    t = Tmux(unique_name("migctl"))
    yield t
    t("kill-server", check=False)
