"""A vector store that fails: one clear line, exit 1, no token printed, nothing changed.

Bad vector input (migration files, templates, targets, URIs) is in the table of
tests/test_bad_input.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migctl.core.vector.loader import DEFAULT_DIR
from tests.support import clean_env, pg_scalar, run_cli
from tests.vector_support import write_vector_config


@pytest.fixture()
def setup(pg_db: tuple[str, str], tmp_path: Path):
    url, admin = pg_db
    versions = tmp_path / "versions"
    shutil.copytree(DEFAULT_DIR, versions)
    cfg = write_vector_config(tmp_path, url, "pgvector", migrations_dir=versions)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    return cfg, versions, admin


def _unchanged(admin: str) -> None:
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'vectors'") == 0
    if pg_scalar(admin, "SELECT to_regclass('public.vector_db_migrations') IS NOT NULL"):
        assert pg_scalar(admin, "SELECT count(*) FROM vector_db_migrations") == 0


def _one_line(result) -> str:
    lines = [ln for ln in result.err.splitlines() if ln.startswith("migctl:")]
    assert len(lines) == 1 and "Traceback" not in result.text, result.text
    return lines[0]


def test_unreachable_milvus(setup) -> None:
    cfg, _, admin = setup
    text = cfg.read_text().replace("store: pgvector", 'store: milvus\n      uri: "http://127.0.0.1:1"\n'
                                                      '      token: "root:Hidden-Token-9"')
    cfg.write_text(text)
    result = run_cli("--config", str(cfg), "vector", "upgrade", "--yes", cwd=cfg.parent,
                     env=clean_env(), timeout=60)
    assert result.code == 1, result.text
    assert "127.0.0.1:1" in _one_line(result) and "Hidden-Token-9" not in result.text
    _unchanged(admin)


def test_wrong_milvus_token(setup, milvus_235_server) -> None:
    cfg, _, admin = setup
    text = cfg.read_text().replace("store: pgvector", f'store: milvus\n      uri: "{milvus_235_server.uri}"\n'
                                                      '      token: "root:Wrong-Token-77"')
    cfg.write_text(text)
    result = run_cli("--config", str(cfg), "vector", "status", cwd=cfg.parent)
    assert result.code == 1, result.text
    _one_line(result)
    assert "Wrong-Token-77" not in result.text
    _unchanged(admin)
