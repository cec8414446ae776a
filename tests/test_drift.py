"""Live schema drift and failure reports, on the embedded PostgreSQL 18 + pgvector.

The expected schema is the project's own history run on a throwaway database (here a scratch
database on the suite's server: ``verify: {on: server}``); the live database is compared with
it in ``status``, ``check`` and the console, and a failed run says where the database stands.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from migctl.core.config import AlembicLocation
from migctl.core.relational.expected import (
    SchemaCache,
    build_expected,
    compare_live,
    expected_schema,
    schema_key,
)
from migctl.core.relational.graph import read_graph
from migctl.core.relational.project import AlembicProject
from migctl.core.relational.schema import Schema
from tests.support import ALEMBIC, REPO, run_cli

PROJECT = REPO / "tests" / "fixtures" / "drift_project" / "versions"
HIDDEN = REPO / "tests" / "fixtures" / "drift_project" / "hidden_versions"
D1, D2, D3, D4 = "d1d1d1d1d1d1", "d2d2d2d2d2d2", "d3d3d3d3d3d3", "d4d4d4d4d4d4"
E1, E2, E3 = "e1e1e1e1e1e1", "e2e2e2e2e2e2", "e3e3e3e3e3e3"


def drift_project(tmp: Path, versions: Path = PROJECT) -> Path:
    """``alembic init`` (env.py exactly as Alembic writes it) with the fixture revisions; the
    path of its ``alembic.ini``."""
    proj = tmp / "drift_proj"
    proj.mkdir(parents=True, exist_ok=True)
    subprocess.run([ALEMBIC, "init", "migrations"], cwd=proj, check=True, capture_output=True)
    for f in sorted(versions.glob("*.py")):
        shutil.copy(f, proj / "migrations" / "versions" / f.name)
    return proj / "alembic.ini"


def config(tmp: Path, url: str, ini: Path, *, on_server: bool = True) -> Path:
    """migctl.yaml: one environment; the expected schema is built on a scratch database of the
    target's own server (the suite's embedded PostgreSQL)."""
    path = tmp / "migctl.yaml"
    path.write_text("\n".join([
        "default_environment: test", f"state_dir: {tmp / 'state'}", *(["verify: {on: server}"] if on_server else []),
        "environments:",
        "  test:", f"    database_url: \"{url}\"", "    alembic:", f"      ini: {ini}"]) + "\n")
    return path


def sync_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1)


def _capture_db(url: str) -> Iterator[sa.engine.Connection]:
    engine = sa.create_engine(sync_url(url))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


connected = contextlib.contextmanager(_capture_db)


def by_hand(admin_url: str) -> None:
    """What an operator does outside migctl: a column added, an index dropped."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("ALTER TABLE docs ADD COLUMN note text")
        conn.execute("DROP INDEX ix_docs_title")


def audit_rows(url: str) -> list[tuple[str, str, str | None]]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute("SELECT action, outcome, error FROM migctl_audit ORDER BY id")]


def checksummed(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute("SELECT revision FROM migctl_revision_checksums"))


# -- the cache and its key (no server) --------------------------------------------------------

