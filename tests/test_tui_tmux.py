"""End to end: the real ``migctl tui`` in tmux (100x30 and 80x24), driven by keys, read by
capture-pane.

This is the operator's SSH session: no mouse, a terminal multiplexer in between, the Linux
console's ``TERM=linux`` (16 colours, no bright backgrounds), and ``NO_COLOR=1``, where the
screen must carry no colour at all and selection shows by reverse video.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import psycopg
import pytest

from tests.support import MIGCTL, clean_env
from tests.tui_support import Tmux, console_config, tmux_session

pytestmark = pytest.mark.slow

HEAD = "f07c3a5e9b18"
# SGR parameters that set a colour: 30-37/39, 40-47/49, 90-97, 100-107, 38;..., 48;...
_COLOUR_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
# Bright backgrounds, which the Linux console does not draw (console_codes(4): 100..107).
_BRIGHT_BACKGROUND_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?10[0-7](?:;[0-9;]*)?m")
_REVERSE_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?7(?:;[0-9;]*)?m")
SIZES = [(100, 30), (80, 24)]
SIZE_IDS = ["100x30", "80x24"]
tmux = pytest.fixture(tmux_session)


def _version(url: str) -> set[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        if not conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()[0]:
            return set()
        return {r[0] for r in conn.execute("SELECT version_num FROM alembic_version")}


def _start(tmux: Tmux, tmp_path: Path, config: Path, size: tuple[int, int], env: dict[str, str]) -> None:
    # tmux sets the pane's TERM to its own default-terminal: the console's is set in the command.
    command = (f"env TERM={env['TERM']} {MIGCTL} tui --no-mouse --config {config}; echo migctl-exited-$?;"
               " sleep 30")
    tmux("new-session", "-d", "-x", str(size[0]), "-y", str(size[1]), "-s", "console", "-c", str(tmp_path),
         *[a for k, v in env.items() for a in ("-e", f"{k}={v}")], command)


# Each colour mode on one size: the four combinations cost CI minutes and found nothing the two
# did not (the snapshot tests cover both sizes in colour).
@pytest.mark.parametrize(("no_color", "size"), [(False, SIZES[0]), (True, SIZES[1])],
                         ids=[f"colour-{SIZE_IDS[0]}", f"NO_COLOR-{SIZE_IDS[1]}"])
def test_upgrade_with_confirmation_in_tmux(pg_db: tuple[str, str], tmp_path: Path, tmux: Tmux,
                                           no_color: bool, size: tuple[int, int]) -> None:
    app_url, admin_url = pg_db
    config = console_config(tmp_path, app_url)
    env = clean_env(TERM="xterm-256color", COLORTERM="truecolor")
    if no_color:
        env["NO_COLOR"] = "1"
    else:
        env.pop("NO_COLOR", None)
    _start(tmux, tmp_path, config, size, env)
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


@pytest.mark.parametrize(("no_color", "size"), [(False, SIZES[0]), (True, SIZES[1])],
                         ids=[f"linux-{SIZE_IDS[0]}", f"linux-NO_COLOR-{SIZE_IDS[1]}"])
def test_operator_session_on_the_linux_console(pg_db: tuple[str, str], tmp_path: Path, tmux: Tmux,
                                               no_color: bool, size: tuple[int, int]) -> None:
    """Pick a revision with the arrows, stamp it through the dialog, switch panes with digits,
    open the environments overview, quit: all from the keyboard, each step read off the screen."""
    app_url, admin_url = pg_db
    config = console_config(tmp_path, app_url)
    env = clean_env(TERM="linux")
    env.pop("COLORTERM", None)
    if no_color:
        env["NO_COLOR"] = "1"
    else:
        env.pop("NO_COLOR", None)
    _start(tmux, tmp_path, config, size, env)
    tmux.wait_for("current base · heads f07c3a5e9b18 · pending 10")
    screen = tmux.wait_for("lock: free")
    assert f"revision  {HEAD}" in screen  # the detail follows the cursor, on the head at first

    # Down works at once: the history table has the focus on start.
    tmux.keys("Down")
    screen = tmux.wait_for("revision  4b6d8e0f2a37", 10)
    escapes = tmux.capture(escapes=True)
    assert not _BRIGHT_BACKGROUND_SGR.findall(escapes), "a bright background the Linux console cannot draw"
    if no_color:
        assert _COLOUR_SGR.findall(escapes) == []
        assert _REVERSE_SGR.search(escapes), "without colour the cursor row must show by reverse video"

    tmux.keys("s")
    screen = tmux.wait_for("Stamp test to 4b6d8e0f2a37")
    assert "Cancel" in screen and "Stamp" in screen
    assert _version(admin_url) == set()  # nothing happens before the confirmation
    tmux.keys("Tab", "Enter")  # Cancel has the focus: Tab to Stamp, Enter
    screen = tmux.wait_for("current 4b6d8e0f2a37", 60)
    assert "Stamp test to" not in screen  # the dialog is gone
    assert _version(admin_url) == {"4b6d8e0f2a37"}

    # Digits switch panes right after the dialog closed, wherever the focus is.
    for key, shown in (("2", "vector migrations ·"), ("3", "templates in"), ("4", "collections in"),
                       ("5", "outcome"), ("1", "revisions · current 4b6d8e0f2a37")):
        tmux.keys(key)
        screen = tmux.wait_for(shown, 10)
        if key == "5":  # the audit history has the stamp
            audit = screen.split("outcome", 1)[1]
            assert re.search(r"\bstamp\b", audit), audit

    if importlib.util.find_spec("migctl.tui.console.screens.environments") is not None:
        tmux.keys("e")
        tmux.wait_for("nvironments", 30)  # the overview's title, while it reads
        screen = tmux.wait_for("1 read", 30)  # its summary once the environment answered
        assert "test" in screen and "4b6d8e0f2a37" in screen
        tmux.keys("Escape")
        tmux.wait_for("revisions · current 4b6d8e0f2a37", 10)

    tmux.keys("q")
    tmux.wait_for("migctl-exited-0", 20)
