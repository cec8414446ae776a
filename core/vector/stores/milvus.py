"""Milvus behind the ``VectorStore`` protocol: Milvus Lite by file path (the embedded default,
``.migctl/milvus.db``) or a Milvus server by ``http://host:port``.

pymilvus's synchronous ``MilvusClient`` runs in worker threads (``asyncio.to_thread``), one
call at a time: Milvus Lite's async client misreports ``create_index`` and a single serialized
client keeps the store simple. What the server can change in place is read from its version at
connect (:func:`capabilities_for`), never by trying a change.

Things a caller can rely on, measured on Milvus Lite 3.2 and Milvus 2.3.5:

- reads use Strong consistency, so a ``Bounded`` collection counts and copies what was just
  written; counts come from ``count(*)``, not ``num_entities`` (which counts deleted rows);
- :meth:`MilvusStore.read_batch` pages with the query iterator's request (``pk > last``,
  ``iterator=True``): servers answer with the smallest keys, Milvus Lite only when asked so.
  pymilvus drops the requested consistency from such a request (a ``Bounded`` collection then
  misses rows written seconds ago: measured on 2.3.5), so those queries are built in
  :mod:`.milvus_columns`, which keeps it;
- copies (:meth:`MilvusStore.copy_rows`) pass the query's columns into the upsert undecoded and
  read the next page while writing one; Milvus Lite flushes before and after a copy, and by
  path moves the pages inside its engine (:mod:`.milvus_rows`);
- index build parameters go out nested under ``params`` (the classic wire form): pymilvus 3
  flattens them, and Milvus Lite silently drops flattened ones.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from migctl.core.secrets import mask_url, remember, scrub
from migctl.core.vector.stores.base import (
    LiveCollection,
    StoreBusy,
    StoreError,
    StoreInfo,
    StoreUnreachable,
)
from migctl.core.vector.stores.milvus_rows import MilvusRows
from migctl.core.vector.stores.milvus_schema import (
    UNKNOWN,
    capabilities_for,
    collection_schema,
    data_types,
    field_from_milvus,
    index_from_milvus,
    index_params,
    index_text,
    is_lite_path,
    parse_server_version,
    schema_difference,
    supports_nullable,
)
from migctl.core.vector.templates import CollectionSpec, FieldSpec, IndexSpec, validate_for_store

CONNECT_TIMEOUT = 10.0  # seconds; an unreachable server fails fast
T = TypeVar("T")
log = logging.getLogger("migctl.vector")  # the shells' handlers: stderr and the log file

_lite_users: dict[str, int] = {}  # Lite data path -> open stores; its in-process server stops at 0
_lite_lock = threading.Lock()


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or (exc.details() if hasattr(exc, "details") else None) or str(exc)
    text = " ".join(str(text).split()) or type(exc).__name__
    return scrub(text if len(text) <= 300 else text[:297] + "...")


def _quiet_pymilvus(lite: bool) -> None:
    """pymilvus prints every failed call with its traceback to stderr; the store reports the
    failure as a :class:`StoreError` instead, and stderr belongs to the console. Milvus Lite's
    in-process gRPC server logs one traceback per ``create_index`` (pymilvus asks it for a
    timestamp it does not implement, and ignores the answer), and its server manager one when
    another process holds the database."""
    lite_loggers = ("grpc._server", "milvus_lite.server_manager") if lite else ()
    for name in ("pymilvus", "pymilvus.milvus_client", *lite_loggers):
        logging.getLogger(name).setLevel(logging.CRITICAL)


class MilvusStore(MilvusRows):
    """A Milvus database (Lite or server) as the vector engine sees it."""

    kind = "milvus"

    def __init__(self, uri: str, token: str | None = None, db_name: str | None = None) -> None:
        self.uri, self.db_name = uri, db_name
        self._token = token
        remember(token)  # whole: the password part alone may be a word ("root:Milvus")
        self.lite = is_lite_path(uri)
        self.address = uri if self.lite else mask_url(uri)
        self.capabilities = UNKNOWN
        self.nullable = False
        self.server, self.version = "", None  # set at connect
        self._client: Any = None
        self._lock = threading.Lock()
        self._schemas: dict[str, tuple[FieldSpec, ...]] = {}
        self._pool: ThreadPoolExecutor | None = None  # reads a copy's next page
        self._prefetch: tuple[tuple[Any, ...], Future[tuple[list[Any], list[Any]]]] | None = None
        self._row_bytes: dict[str, int] = {}  # largest bytes per row seen in a copied page, by source

    # --- connection ---------------------------------------------------------------------------

    async def connect(self) -> None:
        if self._client is None:
            await asyncio.to_thread(self._connect)

    def _connect(self) -> None:
        with self._lock:  # two tasks connecting at once make one client
            if self._client is None:
                self._open()

    def _open(self) -> None:
        from pymilvus import MilvusClient

        _quiet_pymilvus(self.lite)
        path = str(Path(self.uri).resolve()) if self.lite else None
        if path:
            with _lite_lock:
                _lite_users[path] = _lite_users.get(path, 0) + 1
        try:
            if path:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            client = MilvusClient(path or self.uri, token=self._token or "", db_name=self.db_name or "",
                                  timeout=CONNECT_TIMEOUT, dedicated=True)
            try:
                version = str(client.get_server_version())
            except BaseException:
                client.close()
                raise
        except Exception as exc:
            self._release_lite()
            busy = self.lite and "Open local milvus failed" in _reason(exc)
            raise (StoreBusy if busy else StoreUnreachable)(self._unreachable(exc), detail=scrub(repr(exc))) from None
        self._client, self.version = client, version
        self.server, numbers = parse_server_version(version, self.lite)
        self.capabilities = capabilities_for(self.server, numbers)
        self.nullable = supports_nullable(self.server, numbers)

    def _unreachable(self, exc: BaseException) -> str:
        if self.lite:
            reason = _reason(exc)
            if "Open local milvus failed" in reason:  # pymilvus hides why; a lock is the usual cause
                reason += " (is another process using it?)"
            return f"cannot open Milvus Lite at {self.address}: {reason}"
        parsed = urlparse(self.uri)
        try:
            with socket.create_connection((parsed.hostname or "localhost", parsed.port or 19530), timeout=2):
                listening = True
        except (OSError, ValueError):
            listening = False
        if listening:
            return (f"Milvus at {self.address} refused the connection (wrong token or database, "
                    f"or not a Milvus gRPC port): {_reason(exc)}")
        return f"cannot reach Milvus at {self.address}: {_reason(exc)}"

    def _release_lite(self) -> None:
        if not self.lite:
            return
        path = str(Path(self.uri).resolve())
        with _lite_lock:
            users = _lite_users.get(path, 0) - 1
            if users > 0:
                _lite_users[path] = users
                return
            _lite_users.pop(path, None)
        from milvus_lite.server_manager import server_manager_instance

        server_manager_instance.release_server(path)

    async def close(self) -> None:
        def detach() -> tuple[ThreadPoolExecutor | None, Any]:
            with self._lock:  # after any call in progress, so none starts a new read-ahead
                pool, self._pool, self._prefetch = self._pool, None, None
                client, self._client = self._client, None
                return pool, client

        pool, client = await asyncio.to_thread(detach)
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)
        if client is not None:
            await asyncio.to_thread(client.close)
            await asyncio.to_thread(self._release_lite)

    async def info(self) -> StoreInfo:
        extra = {"server": self.server or ("milvus-lite" if self.lite else "milvus"),
                 "database": self.db_name or "default"}
        return StoreInfo(self.kind, self.address, self.version, extra)

    async def _run(self, what: str, fn: Callable[..., T], *args: Any, read_ahead: bool = False) -> T:
        """``fn(client, *args)`` in a worker thread, one at a time; failures as StoreError.
        Any call but the next page of a copy (``read_ahead``) drops a page read ahead, so a
        page is never used after something else ran."""
        await self.connect()

        def locked() -> T:
            with self._lock:
                if not read_ahead:
                    self._prefetch = None
                return fn(self._client, *args)

        try:
            return await asyncio.to_thread(locked)
        except StoreError:
            raise
        except Exception as exc:
            code = getattr(exc, "code", None)
            unavailable = callable(code) and getattr(code(), "name", "") == "UNAVAILABLE"
            error = StoreUnreachable if unavailable else StoreError
            raise error(f"Milvus {what}: {_reason(exc)}", detail=scrub(repr(exc))) from None

    # --- collections --------------------------------------------------------------------------

    async def list_collections(self) -> list[str]:
        return sorted(await self._run("list collections", lambda c: c.list_collections()))

    async def describe(self, name: str) -> LiveCollection | None:
        return await self._run(f"describe {name}", self._describe, name)

    def _describe(self, c: Any, name: str) -> LiveCollection | None:
        from pymilvus.client.types import LoadState

        if name not in c.list_collections():
            return None
        fields = tuple(field_from_milvus(f) for f in c.describe_collection(name)["fields"])
        self._schemas[name] = fields
        index = self._vector_index(c, name, fields)
        loaded = c.get_load_state(name)["state"] == LoadState.Loaded
        rows = self._count(c, name) if loaded else int(c.get_collection_stats(name)["row_count"])
        return LiveCollection(name, fields, index, rows, tuple(sorted(c.list_aliases(name)["aliases"])),
                              tuple(c.list_partitions(name)), loaded)

    def _vector_index(self, c: Any, name: str, fields: Sequence[FieldSpec]) -> IndexSpec | None:
        vector = next((f.name for f in fields if f.type == "float_vector"), None)
        for index_name in c.list_indexes(name):
            raw = c.describe_index(name, index_name)
            if raw and raw.get("field_name") == vector:
                return index_from_milvus(raw)
        return None

    async def create_collection(self, spec: CollectionSpec) -> None:
        validate_for_store(spec, "milvus")
        await self.connect()
        if not self.nullable and (f := next((f for f in spec.fields if f.nullable), None)):
            raise StoreError(f"Milvus {self.version} has no nullable fields (field {f.name} of "
                             f"{spec.name}); Milvus 2.5+ or Milvus Lite has")
        await self._run(f"create collection {spec.name}", self._create, spec)

    def _create(self, c: Any, spec: CollectionSpec) -> None:
        live = self._describe(c, spec.name)
        if live is not None:
            if problem := schema_difference(spec, live):
                raise StoreError(f"collection {spec.name} exists with another schema: {problem}")
            if live.index is None:
                c.create_index(spec.name, index_params(spec.index))
            if live.index is None or not live.loaded:
                c.load_collection(spec.name)
            return
        if spec.name in c.list_aliases()["aliases"]:
            raise StoreError(f"cannot create collection {spec.name}: an alias has that name")
        schema = collection_schema(spec)
        c.create_collection(spec.name, schema=schema, index_params=index_params(spec.index),
                            consistency_level=spec.consistency_level)  # creates, indexes and loads

    async def drop_collection(self, name: str) -> None:
        def drop(c: Any) -> None:
            if name in c.list_collections():  # never through an alias
                c.drop_collection(name)
            self._schemas.pop(name, None)
        await self._run(f"drop collection {name}", drop)

    async def rename_collection(self, old: str, new: str) -> None:
        await self.connect()
        if not self.capabilities.rename_collection:
            raise StoreError(f"Milvus {self.version} cannot rename collections")
        self._schemas.pop(old, None)
        await self._run(f"rename collection {old} to {new}", lambda c: c.rename_collection(old, new))

    async def replace_collection(self, name: str, shadow: str) -> None:
        """Milvus cannot drop and rename in one step: the aliases move to ``shadow`` first,
        then ``name`` is dropped and ``shadow`` renamed at once, two calls apart (the only
        moment the name is missing; a re-run finishes the rename)."""
        await self.connect()
        if not self.capabilities.rename_collection:
            raise StoreError(f"Milvus {self.version} cannot rename collections")

        def replace(c: Any) -> None:
            collections = c.list_collections()
            if shadow not in collections:
                if name in collections:
                    return
                raise StoreError(f"no collection {shadow}")
            aliases = {a: t for a, t in self._aliases(c).items() if t in (name, shadow)}
            for alias, target in aliases.items():
                if target != shadow:
                    c.alter_alias(shadow, alias)
            self._schemas.pop(name, None)
            self._schemas.pop(shadow, None)
            if name in collections:
                c.drop_collection(name)
            c.rename_collection(shadow, name)
            for alias, target in self._aliases(c).items():
                if alias in aliases and target != name:
                    c.alter_alias(name, alias)
            self._ensure_loaded(c, name)
        await self._run(f"swap {shadow} in as {name}", replace)

    async def count(self, name: str) -> int:
        return await self._run(f"count {name}", self._count, name)

    def _count(self, c: Any, name: str) -> int:
        self._ensure_loaded(c, name)
        rows = c.query(name, filter="", output_fields=["count(*)"], consistency_level="Strong")
        return int(rows[0]["count(*)"])

    def _ensure_loaded(self, c: Any, name: str) -> None:
        from pymilvus.client.types import LoadState

        if c.get_load_state(name)["state"] == LoadState.Loaded:
            return
        try:
            c.load_collection(name)
        except Exception:
            if not self._drop_lite_index_files(name):
                raise
            c.load_collection(name)  # the files are built again from the collection's data

    def _lite_collection(self, name: str) -> Any:
        """The in-process Milvus Lite engine's collection ``name`` (Lite by path only), or None.
        Milvus Lite internals (``server_manager_instance``), pinned with milvus-lite 3.2."""
        if not self.lite:
            return None
        from milvus_lite.server_manager import server_manager_instance

        entry = server_manager_instance._servers.get(str(Path(self.uri).resolve()))
        try:
            return entry[1].get_collection(name) if entry else None
        except Exception:
            return None

    def _drop_lite_index_files(self, name: str) -> bool:
        """Milvus Lite 3.2 writes a segment's index file in place, in a background thread after
        a flush: a process killed meanwhile leaves it half-written, and every later load of the
        collection fails. Index files are built from the collection's data, so on a failed load
        of a Lite-by-path collection they are removed, to be built again; True if any were."""
        root = Path(self.uri) / "collections" / name / "partitions"
        files = sorted(root.glob("*/indexes/*.idx")) if self.lite else []
        if not files:
            return False
        if (col := self._lite_collection(name)) is not None:
            col._wait_for_bg()
        for f in files:
            f.unlink(missing_ok=True)
        log.warning("Milvus Lite could not load %s; removed its %d index file(s) (one may have been left "
                    "half-written by an interrupted process) to build them again", name, len(files))
        return True

    def _fields(self, c: Any, name: str) -> tuple[FieldSpec, ...]:
        if name not in self._schemas:
            if name not in c.list_collections():
                raise StoreError(f"no collection {name}")
            self._schemas[name] = tuple(field_from_milvus(f) for f in c.describe_collection(name)["fields"])
        return self._schemas[name]

    # --- indexes and fields -------------------------------------------------------------------

    async def create_index(self, name: str, index: IndexSpec) -> None:
        def create(c: Any) -> None:
            live = self._vector_index(c, name, self._fields(c, name))
            if live is not None and live != index:
                raise StoreError(f"collection {name} already has index {index_text(live)}; drop it first")
            if live is None:
                c.create_index(name, index_params(index))
            self._ensure_loaded(c, name)
        await self._run(f"create index on {name}", create)

    async def drop_index(self, name: str, field_name: str) -> None:
        def drop(c: Any) -> None:
            for index_name in c.list_indexes(name, field_name=field_name):
                c.release_collection(name)  # Milvus drops no index of a loaded collection
                c.drop_index(name, index_name)
        await self._run(f"drop index on {name}.{field_name}", drop)

    async def add_field(self, name: str, field_spec: FieldSpec, default: Any = None) -> None:
        await self.connect()
        if not self.capabilities.add_field:
            raise StoreError(f"Milvus {self.version} cannot add fields in place")
        f = field_spec
        extra = {k: v for k, v in (("max_length", f.max_length), ("dim", f.dim)) if v is not None}
        self._schemas.pop(name, None)
        await self._run(f"add field {f.name} to {name}", lambda c: c.add_collection_field(
            name, f.name, data_types()[f.type], nullable=True, default_value=default,
            description=f.description, **extra))

    async def drop_field(self, name: str, field_name: str) -> None:
        raise StoreError(f"Milvus cannot drop field {field_name} of {name} in place")

    # --- aliases ------------------------------------------------------------------------------

    async def list_aliases(self) -> dict[str, str]:
        return await self._run("list aliases", self._aliases)

    def _aliases(self, c: Any) -> dict[str, str]:
        return {a: c.describe_alias(a)["collection_name"] for a in sorted(c.list_aliases()["aliases"])}

    async def create_alias(self, alias: str, collection: str) -> None:
        def create(c: Any) -> None:
            target = self._aliases(c).get(alias)
            if target is None:
                c.create_alias(collection, alias)
            elif target != collection:
                raise StoreError(f"alias {alias} already points to {target}, not {collection}")
        await self._run(f"create alias {alias}", create)

    async def alter_alias(self, alias: str, collection: str) -> None:
        def alter(c: Any) -> None:
            (c.alter_alias if alias in self._aliases(c) else c.create_alias)(collection, alias)
        await self._run(f"point alias {alias} to {collection}", alter)

    async def drop_alias(self, alias: str) -> None:
        def drop(c: Any) -> None:
            if alias in c.list_aliases()["aliases"]:
                c.drop_alias(alias)
        await self._run(f"drop alias {alias}", drop)

    # --- partitions ---------------------------------------------------------------------------

    async def list_partitions(self, name: str) -> list[str]:
        return list(await self._run(f"list partitions of {name}", lambda c: c.list_partitions(name)))

    async def create_partition(self, name: str, partition: str) -> None:
        def create(c: Any) -> None:
            if partition not in c.list_partitions(name):
                c.create_partition(name, partition)
        await self._run(f"create partition {name}.{partition}", create)

    async def drop_partition(self, name: str, partition: str) -> None:
        def drop(c: Any) -> None:
            if partition in c.list_partitions(name):
                if self.capabilities.partition_load:
                    c.release_partitions(name, [partition])  # servers drop no loaded partition
                c.drop_partition(name, partition)
        await self._run(f"drop partition {name}.{partition}", drop)
