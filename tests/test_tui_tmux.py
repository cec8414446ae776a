"""End to end: the real ``migctl tui`` in tmux (100x30), driven by keys, read by capture-pane.

This is the operator's SSH session: no mouse, a terminal multiplexer in between, and once
with ``NO_COLOR=1``, where the screen must carry no colour at all.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.support import MIGCTL, clean_env, unique_name
from tests.tui_support import console_config

pytestmark = pytest.mark.slow

HEAD = "f07c3a5e9b18"
# SGR parameters that set a colour: 30-37/39, 40-47/49, 90-97, 100-107, 38;..., 48;...
_COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")


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


@pytest.fixture()
def tmux() -> Iterator[Tmux]:
    assert shutil.which("tmux"), "tmux is needed for the end-to-end console test (apt install tmux)"
    t = Tmux(unique_name("migctl"))
    yield t
    t("kill-server", check=False)


def _version(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0]:
            return set()
        return {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}


@pytest.mark.parametrize("no_color", [False, True], ids=["colour", "NO_COLOR"])
def test_upgrade_with_confirmation_in_tmux(pg_db: tuple[str, str], tmp_path: Path, tmux: Tmux,
                                           no_color: bool) -> None:
    app_url, admin_url = pg_db
    config = console_config(tmp_path, app_url)
    env = clean_env(TERM="xterm-256color", COLORTERM="truecolor")
    if no_color:
        env["NO_COLOR"] = "1"
    else:
        env.pop("NO_COLOR", None)
    command = f"{MIGCTL} tui --no-mouse --config {config}; echo migctl-exited-$?; sleep 30"
    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "console", "-c", str(tmp_path),
         *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], command)
    screen = tmux.wait_for("current base · heads f07c3a5e9b18 · pending 10")
    screen = tmux.wait_for("lock: free")
    assert "1 Alembic" in screen and "f07c3a5e9b18" in screen and "app:***@" in screen
    assert "u Upgrade" in screen  # the footer names the keys
    assert _version(admin_url) == set()

    tmux.keys("u")
    screen = tmux.wait_for("Plan: upgrade to heads")
    assert "Cancel" in screen and "Upgrade" in screen
    tmux.keys("Tab", "Enter")
    screen = tmux.wait_for("pending 0", 120)
    assert f"current {HEAD}" in screen
    assert _version(admin_url) == {HEAD}

    coloured = _COLOUR_SGR.findall(tmux.capture(escapes=True))
    if no_color:
        assert coloured == [], coloured[:5]
    else:
        assert coloured, "the coloured run drew no colour at all"

    tmux.keys("q")
    tmux.wait_for("migctl-exited-0", 20)
