"""The console at the edges of a server terminal: the header's state line at every width,
``--skip-vector-db``, the too-small screen, the Templates pane and the Activity log at 80×24.

Screens are read from the compositor: what a terminal of that size would show, cut and all.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import TabbedContent

from migctl.core.events import LockAcquired, LockWaiting, Notice
from migctl.tui.console.messages import CoreEvent
from migctl.tui.console.screens.too_small import TooSmallScreen
from migctl.tui.console.widgets.activity import event_text
from migctl.tui.console.widgets.header import StatusHeader, middle_ellipsis
from migctl.tui.formatting import at_risk_lines, plural
from tests.support import reap, spawn_lock_holder
from tests.tui_support import console_config, idle, make_app, ready, wait_for

URL_LENGTH = 70


def screen_lines(app: Any) -> list[str]:
    """The current screen as the terminal shows it, one string per row."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def header_lines(app: Any) -> list[str]:
    """The header's two rows on the main screen, also while a dialog is in front of it."""
    return [strip.text for strip in app.screen_stack[0]._compositor.render_strips()[:2]]


def production_url(port: int) -> str:
    """A realistic 70-character URL to a database nobody listens on."""
    base = f"postgresql://migctl_app:secret@127.0.0.1:{port}/"
    url = base + ("orders_production_eu_west_1_primary" * 2)[: URL_LENGTH - len(base)]
    assert len(url) == URL_LENGTH
    return url


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def padded(url: str) -> str:
    """A live database's URL made as long as a production one (application_name is harmless)."""
    extra = URL_LENGTH - len(url) - len("?application_name=")
    return url + "?application_name=" + "m" * max(extra, 8)


def test_middle_ellipsis_keeps_both_ends() -> None:
    url = "postgresql://app:***@db-primary.prod.example.internal:5432/orders_production"
    short = middle_ellipsis(url, 40)
    assert len(short) == 40 and short.startswith("postgresql://") and short.endswith("5432/orders_production")
    assert "…" in short and middle_ellipsis(url, 200) == url


def test_state_line_keeps_every_label_with_long_values() -> None:
    header = StatusHeader()
    header.relational_state, header.vector_state = "connected", "connected"
    header.lock_holder = "operator@build-agent-07.ci.example.internal (pid 81234) running upgrade"
    header.running = "upgrade (3/10)"
    for width in (60, 80):
        line = header.state_line(width).plain
        assert len(line) <= width, line
        for label in ("db: ", "vector: ", "lock held by op", "running: up"):
            assert label in line, (width, line)
        assert "db: ok · vector: ok" in line, line  # "connected" gives way after the lock holder


def test_plural_and_event_words() -> None:
    assert plural(1, "row") == "1 row" and plural(2, "row") == "2 rows" and plural(1000, "row") == "1,000 rows"
    assert at_risk_lines([("tasks", "drop", 1)])[-1] == "  drop tasks  (1 row now)"
    assert event_text(LockAcquired(operation="reset")) == "migration lock taken for reset"
    assert event_text(LockWaiting(holder="ann@h", timeout_s=5)).startswith("waiting for the migration lock held by ann@h")
    assert event_text(Notice(text="nothing to do")) == "nothing to do"


@pytest.mark.parametrize("width", [60, 80, 100, 160])
async def test_header_keeps_its_state_line(width: int, tmp_path: Path) -> None:
    url = production_url(closed_port())
    app = make_app(console_config(tmp_path, url, name="production", protected=True))
    async with app.run_test(size=(width, 24)) as pilot:
        header = app.query_one(StatusHeader)
        await wait_for(pilot, lambda: header.relational_state != "connecting", 60, "the database to answer")
        await pilot.pause(0.1)
        identity, state = header_lines(app)
        assert "production" in identity and "PROTECTED" in identity, identity
        assert "secret" not in identity, identity
        masked = url.replace(":secret@", ":***@")
        if width < 120:  # shortened in its middle: both ends stay
            assert "…" in identity and "postgres" in identity and masked[-8:] in identity, identity
        else:  # room for all of it
            assert masked in identity, identity
        print(f"\n{width}: {identity.rstrip()}\n{width}: {state.rstrip()}")
        for label in ("db: ", "vector: ", "lock"):
            assert label in state, (width, state)
        assert "RLock" not in identity + state


