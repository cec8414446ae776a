"""An applied vector migration file edited afterwards refuses every upgrade path until
``vector repair``, as Flyway's validate-on-migrate does (issue 13, point 16): ``migrate`` used
to say "nothing to do" (exit 0) while ``vector upgrade`` exited 3."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migctl.core.api import run_migrations_on_startup
from migctl.core.compat import DatabaseInitializer, VectorDBMigrator
from migctl.core.errors import Refused
from migctl.core.vector.loader import DEFAULT_DIR
from tests.support import pg_scalar, run_cli
from tests.vector_support import write_vector_config

FIRST = "20250108_001_create_document_and_image.yaml"
REFUSAL = ("vector migration 20250108_001 was edited after it was applied: "
           "restore it or run 'migctl vector repair 20250108_001'")
STATE = ("SELECT (SELECT version_num FROM alembic_version) || ' ' || "
         "(SELECT string_agg(version || ':' || status || ':' || operations_hash, ',' ORDER BY version) "
         "FROM vector_db_migrations)")


@pytest.fixture()
def edited(pg_db: tuple[str, str], tmp_path: Path) -> tuple[Path, str]:
    """Both sides at latest on PostgreSQL + Milvus Lite, then the first vector file edited."""
    url, admin = pg_db
    versions = tmp_path / "versions"
    shutil.copytree(DEFAULT_DIR, versions)
    cfg = write_vector_config(tmp_path, url, "milvus", uri=str(tmp_path / "milvus.db"), migrations_dir=versions)
    done = run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path)
    assert done.code == 0, done.text
    first = versions / FIRST
    first.write_text(first.read_text().replace("template: image", "template: chunk"))
    return cfg, admin


def _cli(cfg: Path, *args: str):
    return run_cli("--config", str(cfg), *args, cwd=cfg.parent)


def test_every_cli_upgrade_path_refuses_until_repair(edited: tuple[Path, str]) -> None:
    cfg, admin = edited
    before = pg_scalar(admin, STATE)
    # Nothing to apply on either side: still refused.
    for args in (("migrate", "--yes"), ("init", "--yes"), ("vector", "upgrade", "--yes"),
                 ("vector", "upgrade", "--dry-run"), ("migrate", "--dry-run")):
        result = _cli(cfg, *args)
        assert result.code == 3, (args, result.text)
        lines = [ln for ln in result.err.splitlines() if ln.startswith("migctl: ")]
        assert len(lines) == 1 and lines[0].endswith(REFUSAL), (args, result.err)
        assert pg_scalar(admin, STATE) == before, args
    # Something to apply on the relational side: refused before any of it runs.
    assert _cli(cfg, "downgrade", "-1", "--yes").code == 0
    behind = pg_scalar(admin, STATE)
    result = _cli(cfg, "migrate", "--yes")
    assert result.code == 3 and REFUSAL in result.err, result.text
    assert pg_scalar(admin, STATE) == behind
    # --skip-vector-db leaves the vector side (and its files) alone.
    skipped = _cli(cfg, "migrate", "--skip-vector-db", "--yes")
    assert skipped.code == 0, skipped.text
    assert pg_scalar(admin, STATE) == before
    repaired = _cli(cfg, "vector", "repair", "20250108_001", "--yes")
    assert repaired.code == 0, repaired.text
    again = _cli(cfg, "migrate", "--yes")
    assert again.code == 0 and "nothing to do" in again.out, again.text


def test_python_api_paths_refuse(edited: tuple[Path, str]) -> None:
    cfg, admin = edited
    before = pg_scalar(admin, STATE)
    with pytest.raises(Refused, match="20250108_001 was edited after it was applied"):
        run_migrations_on_startup(config_file=str(cfg))
    with pytest.raises(Refused, match="20250108_001 was edited after it was applied"):
        DatabaseInitializer(config_file=str(cfg)).initialize_all()
    with pytest.raises(Refused, match="20250108_001 was edited after it was applied"):
        VectorDBMigrator("milvus", config_file=str(cfg)).apply_migration()
    assert pg_scalar(admin, STATE) == before
