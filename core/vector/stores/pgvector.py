"""The pgvector store: collections are tables, aliases are views, over one asyncpg connection.

Mapping, for callers that read the database directly:

* a collection is a table in ``schema`` with at least one ``vector`` column; other tables in the
  schema (the relational schema, say) are invisible to this store and never dropped by it;
* its vector index is ``<table>_<field>_idx`` (HNSW or IVFFlat). FLAT builds no index, so
  :meth:`PgVectorStore.describe` reports a FLAT collection — or one whose index was dropped —
  with ``index=None``;
* an alias is a view ``SELECT * FROM <table>`` commented ``migctl alias``; views without that
  comment are not aliases and are never replaced or dropped;
* rows are plain dicts: vectors come back as ``list[float]`` (float32 precision), jsonb as
  Python objects; on input vectors may be lists, tuples or numpy arrays.

Every name is checked to be a plain identifier and double-quoted before it reaches SQL; values
only ever travel as bind parameters (a column default is quoted by the server's
``quote_literal`` from a bind parameter).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from pgvector import Vector
from pgvector.asyncpg import register_vector

from migctl.core.db import first_line
from migctl.core.lock import worker_application_name
from migctl.core.secrets import mask_url, remember, scrub
from migctl.core.vector.render import pgvector_column_type, pgvector_index_name, pgvector_index_sql
from migctl.core.vector.stores.base import (
    Capabilities,
    LiveCollection,
    StoreError,
    StoreInfo,
    StoreUnreachable,
)
from migctl.core.vector.stores.pgvector_catalog import (
    _ALIASES,
    _COLLECTIONS,
    _COLUMNS,
    _INDEXES,
    ALIAS_COMMENT,
    _quote,
    as_built,
    asyncpg_dsn,
    field_difference,
    field_from_column,
    index_from_row,
)
from migctl.core.vector.stores.pgvector_rows import PgVectorRows
from migctl.core.vector.templates import (
    PG_MAX_INDEXED_DIM,
    CollectionSpec,
    FieldSpec,
    IndexSpec,
    validate_for_store,
)
from migctl.core.vector.yaml_source import TemplateError

INDEX_MEMORY = "1GB"  # HNSW builds far faster when the graph fits in memory


def _default_text(value: Any, f: FieldSpec) -> str:
    if f.type == "json":
        return json.dumps(value)
    if f.type == "float_vector":
        return Vector(list(value) if isinstance(value, tuple) else value).to_text()
    if f.type == "bool":
        return "true" if value else "false"
    return str(value)


class PgVectorStore(PgVectorRows):
    """:class:`~core.vector.stores.base.VectorStore` on PostgreSQL + pgvector (tables and views)."""

    kind = "pgvector"
    capabilities = Capabilities(add_field=True, drop_field=True, rename_collection=True, truncate=True,
                                partitions=False, partition_load=False, aliases=True, max_dim=16000)

    def __init__(self, url: str, schema: str = "public") -> None:
        self.url = url
        self.schema = schema
        self._schema_sql = _quote(schema, "schema")
        self._conn: asyncpg.Connection | None = None

    async def __aenter__(self) -> PgVectorStore:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- connection -----------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connection, create the extension (and schema) if missing, set codecs."""
        if self._conn is not None and not self._conn.is_closed():
            return
        dsn, kwargs = asyncpg_dsn(self.url)
        remember(urlsplit(self.url).password)
        try:
            conn = await asyncpg.connect(dsn, timeout=10, command_timeout=None,
                                         server_settings={"application_name": worker_application_name("vector")}, **kwargs)
        except Exception as exc:  # OSError, asyncpg and DSN errors alike
            raise StoreUnreachable(f"cannot connect to {mask_url(self.url)}: {first_line(exc)}") from None
        try:
            with self._errors("cannot prepare pgvector"):
                ext_sql = ("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
                           "WHERE e.extname = 'vector'")
                if (ext_schema := await conn.fetchval(ext_sql)) is None:
                    await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
                    ext_schema = await conn.fetchval(ext_sql)
                if not await conn.fetchval("SELECT true FROM pg_namespace WHERE nspname = $1", self.schema):
                    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema_sql}")
                await conn.execute("SELECT set_config('search_path', quote_ident($1) || ', ' || quote_ident($2), false)",
                                   self.schema, ext_schema)
                await register_vector(conn, schema=ext_schema)
                await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                                          encoder=lambda v: b"\x01" + json.dumps(v).encode(),
                                          decoder=lambda b: json.loads(bytes(b[1:])))
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            if not conn.is_closed():
                await conn.close()

    async def info(self) -> StoreInfo:
        with self._errors("cannot read versions"):
            server = await self._db.fetchval("SHOW server_version")
            ext = await self._db.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        return StoreInfo(self.kind, mask_url(self.url), f"PostgreSQL {server}, pgvector {ext}",
                         {"schema": self.schema, "pgvector": ext})

    @property
    def _db(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            raise StoreError(f"pgvector store {mask_url(self.url)} is not connected")
        return self._conn

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Database failures as one-line :class:`StoreError` (lost connection: unreachable)."""
        try:
            yield
        except (StoreError, TemplateError):
            raise
        except (asyncpg.ConnectionDoesNotExistError, ConnectionError, OSError) as exc:
            raise StoreUnreachable(f"lost connection to {mask_url(self.url)}: {first_line(exc)}",
                                   detail=scrub(str(exc))) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, ValueError, TypeError) as exc:
            raise StoreError(f"{doing}: {first_line(exc)}", detail=scrub(str(exc))) from None

    def _q(self, name: str, what: str = "collection") -> str:
        return f"{self._schema_sql}.{_quote(name, what)}"

    # --- reading the catalog --------------------------------------------------------------

    async def _columns(self, name: str) -> list[Any]:
        return await self._db.fetch(_COLUMNS, self.schema, name)

    async def _table(self, name: str) -> list[Any]:
        """The columns of collection ``name``; a missing table raises."""
        _quote(name, "collection")
        with self._errors(f"cannot read {name}"):
            columns = await self._columns(name)
        if not columns:
            raise StoreError(f"no collection {name!r} in schema {self.schema!r}")
        return columns

    async def _rows_of(self, name: str) -> tuple[str, list[Any]]:
        """The table behind ``name`` (a collection, or a migctl alias of one) and its columns."""
        _quote(name, "collection")
        target = (await self.list_aliases()).get(name, name)
        return target, await self._table(target)

    @staticmethod
    def _pk(name: str, columns: list[Any]) -> str:
        keys = [c["name"] for c in columns if c["primary"]]
        if len(keys) != 1:
            raise StoreError(f"{name}: expected one primary-key column, found {len(keys)}")
        return keys[0]

    async def list_collections(self) -> list[str]:
        with self._errors("cannot list collections"):
            return [r[0] for r in await self._db.fetch(_COLLECTIONS, self.schema)]

    async def describe(self, name: str) -> LiveCollection | None:
        _quote(name, "collection")
        with self._errors(f"cannot describe {name}"):
            columns = await self._columns(name)
            fields = tuple(field_from_column(c["name"], c["type"], c["notnull"], c["primary"]) for c in columns)
            if not any(f.type == "float_vector" for f in fields):
                return None
            ours = {pgvector_index_name(name, f.name) for f in fields}
            valid = [r for r in await self._db.fetch(_INDEXES, self.schema, name) if r["valid"]]
            valid.sort(key=lambda r: r["name"] not in ours)
            rows = await self._db.fetchval(f"SELECT count(*) FROM {self._q(name)}")
        aliases = tuple(a for a, t in (await self.list_aliases()).items() if t == name)
        return LiveCollection(name, fields, index_from_row(valid[0]) if valid else None, rows, aliases)

    async def count(self, name: str) -> int:
        name, _ = await self._rows_of(name)
        with self._errors(f"cannot count {name}"):
            return await self._db.fetchval(f"SELECT count(*) FROM {self._q(name)}")

    # --- collections ----------------------------------------------------------------------

    async def create_collection(self, spec: CollectionSpec) -> None:
        """Table and index in one transaction; an identical existing table is a no-op (a missing
        index is then built), a different one raises naming the difference."""
        validate_for_store(spec, "pgvector")
        with self._errors(f"cannot read {spec.name}"):
            existing = await self._columns(spec.name)
        if existing:
            live = [field_from_column(c["name"], c["type"], c["notnull"], c["primary"]) for c in existing]
            if problem := field_difference(live, spec.fields):
                raise StoreError(f"{spec.name} exists with a different schema: {problem}")
            await self.create_index(spec.name, spec.index)
            return
        columns = []
        for f in spec.fields:
            constraint = " PRIMARY KEY" if f.primary else "" if f.nullable else " NOT NULL"
            columns.append(f"{_quote(f.name, 'field')} {pgvector_column_type(f)}{constraint}")
        with self._errors(f"cannot create {spec.name}"):
            async with self._db.transaction():
                await self._db.execute(f"CREATE TABLE {self._q(spec.name)} ({', '.join(columns)})")
                if spec.index.index_type != "FLAT":
                    await self._db.execute(pgvector_index_sql(spec.name, spec.index))

    async def drop_collection(self, name: str) -> None:
        """Drop the table; a missing one is a no-op, one still behind an alias is refused."""
        if await self.describe(name) is None:
            return
        if aliases := [a for a, t in (await self.list_aliases()).items() if t == name]:
            raise StoreError(f"{name} still has aliases {', '.join(aliases)}; drop or move them first")
        with self._errors(f"cannot drop {name}"):
            await self._db.execute(f"DROP TABLE IF EXISTS {self._q(name)}")

    async def _moved_already(self, old: str, new: str) -> bool:
        """Whether only ``new`` is there (a rename or swap done before a crash); neither: raise."""
        if await self._columns(old):
            return False
        if await self._columns(new):
            return True
        raise StoreError(f"no collection {old!r} in schema {self.schema!r}")

    async def rename_collection(self, old: str, new: str) -> None:
        """Rename the table, its vector index and primary key; done already (only ``new``) is a no-op."""
        _quote(new, "collection")
        with self._errors(f"cannot rename {old}"):
            if await self._moved_already(old, new):
                return
            async with self._db.transaction():
                await self._db.execute(f"ALTER TABLE {self._q(old)} RENAME TO {_quote(new)}")
                for row in await self._db.fetch(_INDEXES, self.schema, new):
                    if row["name"] == pgvector_index_name(old, row["column"]):
                        index = _quote(pgvector_index_name(new, row["column"]))
                        await self._db.execute(f"ALTER INDEX {self._q(row['name'], 'index')} RENAME TO {index}")
                pk_name = (await self._columns(new))[0]["pk_name"]
                if pk_name == f"{old}_pkey" and len(f"{new}_pkey") <= 63:
                    await self._db.execute(f"ALTER TABLE {self._q(new)} RENAME CONSTRAINT "
                                           f"{_quote(pk_name)} TO {_quote(new + '_pkey')}")

    async def replace_collection(self, name: str, shadow: str) -> None:
        """Drop ``name``, rename ``shadow`` to it and re-point their alias views, in one
        transaction: readers of the name wait for the commit, then see the new table."""
        _quote(name, "collection")
        with self._errors(f"cannot swap {shadow} in as {name}"):
            if await self._moved_already(shadow, name):
                return
            aliases = [a for a, t in (await self.list_aliases()).items() if t in (name, shadow)]
            async with self._db.transaction():
                for alias in aliases:
                    await self._db.execute(f"DROP VIEW {self._q(alias, 'alias')}")
                await self._db.execute(f"DROP TABLE IF EXISTS {self._q(name)}")
                await self.rename_collection(shadow, name)
                for alias in aliases:
                    await self._create_view(alias, name)

    async def truncate(self, name: str) -> None:
        await self._table(name)
        with self._errors(f"cannot truncate {name}"):
            await self._db.execute(f"TRUNCATE {self._q(name)}")

    # --- indexes and fields ---------------------------------------------------------------

    async def create_index(self, name: str, index: IndexSpec) -> None:
        """Build the vector index: ``CONCURRENTLY`` with more memory when the table has rows.

        FLAT is an exact scan and builds nothing. The same index already there is a no-op; an
        invalid one of that name (a build that crashed) is dropped and rebuilt."""
        live = {f.name: f for f in (field_from_column(c["name"], c["type"], c["notnull"], c["primary"])
                                    for c in await self._table(name))}
        target = live.get(index.field)
        if target is None or target.type != "float_vector":
            raise StoreError(f"{name}: no vector field {index.field!r} to index")
        if index.index_type == "FLAT":
            return
        if int(target.dim or 0) > PG_MAX_INDEXED_DIM:
            raise StoreError(f"{name}: pgvector indexes at most {PG_MAX_INDEXED_DIM} dimensions, "
                             f"{index.field} has {target.dim}; use FLAT")
        index_name = pgvector_index_name(name, index.field)
        with self._errors(f"cannot index {name}"):
            for row in await self._db.fetch(_INDEXES, self.schema, name):
                if row["name"] != index_name:
                    continue
                if not row["valid"]:
                    await self._db.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self._q(index_name, 'index')}")
                elif index_from_row(row) == as_built(index):
                    return
                else:
                    raise StoreError(f"{name} has index {index_name} already, built differently; drop it first")
            if not await self._db.fetchval(f"SELECT EXISTS (SELECT 1 FROM {self._q(name)})"):
                await self._db.execute(pgvector_index_sql(name, index))
                return
            await self._db.execute(f"SET maintenance_work_mem = '{INDEX_MEMORY}'")
            try:
                await self._db.execute(pgvector_index_sql(name, index, concurrently=True))
            finally:
                await self._db.execute("RESET maintenance_work_mem")

    async def drop_index(self, name: str, field_name: str) -> None:
        """Drop every vector index on ``field_name`` (``CONCURRENTLY``); none is a no-op."""
        _quote(field_name, "field")
        await self._table(name)
        with self._errors(f"cannot drop the index of {name}"):
            for row in await self._db.fetch(_INDEXES, self.schema, name):
                if row["column"] == field_name:
                    await self._db.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {self._q(row['name'], 'index')}")

    async def add_field(self, name: str, field_spec: FieldSpec, default: Any = None) -> None:
        """``ALTER TABLE ADD COLUMN`` (with ``default`` for existing and future rows); adding
        the same field again is a no-op. Aliases are rebuilt so they show the new column."""
        column_type = pgvector_column_type(field_spec)
        if field_spec.primary:
            raise StoreError(f"{name}: cannot add a primary key field ({field_spec.name})")
        live = [field_from_column(c["name"], c["type"], c["notnull"], c["primary"]) for c in await self._table(name)]
        same = next((f for f in live if f.name == field_spec.name), None)
        if same is not None:
            if (problem := field_difference([same], [field_spec])) is None:
                return
            raise StoreError(f"{name}: field {field_spec.name} exists already ({problem})")
        sql = f"ALTER TABLE {self._q(name)} ADD COLUMN {_quote(field_spec.name, 'field')} {column_type}"
        with self._errors(f"cannot add {field_spec.name} to {name}"):
            if default is not None:
                literal = await self._db.fetchval("SELECT quote_literal($1::text)", _default_text(default, field_spec))
                sql += f" DEFAULT {literal}::{column_type}"
            await self._with_aliases_rebuilt(name, sql + ("" if field_spec.nullable else " NOT NULL"))

    async def drop_field(self, name: str, field_name: str) -> None:
        """Drop a non-key column (its index goes with it); a missing one is a no-op."""
        _quote(field_name, "field")
        column = next((c for c in await self._table(name) if c["name"] == field_name), None)
        if column is None:
            return
        if column["primary"]:
            raise StoreError(f"{name}: cannot drop the primary key {field_name}")
        with self._errors(f"cannot drop {field_name} from {name}"):
            await self._with_aliases_rebuilt(name, f"ALTER TABLE {self._q(name)} DROP COLUMN {_quote(field_name)}")

    async def _with_aliases_rebuilt(self, name: str, sql: str) -> None:
        """Run ``sql`` with the table's alias views dropped and recreated around it (a view
        freezes ``SELECT *`` at creation and blocks dropping a column it shows)."""
        aliases = [a for a, t in (await self.list_aliases()).items() if t == name]
        async with self._db.transaction():
            for alias in aliases:
                await self._db.execute(f"DROP VIEW {self._q(alias, 'alias')}")
            await self._db.execute(sql)
            for alias in aliases:
                await self._create_view(alias, name)

    # --- aliases --------------------------------------------------------------------------

    async def list_aliases(self) -> dict[str, str]:
        with self._errors("cannot list aliases"):
            return {r["alias"]: r["target"] for r in await self._db.fetch(_ALIASES, self.schema, ALIAS_COMMENT)}

    async def _create_view(self, alias: str, collection: str) -> None:
        await self._db.execute(f"CREATE VIEW {self._q(alias, 'alias')} AS SELECT * FROM {self._q(collection)}")
        await self._db.execute(f"COMMENT ON VIEW {self._q(alias, 'alias')} IS '{ALIAS_COMMENT}'")

    async def _alias_target(self, alias: str, collection: str) -> str | None:
        _quote(alias, "alias")
        if await self.describe(collection) is None:
            raise StoreError(f"no collection {collection!r} in schema {self.schema!r}")
        return (await self.list_aliases()).get(alias)

    async def create_alias(self, alias: str, collection: str) -> None:
        """A view on ``collection``; the same alias existing already is a no-op."""
        current = await self._alias_target(alias, collection)
        if current == collection:
            return
        if current is not None:
            raise StoreError(f"alias {alias} points at {current} already; alter it instead")
        with self._errors(f"cannot create alias {alias}"):
            async with self._db.transaction():
                await self._create_view(alias, collection)

    async def alter_alias(self, alias: str, collection: str) -> None:
        """Point ``alias`` at ``collection``: drop and recreate the view in one transaction."""
        current = await self._alias_target(alias, collection)
        if current is None:
            raise StoreError(f"no alias {alias!r} in schema {self.schema!r}")
        if current == collection:
            return
        with self._errors(f"cannot alter alias {alias}"):
            async with self._db.transaction():
                await self._db.execute(f"DROP VIEW {self._q(alias, 'alias')}")
                await self._create_view(alias, collection)

    async def drop_alias(self, alias: str) -> None:
        """Drop a migctl alias view; a missing alias is a no-op, any other relation is refused."""
        _quote(alias, "alias")
        if alias not in await self.list_aliases():
            with self._errors(f"cannot drop alias {alias}"):
                taken = await self._db.fetchval(
                    "SELECT true FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = $1 AND c.relname = $2", self.schema, alias)
            if taken:
                raise StoreError(f"{alias} is not a migctl alias; refusing to drop it")
            return
        with self._errors(f"cannot drop alias {alias}"):
            await self._db.execute(f"DROP VIEW IF EXISTS {self._q(alias, 'alias')}")

    # --- partitions -----------------------------------------------------------------------

    async def list_partitions(self, name: str) -> list[str]:
        raise StoreError("pgvector has no partitions")

    async def create_partition(self, name: str, partition: str) -> None:
        raise StoreError("pgvector has no partitions")

    async def drop_partition(self, name: str, partition: str) -> None:
        raise StoreError("pgvector has no partitions")
