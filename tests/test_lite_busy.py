"""Milvus Lite by path admits one process: while a migration holds it, ``status`` says who is
busy instead of failing (issue 13, point 14, the read side). It used to exit 1 with
``cannot open Milvus Lite ... (is another process using it?)``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import pg_scalar, reap, run_cli, spawn_lock_holder
from tests.tui_support import console_config, make_app, ready, screen_text, wait_for
from tests.vector_support import write_vector_config


def test_status_during_a_migration_shows_the_vector_side_busy(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    lite = tmp_path / "milvus.db"
    cfg = write_vector_config(tmp_path, url, "milvus", uri=str(lite))
    assert run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path).code == 0
    holder = spawn_lock_holder(url, 120, operation="migrate", lite_path=lite)
    try:
        text = run_cli("--config", str(cfg), "status", cwd=tmp_path)
        assert text.code == 0, text.text
        busy = [ln for ln in text.out.splitlines() if ln.startswith("vector: busy — ")]
        assert len(busy) == 1 and f"(pid {holder.pid}) running migrate" in busy[0], text.out
        assert "current:     f07c3a5e9b18" in text.out and "lock:        held by" in text.out, text.out
        assert text.err == "", text.err

        as_json = run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path)
        assert as_json.code == 0, as_json.text
        status = json.loads(as_json.out)
        assert f"(pid {holder.pid}) running migrate" in status["vector"]["busy"], status["vector"]
        assert status["vector"]["holder"]["pid"] == holder.pid
        assert status["relational"]["current"] == ["f07c3a5e9b18"] and status["lock"]["operation"] == "migrate"

        vector = run_cli("--config", str(cfg), "vector", "status", cwd=tmp_path)
        assert vector.code == 0 and "vector: busy — " in vector.out, vector.text
        # A read neither waits for the migration nor leaves a refusal in the audit.
        assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE outcome = 'refused'") == 0
    finally:
        reap([holder])
    after = run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path)
    assert after.code == 0, after.text
    vector = json.loads(after.out)["vector"]
    assert "busy" not in vector and vector["current"] == "20250201_001"


@pytest.mark.slow
async def test_console_shows_the_vector_side_busy_then_serves_lite(pg_db: tuple[str, str], tmp_path: Path) -> None:
    from migctl.core.vector.lite_server import LiteServer

    url, _ = pg_db
    cfg = console_config(tmp_path, url, store="milvus")  # Milvus Lite in <state_dir>/milvus.db
    lite = LiteServer(tmp_path / "state" / "milvus.db")
    assert run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path).code == 0
    holder = spawn_lock_holder(url, 120, operation="migrate", lite_path=lite.data_dir)
    try:
        app = make_app(cfg)
        async with app.run_test(size=(160, 48)) as pilot:
            await ready(pilot)
            await pilot.press("2")
            await wait_for(pilot, lambda: "vector: busy — " in screen_text(app), 60, "the busy note")
            assert f"(pid {holder.pid}) running migrate" in screen_text(app), screen_text(app)
            header = str(app.query_one("#header").render())
            assert "vector: busy" in header and "milvus" in header.splitlines()[0], header
            assert lite.running_uri() is None  # nothing started on a directory another process holds
            reap([holder])
            await pilot.press("r")  # the migration ended: the next refresh serves Lite and reads it
            await wait_for(pilot, lambda: "4 vector migrations · milvus" in screen_text(app), 90, "the vector pane")
            assert "current 20250201_001" in screen_text(app)
            assert lite.running_uri() is not None
    finally:
        reap([holder])
        lite.stop()
