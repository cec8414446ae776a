"""The bundled RAG schema on embedded PostgreSQL 18: round trip through migctl equals plain alembic."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.conftest import PgServer, pg_dump_schema
from tests.support import ALEMBIC, REPO, clean_env, reference_project, run_cli

HEAD = "f07c3a5e9b18"


def _cli(url: str, *args: str, cwd: Path) -> tuple[int, str]:
    result = run_cli("--database-url", url, *args, cwd=cwd)
    return result.code, result.text


@pytest.mark.slow
def test_round_trip_equals_plain_alembic(embedded_pg: PgServer, tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = embedded_pg.create_database()
    code, out = _cli(url, "upgrade", "head", "--yes", cwd=tmp_path)
    assert code == 0, out
    first = pg_dump_schema(admin)
    code, out = _cli(url, "downgrade", "base", "--yes", cwd=tmp_path)
    assert code == 0, out
    with psycopg.connect(admin) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relname NOT LIKE 'migctl%' AND c.relname NOT LIKE 'alembic_version%'"
        ).fetchone()[0]
        assert left == 0, "downgrade base leaves no tables, views, indexes or sequences behind"
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'vector'").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'cleanup_old_%'").fetchone()[0] == 0
    code, out = _cli(url, "upgrade", "head", "--yes", cwd=tmp_path)
    assert code == 0, out
    second = pg_dump_schema(admin)

    plain_url, plain_admin = embedded_pg.create_database()
    subprocess.run([ALEMBIC, "-c", str(REPO / "alembic.ini"), "upgrade", "head"], cwd=REPO, check=True,
                   env=clean_env(DATABASE_URL=plain_url), capture_output=True)
    plain = pg_dump_schema(plain_admin, exclude=())

    assert first == second == plain
    for name in ("document_embeddings", "document_chunks", "knowledge_nodes", "knowledge_relations",
                 "retrieval_logs", "api_usage_stats", "daily_cost_summary", "popular_queries", "tasks",
                 "workspaces", "idx_embeddings_vector", "idx_retrieval_logs_workspace", "idx_api_usage_date",
                 "cleanup_old_logs(retention_days integer)", "cleanup_old_api_stats(retention_days integer)"):
        assert name in plain, name
    assert "USING hnsw (embedding public.vector_cosine_ops)" in plain

    status = json.loads(run_cli("--database-url", url, "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["current"] == [HEAD]
    assert status["relational"]["heads"] == [HEAD]
    assert status["relational"]["pending"] == 0
    assert status["relational"]["drifted"] == []
    assert status["lock"] is None
    assert status["relational"]["url"].startswith("postgresql://app:***@127.0.0.1:")


def test_hnsw_index_is_built_outside_a_transaction(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    dry = run_cli("--database-url", url, "upgrade", "head", "--dry-run", "--json", cwd=tmp_path)
    plan = json.loads(dry.out)
    flagged = [s["revision"] for s in plan["steps"] if s["non_transactional"]]
    assert flagged == ["5e7f0a3b9c12"]
    assert "CREATE INDEX CONCURRENTLY" in plan["sql"]
    assert run_cli("--database-url", url, "upgrade", "head", "--yes", cwd=tmp_path).code == 0
    with psycopg.connect(admin) as conn:
        valid = conn.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = 'idx_embeddings_vector'").fetchone()[0]
    assert valid is True


def test_dry_run_and_sql_change_nothing(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    assert run_cli("--database-url", url, "upgrade", "+3", "--yes", cwd=tmp_path).code == 0
    before = pg_dump_schema(admin, exclude=())
    for args in (("upgrade", "head", "--dry-run"), ("upgrade", "head", "--sql"), ("downgrade", "base", "--dry-run"),
                 ("downgrade", "-1", "--sql"), ("stamp", "head", "--dry-run"), ("stamp", "base", "--sql")):
        result = run_cli("--database-url", url, *args, cwd=tmp_path)
        assert result.code == 0, (args, result.text)
    assert pg_dump_schema(admin, exclude=()) == before
    with psycopg.connect(admin) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == "c41d7e9a2f58"
        assert conn.execute("SELECT count(*) FROM migctl_audit WHERE action <> 'upgrade'").fetchone()[0] == 0

    sql = run_cli("--database-url", url, "downgrade", "base", "--sql", cwd=tmp_path).out
    assert "DROP TABLE document_embeddings" in sql and "DROP EXTENSION IF EXISTS vector" in sql
    dry = json.loads(run_cli("--database-url", url, "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    assert [s["revision"] for s in dry["steps"]] == ["c41d7e9a2f58", "8b2e4d6f1a93", "3f9a1c2b7d40"]
    assert any("DROP TABLE document_embeddings" in d for d in dry["destructive"])
    assert dry["after"] == []


def test_plain_alembic_finds_the_database_through_migctl_config(pg_db: tuple[str, str], tmp_path: Path) -> None:
    from tests.support import pg_scalar, write_config

    url, admin = pg_db
    cfg = write_config(tmp_path, url)
    alembic = [ALEMBIC, "-c", str(REPO / "alembic.ini")]
    subprocess.run([*alembic, "-x", f"config_file={cfg}", "upgrade", "+2"], cwd=REPO, check=True,
                   env=clean_env(), capture_output=True)
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "8b2e4d6f1a93"
    out = subprocess.run([*alembic, "current"], cwd=REPO, check=True, env=clean_env(CONFIG_FILE=str(cfg)),
                         capture_output=True, text=True).stdout
    assert "8b2e4d6f1a93" in out
    missing = subprocess.run([*alembic, "current"], cwd=REPO, env=clean_env(), capture_output=True, text=True)
    assert missing.returncode != 0 and "no database URL" in missing.stderr
