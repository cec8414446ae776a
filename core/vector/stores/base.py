"""The ``VectorStore`` protocol the vector engine speaks, and the plain data it exchanges.

A migration file is store-agnostic; each adapter translates (field types, metrics, index
parameters) and reports what it can change in place (:class:`Capabilities`). When a change
cannot be made in place, the migrator builds a shadow collection, copies rows in primary-key
order through :meth:`VectorStore.read_batch` / :meth:`VectorStore.write_batch`, and swaps an
alias — so every method here is idempotent where that matters for resuming after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from migctl.core.errors import MigctlError
from migctl.core.vector.templates import CollectionSpec, FieldSpec, IndexSpec

Row = dict[str, Any]  # field name -> value; vectors as list[float] (or a numpy array on input)


class StoreError(MigctlError):
    """The store refused or failed an operation; the message is one line, secrets masked."""


class StoreUnreachable(StoreError):
    """The store cannot be reached or refused the credentials."""


class StoreBusy(StoreUnreachable):
    """Milvus Lite by path admits one process, and another has it open."""


@dataclass(frozen=True)
class Capabilities:
    """What a store can change in place; the planner falls back to shadow copy otherwise."""

    add_field: bool
    drop_field: bool
    rename_collection: bool
    truncate: bool
    partitions: bool
    partition_load: bool
    aliases: bool = True
    max_dim: int = 32768


@dataclass(frozen=True)
class LiveCollection:
    """A collection as the store reports it right now (used for drift and for resuming)."""

    name: str
    fields: tuple[FieldSpec, ...]
    index: IndexSpec | None
    rows: int
    aliases: tuple[str, ...] = ()
    partitions: tuple[str, ...] = ()
    loaded: bool | None = None  # Milvus load state; None where it does not apply

    @property
    def vector_field(self) -> FieldSpec | None:
        return next((f for f in self.fields if f.type == "float_vector"), None)

    @property
    def primary(self) -> FieldSpec | None:
        return next((f for f in self.fields if f.primary), None)


@dataclass
class StoreInfo:
    """What status shows about a store: kind, masked address, server version."""

    kind: str
    address: str
    version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class VectorStore(Protocol):
    """What the migrator needs from a vector store. All names are validated identifiers."""

    kind: str  # "milvus" or "pgvector"
    capabilities: Capabilities

    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def info(self) -> StoreInfo: ...

    # collections
    async def list_collections(self) -> list[str]: ...
    async def describe(self, name: str) -> LiveCollection | None:
        """``None`` when there is no such collection (an alias is not a collection)."""
    async def create_collection(self, spec: CollectionSpec) -> None:
        """Create the collection with its fields and vector index (and load it on Milvus).
        Creating one that exists with the same schema is a no-op; a different schema raises."""
    async def drop_collection(self, name: str) -> None:
        """Drop it; dropping a missing collection is a no-op."""
    async def rename_collection(self, old: str, new: str) -> None: ...
    async def replace_collection(self, name: str, shadow: str) -> None:
        """Only when ``capabilities.rename_collection``: drop ``name`` (if there) and give
        ``shadow`` its name, aliases of either ending on it, in one step where the store can
        (pgvector: one transaction). Done already (no ``shadow``, ``name`` there) is a no-op."""
    async def count(self, name: str) -> int: ...

    # indexes and fields
    async def create_index(self, name: str, index: IndexSpec) -> None: ...
    async def drop_index(self, name: str, field_name: str) -> None: ...
    async def add_field(self, name: str, field_spec: FieldSpec, default: Any = None) -> None:
        """Only when ``capabilities.add_field``; otherwise the migrator copies."""
    async def drop_field(self, name: str, field_name: str) -> None: ...

    # aliases (pgvector: views)
    async def list_aliases(self) -> dict[str, str]:
        """alias -> collection"""
    async def create_alias(self, alias: str, collection: str) -> None: ...
    async def alter_alias(self, alias: str, collection: str) -> None: ...
    async def drop_alias(self, alias: str) -> None: ...

    # partitions
    async def list_partitions(self, name: str) -> list[str]: ...
    async def create_partition(self, name: str, partition: str) -> None: ...
    async def drop_partition(self, name: str, partition: str) -> None: ...

    # rows, for copies and backups
    async def read_batch(self, name: str, after_pk: Any, limit: int,
                         fields: Sequence[str] | None = None) -> list[Row]:
        """Up to ``limit`` rows with primary key > ``after_pk`` (None: from the start), in
        ascending primary-key order."""
    async def write_batch(self, name: str, rows: Sequence[Row]) -> int:
        """Insert rows; a row whose primary key exists already is left as it is or replaced
        with identical data (idempotent, so a resumed copy never duplicates). Returns rows sent."""
    async def max_pk(self, name: str) -> Any:
        """The largest primary key present, or None when empty."""
    async def flush(self, name: str) -> None:
        """Make what was just written cheap to count and read (before and after a copy);
        a no-op where writes need no such step."""
