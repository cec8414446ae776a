"""Reading, writing and copying a Milvus collection's rows: a mixin of
:class:`core.vector.stores.milvus.MilvusStore`.

Copies page by primary key (``pk > last``), pass the query's columns into the upsert undecoded
(:mod:`.milvus_columns`) and read the next page while writing one. Milvus Lite answers a
filtered query by scanning the whole collection, so on Lite integer keys are read in windows
looked up by key, and recent writes are flushed before they are read. On Milvus Lite by path
(its engine in this process) a copy's pages move from collection to collection inside the
engine, without the client.

The store provides ``_run`` (one client call at a time in a worker thread), ``_fields``,
``_ensure_loaded``, ``_lite_collection``, ``server``, ``lite``, ``db_name`` and the copy's read-ahead state
(``_pool``, ``_prefetch``, ``_row_bytes``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from migctl.core.vector.stores.base import Row
from migctl.core.vector.templates import FieldSpec

QUERY_WINDOW = 16384  # Milvus refuses a query whose offset + limit exceeds this
PAGE_BYTES = 16 * 2**20  # one copied page, well under the servers' 64 MB message limit
INTEGER_KEYS = ("int64", "int32", "int16", "int8")
INT64_MAX = 2**63 - 1
T = TypeVar("T")


def _after(pk: FieldSpec, value: Any) -> str:
    if value is None:
        return ""
    if pk.type == "varchar":
        return f"{pk.name} > {json.dumps(str(value), ensure_ascii=False)}"
    return f"{pk.name} > {int(value)}"


def _floats(value: Any) -> list[float]:
    if isinstance(value, list):
        return value
    return value.tolist() if hasattr(value, "tolist") else [float(x) for x in value]


def _keys_after(after: Any, size: int) -> list[int]:
    """The ``size`` integer keys after ``after`` (fewer at the top of int64)."""
    low = int(after) + 1
    return list(range(low, min(low + size, INT64_MAX + 1)))


def _record_bytes(record: Mapping[str, Any]) -> int:
    """About what a row takes on the wire: 4 bytes a float, text and JSON as their length."""
    size = 8 * len(record)
    for value in record.values():
        if isinstance(value, str):
            size += len(value)
        elif isinstance(value, (list, tuple)):
            size += 4 * len(value)
        elif isinstance(value, dict):
            size += len(json.dumps(value, default=str))
    return size


class MilvusRows:
    if TYPE_CHECKING:  # provided by MilvusStore
        server: str
        lite: bool
        db_name: str | None
        _pool: ThreadPoolExecutor | None
        _prefetch: tuple[tuple[Any, ...], Future[tuple[list[Any], list[Any]]]] | None
        _row_bytes: dict[str, int]

        async def _run(self, what: str, fn: Callable[..., T], *args: Any, read_ahead: bool = False) -> T: ...
        def _fields(self, c: Any, name: str) -> tuple[FieldSpec, ...]: ...
        def _ensure_loaded(self, c: Any, name: str) -> None: ...
        def _lite_collection(self, name: str) -> Any: ...

    async def read_batch(self, name: str, after_pk: Any, limit: int,
                         fields: Sequence[str] | None = None) -> list[Row]:
        return await self._run(f"read rows of {name}", self._read, name, after_pk, limit, fields)

    def _read(self, c: Any, name: str, after_pk: Any, limit: int, fields: Sequence[str] | None) -> list[Row]:
        from migctl.core.vector.stores import milvus_columns  # imports pymilvus

        schema = self._fields(c, name)
        pk = next(f for f in schema if f.primary)
        wanted = [pk.name, *(n for n in (fields or [f.name for f in schema]) if n != pk.name)]
        vectors = {f.name for f in schema if f.type == "float_vector"}
        self._ensure_loaded(c, name)

        def plain(page: list[Row]) -> list[Row]:
            return sorted(({k: _floats(r[k]) if k in vectors else r[k] for k in wanted} for r in page),
                          key=lambda r: r[pk.name])

        rows: list[Row] = []
        while len(rows) < limit and (window := self._key_window(c, name, pk, rows[-1][pk.name] if rows else after_pk,
                                                                 limit - len(rows), wanted)):
            rows += plain(milvus_columns.rows_from_columns(window[0]))
        while len(rows) < limit:
            size = min(limit - len(rows), QUERY_WINDOW)
            columns, _ = milvus_columns.query_columns(c, name, _after(pk, rows[-1][pk.name] if rows else after_pk),
                                                      wanted, size, pk.name)
            page = milvus_columns.rows_from_columns(columns)
            rows += plain(page)
            if len(page) < size:
                break
        return rows

    def _key_window(self, c: Any, name: str, pk: FieldSpec, after: Any, size: int,
                    wanted: Sequence[str]) -> tuple[list[Any], list[Any]] | None:
        """Milvus Lite, integer keys: the columns and keys of the rows with keys ``after+1 ..
        after+size``, looked up by key; None elsewhere, or where fewer than half of them exist.

        Every filtered Lite query scans the whole collection (2 s at 20,000 rows of 768
        dimensions, growing with the collection), while a lookup by key costs a tenth of that
        for the same rows. Integer keys are dense in nearly every collection (auto ids,
        sequences), so callers read window after window as long as they come back at least
        half full; after a sparser one the caller's filtered query pages on from its last row,
        so no row is ever skipped (a window's missing keys are known to be absent).
        """
        from migctl.core.vector.stores import milvus_columns

        if self.server != "milvus-lite" or pk.type not in INTEGER_KEYS or after is None:
            return None
        if not (window := _keys_after(after, size)):
            return None
        columns, keys = milvus_columns.query_columns(c, name, f"{pk.name} in {window}", wanted, None, pk.name)
        return (columns, keys) if len(keys) * 2 >= len(window) else None

    async def copy_rows(self, source: str, target: str, after_pk: Any, limit: int,
                        fields: Sequence[str], fill: Mapping[str, Any]) -> tuple[int, Any]:
        """Copy the next rows (primary key > ``after_pk``, at most ``limit`` and about
        :data:`PAGE_BYTES`) of ``source`` into ``target``; returns how many and the key to go on
        after: the largest key copied, or the end of a window of keys that was read whole.
        Columns pass from the query response into the upsert as they are
        (:mod:`.milvus_columns`); pages with nullable columns, ``fill`` values or more than
        :data:`PAGE_BYTES` go through Python rows, which pymilvus packs to the target's schema."""
        return await self._run(f"copy rows of {source} into {target}", self._copy_rows,
                               source, target, after_pk, limit, fields, fill, read_ahead=True)

    def _copy_rows(self, c: Any, source: str, target: str, after_pk: Any, limit: int,
                   fields: Sequence[str], fill: Mapping[str, Any]) -> tuple[int, Any]:
        """One page; the next page is read while this one is written, so the server reads
        and writes at once (a copy calls again right away with the key returned here)."""
        from migctl.core.vector.stores import milvus_columns  # imports pymilvus

        schema = self._fields(c, source)
        pk = next(f for f in schema if f.primary)
        dim = max((f.dim or 0 for f in schema if f.type == "float_vector"), default=0)
        row_bytes = max(4 * dim + 512, self._row_bytes.get(source, 0))
        limit = max(1, min(limit, QUERY_WINDOW, PAGE_BYTES // row_bytes))
        wanted = (pk.name, *(n for n in fields if n != pk.name))
        self._ensure_loaded(c, source)
        engines = self._lite_engines(source, target, pk)
        if engines is not None and (moved := self._copy_inside_lite(engines, source, pk, after_pk, wanted, limit,
                                                                    fill)):
            return moved
        if fill:
            rows = self._read(c, source, after_pk, limit, fields)
            self._upsert_rows(c, target, [{**row, **fill} for row in rows], row_bytes)
            return len(rows), rows[-1][pk.name] if rows else None
        prefetched, self._prefetch = self._prefetch, None
        if prefetched is not None and prefetched[0] == (source, target, after_pk, wanted, limit):
            columns, keys = prefetched[1].result()
        else:
            columns, keys = self._page(c, source, pk, after_pk, wanted, limit)
        if not keys:
            return 0, None
        last = max(keys)
        size = milvus_columns.page_bytes(columns)
        per_row = -(-size // len(keys))
        self._row_bytes[source] = max(self._row_bytes.get(source, 0), per_row)
        if engines is None:  # else the next page is likely copied inside Lite: nothing to read ahead
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="milvus-prefetch")
            limit = max(1, min(limit, PAGE_BYTES // self._row_bytes[source]))
            self._prefetch = ((source, target, last, wanted, limit),
                              self._pool.submit(self._page, c, source, pk, last, wanted, limit))
        if size > PAGE_BYTES or milvus_columns.has_validity(columns):
            self._upsert_rows(c, target, milvus_columns.rows_from_columns(columns), per_row)
        else:
            milvus_columns.upsert_columns(c, target, columns, len(keys))
        return len(keys), last

    def _lite_engines(self, source: str, target: str, pk: FieldSpec) -> tuple[Any, Any] | None:
        """The in-process Milvus Lite collections behind ``source`` and ``target`` (Lite by path,
        default database, integer keys), else None."""
        if not self.lite or pk.type not in INTEGER_KEYS or (self.db_name or "default") != "default":
            return None
        src, dst = self._lite_collection(source), self._lite_collection(target)
        return (src, dst) if src is not None and dst is not None else None

    def _copy_inside_lite(self, engines: tuple[Any, Any], source: str, pk: FieldSpec, after_pk: Any,
                          wanted: Sequence[str], limit: int, fill: Mapping[str, Any]) -> tuple[int, Any] | None:
        """Milvus Lite by path runs its engine in this process: a page moves from one collection
        to the other there, as pgvector's copy stays inside its server, with no gRPC request
        and no conversion of rows into protobuf columns and back (about 2.4 times the rate of
        the same copy through the client, on 768-dim rows). The page is the rows with keys
        ``after_pk+1 .. after_pk+limit``, looked up by key and upserted (a page written twice
        adds nothing); it returns the window's last key, since every key in it was looked at.
        None for the first page (no key to start from) and for a window less than half full:
        the caller's filtered query then pages on. Pages shrink after long rows, as through the
        client (``_row_bytes``). Milvus Lite internals, pinned with 3.2."""
        if after_pk is None:
            return None
        src, dst = engines
        if not (window := _keys_after(after_pk, limit)):
            return None
        records = src.get(window, output_fields=list(wanted))
        if len(records) * 2 < len(window):
            return None
        if records:
            per_row = -(-sum(map(_record_bytes, records)) // len(records))
            self._row_bytes[source] = max(self._row_bytes.get(source, 0), per_row)
        if fill:
            records = [{**r, **fill} for r in records]
        dst.upsert(records)
        return len(records), window[-1]

    @staticmethod
    def _upsert_rows(c: Any, target: str, rows: Sequence[Row], row_bytes: int) -> None:
        """Upsert ``rows`` in requests of about :data:`PAGE_BYTES` (rows of long text or JSON
        make fewer rows fit)."""
        step = max(1, PAGE_BYTES // max(row_bytes, 1))
        for start in range(0, len(rows), step):
            c.upsert(target, list(rows[start:start + step]))

    def _page(self, c: Any, source: str, pk: FieldSpec, after_pk: Any, wanted: Sequence[str],
              limit: int) -> tuple[list[Any], list[Any]]:
        """The columns and keys of the ``limit`` rows after ``after_pk``."""
        from migctl.core.vector.stores import milvus_columns

        if window := self._key_window(c, source, pk, after_pk, limit, wanted):
            return window
        return milvus_columns.query_columns(c, source, _after(pk, after_pk), wanted, limit, pk.name)

    async def write_batch(self, name: str, rows: Sequence[Row]) -> int:
        if rows:
            await self._run(f"write rows to {name}", lambda c: c.upsert(name, list(rows)))
        return len(rows)

    async def flush(self, name: str) -> None:
        """Milvus Lite keeps recent writes (up to 128 MB) in a memtable that every count and
        filtered query turns into Python rows, vectors included: about 3 s per 20,000 rows of
        768 dimensions, on every call. Flushing them into a segment once costs about as much
        as one such call. Servers need no flush to read what was just written."""
        def flush(c: Any) -> None:
            c.flush(name)
            # the flush starts an index build in Lite's background thread, which writes index
            # files in place: wait for it (in this process), so a later kill cannot cut one short
            if (col := self._lite_collection(name)) is not None:
                col._wait_for_bg()

        if self.server == "milvus-lite":
            await self._run(f"flush {name}", flush)

    async def max_pk(self, name: str) -> Any:
        return await self._run(f"largest key of {name}", self._max_pk, name)

    def _max_pk(self, c: Any, name: str) -> Any:
        """Milvus cannot sort a query. On servers, integer keys by bisection (64 one-row indexed
        queries); otherwise by paging through the keys alone, because every Milvus Lite query
        scans the whole collection (0.2 s at 5,000 rows), so fewer queries win."""
        from migctl.core.vector.stores import milvus_columns  # imports pymilvus

        pk = next(f for f in self._fields(c, name) if f.primary)
        self._ensure_loaded(c, name)

        def above(value: Any, limit: int = 1) -> list[Any]:
            return milvus_columns.query_columns(c, name, _after(pk, value), [pk.name], limit, pk.name)[1]

        if not above(None):
            return None
        if pk.type != "varchar" and self.server != "milvus-lite":
            low, high = -(2**63) - 1, 2**63 - 1  # some key > low, none > high
            while high - low > 1:
                mid = (low + high) // 2
                low, high = (mid, high) if above(mid) else (low, mid)
            return high
        last = None
        while keys := above(last, QUERY_WINDOW):
            last = max(keys)
        return last
