"""The ``vector_db_migrations`` table: what was applied to the vector store, and how far a run got.

It lives in the relational (PostgreSQL) database beside ``alembic_version``. A row says
``running`` with its step before the step starts, so after a crash the next run knows where
to resume; ``operations_hash`` lets ``status`` see files edited after they were applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migctl.core.secrets import scrub

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection

STATUSES = ("running", "applied", "failed", "rolled_back")
_table: list[Any] = []


def table() -> Any:
    if not _table:
        from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, Text

        _table.append(Table(
            "vector_db_migrations", MetaData(),
            Column("version", String(32), primary_key=True),
            Column("description", Text, nullable=False, default=""),
            Column("vector_store_type", String(16), nullable=False),
            Column("operations_hash", String(64), nullable=False),
            Column("status", String(16), nullable=False),
            Column("current_step", Integer),
            Column("step_description", Text),
            Column("applied_at", DateTime(timezone=True)),
            Column("applied_by", String(255)),
            Column("duration_ms", Integer),
            Column("error", Text),
        ))
    return _table[0]


@dataclass(frozen=True)
class TrackedMigration:
    version: str
    description: str
    vector_store_type: str
    operations_hash: str
    status: str
    current_step: int | None
    step_description: str | None
    applied_at: datetime | None
    applied_by: str | None
    duration_ms: int | None
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["applied_at"] = self.applied_at.isoformat(timespec="seconds") if self.applied_at else None
        return out


async def ensure_table(conn: ThreadedConnection) -> None:
    await conn.run_sync(lambda sync: table().metadata.create_all(sync, checkfirst=True))
    await conn.commit()


async def rows(conn: ThreadedConnection) -> dict[str, TrackedMigration]:
    """Every tracked version; empty when the table does not exist yet."""
    from sqlalchemy import inspect

    if not await conn.run_sync(lambda sync: inspect(sync).has_table("vector_db_migrations")):
        return {}
    t = table()
    result = (await conn.execute(t.select().order_by(t.c.version))).mappings().all()
    await conn.commit()
    return {r["version"]: TrackedMigration(**dict(r)) for r in result}


async def mark(conn: ThreadedConnection, version: str, *, description: str, store: str, operations_hash: str,
               status: str, step: int | None = None, step_description: str | None = None,
               applied_by: str | None = None, duration_ms: int | None = None, error: str | None = None) -> None:
    """Insert or update the row of ``version`` (committed at once: it must survive a crash)."""
    assert status in STATUSES
    t = table()
    values = {"description": description, "vector_store_type": store, "operations_hash": operations_hash,
              "status": status, "current_step": step, "step_description": step_description,
              "error": scrub(error) if error else None}
    if status == "applied":
        values.update(applied_at=datetime.now(UTC), applied_by=applied_by, duration_ms=duration_ms)
    updated = await conn.execute(t.update().where(t.c.version == version).values(**values))
    if updated.rowcount == 0:
        await conn.execute(t.insert().values(version=version, **values))
    await conn.commit()


async def set_hash(conn: ThreadedConnection, version: str, operations_hash: str) -> None:
    """``vector repair``: accept an edited file as what was applied."""
    t = table()
    await conn.execute(t.update().where(t.c.version == version).values(operations_hash=operations_hash))
    await conn.commit()


async def delete(conn: ThreadedConnection, versions: list[str]) -> None:
    t = table()
    await conn.execute(t.delete().where(t.c.version.in_(versions)))
    await conn.commit()
