"""The async facade the shells and applications use: plans, events, merge, revision, start-up."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from migctl.core.api import Migctl, run_migrations_on_startup
from migctl.core.config import load_environment
from migctl.core.errors import Refused, UsageError
from migctl.core.events import Event, StepFinished, StepStarted
from tests.support import make_project, pg_scalar, run_cli, write_config


def _api(cfg: Path, events: list[Event] | None = None) -> Migctl:
    sink = events.append if events is not None else (lambda e: None)
    return Migctl.open(environment=load_environment(cfg, environ={}), sink=sink)


async def test_plan_then_execute_streams_step_events(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    events: list[Event] = []
    async with _api(cfg, events) as api:
        plan = await api.plan_upgrade("heads")
        assert [s.revision for s in plan.steps] == ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]
        assert plan.after == ("ccc333ccc333",) and plan.current == ()
        assert "CREATE TABLE accounts" in plan.steps[0].sql and "CREATE TABLE orders" in plan.steps[1].sql
        result = await api.execute(plan)
        await asyncio.sleep(0)  # events are delivered through the loop
    assert result.after == ("ccc333ccc333",)
    kinds = [(type(e).__name__, e.revision) for e in events if isinstance(e, StepStarted | StepFinished)]
    assert kinds == [("StepStarted", "aaa111aaa111"), ("StepFinished", "aaa111aaa111"),
                     ("StepStarted", "bbb222bbb222"), ("StepFinished", "bbb222bbb222"),
                     ("StepStarted", "ccc333ccc333"), ("StepFinished", "ccc333ccc333")]
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"

    async with _api(cfg) as api:
        down = await api.plan_downgrade("base")
        assert [s.revision for s in down.steps] == ["ccc333ccc333", "bbb222bbb222", "aaa111aaa111"]
        assert any("DROP TABLE orders" in d for d in down.destructive)
        assert any("DROP COLUMN note" in d for d in down.destructive)


async def test_strict_execute_refuses_a_stale_plan(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    async with _api(cfg) as api:
        plan = await api.plan_upgrade("heads")
        assert run_cli("--config", str(cfg), "upgrade", "+1", "--yes", cwd=tmp_path).code == 0
        with pytest.raises(Refused, match="moved from base to aaa111aaa111"):
            await api.execute(plan, strict=True)
        assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "aaa111aaa111"
        result = await api.execute(plan, strict=False)
        assert [r for r, _, _ in result.applied] == ["bbb222bbb222", "ccc333ccc333"]


async def test_targets(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "branches"))
    async with _api(cfg) as api:
        assert len((await api.plan_upgrade("+2")).steps) == 2
        assert [s.revision for s in (await api.plan_upgrade("a1a1")).steps] == [
            "b0b0b0b0b0b0", "b1b1b1b1b1b1", "a1a1a1a1a1a1"]
        side = await api.plan_upgrade("side@head")
        assert side.steps[-1].revision == "f1f1f1f1f1f1"
        assert set((await api.plan_upgrade("heads")).after) == {"e1e1e1e1e1e1", "f1f1f1f1f1f1"}
        with pytest.raises(UsageError, match="Multiple head revisions"):
            await api.plan_upgrade("head")
        with pytest.raises(UsageError):
            await api.plan_upgrade("nosuch@head")


async def test_merge_and_revision_create_files(tmp_path: Path, sqlite_url: str) -> None:
    ini = make_project(tmp_path, "branches")
    cfg = write_config(tmp_path, sqlite_url, ini=ini)
    async with _api(cfg) as api:
        merged = await api.merge(["heads"], "join side")
        graph = await api.history()
        assert graph.heads == (merged,)
        assert set(graph.by_id[merged].down_revisions) == {"e1e1e1e1e1e1", "f1f1f1f1f1f1"}
        paths = await api.revision("add widgets")
        assert len(paths) == 1 and Path(paths[0]).is_file()
        graph = await api.history()
        assert graph.by_id[graph.heads[0]].message == "add widgets"
        assert graph.by_id[graph.heads[0]].down_revisions == (merged,)


def test_run_migrations_on_startup(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    first = run_migrations_on_startup(config_file=str(cfg))
    assert len(first.applied) == 3
    second = run_migrations_on_startup(config_file=str(cfg))
    assert second.nothing_to_do and second.after == ("ccc333ccc333",)
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit") == 1


@pytest.mark.server
def test_embedded_commands(tmp_path: Path) -> None:
    from tests.support import clean_env, reference_project

    reference_project(tmp_path)
    env = clean_env(MIGCTL_STATE_DIR=str(tmp_path / "state"))
    assert "stopped" in run_cli("embedded", "status", cwd=tmp_path, env=env).out
    try:
        started = run_cli("embedded", "start", cwd=tmp_path, env=env)
        assert started.code == 0 and "embedded PostgreSQL 18" in started.out, started.text
        assert "embedded Milvus Lite running: http://127.0.0.1:" in started.out, started.text
        status = json.loads(run_cli("embedded", "status", "--json", cwd=tmp_path, env=env).out)
        assert status["running"] and status["version"].startswith("18")
        assert status["milvus_lite"]["running"] and status["milvus_lite"]["data_dir"].endswith("milvus.db")
        assert (tmp_path / "state" / "pg" / "data" / "PG_VERSION").read_text().strip() == "18"
        up = run_cli("upgrade", "--yes", cwd=tmp_path, env=env)
        assert up.code == 0, up.text
        st = json.loads(run_cli("status", "--json", cwd=tmp_path, env=env).out)
        assert st["environment"] == "embedded" and st["embedded"] and st["relational"]["pending"] == 0
        # the vector side reaches Milvus Lite through its server process (which holds the data
        # directory's lock, so opening it by path would fail)
        assert st["vector"]["store"] == "milvus" and st["vector"]["collections"] == []
    finally:
        assert run_cli("embedded", "stop", cwd=tmp_path, env=env).out.split() == [
            "PostgreSQL", "stopped", "Milvus", "Lite", "stopped"]
    assert json.loads(run_cli("embedded", "status", "--json", cwd=tmp_path, env=env).out)["running"] is False
