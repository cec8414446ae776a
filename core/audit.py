"""The append-only audit log ``migctl_audit``: who did what to which database, and how it went.

A row is written when an operation starts (outcome ``running``) and completed when it ends,
so an operation killed half-way still leaves its trace. Errors are stored masked.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migctl.core.identity import current_actor
from migctl.core.secrets import scrub

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection

_tables: dict[str, Any] = {}


def tables() -> dict[str, Any]:
    """migctl's own tables, built on first use so that importing this module stays cheap."""
    if _tables:
        return _tables
    from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

    metadata = MetaData()
    _tables["metadata"] = metadata
    _tables["audit"] = Table(
        "migctl_audit", metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("started_at", DateTime(timezone=True), nullable=False),
        Column("finished_at", DateTime(timezone=True)),
        Column("actor", String(128), nullable=False),
        Column("host", String(255), nullable=False),
        Column("ssh_client", String(64)),
        Column("pid", Integer),
        Column("environment", String(64), nullable=False),
        Column("action", String(32), nullable=False),
        Column("target", String(255)),
        Column("revisions_before", Text),
        Column("revisions_after", Text),
        Column("outcome", String(16), nullable=False),
        Column("error", Text),
        Column("duration_ms", Integer),
    )
    _tables["checksums"] = Table(
        "migctl_revision_checksums", metadata,
        Column("revision", String(64), primary_key=True),
        Column("sha256", String(64), nullable=False),
        Column("path", Text),
        Column("applied_at", DateTime(timezone=True), nullable=False),
        Column("applied_by", String(255)),
    )
    # One row: the name of the protected environment this database belongs to (core/guard.py).
    _tables["protection"] = Table(
        "migctl_protection", metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("name", String(64), nullable=False),
        Column("marked_at", DateTime(timezone=True), nullable=False),
        Column("marked_by", String(255)),
    )
    return _tables


async def ensure_tables(conn: ThreadedConnection) -> None:
    """Create migctl's tables if missing.

    Parallel first runs (four operators pressing upgrade at once) would race on ``CREATE TABLE``
    and the losers die on ``pg_type``'s unique index; on PostgreSQL a transaction-level advisory
    lock serialises the creation (in a transaction of its own: migctl's connection autocommits,
    which would release the lock with the statement that took it), and elsewhere a retry
    covers the race.
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    def create(sync: Any) -> None:
        if sync.dialect.name != "postgresql":
            tables()["metadata"].create_all(sync, checkfirst=True)
            return
        # psycopg's own transaction block: BEGIN/COMMIT on migctl's autocommit connection (a
        # savepoint inside a caller's transaction), so the lock holds until the tables exist.
        with sync.connection.driver_connection.transaction():
            sync.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DDL_LOCK_KEY})
            tables()["metadata"].create_all(sync, checkfirst=True)

    for attempt in range(1, 5):
        try:
            await conn.run_sync(create)
            await conn.commit()
            return
        except DBAPIError:
            await conn.rollback()
            if attempt == 4:
                raise
            await asyncio.sleep(0.05 * attempt)


# A key of its own, distinct from the migration lock's, held only while the tables are created.
_DDL_LOCK_KEY = 0x6D69_6763_746C_0DD1 - (1 << 63)


@contextlib.asynccontextmanager
async def flushed_by_finish(conn: ThreadedConnection) -> AsyncIterator[None]:
    """PostgreSQL: commit what is written inside without waiting for the disk.

    For the writes between :func:`start` and :func:`finish` (the open row, checksums): each
    would otherwise wait for its own WAL flush, and on a busy disk one flush can take longer
    than a short migration. :func:`finish` commits synchronously, and that flush covers every
    record before it; a server crash in between can lose only writes the run's outcome would
    have superseded."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        await conn.exec_driver_sql("SET synchronous_commit TO off")
    try:
        yield
    finally:
        if postgres:
            from sqlalchemy.exc import DBAPIError

            # Back to the server's, database's or role's own setting (which may ask for more
            # than "on", e.g. remote_apply); a broken connection must not hide the real error.
            with contextlib.suppress(DBAPIError):
                await conn.exec_driver_sql("RESET synchronous_commit")


async def resync_ids(conn: ThreadedConnection) -> None:
    """PostgreSQL: move the audit's id sequence past its rows (a restore may have set it back)."""
    from sqlalchemy import text

    if conn.dialect.name != "postgresql":
        return
    await conn.execute(text("SELECT setval(pg_get_serial_sequence('migctl_audit', 'id'), "
                            "GREATEST((SELECT max(id) FROM migctl_audit), 1))"))
    await conn.commit()


@dataclass
class AuditEntry:
    """An open audit row; :meth:`finish` completes it."""

    id: int | None
    started: float


async def start(conn: ThreadedConnection, environment: str, action: str, target: str | None,
                before: tuple[str, ...]) -> AuditEntry:
    actor = current_actor()
    table = tables()["audit"]
    result = await conn.execute(table.insert().values(
        started_at=datetime.now(UTC), actor=actor.user, host=actor.host, ssh_client=actor.ssh_client,
        pid=actor.pid, environment=environment, action=action, target=target,
        revisions_before=",".join(before), outcome="running",
    ))
    await conn.commit()
    pk = result.inserted_primary_key
    return AuditEntry(pk[0] if pk else None, time.monotonic())


async def finish(conn: ThreadedConnection, entry: AuditEntry, outcome: str, after: tuple[str, ...] | None,
                 error: str | None = None) -> None:
    table = tables()["audit"]
    await conn.execute(table.update().where(table.c.id == entry.id).values(
        finished_at=datetime.now(UTC), outcome=outcome,
        revisions_after=",".join(after) if after is not None else None,
        error=scrub(error) if error else None,
        duration_ms=int((time.monotonic() - entry.started) * 1000),
    ))
    await conn.commit()


async def record(conn: ThreadedConnection, environment: str, action: str, target: str | None,
                 before: tuple[str, ...], outcome: str, error: str | None = None) -> None:
    """One complete row at once, for operations refused before they started."""
    entry = await start(conn, environment, action, target, before)
    await finish(conn, entry, outcome, before, error)


async def recent(conn: ThreadedConnection, limit: int = 20) -> list[dict[str, Any]]:
    from sqlalchemy import inspect

    has = await conn.run_sync(lambda sync: inspect(sync).has_table("migctl_audit"))
    if not has:
        return []
    table = tables()["audit"]
    rows = (await conn.execute(table.select().order_by(table.c.id.desc()).limit(limit))).mappings().all()
    out = []
    for row in rows:
        item = dict(row)
        for key in ("started_at", "finished_at"):
            if item[key] is not None:
                item[key] = item[key].isoformat(timespec="seconds")
        out.append(item)
    return out
