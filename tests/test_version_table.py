"""A configured ``alembic.version_table`` is the one env.py writes and migctl reads (issue 13.17):
with ``version_table: my_versions`` an upgrade ran, then status said every revision pending."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support import REPO, make_project, pg_scalar, run_cli, write_config


def _pending(cfg: Path) -> int:
    result = run_cli("--config", str(cfg), "status", "--skip-vector-db", "--json", cwd=cfg.parent)
    assert result.code == 0, result.text
    return json.loads(result.out)["relational"]["pending"]


def test_reference_env_py_writes_the_configured_version_table(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url)
    text = cfg.read_text()
    old = f"alembic: {{script_location: {REPO / 'alembic'}}}"
    assert old in text
    cfg.write_text(text.replace(old, f"alembic: {{script_location: {REPO / 'alembic'}, version_table: my_versions}}"))
    assert _pending(cfg) == 10
    result = run_cli("--config", str(cfg), "upgrade", "head", "--yes", cwd=tmp_path)
    assert result.code == 0, result.text
    assert _pending(cfg) == 0
    assert pg_scalar(admin, "SELECT to_regclass('public.my_versions') IS NOT NULL") is True
    assert pg_scalar(admin, "SELECT to_regclass('public.alembic_version')") is None
    assert pg_scalar(admin, "SELECT count(*) FROM my_versions") == 1
    again = run_cli("--config", str(cfg), "upgrade", "head", "--yes", cwd=tmp_path)
    assert again.code == 0 and "nothing to do" in again.out, again.text
    sql = run_cli("--config", str(cfg), "downgrade", "-1", "--sql", cwd=tmp_path)
    assert sql.code == 0 and "my_versions" in sql.out and "alembic_version" not in sql.out, sql.text


def _sqlite_tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_scaffolded_env_py_writes_the_configured_version_table(tmp_path: Path) -> None:
    proj = tmp_path / "proj"
    assert run_cli("init-project", str(proj), cwd=tmp_path).code == 0
    cfg = proj / "migctl.yaml"
    db = tmp_path / "app.db"
    text = cfg.read_text().replace("      # version_table: alembic_version\n", "      version_table: my_versions\n", 1)
    assert "version_table: my_versions" in text
    cfg.write_text(text)
    env = {"DATABASE_URL": f"sqlite:///{db}"}
    from tests.support import clean_env

    assert run_cli("revision", "-m", "first", cwd=proj, env=clean_env(**env)).code == 0
    result = run_cli("upgrade", "--yes", cwd=proj, env=clean_env(**env))
    assert result.code == 0, result.text
    status = run_cli("status", "--json", cwd=proj, env=clean_env(**env))
    assert json.loads(status.out)["relational"]["pending"] == 0, status.text
    assert "my_versions" in _sqlite_tables(db) and "alembic_version" not in _sqlite_tables(db)


def test_alembic_init_env_py_gets_the_configured_version_table(tmp_path: Path) -> None:
    """An env.py from ``alembic init`` passes no version table: migctl supplies the configured one."""
    db = tmp_path / "app.db"
    cfg = write_config(tmp_path, f"sqlite:///{db}", ini=make_project(tmp_path, "small"))
    cfg.write_text(cfg.read_text() + "      version_table: my_versions\n")
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 0, result.text
    assert _pending(cfg) == 0
    assert "my_versions" in _sqlite_tables(db) and "alembic_version" not in _sqlite_tables(db)
