"""The migration lock against real servers, exercised through the real CLI in subprocesses.

PostgreSQL: a session advisory lock on migctl's own connection, held across
``autocommit_block`` revisions and released when the holder dies. SQLite: a ``flock`` beside
the database. MariaDB: ``GET_LOCK``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from migctl.core.errors import LockHeld
from migctl.core.identity import current_actor
from migctl.core.lock import LOCK_KEY, LockHolder, MigrationLock, application_name, read_holder
from tests.support import (
    CLI_OUTPUT,
    MIGCTL,
    CliResult,
    clean_env,
    make_project,
    pg_scalar,
    run_cli,
    write_config,
)
from tests.support import reap as _reap
from tests.support import spawn_lock_holder as _spawn_holder
from tests.vector_support import write_vector_config

pytestmark = pytest.mark.slow

HEAD = "5103a0000003"
HELD = "migration lock is held by"
LOCK_HI, LOCK_LO = LOCK_KEY >> 32, LOCK_KEY & 0xFFFFFFFF

# -- helpers -------------------------------------------------------------------------------
def _spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([MIGCTL, *args], env=env or clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


def _finish(proc: subprocess.Popen[str], timeout: float = 60) -> CliResult:
    out, err = proc.communicate(timeout=timeout)
    CLI_OUTPUT.append(out + err)
    return CliResult(proc.returncode, out, err)


def _upgrade(cfg: Path, *extra: str, sleep: str) -> subprocess.Popen[str]:
    return _spawn("--config", str(cfg), "upgrade", "heads", "--yes", *extra,
                  env=clean_env(MIGCTL_TEST_SLEEP=sleep))


def _query(admin_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return conn.execute(sql, params or None).fetchall()


def _wait_for_pg_sleep(admin_url: str, procs: list[subprocess.Popen[str]], timeout: float = 20) -> None:
    """Until some backend of this database runs pg_sleep: the slow revision's autocommit_block."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _query(admin_url, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE '%pg_sleep(%'")
        if rows:
            return
        for p in procs:
            if p.poll() is not None:
                res = _finish(p)
                pytest.fail(f"migctl exited {res.code} before reaching pg_sleep:\n{res.text}")
        time.sleep(0.1)
    pytest.fail("no backend ran pg_sleep within the timeout")


def _advisory_holders(admin_url: str) -> list[tuple[int, str]]:
    return [(r[0], r[1]) for r in _query(
        admin_url,
        "SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = %s AND l.objid = %s "
        "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        (LOCK_HI, LOCK_LO))]


def _eventually_empty(admin_url: str, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of ``sql`` once empty, or after 5 s: a backend ends moments after its client
    has closed the socket, so a session may still show right after its process exited."""
    deadline = time.monotonic() + 5
    while (rows := _query(admin_url, sql, params)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return rows


def _advisory_holders_after_exit(admin_url: str) -> list[tuple[int, str]]:
    """The holders, once none is left or after 5 s (a backend ends moments after its client)."""
    deadline = time.monotonic() + 5
    while (holders := _advisory_holders(admin_url)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return holders


async def _cancel_while_waiting(lock: MigrationLock, check: Callable[[], None] = lambda: None) -> BaseException:
    """Start ``lock.acquire()``; once it waits for the holder, run ``check``, then cancel it."""
    task = asyncio.ensure_future(lock.acquire())
    deadline = time.monotonic() + 20
    while lock.waiting_for is None:
        assert not task.done() and time.monotonic() < deadline, task
        await asyncio.sleep(0.02)
    check()
    task.cancel()
    with pytest.raises(asyncio.CancelledError) as cancelled:
        await task
    return cancelled.value


def _version(admin_url: str) -> list[str]:
    return [r[0] for r in _query(admin_url, "SELECT version_num FROM alembic_version")]


def _audit(admin_url: str) -> list[tuple[str, str, str | None, str | None]]:
    return [tuple(r) for r in _query(
        admin_url, "SELECT action, outcome, revisions_after, error FROM migctl_audit ORDER BY id")]


def _has_flag_column(admin_url: str) -> bool:
    return bool(_query(admin_url, "SELECT 1 FROM information_schema.columns "
                                  "WHERE table_name = 'items' AND column_name = 'flag'"))


class AuditTableRace(AssertionError):
    """A concurrent first run crashed creating migctl's audit tables (a product bug)."""


def _check_audit_table_race(results: list[CliResult]) -> None:
    """migctl creates ``migctl_audit`` before taking the lock; parallel first runs race on it
    and the loser dies with an unhandled IntegrityError traceback (exit 1)."""
    for r in results:
        if r.code == 1 and "pg_type_typname_nsp_index" in r.err and "migctl_audit" in r.err:
            raise AuditTableRace("a parallel first run crashed in audit.ensure_tables: "
                                 + next(ln for ln in r.err.splitlines() if "IntegrityError" in ln))


# -- PostgreSQL ----------------------------------------------------------------------------
def test_four_parallel_upgrades_exactly_one_applies(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    cfg = write_config(tmp_path, app_url, ini=make_project(tmp_path, "slow"))
    procs: list[subprocess.Popen[str]] = []
    try:
        procs = [_upgrade(cfg, sleep="4") for _ in range(4)]
        results = [_finish(p) for p in procs]
    finally:
        _reap(procs)
    codes = sorted(r.code for r in results)
    report = "\n---\n".join(f"exit {r.code}\n{r.text}" for r in results)
    _check_audit_table_race(results)
    assert codes == [0, 3, 3, 3], report
    label = current_actor().label
    for r in results:
        if r.code == 3:
            assert HELD in r.err, r.text
            assert label in r.err, r.text
            assert "running upgrade" in r.err, r.text
    assert _version(admin_url) == [HEAD]
    assert _has_flag_column(admin_url)
    audit = _audit(admin_url)
    ok = [a for a in audit if a[1] == "ok"]
    refused = [a for a in audit if a[1] == "refused"]
    assert len(ok) == 1 and ok[0][0] == "upgrade" and ok[0][2] == HEAD, audit
    assert len(refused) == 3 and all(HELD in (a[3] or "") for a in refused), audit
    assert len(audit) == 4, audit


class LockWaitStall(AssertionError):
    """The lock holder stalled while others waited for the lock."""


def test_parallel_upgrades_with_lock_timeout_wait_and_find_nothing(pg_db: tuple[str, str],
                                                                    tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    cfg = write_config(tmp_path, app_url, ini=make_project(tmp_path, "slow"))
    procs: list[subprocess.Popen[str]] = []
    try:
        procs = [_upgrade(cfg, "--lock-timeout", "60", sleep="4") for _ in range(4)]
        # The work is ~4s of sleep; far less than the 60s the waiters would wait. Give up at
        # 30s and show what the holder is waiting on rather than sit out the lock timeout.
        deadline = time.monotonic() + 30
        results = []
        for p in procs:
            try:
                results.append(_finish(p, timeout=max(0.5, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                activity = _query(admin_url, "SELECT pid, application_name, state, wait_event_type, "
                                             "wait_event, left(query, 80) FROM pg_stat_activity "
                                             "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                raise LockWaitStall("upgrades with --lock-timeout 60 still running after 30s; "
                                    "backends:\n" + "\n".join(map(str, activity))) from None
    finally:
        _reap(procs)
    report = "\n---\n".join(f"exit {r.code}\n{r.text}" for r in results)
    _check_audit_table_race(results)
    assert [r.code for r in results] == [0, 0, 0, 0], report
    applied = [r for r in results if "upgrade done: 3 step(s)" in r.out]
    idle = [r for r in results if "nothing to do" in r.out]
    assert len(applied) == 1 and len(idle) == 3, report
    assert _version(admin_url) == [HEAD]
    assert _has_flag_column(admin_url)
    audit = _audit(admin_url)
    ok = [a for a in audit if a[1] == "ok"]
    assert len(ok) == 1 and ok[0][2], audit
    assert ok[0][2] == HEAD, audit
    assert not [a for a in audit if a[1] != "ok"], audit


def test_lock_held_through_autocommit_block(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    cfg = write_config(tmp_path, app_url, ini=make_project(tmp_path, "slow"))
    procs: list[subprocess.Popen[str]] = []
    try:
        proc = _upgrade(cfg, sleep="6")
        procs.append(proc)
        _wait_for_pg_sleep(admin_url, procs)

        holders = _advisory_holders(admin_url)
        assert len(holders) == 1, holders
        assert holders[0][1].startswith("migctl upgrade "), holders
        assert holders[0][1].endswith(f"pid={proc.pid}"), holders

        with psycopg.connect(admin_url, autocommit=True) as conn:
            got = conn.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
            assert got is not None and got[0] is False

        status = run_cli("--config", str(cfg), "status", "--json")
        assert status.code == 0, status.text
        lock = json.loads(status.out)["lock"]
        assert lock is not None, status.out
        assert lock["operation"] == "upgrade" and lock["pid"] == proc.pid, lock
        assert lock["who"] == current_actor().label, lock

        assert proc.poll() is None, "the upgrade finished before the checks; they proved nothing"
        res = _finish(proc)
        assert res.code == 0, res.text
    finally:
        _reap(procs)
    assert _version(admin_url) == [HEAD]
    assert _advisory_holders_after_exit(admin_url) == []


def test_kill_9_releases_lock(pg_db: tuple[str, str], tmp_path: Path) -> None:
    app_url, admin_url = pg_db
    cfg = write_config(tmp_path, app_url, ini=make_project(tmp_path, "slow"))
    procs: list[subprocess.Popen[str]] = []
    try:
        victim = _upgrade(cfg, sleep="30")
        procs.append(victim)
        _wait_for_pg_sleep(admin_url, procs)
        assert [h[1] for h in _advisory_holders(admin_url)] == [
            application_name("upgrade", current_actor().label, victim.pid)]

        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        killed_at = time.monotonic()
        assert victim.returncode == -signal.SIGKILL
        _finish(victim)

        nxt = _upgrade(cfg, "--lock-timeout", "20", sleep="0")
        procs.append(nxt)
        res = _finish(nxt, timeout=60)
        elapsed = time.monotonic() - killed_at
        print(f"\nnext upgrade finished {elapsed:.2f}s after SIGKILL; stderr:\n{res.err}")
        assert res.code == 0, res.text
        assert "upgrade done" in res.out, res.text
    finally:
        _reap(procs)
    assert _version(admin_url) == [HEAD]
    assert _has_flag_column(admin_url)
    # The dead process holds nothing any more: no lock, no session left behind.
    assert _advisory_holders_after_exit(admin_url) == []
    assert _eventually_empty(admin_url, "SELECT pid FROM pg_stat_activity WHERE application_name LIKE %s",
                             (f"%pid={victim.pid}",)) == []
    audit = _audit(admin_url)
    # The killed run's row stays 'running' (its trace); the next run's is 'ok'.
    assert [a[1] for a in audit] == ["running", "ok"], audit
    assert audit[1][2] == HEAD, audit


def test_ctrl_c_while_waiting_for_the_lock(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Ctrl-C during a ``--lock-timeout`` wait ends the waiter at once (exit 130), nothing
    changes, and the interruption is audited as a refusal naming the holder; the holder carries on."""
    app_url, admin_url = pg_db
    cfg = write_config(tmp_path, app_url, ini=make_project(tmp_path, "slow"))
    procs: list[subprocess.Popen[str]] = []
    err_file = tmp_path / "waiter.err"
    try:
        holder = _upgrade(cfg, sleep="15")
        procs.append(holder)
        _wait_for_pg_sleep(admin_url, procs)
        # SIGINT as a terminal delivers it (a suite started with `&` hands its children SIGINT ignored)
        with err_file.open("w") as err:
            waiter = subprocess.Popen(
                [MIGCTL, "--config", str(cfg), "upgrade", "heads", "--yes", "--lock-timeout", "60"],
                env=clean_env(MIGCTL_TEST_SLEEP="0"), stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL,
                text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        procs.append(waiter)
        deadline = time.monotonic() + 30
        while "waiting up to 60s for the migration lock held by" not in err_file.read_text():
            assert waiter.poll() is None and time.monotonic() < deadline, err_file.read_text()
            time.sleep(0.05)
        assert holder.poll() is None, "the holder ended before the waiter could be interrupted"
        waiter.send_signal(signal.SIGINT)
        out, _ = waiter.communicate(timeout=10)
        err_text = err_file.read_text()
        CLI_OUTPUT.append(out + err_text)
        assert waiter.returncode == 130, out + err_text
        assert err_text.rstrip().endswith("migctl: interrupted"), err_text
        done = _finish(holder, timeout=60)
        assert done.code == 0 and "upgrade done: 3 step(s)" in done.out, done.text
    finally:
        _reap(procs)
    assert _version(admin_url) == [HEAD]
    audit = _audit(admin_url)
    assert [(a[0], a[1]) for a in audit] == [("upgrade", "ok"), ("upgrade", "refused")], audit
    assert audit[1][3].startswith("interrupted while waiting for the migration lock held by "), audit
    assert f"pid {holder.pid}" in audit[1][3], audit


async def test_cancelled_wait_closes_its_session_at_once(pg_db: tuple[str, str]) -> None:
    """In the waiting process itself: a cancelled ``acquire`` has closed its connection (the
    console lives on after a cancelled operation), and says whom it was waiting for."""
    app_url, admin_url = pg_db
    with psycopg.connect(admin_url, autocommit=True) as other:
        other.execute("SELECT set_config('application_name', 'migctl upgrade someone@elsewhere pid=4242', false)")
        other.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        lock = MigrationLock(app_url, "upgrade", timeout=60)
        own = ("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND usename = 'app'", ())

        def session_is_there() -> None:
            assert _query(admin_url, *own), "the waiter's session is not there while it waits"

        cancelled = await _cancel_while_waiting(lock, session_is_there)
        assert _eventually_empty(admin_url, *own) == []
        reason = lock.refusal(cancelled) or ""
        assert reason.startswith("interrupted while waiting for the migration lock held by "
                                 "someone@elsewhere (pid 4242) running upgrade since "), reason
        assert lock.refusal(RuntimeError("boom")) is None  # only refusals and interruptions are audited


async def test_a_long_host_name_keeps_the_pid_readable(pg_db: tuple[str, str]) -> None:
    """PostgreSQL keeps 63 bytes of application_name: a long user@host is shortened, the
    operation and pid that others read stay whole."""
    app_url, _ = pg_db
    lock = MigrationLock(app_url, "vector-upgrade")
    lock.holder = LockHolder("deploy@" + "build-runner-" * 8 + "example.internal", os.getpid(), "vector-upgrade",
                             None)
    async with lock:
        found = await read_holder(app_url)
    assert found is not None, "nobody holds the lock"
    assert (found.operation, found.pid) == ("vector-upgrade", os.getpid()), found
    assert found.who.startswith("deploy@build-runner-") and found.who.endswith("~"), found


def test_role_without_create_fails_cleanly(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """migctl's tables are created while the lock is taken: when that fails (a role that may
    not create tables), the error is one line, exit 1, and nothing is created."""
    app_url, admin_url = pg_db
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'reader') THEN "
                     "CREATE ROLE reader LOGIN PASSWORD 'reader-pw'; END IF; END $$")
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    host_db = app_url.split("@", 1)[1]
    cfg = write_config(tmp_path, f"postgresql://reader:reader-pw@{host_db}", ini=make_project(tmp_path, "slow"))
    res = run_cli("--config", str(cfg), "upgrade", "heads", "--yes")
    assert res.code == 1, res.text
    assert res.err.rstrip().splitlines()[-1] == \
        "migctl: error: cannot create migctl's tables: permission denied for schema public", res.text
    assert "reader-pw" not in res.text
    assert _query(admin_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == []


# -- SQLite --------------------------------------------------------------------------------
def test_sqlite_lock_held_by_other_process(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    url = f"sqlite:///{db}"
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    procs: list[subprocess.Popen[str]] = []
    try:
        holder = _spawn_holder(url)
        procs.append(holder)
        res = run_cli("--config", str(cfg), "upgrade", "heads", "--yes")
        assert res.code == 3, res.text
        assert HELD in res.err and "test-holder" in res.err, res.text
        assert f"pid {holder.pid}" in res.err and current_actor().label in res.err, res.text

        holder.kill()
        holder.wait(timeout=10)
        res = run_cli("--config", str(cfg), "upgrade", "heads", "--yes")
        assert res.code == 0, res.text
    finally:
        _reap(procs)
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "orders" in tables, tables


async def test_sqlite_waiter_leaves_the_holder_identity(tmp_path: Path) -> None:
    """A waiter that gives up or is interrupted closes its file without touching the holder's
    identity in it: the next one still learns who holds the lock."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    holder = _spawn_holder(url, seconds=60)
    try:
        with pytest.raises(LockHeld):
            await MigrationLock(url, "upgrade", timeout=0.3).acquire()
        lock = MigrationLock(url, "upgrade", timeout=60)
        await _cancel_while_waiting(lock)
        assert lock._file is None
        found = await read_holder(url)
        assert found is not None and (found.operation, found.pid) == ("test-holder", holder.pid), found
    finally:
        _reap([holder])


# -- MariaDB -------------------------------------------------------------------------------
def test_mariadb_lock_held_by_other_process(mariadb_url: str, tmp_path: Path) -> None:
    import pymysql
    from sqlalchemy.engine import make_url

    cfg = write_config(tmp_path, mariadb_url, ini=make_project(tmp_path, "small"))
    procs: list[subprocess.Popen[str]] = []
    try:
        holder = _spawn_holder(mariadb_url)
        procs.append(holder)
        res = run_cli("--config", str(cfg), "upgrade", "heads", "--yes")
        assert res.code == 3, res.text
        assert HELD in res.err and "test-holder" in res.err, res.text
        assert f"pid {holder.pid}" in res.err and current_actor().label in res.err, res.text

        holder.kill()
        holder.wait(timeout=10)
        res = run_cli("--config", str(cfg), "upgrade", "heads", "--yes")
        assert res.code == 0, res.text
    finally:
        _reap(procs)
    u = make_url(mariadb_url)
    conn = pymysql.connect(host=u.host, port=u.port, user=u.username, password=u.password or "",
                           database=u.database)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW TABLES")
            tables = {r[0] for r in cur.fetchall()}
    finally:
        conn.close()
    assert "orders" in tables, tables


def test_milvus_lite_held_by_a_migration_waits_or_is_refused(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.14: Milvus Lite by path admits one process. A second operator's migrate meets
    the migration lock, not Lite's own failure: refused naming the holder (audited), or with
    --lock-timeout it waits and then applies."""
    url, admin = pg_db
    lite = tmp_path / "state" / "milvus.db"
    cfg = write_vector_config(tmp_path, url, "milvus", uri=str(lite))
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0

    def hold(seconds: float) -> subprocess.Popen[str]:
        return _spawn_holder(url, seconds, operation="vector-upgrade", lite_path=lite)

    holder = hold(30)
    try:
        refused = run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path)
        assert refused.code == 3, refused.text
        assert f"pid {holder.pid}" in refused.err and "vector-upgrade" in refused.err, refused.err
        assert "another process" not in refused.err
        assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE outcome = 'refused'") == 1
    finally:
        _reap([holder])

    holder = hold(4)
    try:
        waited = run_cli("--config", str(cfg), "migrate", "--yes", "--lock-timeout", "90", "--json", cwd=tmp_path)
        assert waited.code == 0, waited.text
        assert len(json.loads(waited.out)["vector_applied"]) == 4
        assert holder.poll() is not None, "it ran only once the holder was done"
    finally:
        _reap([holder])
