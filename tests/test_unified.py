"""init / migrate / reset / restore on the embedded default (PostgreSQL 18 + Milvus Lite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import clean_env, pg_scalar, reference_project, run_cli
from tests.vector_support import VectorTarget, fill, run_with_store


@pytest.fixture()
def embedded_home(tmp_path: Path):
    reference_project(tmp_path)
    env = clean_env(MIGCTL_STATE_DIR=str(tmp_path / "state"))
    yield tmp_path, env
    run_cli("embedded", "stop", cwd=tmp_path, env=env)


def _status(home: Path, env: dict[str, str]) -> dict:
    result = run_cli("status", "--json", cwd=home, env=env)
    assert result.code == 0, result.text
    return json.loads(result.out)


@pytest.mark.slow
def test_init_twice_then_reset_and_restore(embedded_home: tuple[Path, dict[str, str]]) -> None:
    home, env = embedded_home
    first = run_cli("init", "--yes", "--json", cwd=home, env=env)
    assert first.code == 0, first.text
    summary = json.loads(first.out)
    assert len(summary["relational_applied"]) == 10 and len(summary["vector_applied"]) == 4
    assert summary["seeded"] == ["001_default_workspace.sql"]
    status = _status(home, env)
    assert status["relational"]["pending"] == 0 and status["vector"]["pending"] == []
    assert status["vector"]["store"] == "milvus" and status["vector"]["embedded"]
    assert status["vector"]["live_drift"] == []
    assert (home / "state" / "milvus.db").exists()

    again = json.loads(run_cli("init", "--yes", "--json", cwd=home, env=env).out)
    assert again["relational_applied"] == [] and again["vector_applied"] == []

    url = status["relational"]["url"]
    target = VectorTarget("lite", home / "none.yaml", url, "milvus", str(home / "state" / "milvus.db"))
    fill(target, "document", 1500, extra={"source": "test"})
    assert pg_scalar(url, "SELECT count(*) FROM workspaces") == 1

    refused = run_cli("reset", cwd=home, env=env)
    assert refused.code == 3 and "document" in refused.out and "1500 rows" in refused.out
    assert _status(home, env)["relational"]["pending"] == 0

    reset = run_cli("reset", "--confirm-reset", "--yes", "--json", cwd=home, env=env)
    assert reset.code == 0, reset.text
    backup = Path(json.loads(reset.out)["backup"])
    assert (backup / "relational.dump").is_file() and (backup / "collection-document.jsonl").is_file()
    status = _status(home, env)
    assert status["relational"]["current"] == [] and status["vector"]["current"] is None
    assert status["vector"]["collections"] == []

    restored = run_cli("restore", str(backup), "--yes", "--json", cwd=home, env=env)
    assert restored.code == 0, restored.text
    assert json.loads(restored.out)["collections"] == {"document": 1500, "image": 0}
    status = _status(home, env)
    assert status["relational"]["pending"] == 0 and status["vector"]["pending"] == []
    assert pg_scalar(url, "SELECT count(*) FROM workspaces") == 1
    assert run_with_store(target, lambda store: store.count("document")) == 1500
    actions = [r["action"] for r in json.loads(run_cli("audit", "--json", cwd=home, env=env).out)]
    assert actions[:3] == ["restore", "reset", "reset"]

    recreated = run_cli("init", "--force-recreate", "--yes", "--json", cwd=home, env=env)
    assert recreated.code == 0, recreated.text
    assert len(json.loads(recreated.out)["vector_applied"]) == 4
    assert run_with_store(target, lambda store: store.count("document")) == 0
    assert len(list((home / "state" / "backups").iterdir())) == 2


@pytest.mark.slow
def test_seed_system_python_names(tmp_path: Path, pg_db: tuple[str, str]) -> None:
    """``VectorDBMigrator`` and ``DatabaseInitializer`` as the replaced system's callers use them."""
    import shutil

    from migctl.core.compat import DatabaseInitializer, VectorDBMigrator
    from migctl.core.vector.loader import DEFAULT_DIR
    from tests.vector_support import write_vector_config

    url, admin = pg_db
    versions = tmp_path / "versions"
    shutil.copytree(DEFAULT_DIR, versions)
    cfg = write_vector_config(tmp_path, url, "pgvector", migrations_dir=versions)
    result = DatabaseInitializer(config_file=str(cfg)).initialize_all(vector_store_type="pgvector")
    assert len(result["relational_applied"]) == 10 and len(result["vector_applied"]) == 4
    migrator = VectorDBMigrator("pgvector", config_file=str(cfg))
    path = Path(migrator.create_migration("add chunks", ["chunk"]))
    assert path.parent == versions and path.is_file()
    assert migrator.apply_migration() == [path.name[:12]]
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'vectors' "
                            "AND table_name = 'chunk'") == 1
    assert migrator.get_status()["pending"] == []
