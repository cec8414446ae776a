"""Reading, writing and copying a pgvector collection's rows: a mixin of
:class:`core.vector.stores.pgvector.PgVectorStore`.

A rebuild's copy runs inside the server, one ``INSERT ... SELECT`` per batch; reads page by
primary key; writes go through a binary COPY into a temporary table, so a batch sent twice
adds nothing. The store provides ``_db`` (its asyncpg connection), ``_errors``, ``_q``,
``_rows_of`` and ``_pk``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pgvector import Vector

from migctl.core.vector.stores.base import Row, StoreError
from migctl.core.vector.stores.pgvector_catalog import _quote, field_from_column

if TYPE_CHECKING:
    import asyncpg


def _as_vector(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class PgVectorRows:
    if TYPE_CHECKING:  # provided by PgVectorStore
        @property
        def _db(self) -> asyncpg.Connection: ...
        def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]: ...
        def _q(self, name: str, what: str = "collection") -> str: ...
        async def _rows_of(self, name: str) -> tuple[str, list[Any]]: ...
        @staticmethod
        def _pk(name: str, columns: list[Any]) -> str: ...

    async def copy_rows(self, source: str, target: str, after_pk: Any, limit: int,
                        fields: Sequence[str], fill: Mapping[str, Any]) -> tuple[int, Any]:
        """Copy the next ``limit`` rows (primary key > ``after_pk``) from ``source`` into
        ``target`` inside the server, giving ``fill`` values to fields the source lacks.

        Returns (rows in this batch, the batch's last key; None when the source is exhausted).
        No row passes through Python, and one statement reads, writes and counts the batch: a
        rebuild copies at about the speed of a bulk load and its memory does not grow with the
        table. A batch is one transaction, so a copy resumed after the target's largest key
        (as the executor does) neither skips nor repeats a row; a row of ``target`` above
        ``after_pk`` (another writer) fails the batch on its key and it rolls back whole.
        """
        source, s_cols = await self._rows_of(source)
        target, t_cols = await self._rows_of(target)
        pk = self._pk(source, s_cols)
        types = {c["name"]: c["type"] for c in t_cols}
        if pk not in types:
            raise StoreError(f"{target} has no primary-key column {pk!r}")
        for name in (*fields, *fill):
            _quote(name, "field")
            if name not in types:
                raise StoreError(f"{target} has no field {name!r}")
        key, key_type = _quote(pk), types[pk]
        # $1 the limit, then the key to start after (on all but the first batch), then the fills
        args: list[Any] = [limit] if after_pk is None else [limit, after_pk]
        after = f"WHERE {key} > $2::{key_type} " if after_pk is not None else ""
        columns = ", ".join(_quote(n) for n in (*fields, *fill))
        values = ", ".join([*(_quote(n) for n in fields),
                            *(f"CAST(${len(args) + i + 1} AS {types[n]})" for i, n in enumerate(fill))])
        with self._errors(f"cannot copy {source} into {target}"):
            row = await self._db.fetchrow(
                f"WITH moved AS (INSERT INTO {self._q(target)} ({columns}) SELECT {values} FROM {self._q(source)} "
                f"{after}ORDER BY {key} LIMIT $1 RETURNING {key}) SELECT count(*) AS n, max({key}) AS last FROM moved",
                *args, *fill.values())
        return int(row["n"]), (row["last"] if row["n"] else None)

    async def max_pk(self, name: str) -> Any:
        name, columns = await self._rows_of(name)
        pk = _quote(self._pk(name, columns))
        with self._errors(f"cannot read {name}"):
            return await self._db.fetchval(f"SELECT max({pk}) FROM {self._q(name)}")

    async def flush(self, name: str) -> None:
        """Committed rows are read as cheaply as any: nothing to do."""

    async def read_batch(self, name: str, after_pk: Any, limit: int,
                         fields: Sequence[str] | None = None) -> list[Row]:
        """Rows in primary-key order (the column's collation for varchar keys); vectors as lists."""
        name, columns = await self._rows_of(name)
        known, pk = [c["name"] for c in columns], self._pk(name, columns)
        wanted = list(fields) if fields is not None else known
        if unknown := [f for f in wanted if f not in known]:
            raise StoreError(f"{name} has no field {', '.join(map(str, unknown))}")
        select = ", ".join(_quote(f, "field") for f in wanted)
        args: list[Any] = [int(limit)]
        where = ""
        if after_pk is not None:
            where, args = f"WHERE {_quote(pk)} > $2 ", [int(limit), after_pk]
        with self._errors(f"cannot read {name}"):
            records = await self._db.fetch(
                f"SELECT {select} FROM {self._q(name)} {where}ORDER BY {_quote(pk)} LIMIT $1", *args)
        return [{k: v.to_list() if isinstance(v, Vector) else v for k, v in r.items()} for r in records]

    async def write_batch(self, name: str, rows: Sequence[Row]) -> int:
        """Binary COPY into a temporary table, then ``INSERT ... ON CONFLICT DO NOTHING``, in
        one transaction: a batch lands whole or not at all, and sending it twice adds nothing."""
        if not rows:
            return 0
        name, columns = await self._rows_of(name)
        known, pk = [c["name"] for c in columns], self._pk(name, columns)
        present = set().union(*(row.keys() for row in rows))
        if unknown := sorted(map(str, present - set(known))):
            raise StoreError(f"{name} has no field {', '.join(unknown)}")
        used = [c for c in known if c in present]
        vectors = {c["name"] for c in columns
                   if field_from_column(c["name"], c["type"], False, False).type == "float_vector"}
        records = [tuple(_as_vector(row.get(c)) if c in vectors else row.get(c) for c in used) for row in rows]
        listed = ", ".join(_quote(c, "field") for c in used)
        with self._errors(f"cannot write to {name}"):
            async with self._db.transaction():
                await self._db.execute(f'CREATE TEMP TABLE "_migctl_batch" (LIKE {self._q(name)}) ON COMMIT DROP')
                await self._db.copy_records_to_table("_migctl_batch", records=records, columns=used)
                await self._db.execute(f'INSERT INTO {self._q(name)} ({listed}) SELECT {listed} '
                                       f'FROM "_migctl_batch" ON CONFLICT ({_quote(pk)}) DO NOTHING')
        return len(rows)
