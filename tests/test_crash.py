"""kill -9 at the worst moments (issue 13, points 11-13): the first re-run converges, no
checksum is lost, and a rebuilt collection's name answers reads throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import (
    CLI_OUTPUT,
    MIGCTL,
    clean_env,
    make_project,
    pg_scalar,
    run_cli,
    write_config,
)


def no_disconnect_check(admin: str) -> None:
    """PostgreSQL's default: a backend notices its client is gone only when it next writes to
    it (the embedded server checks every second; production servers mostly do not)."""
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(psycopg.sql.SQL("ALTER DATABASE {} SET client_connection_check_interval = 0")
                     .format(psycopg.sql.Identifier(name)))


def kill_when_running(admin: str, victim: subprocess.Popen[str], query: str, timeout: float) -> None:
    """``kill -9`` the victim once one of its sessions runs a statement like ``query``."""
    deadline = time.monotonic() + timeout
    while not pg_scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND "
                               f"query LIKE '{query}' AND application_name LIKE '%pid={victim.pid}'"):
        assert time.monotonic() < deadline and victim.poll() is None, f"{query} never ran"
        time.sleep(0.05)
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=10)


def _checksums(admin_or_sqlite: str) -> list[str]:
    if admin_or_sqlite.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(admin_or_sqlite.removeprefix("sqlite:///")) as conn:
            return sorted(r[0] for r in conn.execute("SELECT revision FROM migctl_revision_checksums"))
    import psycopg

    with psycopg.connect(admin_or_sqlite, autocommit=True) as conn:
        return sorted(r[0] for r in conn.execute("SELECT revision FROM migctl_revision_checksums"))


@pytest.mark.parametrize("backend,revisions,heads", [
    ("postgresql", "small", ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]),  # one transaction for the run
    ("postgresql", "slow", ["5101a0000001", "5102a0000002", "5103a0000003"]),  # one per revision (autocommit_block)
    ("sqlite", "small", ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]),
    ("postgresql-async", "small", ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]),
    ("sqlite-async", "small", ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]),  # env.py of `alembic init -t async`
])
def test_kill_after_the_revisions_commit_keeps_their_checksums(request: pytest.FixtureRequest, tmp_path: Path,
                                                               backend: str, revisions: str, heads: list[str]) -> None:
    """Issue 13.12: the checksum rows used to be written after the revisions' commit; a kill
    in between left them applied and unchecked for good."""
    if backend.startswith("postgresql"):
        url, inspect = request.getfixturevalue("pg_db")
    else:
        url = inspect = f"sqlite:///{tmp_path / 'app.db'}"
    ini = make_project(tmp_path, revisions, template="async" if backend.endswith("async") else "generic")
    cfg = write_config(tmp_path, url, ini=ini)
    crashed = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path,
                      env=clean_env(MIGCTL_FAULT_POINT="revisions-committed", MIGCTL_TEST_SLEEP="0"))
    assert crashed.code == -signal.SIGKILL, crashed.text
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["current"] == [heads[-1]], status
    assert _checksums(inspect) == heads
    again = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path, env=clean_env(MIGCTL_TEST_SLEEP="0"))
    assert again.code == 0 and "nothing to do" in again.text, again.text
    first = sorted((ini.parent / "migrations" / "versions").glob("*.py"))[0]
    first.write_text(first.read_text() + "\n# edited after it ran\n")
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert [d["revision"] for d in status["relational"]["drifted"]] == [heads[0]]


@pytest.mark.slow
def test_rerun_after_kill_ends_the_dead_holders_statement(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.11: the killed holder's lock goes with its connection, but its worker's
    statement (here a 60 s sleep in an autocommit_block, whose CREATE INDEX CONCURRENTLY the
    re-run then waits behind) runs on; the re-run terminates it, says so, and finishes."""
    url, admin = pg_db
    no_disconnect_check(admin)
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "slow"))
    victim = subprocess.Popen([MIGCTL, "--config", str(cfg), "upgrade", "--yes"], cwd=tmp_path,
                              env=clean_env(MIGCTL_TEST_SLEEP="60"), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        kill_when_running(admin, victim, "SELECT pg_sleep%", 30)
    finally:
        if victim.poll() is None:
            victim.kill()
    started = time.monotonic()
    rerun = run_cli("--config", str(cfg), "upgrade", "--yes", "--lock-timeout", "10", cwd=tmp_path,
                    env=clean_env(MIGCTL_TEST_SLEEP="0"), timeout=45)
    elapsed = time.monotonic() - started
    assert rerun.code == 0, rerun.text
    assert "terminated 1 of 1 database session(s) left running by a killed migctl" in rerun.err, rerun.text
    assert f"pid={victim.pid}" in rerun.err
    assert elapsed < 30, f"the re-run waited {elapsed:.0f}s for the dead holder's sleep"
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "5103a0000003"
    assert pg_scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE "
                            f"'%pid={victim.pid}'") == 0
    CLI_OUTPUT.append(rerun.text)


