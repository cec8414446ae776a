"""A user's own Alembic project (``alembic init`` and ``alembic init -t async``), run unchanged by
migctl on every database Alembic supports here: embedded PostgreSQL 18, the machine's
PostgreSQL and MariaDB when they answer, and SQLite."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support import make_project, run_cli, write_config

BACKENDS = ["embedded_pg", "machine_pg", "mariadb", "sqlite"]


@pytest.fixture(params=BACKENDS)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "embedded_pg":
        return request.getfixturevalue("embedded_pg").create_database()[0]
    if request.param == "machine_pg":
        return request.getfixturevalue("machine_pg").create_database()[0]
    if request.param == "mariadb":
        return request.getfixturevalue("mariadb_url")
    return f"sqlite:///{tmp_path / 'app.db'}"


@contextlib.contextmanager
def _connected(url: str) -> Iterator[sa.Connection]:
    """A plain SQLAlchemy connection on the sync driver, for looking at the result."""
    from migctl.core.db import render, with_driver

    engine = sa.create_engine(render(with_driver(url, asynchronous=False)))
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _inspect(url: str) -> tuple[set[str], set[str], list[str]]:
    """(tables, columns of orders, version rows) as the database reports them."""
    with _connected(url) as conn:
        insp = sa.inspect(conn)
        tables = set(insp.get_table_names())
        columns = {c["name"] for c in insp.get_columns("orders")} if "orders" in tables else set()
        versions = ([r[0] for r in conn.execute(sa.text("SELECT version_num FROM alembic_version"))]
                    if "alembic_version" in tables else [])
        audit = ([tuple(r) for r in conn.execute(sa.text(
            "SELECT action, outcome FROM migctl_audit ORDER BY id"))] if "migctl_audit" in tables else [])
    return tables, columns, versions, audit  # type: ignore[return-value]


@pytest.mark.parametrize("template", ["generic", "async"])
def test_user_project_lifecycle(backend_url: str, template: str, tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small", template)
    cfg = write_config(tmp_path, backend_url, ini=ini)

    def cli(*args: str):
        return run_cli("--config", str(cfg), *args, cwd=tmp_path)

    result = cli("upgrade", "--yes")
    assert result.code == 0, result.text
    tables, columns, versions, _ = _inspect(backend_url)
    assert {"accounts", "orders", "migctl_audit", "migctl_revision_checksums"} <= tables
    assert "note" in columns and versions == ["ccc333ccc333"]

    status = json.loads(cli("status", "--json").out)
    assert status["relational"]["current"] == ["ccc333ccc333"] and status["relational"]["pending"] == 0

    assert cli("downgrade", "-1", "--yes").code == 0
    tables, columns, versions, _ = _inspect(backend_url)
    assert "note" not in columns and versions == ["bbb222bbb222"]

    assert cli("stamp", "ccc333ccc333", "--yes").code == 0
    assert _inspect(backend_url)[2] == ["ccc333ccc333"]
    assert "note" not in _inspect(backend_url)[1], "stamp runs no migration"

    assert cli("stamp", "base", "--purge", "--yes").code == 0
    assert _inspect(backend_url)[2] == []

    assert cli("stamp", "bbb222bbb222", "--yes").code == 0
    assert cli("downgrade", "base", "--yes").code == 0
    tables, _, versions, audit = _inspect(backend_url)
    assert not {"accounts", "orders"} & tables and versions == []
    assert audit == [("upgrade", "ok"), ("downgrade", "ok"), ("stamp", "ok"), ("stamp", "ok"), ("stamp", "ok"),
                     ("downgrade", "ok")]


def test_failing_revision_stops_at_last_good(backend_url: str, tmp_path: Path) -> None:
    ini = make_project(tmp_path, "failing")
    cfg = write_config(tmp_path, backend_url, ini=ini)
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    errors = [ln for ln in result.err.splitlines() if ln.startswith("migctl: error:")]
    assert len(errors) == 1
    assert "revision ddd444ddd444 (up) failed:" in errors[0] and "no_such_table" in errors[0]
    assert "Traceback" not in result.text
    tables, _, versions, audit = _inspect(backend_url)
    assert versions == ["bbb222bbb222"], "the version table stays at the last good revision"
    assert "never" not in tables and "orders" in tables
    # The failed revision's own first statement is undone on PostgreSQL, whose DDL is
    # transactional; MariaDB commits each DDL statement by itself and Python's sqlite3 runs DDL
    # outside a transaction, so there the table stays, as it does under plain Alembic.
    assert ("half_done" in tables) != backend_url.startswith("postgresql"), tables
    assert audit == [("upgrade", "failed")]
    # PostgreSQL ran the chain in one transaction, rolled back, and re-applied the two good
    # revisions one by one; the other databases committed each revision as it went.
    replayed = "re-applying the 2 revision(s) before the failure" in result.err
    assert replayed == backend_url.startswith("postgresql"), result.err
    assert _checksummed(backend_url) == ["aaa111aaa111", "bbb222bbb222"]


def _checksummed(url: str) -> list[str]:
    with _connected(url) as conn:
        return sorted(r[0] for r in conn.execute(sa.text("SELECT revision FROM migctl_revision_checksums")))


def test_failure_after_autocommit_block_keeps_a_transaction_per_revision(embedded_pg, tmp_path: Path) -> None:
    """A plan with an ``autocommit_block`` is not run as one transaction: the block commits
    half-way through its revision, and a later failure must not leave its work behind with
    its version row rolled back (a replay would then run the block twice)."""
    url = embedded_pg.create_database()[0]
    ini = make_project(tmp_path, "failing_after_autocommit")
    cfg = write_config(tmp_path, url, ini=ini)
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    assert "revision f5f5f5f5f5f5 (up) failed:" in result.err and "no_such_table" in result.err
    assert "re-applying" not in result.err
    tables, _, versions, audit = _inspect(url)
    assert versions == ["f4f4f4f4f4f4"]
    assert {"items", "tags", "notes"} <= tables and "half_done" not in tables
    with _connected(url) as conn:
        assert sa.inspect(conn).get_indexes("items")[0]["name"] == "ix_items_name"
    assert _checksummed(url) == ["f1f1f1f1f1f1", "f2f2f2f2f2f2", "f3f3f3f3f3f3", "f4f4f4f4f4f4"]
    assert audit == [("upgrade", "failed")]
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", "--skip-vector-db", cwd=tmp_path).out)
    assert status["relational"]["pending"] == 1 and status["relational"]["drifted"] == []


def test_failing_commit_is_found_by_re_applying_one_transaction_each(embedded_pg, tmp_path: Path) -> None:
    """A deferred constraint fails the one-transaction run only at its commit; re-applied one
    transaction each, the revision that breaks it is named and the database stops before it."""
    url = embedded_pg.create_database()[0]
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "deferred_failure"))
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    assert "to find the one whose commit fails" in result.err
    error = next(ln for ln in result.err.splitlines() if ln.startswith("migctl: error:"))
    assert "at revision 92a292a292a2" in error and "children" in error, error
    tables, _, versions, audit = _inspect(url)
    assert versions == ["91a191a191a1"] and {"parents", "children"} <= tables and "notes" not in tables
    assert _checksummed(url) == ["91a191a191a1"]
    assert audit == [("upgrade", "failed")]


def test_autocommit_block_in_a_helper_is_reported_not_re_applied(embedded_pg, tmp_path: Path) -> None:
    """An autocommit_block the plan cannot see (inside a helper) commits part of the run; after
    a later failure migctl re-applies nothing and records what is committed."""
    url = embedded_pg.create_database()[0]
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "hidden_autocommit"))
    # The report compares the schema with the expected one, built on a scratch database of this server.
    cfg.write_text(cfg.read_text() + "verify: {on: server}\n")
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1, result.text
    assert "part of the run committed itself" in result.err and "re-applying" not in result.err
    assert "revision f5f5f5f5f5f5 (up) failed:" in result.err
    assert ("committed through f1f1f1f1f1f1; an autocommit_block the plan did not show committed, the version "
            "table says f1f1f1f1f1f1: schema differs from f1f1f1f1f1f1 in index public.ix_items_name extra"
            ) in result.err, result.err
    tables, _, versions, audit = _inspect(url)
    assert versions == ["f1f1f1f1f1f1"] and "items" in tables and "half_done" not in tables
    assert _checksummed(url) == ["f1f1f1f1f1f1"]
    assert audit == [("upgrade", "failed")]
