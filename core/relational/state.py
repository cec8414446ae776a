"""What the database says: current revisions, recorded checksums, drift."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from migctl.core.audit import tables
from migctl.core.config import AlembicLocation
from migctl.core.relational.graph import RevisionGraph

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


async def current_revisions(conn: ThreadedConnection, location: AlembicLocation) -> tuple[str, ...]:
    """The version table's rows; empty when it does not exist."""
    from sqlalchemy import Column, MetaData, String, Table, inspect, select

    name, schema = location.version_table, location.version_table_schema
    exists = await conn.run_sync(lambda sync: inspect(sync).has_table(name, schema=schema))
    if not exists:
        return ()
    table = Table(name, MetaData(), Column("version_num", String(32)), schema=schema)
    rows = (await conn.execute(select(table.c.version_num))).scalars().all()
    await conn.commit()
    return tuple(sorted(rows))


async def record_checksums(conn: ThreadedConnection, applied: list[tuple[str, str, str | None]], who: str,
                           hashes: Mapping[str, str] | None = None) -> None:
    """After a run: remember the file hash of each applied revision, forget reverted ones.

    ``hashes``: sha256 by revision, taken while the run went on (the files are read then, while
    the worker waits on the database, not after it); a revision missing there is hashed now.
    """
    final: dict[str, tuple[str, str | None]] = {}
    for revision, direction, path in applied:
        final[revision] = (direction, path)
    if not final:
        return
    known = hashes or {}
    ups = [(rev, known.get(rev) or file_sha256(path), str(path))
           for rev, (direction, path) in final.items() if direction == "up" and path]
    now = datetime.now(UTC)
    if conn.dialect.name == "postgresql":
        # Two statements with array parameters: a thousand-revision run's rows in one round trip,
        # without compiling a thousand-row VALUES list.
        from sqlalchemy import text

        name = tables()["checksums"].name
        await conn.execute(text(f"DELETE FROM {name} WHERE revision = ANY(CAST(:r AS text[]))"), {"r": list(final)})
        if ups:
            revs, shas, paths = (list(col) for col in zip(*ups, strict=True))
            await conn.execute(text(
                f"INSERT INTO {name} (revision, sha256, path, applied_at, applied_by) "
                "SELECT r, s, p, :at, :by FROM unnest(CAST(:r AS text[]), CAST(:s AS text[]), "
                "CAST(:p AS text[])) AS u(r, s, p)"), {"r": revs, "s": shas, "p": paths, "at": now, "by": who})
    else:
        table = tables()["checksums"]
        await conn.execute(table.delete().where(table.c.revision.in_(list(final))))
        if ups:
            await conn.execute(table.insert(), [
                {"revision": rev, "sha256": sha, "path": path, "applied_at": now, "applied_by": who}
                for rev, sha, path in ups])
    await conn.commit()


async def drifted(conn: ThreadedConnection, graph: RevisionGraph, current: tuple[str, ...]) -> list[dict[str, str]]:
    """Applied revisions whose file changed since migctl applied them (or whose file is gone)."""
    from sqlalchemy import inspect

    if not await conn.run_sync(lambda sync: inspect(sync).has_table("migctl_revision_checksums")):
        return []
    table = tables()["checksums"]
    rows = (await conn.execute(table.select())).mappings().all()
    await conn.commit()
    applied = graph.ancestors(current)
    out = []
    for row in rows:
        rev = row["revision"]
        if rev not in applied:
            continue
        node = graph.by_id.get(rev)
        if node is None:
            out.append({"revision": rev, "reason": "file missing", "path": row["path"] or ""})
        elif file_sha256(node.path) != row["sha256"]:
            out.append({"revision": rev, "reason": "edited since applied", "path": str(node.path)})
    return sorted(out, key=lambda d: d["revision"])