async def test_header_on_a_live_database_with_the_lock_held(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _admin = pg_db
    holder = spawn_lock_holder(app_url, seconds=60, operation="upgrade")
    try:
        app = make_app(console_config(tmp_path, padded(app_url), name="production", protected=True))
        async with app.run_test(size=(60, 24)) as pilot:
            # The first frames, before anything answered, must not show Textual's own lock.
            assert "RLock" not in "".join(header_lines(app))
            await ready(pilot)
            identity, state = header_lines(app)
            assert "PROTECTED" in identity and "…" in identity, identity
            # At 60 columns "connected" shortens to "ok" so that the holder shows whole.
            assert state.startswith((" db: connected · vector: ", " db: ok · vector: ok")), state
            assert "lock held by" in state and "running upgrade" in state and "…" not in state, state
            assert "RLock" not in identity + state
            await pilot.press("5")
            await pilot.pause(0.1)
            # The log shows words, never a dataclass repr.
            app.post_message(CoreEvent(LockAcquired(operation="reset")))
            await wait_for(pilot, lambda: any("migration lock taken for reset" in line for line in screen_lines(app)),
                           10, "the event in the activity log")
            assert not any("LockAcquired(" in line for line in screen_lines(app))
            assert "lock held by this console (reset)" in header_lines(app)[1], header_lines(app)
    finally:
        reap([holder])


async def test_skip_vector_db_says_vector_off(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _admin = pg_db
    app = make_app(console_config(tmp_path, app_url), vector=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        assert "vector: off" in header_lines(app)[1]
        assert "connecting" not in header_lines(app)[1]


async def test_too_small_terminal_shows_a_message_until_it_grows(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _admin = pg_db
    app = make_app(console_config(tmp_path, app_url), vector=False)
    async with app.run_test(size=(50, 15)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen), 10, "the too-small screen")
        await pilot.pause(0.1)
        text = "\n".join(screen_lines(app))
        assert "terminal too small (need 60x20, have 50x15)" in text, text
        await pilot.press("u")  # nothing acts behind the message
        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(80, 24)
        await wait_for(pilot, lambda: not isinstance(app.screen, TooSmallScreen), 10, "the message to go")
        await ready(pilot)
        assert "terminal too small" not in "\n".join(screen_lines(app))
        assert app.query_one(TabbedContent).active == "history"
        await pilot.resize_terminal(70, 18)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen), 10, "the message again")
        await pilot.pause(0.1)
        assert "have 70x18" in "\n".join(screen_lines(app))
        # A dialog opened over the message (an error, say), closed after the terminal grew.
        app.action_help()
        await pilot.pause(0.2)
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, TooSmallScreen), 10, "the message to go")
        await pilot.resize_terminal(50, 15)
        await wait_for(pilot, lambda: isinstance(app.screen, TooSmallScreen), 10, "the message again")
        await pilot.press("q")
        await pilot.pause(0.2)
    assert app.return_code == 0


async def test_templates_pane_fills_the_screen_at_80x24(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _admin = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("3")
        await wait_for(pilot, lambda: app.query_one(TabbedContent).active == "templates", 5, "pane 3")
        await pilot.pause(0.2)
        lines = screen_lines(app)
        text = "\n".join(lines)
        assert "3 templates in" in text, text
        assert "Milvus" in text, text
        # More than one line of the rendered collection: the schema's fields are visible.
        detail = app.query_one("#templates-detail").region
        assert detail.height > 3, detail
        rendered_rows = [line for line in lines[detail.y:detail.bottom] if line.strip()]
        assert len(rendered_rows) > 3, text
        assert app.query_one("TabPane#templates").region.height > 10


async def test_80x24_help_history_vector_and_activity_are_not_cut(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, _admin = pg_db
    app = make_app(console_config(tmp_path, app_url))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        await pilot.pause(0.2)
        summary = next(line for line in screen_lines(app) if "vector migrations" in line)
        assert summary.startswith(" pending 4 · current base · 4 vector migrations"), summary

        await pilot.press("f1")
        await pilot.pause(0.3)
        lines = screen_lines(app)
        text = "\n".join(lines)
        assert "Alembic history: revision graph" in text, text
        # A description wrapped on the narrow screen stays in its column, under the text.
        first = next(line for line in lines if "Alembic history: revision graph" in line)
        column = first.index("Alembic history")
        wrapped = lines[lines.index(first) + 1]
        assert wrapped[:column].strip(" █│") == "" and wrapped[column:].strip(" █│"), (first, wrapped)
        assert sum("│" in line for line in lines) > 15, text  # the help uses the terminal's height
        await pilot.press("escape")
        await pilot.pause(0.2)

        await pilot.press("1", "u")
        await wait_for(pilot, lambda: type(app.screen).__name__ == "ConfirmScreen", 60, "the confirmation")
        await pilot.press("tab", "enter")
        await idle(pilot)
        lines = screen_lines(app)
        head = next(line for line in lines if "f07c3a5e9b18  " in line and "add log retention" in line)
        assert "current head" in head and "…" not in head, head
        await pilot.press("5")
        await pilot.pause(0.3)
        text = "\n".join(screen_lines(app))
        assert "upgrade done: 10 step(s)" in text
        assert not app.query_one("#activity-progress").display and "0%" not in text and "100%" not in text, text


def test_wide_characters_are_cut_by_cells_and_never_hang() -> None:
    """A lock holder named in CJK (USER and hostname): cut by cells, and the fitting ends
    (cutting by characters made a wide value longer each round, and the header hung)."""
    from rich.cells import cell_len

    from migctl.tui.console.widgets.header import end_ellipsis, fit_values, middle_ellipsis

    assert end_ellipsis("日本語", 5) == "日本…" and cell_len(end_ellipsis("日本語", 4)) <= 4
    url = "postgresql://山田@ホスト/データベース名前"
    assert cell_len(middle_ellipsis(url, 20)) <= 20 and "…" in middle_ellipsis(url, 20)
    parts = fit_values([(" · lock held by ", "山田太郎@サーバー running upgrade"), ("db: ", "connected")],
                       40, first=(0,))
    assert sum(cell_len(a) + cell_len(b) for a, b in parts) <= 40
    assert parts[0][0] == " · lock held by " and parts[1] == ("db: ", "connected")
