"""Empty and blank targets are usage errors on both sides, never "latest" (issue 13, point 15):
``vector stamp ''`` once recorded every vector migration as applied and created nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from migctl.core.api import Migctl
from migctl.core.compat import VectorDBMigrator
from migctl.core.config import load_environment
from migctl.core.errors import UsageError
from tests.support import pg_scalar, run_cli
from tests.vector_support import write_vector_config

TRACKED = "SELECT count(*) FROM vector_db_migrations"
FIRST = "3f9a1c2b7d40"  # the reference project's first revision


@pytest.fixture()
def lite_project(pg_db: tuple[str, str], tmp_path: Path) -> tuple[Path, str]:
    """The reference project on PostgreSQL and Milvus Lite by path, the relational side at its
    first revision (so that upgrade, downgrade and stamp all have somewhere to go)."""
    url, admin = pg_db
    cfg = write_vector_config(tmp_path, url, "milvus", uri=str(tmp_path / "milvus.db"))
    assert run_cli("--config", str(cfg), "upgrade", "+1", "--yes", cwd=tmp_path).code == 0
    return cfg, admin


def _one_line(result) -> str:
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.text, result.text
    return lines[0]


def test_empty_and_blank_targets_exit_2_and_change_nothing(lite_project: tuple[Path, str]) -> None:
    cfg, admin = lite_project
    before = pg_scalar(admin, "SELECT version_num FROM alembic_version")
    assert before == FIRST
    cases = [("vector", "stamp", ""), ("vector", "stamp", " "), ("vector", "upgrade", ""),
             ("vector", "upgrade", "  "), ("vector", "downgrade", ""), ("vector", "downgrade", " "),
             ("vector", "upgrade", " 20250108_001"), ("vector", "stamp", "20250108_001\n"),
             ("stamp", ""), ("stamp", " "), ("upgrade", ""), ("upgrade", " "), ("downgrade", ""),
             ("downgrade", " "), ("downgrade", "\t"), ("upgrade", "", "--sql")]
    for args in cases:
        extra = () if "--sql" in args else ("--yes",)
        result = run_cli("--config", str(cfg), *args, *extra, cwd=cfg.parent)
        assert result.code == 2, (args, result.text)
        line = _one_line(result)
        assert line.startswith("migctl: error: ") and "target" in line, (args, line)
        assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == before, args
        assert pg_scalar(admin, "SELECT to_regclass('public.vector_db_migrations') IS NULL"), args
    status = run_cli("--config", str(cfg), "vector", "status", "--json", cwd=cfg.parent)
    assert status.code == 0, status.text
    vector = json.loads(status.out)
    assert vector["applied"] == [] and vector["collections"] == [] and len(vector["pending"]) == 4
    # The same typo with a real target still works: the check is on the value, not the command.
    done = run_cli("--config", str(cfg), "vector", "stamp", "20250108_001", "--yes", cwd=cfg.parent)
    assert done.code == 0, done.text
    assert pg_scalar(admin, TRACKED) == 1


def test_python_api_refuses_empty_targets(lite_project: tuple[Path, str]) -> None:
    cfg, admin = lite_project

    async def plans() -> None:
        async with Migctl.open(environment=load_environment(cfg, environ={})) as api:
            for action in ("stamp", "upgrade", "downgrade"):
                for target in ("", " ", "\n"):
                    with pytest.raises(UsageError, match="needs a target"):
                        await api.vector.plan(action, target)
            with pytest.raises(UsageError, match="needs a target"):
                await api.plan_stamp("")
            with pytest.raises(UsageError, match="needs a target"):
                await api.plan_upgrade(" ")
            with pytest.raises(UsageError, match="needs a target"):
                await api.plan_downgrade("")
            latest = await api.vector.plan("upgrade", None)  # None (no target given) is still latest
            assert latest.after == "20250201_001" and len(latest.steps) == 4

    asyncio.run(plans())
    with pytest.raises(UsageError, match="needs a target"):
        VectorDBMigrator("milvus", config_file=str(cfg)).apply_migration("")
    assert pg_scalar(admin, "SELECT to_regclass('public.vector_db_migrations') IS NULL")
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == FIRST
