"""The migration lock: one mutating migctl per database at a time.

PostgreSQL: a session-level advisory lock on a dedicated connection held for the whole
operation, so ``autocommit_block`` revisions stay inside it and a killed holder's lock dies
with its session. The holder names itself in ``application_name`` (read through
``pg_locks`` + ``pg_stat_activity``). MySQL/MariaDB: ``GET_LOCK`` on a dedicated connection,
with the holder's identity in a small table. SQLite: an exclusive ``flock`` on a file beside
the database, whose content names the holder.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.db import connect, create_engine, dialect_of
from migctl.core.errors import LockHeld
from migctl.core.events import EventSink, LockAcquired, LockWaiting, Notice, ignore
from migctl.core.identity import current_actor

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection, ThreadedEngine

LOCK_KEY = 0x6D69_6763_746C  # "migctl"
_APP_NAME = re.compile(r"^migctl (?P<operation>\S+) (?P<who>\S+) pid=(?P<pid>\d+)$")
DEAD_HOLDER_GRACE = 2.0  # seconds a killed holder's sessions get to end on their own
_APP_NAME_MAX = 63  # PostgreSQL keeps the first NAMEDATALEN - 1 bytes of application_name


def application_name(operation: str, who: str, pid: int) -> str:
    """``migctl OPERATION USER@HOST pid=N``, shortening USER@HOST (never the pid) to fit."""
    fixed = f"migctl {operation}  pid={pid}"
    room = _APP_NAME_MAX - len(fixed.encode())
    if len(who.encode()) > room:
        who = who.encode()[:max(room - 1, 1)].decode(errors="ignore") + "~"
    return f"migctl {operation} {who} pid={pid}"


def worker_application_name(operation: str) -> str:
    """The identity for this process's other connections to the database (Alembic's, the
    pgvector store's): a holder killed with ``kill -9`` loses its lock connection at once,
    but a statement of those keeps running on the server; the next holder finds them by it."""
    actor = current_actor()
    return application_name(operation, actor.label, actor.pid)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (another user's counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _same_host(who: str) -> bool:
    """Whether ``USER@HOST`` (perhaps shortened to fit, ending in ``~``) names this host."""
    host = who.rpartition("@")[2]
    here = socket.gethostname()
    return host == here or (host.endswith("~") and here.startswith(host[:-1]) and len(host) > 1)


def mysql_lock_name(url: str) -> str:
    """GET_LOCK names are server-wide: one lock per database (64 characters at most)."""
    from sqlalchemy.engine import make_url

    return f"migctl:{make_url(url).database or ''}"[:64]


@dataclass(frozen=True)
class LockHolder:
    who: str
    pid: int | None
    operation: str
    since: str | None

    def describe(self) -> str:
        since = f" since {self.since}" if self.since else ""
        pid = f" (pid {self.pid})" if self.pid else ""
        return f"{self.who}{pid} running {self.operation}{since}"

    def as_dict(self) -> dict[str, Any]:
        return {"who": self.who, "pid": self.pid, "operation": self.operation, "since": self.since}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _sqlite_lock_path(url: str) -> Path:
    from sqlalchemy.engine import make_url

    database = make_url(url).database or ""
    if database in ("", ":memory:"):
        return Path(os.environ.get("TMPDIR", "/tmp")) / f"migctl-memory-{os.getpid()}.lock"
    return Path(database).resolve().with_name(Path(database).name + ".migctl-lock")


async def read_holder(url: str, conn: ThreadedConnection | None = None) -> LockHolder | None:
    """Who holds the lock right now, or ``None``; reads without taking anything."""
    dialect = dialect_of(url)
    if dialect == "sqlite":
        path = _sqlite_lock_path(url)
        if not path.exists():
            return None
        with open(path) as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                try:
                    data = json.loads(fh.read() or "{}")
                except json.JSONDecodeError:
                    data = {}
                return LockHolder(data.get("who", "?"), data.get("pid"), data.get("operation", "?"), data.get("since"))
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None
    from sqlalchemy import text

    own = conn is None
    engine = create_engine(url) if own else None
    if own:
        conn = await connect(engine, url)  # type: ignore[arg-type]
    assert conn is not None
    try:
        if dialect == "postgresql":
            row = (await conn.execute(text(
                "SELECT a.application_name, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :hi AND l.objid = :lo "
                "AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
            ), {"hi": LOCK_KEY >> 32, "lo": LOCK_KEY & 0xFFFFFFFF})).first()
            if row is None:
                return None
            m = _APP_NAME.match(row[0] or "")
            since = row[1].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if row[1] else None
            if m is None:
                return LockHolder(row[0] or "unknown session", None, "?", since)
            return LockHolder(m["who"], int(m["pid"]), m["operation"], since)
        used = (await conn.execute(text("SELECT IS_USED_LOCK(:n)"), {"n": mysql_lock_name(url)})).scalar()
        if used is None:
            return None
        try:
            row = (await conn.execute(text("SELECT who, pid, operation, since FROM migctl_lock WHERE id = 1"))).first()
        except Exception:
            row = None
        if row is None:
            return LockHolder(f"connection {used}", None, "?", None)
        return LockHolder(row[0], row[1], row[2], row[3])
    finally:
        if own:
            await conn.close()
            await engine.dispose()  # type: ignore[union-attr]


class MigrationLock:
    """``async with MigrationLock(url, "upgrade", timeout=5):`` — fails fast or waits."""

    def __init__(self, url: str, operation: str, timeout: float = 0.0, sink: EventSink = ignore) -> None:
        self.url = url
        self.operation = operation
        self.timeout = max(0.0, timeout)
        self.sink = sink
        self.dialect = dialect_of(url)
        actor = current_actor()
        self.holder = LockHolder(actor.label, actor.pid, operation, _now())
        self._engine: ThreadedEngine | None = None
        self._conn: ThreadedConnection | None = None
        self._file: Any = None
        self._file_locked = False  # this process holds the flock (and wrote the identity)
        self.waited = False  # acquired only after waiting for another holder
        self.waiting_for: str | None = None  # whom it waited for when it gave up or was interrupted

    async def __aenter__(self) -> MigrationLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()

    async def acquire(self) -> None:
        """Take the lock, waiting up to the timeout; on any way out without it (refused,
        interrupted, cancelled) its connection is closed, so nothing is left queued."""
        try:
            await self._acquire()
        except BaseException:
            try:
                await self.release()
            except Exception as exc:  # the reason acquire failed is the one to report
                logging.getLogger("migctl").debug("releasing the unacquired lock failed: %s", exc)
            raise

    def refusal(self, exc: BaseException) -> str | None:
        """What to audit when ``acquire`` raised ``exc``: the lock held past the timeout, or
        the operator interrupting the wait; ``None`` for anything else (nothing was waited for)."""
        if isinstance(exc, LockHeld):
            return str(exc)
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) and self.waiting_for is not None:
            return f"interrupted while waiting for the migration lock held by {self.waiting_for}"
        return None

    async def _acquire(self) -> None:
        deadline = time.monotonic() + self.timeout
        self.waited, self.waiting_for = False, None
        await self._open()
        while True:
            if await self._try():
                self.waited, self.waiting_for = self.waiting_for is not None, None
                if self.dialect == "postgresql":
                    await self._end_dead_holders()
                self.sink(LockAcquired(self.operation))
                return
            holder = await read_holder(self.url, self._conn) if self._conn is not None else await read_holder(self.url)
            described = holder.describe() if holder else "another session"
            if time.monotonic() >= deadline:
                raise LockHeld(f"migration lock is held by {described}; retry later or pass --lock-timeout SECONDS",
                               holder=holder.as_dict() if holder else None)
            if self.waiting_for is None:
                self.sink(LockWaiting(described, self.timeout))
            self.waiting_for = described
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))

    async def _open(self) -> None:
        if self.dialect == "sqlite":
            path = _sqlite_lock_path(self.url)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a+")
            return
        self._engine = create_engine(self.url, application_name=application_name(
            self.operation, self.holder.who, self.holder.pid))
        self._conn = await connect(self._engine, self.url)
        # Autocommit: the lock is session-level and must not sit inside a transaction.
        await self._conn.execution_options(isolation_level="AUTOCOMMIT")

    async def _try(self) -> bool:
        from sqlalchemy import text

        if self.dialect == "sqlite":
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self._file_locked = True
            self._file.seek(0)
            self._file.truncate()
            self._file.write(json.dumps(self.holder.as_dict()))
            self._file.flush()
            return True
        assert self._conn is not None
        if self.dialect == "postgresql":
            got = (await self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": LOCK_KEY})).scalar()
            return bool(got)
        got = (await self._conn.execute(text("SELECT GET_LOCK(:n, 0)"), {"n": mysql_lock_name(self.url)})).scalar()
        if got != 1:
            return False
        await self._conn.execute(text(
            "CREATE TABLE IF NOT EXISTS migctl_lock (id INT PRIMARY KEY, who VARCHAR(200), pid INT, "
            "operation VARCHAR(64), since VARCHAR(40))"))
        await self._conn.execute(text("REPLACE INTO migctl_lock (id, who, pid, operation, since) "
                                      "VALUES (1, :who, :pid, :op, :since)"),
                                 {"who": self.holder.who, "pid": self.holder.pid, "op": self.operation,
                                  "since": self.holder.since})
        return True

    async def _end_dead_holders(self) -> None:
        """With the lock taken: end the sessions a killed holder left running.

        ``kill -9`` closes the holder's lock connection at once, but a statement on its other
        connections (``CREATE INDEX CONCURRENTLY`` on a shadow, a revision's DDL) runs on until
        the server next writes to the dead client, holding its locks and snapshot meanwhile: a
        resumed run then waits on it or fails with ``deadlock detected``. Those sessions are
        found by the identity in ``application_name`` (``migctl OP USER@HOST pid=N``) whose
        pid is no live process on this host; they get a moment to end, then are terminated.
        Sessions from other hosts are left alone: whether their process lives cannot be told.
        """
        from sqlalchemy import text

        assert self._conn is not None
        query = text("SELECT pid, application_name FROM pg_stat_activity WHERE datname = current_database() "
                     "AND pid <> pg_backend_pid() AND application_name LIKE 'migctl %'")

        async def dead() -> dict[int, str]:
            found = {}
            for backend, name in (await self._conn.execute(query)).all():  # type: ignore[union-attr]
                m = _APP_NAME.match(name or "")
                if m and int(m["pid"]) != os.getpid() and _same_host(m["who"]) and not pid_alive(int(m["pid"])):
                    found[int(backend)] = name
            return found

        left = await dead()
        deadline = time.monotonic() + DEAD_HOLDER_GRACE
        while left and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
            left = await dead()
        if not left:
            return
        holders = ", ".join(sorted(set(left.values())))
        ended = 0
        for backend in left:
            try:
                got = (await self._conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": backend})).scalar()
            except Exception as exc:  # not allowed (another role's session): say so, carry on
                logging.getLogger("migctl").debug("pg_terminate_backend(%s) failed: %s", backend, exc)
                got = False
            ended += bool(got)
        self.sink(Notice(f"terminated {ended} of {len(left)} database session(s) left running by a killed "
                         f"migctl ({holders})" + ("" if ended == len(left) else
                                                   "; the others may block this run until they end")))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and set(left) & set(await dead()):
            await asyncio.sleep(0.1)

    async def release(self) -> None:
        if self._file is not None:
            try:
                if self._file_locked:  # a waiter must not wipe the holder's identity
                    self._file.seek(0)
                    self._file.truncate()
                    fcntl.flock(self._file, fcntl.LOCK_UN)
            finally:
                self._file.close()
                self._file, self._file_locked = None, False
        if self._conn is not None:
            try:
                await self._conn.close()  # closing the session releases the advisory lock / GET_LOCK
            finally:
                self._conn = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