def test_schema_key_follows_every_ancestor_file_and_the_dialect(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    shutil.copytree(PROJECT, versions)
    graph = read_graph([versions])
    assert graph is not None
    key = schema_key(graph, [D3], "postgresql")
    assert key == schema_key(graph, (D3,), "postgresql")
    assert key != schema_key(graph, [D2], "postgresql")  # another set of heads
    assert key != schema_key(graph, [D3], "sqlite")
    assert schema_key(graph, [D3], "mariadb") == schema_key(graph, [D3], "mysql")
    # A descendant's file is not part of the schema at D3; an ancestor's is.
    (versions / "0004_d4d4_fails.py").write_text((versions / "0004_d4d4_fails.py").read_text() + "\n# edited\n")
    assert schema_key(read_graph([versions]), [D3], "postgresql") == key
    first = versions / "0001_d1d1_create_docs.py"
    first.write_text(first.read_text() + "\n# edited\n")
    edited = schema_key(read_graph([versions]), [D3], "postgresql")
    assert edited != key
    # Precomputed digests (the files as loaded) stand in for reading the files.
    digests = {str(graph.by_id[D1].path): "0" * 64}
    assert schema_key(graph, [D3], "postgresql", digests) not in (key, edited)
    with pytest.raises(ValueError, match="no file has them"):
        schema_key(graph, ["ffffffffffff"], "postgresql")


def test_schema_key_is_the_same_from_alembic_s_script_directory(tmp_path: Path) -> None:
    ini = drift_project(tmp_path)
    project = AlembicProject(AlembicLocation(ini.parent / "migrations", ini))
    graph = project.graph()
    script = project.script()
    for heads in ([D1], [D3], [D4]):
        assert schema_key(script, heads, "postgresql") == schema_key(graph, heads, "postgresql")


def test_schema_cache_round_trip_and_unreadable_entries(tmp_path: Path) -> None:
    cache = SchemaCache(tmp_path / "state")
    assert cache.empty()
    key = "ab" * 32
    assert cache.get(key) is None
    schema = Schema("postgresql", "PostgreSQL 18.1", {"table": {"public.docs": "table"},
                                                      "column": {"public.docs.id": "integer not null"}})
    cache.put(key, schema, [D1])
    assert not cache.empty() and cache.get(key) == schema
    files = sorted(p.name for p in cache.directory.iterdir() if not p.name.startswith(".lock"))
    assert files == [f"{key}.json"], "written whole: no temporary file left"
    stored = json.loads((cache.directory / f"{key}.json").read_text())
    assert stored["heads"] == [D1] and stored["schema"]["objects"]["table"] == {"public.docs": "table"}
    (cache.directory / f"{key}.json").write_text("{not json")
    assert cache.get(key) is None
    with pytest.raises(ValueError):
        cache.path("../escape")


# -- building the expected schema and comparing the live one -----------------------------------

def upgrade_live(cfg: Path, tmp: Path, target: str = D3) -> None:
    result = run_cli("--config", str(cfg), "upgrade", target, "--yes", cwd=tmp)
    assert result.code == 0, result.text


async def test_expected_schema_is_built_once_and_compared_with_the_live_one(embedded_pg, tmp_path: Path) -> None:
    """Built on a throwaway database given by the caller, cached, then read from the cache; the
    live database at the same revision matches it until an operator changes it by hand."""
    url, admin = embedded_pg.create_database()
    ini = drift_project(tmp_path)
    upgrade_live(config(tmp_path, url, ini, on_server=False), tmp_path)
    project = AlembicProject(AlembicLocation(ini.parent / "migrations", ini))
    graph = project.graph()
    cache = SchemaCache(tmp_path / "state")
    scratches: list[str] = []

    @contextlib.contextmanager
    def scratch() -> Iterator[str]:
        scratches.append(embedded_pg.create_database()[0])
        yield scratches[-1]

    assert expected_schema(project, graph, [D3], "postgresql", cache) is None  # not cached, not built
    expected = expected_schema(project, graph, [D3], "postgresql", cache, build=True, scratch=scratch)
    assert expected is not None and len(scratches) == 1
    assert "public.docs.summary" in expected.objects["column"] and "public.ix_tags_name" in expected.objects["index"]
    assert not {"alembic_version", "migctl_audit"} & {n.split(".")[-1] for n in expected.objects["table"]}
    assert expected_schema(project, graph, [D3], "postgresql", cache, build=True, scratch=scratch) == expected
    assert len(scratches) == 1, "the second ask is answered from the cache"
    assert build_expected(project, [D3], scratch) == expected

    location = project.location
    with connected(url) as conn:
        assert compare_live(conn, expected, location).empty
    by_hand(admin)
    with connected(url) as conn:
        diff = compare_live(conn, expected, location)
    assert diff.lines() == ["missing index public.ix_docs_title", "extra column public.docs.note"]


async def test_the_pgvector_store_s_collections_are_not_relational_drift(embedded_pg, tmp_path: Path) -> None:
    """A pgvector store sharing the database (in the same schema, even) creates tables with a
    vector column, views as aliases and the extension: the vector side's, not drift."""
    from migctl.core.vector.stores.pgvector import PgVectorStore
    from tests.test_store_pgvector import small

    url, admin = embedded_pg.create_database()
    ini = drift_project(tmp_path)
    upgrade_live(config(tmp_path, url, ini, on_server=False), tmp_path)
    project = AlembicProject(AlembicLocation(ini.parent / "migrations", ini))

    @contextlib.contextmanager
    def scratch() -> Iterator[str]:
        yield embedded_pg.create_database()[0]

    expected = build_expected(project, [D3], scratch)
    async with PgVectorStore(url, schema="public") as store:
        await store.create_collection(small("docs_vectors"))
        await store.create_alias("docs_current", "docs_vectors")
    with connected(url) as conn:
        assert compare_live(conn, expected, project.location, vector_schema="public").empty
        unaware = compare_live(conn, expected, project.location)
    assert ("table", "public.docs_vectors") in unaware.extra and ("view", "public.docs_current") in unaware.extra
    # Another schema than the reference's is not looked at; a hand-made table in public is.
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.misc (id int)")
        conn.execute("CREATE TABLE public.by_hand (id int)")
    with connected(url) as conn:
        diff = compare_live(conn, expected, project.location, vector_schema="public")
    assert diff.lines() == ["extra table public.by_hand (with 1 column)"]


# -- status, check and the console -------------------------------------------------------------

def status_of(cfg: Path, tmp: Path, *extra: str) -> str:
    result = run_cli("--config", str(cfg), "status", *extra, cwd=tmp)
    assert result.code == 0, result.text
    return result.out


def schema_line(text: str) -> str:
    return next(ln for ln in text.splitlines() if ln.startswith("schema:"))


def test_status_and_check_report_a_column_added_and_an_index_dropped_by_hand(pg_db, tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = config(tmp_path, url, drift_project(tmp_path))
    upgrade_live(cfg, tmp_path)
    # Nothing built yet: status compares nothing and starts nothing.
    assert schema_line(status_of(cfg, tmp_path)) == (
        "schema:      not compared (run migctl verify, or migctl status --drift)")
    assert schema_line(status_of(cfg, tmp_path, "--drift")) == f"schema:      matches {D3}"
    by_hand(admin)
    differs = (f"schema:      differs from {D3}: index public.ix_docs_title missing; "
               "column public.docs.note extra")
    assert schema_line(status_of(cfg, tmp_path)) == differs, "from the cache now"
    assert schema_line(status_of(cfg, tmp_path, "--drift")) == differs
    data = json.loads(status_of(cfg, tmp_path, "--json"))["relational"]["schema_drift"]
    assert data["differs"] and data["at"] == [D3]
    assert data["missing"] == [{"kind": "index", "name": "public.ix_docs_title"}]
    assert data["extra"] == [{"kind": "column", "name": "public.docs.note"}] and data["changed"] == []

    check = run_cli("--config", str(cfg), "check", "--drift", cwd=tmp_path)
    assert check.code == 4, check.text
    assert check.out.splitlines() == [
        f"pending: 1 revision ({D4})",
        f"schema drift: differs from {D3}: index public.ix_docs_title missing; column public.docs.note extra"]
    assert check.err.strip() == "migctl: check failed: 2 finding(s)"
    found = json.loads(run_cli("--config", str(cfg), "check", "--json", cwd=tmp_path).out)
    drift = [f for f in found["findings"] if f["kind"] == "schema drift"]
    assert drift and drift[0]["items"] == ["missing index public.ix_docs_title", "extra column public.docs.note"]
    offline = run_cli("--config", str(cfg), "check", "--drift", "--offline", cwd=tmp_path)
    assert offline.code == 2 and "cannot be combined with --offline" in offline.err, offline.text


def test_check_builds_the_expected_schema_when_the_config_requires_verify(pg_db, tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = config(tmp_path, url, drift_project(tmp_path))
    upgrade_live(cfg, tmp_path)
    by_hand(admin)
    assert run_cli("--config", str(cfg), "check", "--skip-vector-db", cwd=tmp_path).code == 4  # pending only
    plain = run_cli("--config", str(cfg), "check", cwd=tmp_path)
    assert "schema drift" not in plain.out, "not cached and not asked for: not compared"
    cfg.write_text(cfg.read_text().replace("verify: {on: server}", "verify: {on: server, required: true}"))
    required = run_cli("--config", str(cfg), "check", cwd=tmp_path)
    assert required.code == 4 and f"schema drift: differs from {D3}" in required.out, required.text


async def test_the_console_shows_the_schema_drift(pg_db, tmp_path: Path) -> None:
    from tests.tui_support import make_app, ready, screen_text

    url, admin = pg_db
    cfg = config(tmp_path, url, drift_project(tmp_path))
    upgrade_live(cfg, tmp_path)
    by_hand(admin)
    status_of(cfg, tmp_path, "--drift")  # builds and caches the expected schema
    app = make_app(cfg)
    async with app.run_test(size=(200, 40)) as pilot:
        await ready(pilot)
        text = screen_text(app)
    assert (f"4 revisions · current {D3} · heads {D4} · pending 1 · schema differs from d3d3d3d3…: "
            "index public.ix_docs_title missing; column public.docs.note extra") in text, text


# -- failure reports -----------------------------------------------------------------------------

def error_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("migctl: error:")]


def test_a_half_committed_downgrade_says_what_committed_and_how_the_schema_differs(pg_db, tmp_path: Path) -> None:
    """D2's downgrade drops its index in an autocommit_block, then fails: the version table still
    says D2, whose index is gone. The error line and the audit row say so; status shows it."""
    url, _admin = pg_db
    cfg = config(tmp_path, url, drift_project(tmp_path))
    upgrade_live(cfg, tmp_path)
    assert checksummed(url) == [D1, D2, D3]
    result = run_cli("--config", str(cfg), "downgrade", D1, "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    line = (f"revision {D2} (down) failed: relation \"no_such_table\" does not exist; committed through {D2}; "
            f"the autocommit block of {D2} committed, the version table says {D2}: schema differs from {D2} in "
            "index public.ix_tags_name missing")
    assert error_lines(result.err) == [f"migctl: error: {line}"], result.err
    assert audit_rows(url)[-1] == ("downgrade", "failed", line)
    assert checksummed(url) == [D1, D2], "D3's downgrade committed: its checksum is gone"
    assert schema_line(status_of(cfg, tmp_path)) == (
        f"schema:      differs from {D2}: index public.ix_tags_name missing")


def test_a_transactional_failure_says_rolled_back_and_where(pg_db, tmp_path: Path) -> None:
    url, _admin = pg_db
    cfg = config(tmp_path, url, drift_project(tmp_path))
    upgrade_live(cfg, tmp_path, D2)
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    line = f"revision {D4} (up) failed: relation \"no_such_table\" does not exist; rolled back; still at {D3}"
    assert error_lines(result.err) == [f"migctl: error: {line}"], result.err
    assert audit_rows(url)[-1] == ("upgrade", "failed", line)
    assert checksummed(url) == [D1, D2, D3]
    # PostgreSQL's rollback is trusted: nothing was built for the report.
    assert schema_line(status_of(cfg, tmp_path)).startswith("schema:      not compared")


def test_env_py_s_own_transaction_and_a_hidden_autocommit_block(pg_db, tmp_path: Path) -> None:
    """env.py runs the whole plan in one transaction of its own, and E2's downgrade drops its
    index in an autocommit_block hidden in a helper, which commits E3's downgrade with it before
    E2 fails. The failing revision is named from the version table; E3's checksum is gone."""
    url, _admin = pg_db
    ini = drift_project(tmp_path, HIDDEN)
    env_py = ini.parent / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "connection=connection, target_metadata=target_metadata",
        "connection=connection, target_metadata=target_metadata, transaction_per_migration=False"))
    cfg = config(tmp_path, url, ini)
    upgrade_live(cfg, tmp_path, E3)
    assert checksummed(url) == [E1, E2, E3]
    result = run_cli("--config", str(cfg), "downgrade", E1, "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    line = (f"revision {E2} (down) failed: relation \"no_such_table\" does not exist; committed through {E2}; "
            f"an autocommit_block the plan did not show committed, the version table says {E2}: schema differs "
            f"from {E2} in index public.ix_items_name missing")
    assert error_lines(result.err) == [f"migctl: error: {line}"], result.err
    assert audit_rows(url)[-1] == ("downgrade", "failed", line)
    assert checksummed(url) == [E1, E2], "E3 is no longer applied"