@pytest.mark.slow
def test_kill_9_campaign_converges_on_the_first_rerun(embedded_pg, tmp_path: Path) -> None:
    """bench/crash.py with 6 kills (2 per kind) at random moments of a relational upgrade, a
    pgvector rebuild and a Milvus Lite rebuild: the full campaign is ``python bench/crash.py``."""
    import sys

    from tests.support import REPO

    done = subprocess.run([sys.executable, str(REPO / "bench" / "crash.py"), "--kills", "6", "--rows", "5000",
                           "--chain", "12", "--rel-rows", "5000", "--admin-url", embedded_pg.admin_url, "--json"],
                          cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=1500)
    assert done.stdout.strip(), done.stderr[-2000:]
    trials = json.loads(done.stdout)["trials"]
    assert sorted(t["kind"] for t in trials) == ["milvus-lite"] * 2 + ["pgvector"] * 2 + ["relational"] * 2
    for t in trials:
        assert t["converged"] and t["rerun_code"] == 0, (t, done.stderr[-2000:])
        assert (t["rows_lost"], t["rows_duplicated"], t["checksums_lost"]) == (0, 0, 0), t
        assert t["name_readable"] is (None if t["kind"] == "relational" else True), t
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_pgvector_rerun_after_kill_during_the_shadow_index_build(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.11 as reported: killed while ``CREATE INDEX CONCURRENTLY`` builds the shadow's
    index, whose statement runs on (held here by an older snapshot, as any long reader holds
    it); the immediate re-run ends it and converges, and the collection's name answered with
    every row in between (13.13)."""
    import psycopg

    from tests.vector_support import VectorTarget, fill, snapshot, write_vector_config

    url, admin = pg_db
    no_disconnect_check(admin)
    target = VectorTarget("pgvector", write_vector_config(tmp_path, url, "pgvector"), url, "pgvector")
    config = ["--config", str(target.config)]
    assert run_cli(*config, "upgrade", "--yes", cwd=tmp_path).code == 0
    assert run_cli(*config, "vector", "upgrade", "20250120_001", "--yes", cwd=tmp_path).code == 0
    fill(target, "document", 20_000, extra={"source": "crash"})
    before = snapshot(target, "document", sample=100)
    reader = psycopg.connect(admin)  # a long reader: CREATE INDEX CONCURRENTLY waits for its snapshot
    reader.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    reader.execute("SELECT 1")
    procs: list[subprocess.Popen[str]] = []
    try:
        victim = subprocess.Popen([MIGCTL, *config, "vector", "upgrade", "--yes"], cwd=tmp_path, env=clean_env(),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(victim)
        kill_when_running(admin, victim, "CREATE INDEX CONCURRENTLY%", 120)
        assert snapshot(target, "document", sample=100) == before  # the name answers, every row there
        rerun = subprocess.Popen([MIGCTL, *config, "vector", "upgrade", "--yes", "--lock-timeout", "30"], cwd=tmp_path,
                                 env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(rerun)
        time.sleep(5)  # past the dead holder's grace: then the reader ends
        reader.commit()
        out, err = rerun.communicate(timeout=120)
    finally:
        reader.close()
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    CLI_OUTPUT.append(out + err)
    assert rerun.returncode == 0, err
    assert f"pid={victim.pid}" in err and "terminated 1 of 1 database session(s) left running" in err, err
    assert snapshot(target, "document", sample=100) == before
    live = json.loads(run_cli(*config, "collections", "--json", cwd=tmp_path).out)
    assert live["live_drift"] == [], live
