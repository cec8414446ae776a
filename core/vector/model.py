"""Vector migrations as data: store-agnostic operations, their inverses, the declared state.

A migration file lists operations; replaying every applied migration from an empty state
gives the *declared* state (collections with their schema and index, aliases, partitions),
which is what the live store is compared against. Each operation knows its inverse given the
state before it; one that destroys data has none, so its migration needs an explicit
``downgrade:`` block or is irreversible.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from migctl.core.errors import UsageError
from migctl.core.vector.templates import CollectionSpec, FieldSpec, IndexSpec


class MigrationError(UsageError):
    """A migration file cannot be used as written; the message names file and key."""


@dataclass
class DeclaredState:
    """What the applied migrations say the store holds."""

    collections: dict[str, CollectionSpec] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> collection
    partitions: dict[str, set[str]] = field(default_factory=dict)  # collection -> partitions

    def copy(self) -> DeclaredState:
        return DeclaredState(dict(self.collections), dict(self.aliases),
                             {k: set(v) for k, v in self.partitions.items()})

    def spec(self, name: str, where: str) -> CollectionSpec:
        if name not in self.collections:
            raise MigrationError(f"{where}: collection {name!r} does not exist at this point "
                                 f"(declared: {', '.join(sorted(self.collections)) or 'none'})")
        return self.collections[name]


@dataclass(frozen=True)
class Operation(ABC):
    """Base: ``kind`` is the YAML key; ``apply`` changes a declared state; ``inverse`` undoes."""

    kind: ClassVar[str] = ""
    destroys_data: ClassVar[bool] = False

    @abstractmethod
    def as_dict(self) -> dict[str, Any]:
        """The canonical form, ``{kind: {...}}``, hashed into ``operations_hash``."""

    @abstractmethod
    def apply(self, state: DeclaredState, where: str) -> None:
        """Change ``state`` as the store will change; raise MigrationError if impossible."""

    def inverse(self, before: DeclaredState) -> list[Operation] | None:
        """The operations that undo this one, given the state before it; None if unsafe."""
        return None

    def describe(self) -> str:
        return f"{self.kind} " + ", ".join(f"{k}={v}" for k, v in self.as_dict()[self.kind].items()
                                           if not isinstance(v, dict | list))


@dataclass(frozen=True)
class CreateCollection(Operation):
    kind: ClassVar[str] = "create_collection"
    spec: CollectionSpec

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"name": self.spec.name, "schema": self.spec.as_dict()}}

    def apply(self, state: DeclaredState, where: str) -> None:
        if self.spec.name in state.collections:
            raise MigrationError(f"{where}: collection {self.spec.name!r} already exists")
        state.collections[self.spec.name] = self.spec
        state.partitions[self.spec.name] = set()

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [DropCollection(self.spec.name)]

    def describe(self) -> str:
        return f"create collection {self.spec.name} (dim {self.spec.dim}, {self.spec.index.index_type} {self.spec.index.metric})"


@dataclass(frozen=True)
class DropCollection(Operation):
    kind: ClassVar[str] = "drop_collection"
    destroys_data: ClassVar[bool] = True
    name: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"name": self.name}}

    def apply(self, state: DeclaredState, where: str) -> None:
        state.spec(self.name, where)
        if aliased := [a for a, c in state.aliases.items() if c == self.name]:
            raise MigrationError(f"{where}: collection {self.name!r} still has aliases {', '.join(aliased)}; drop them first")
        del state.collections[self.name]
        state.partitions.pop(self.name, None)

    def describe(self) -> str:
        return f"drop collection {self.name} (its rows are deleted)"


@dataclass(frozen=True)
class CreateIndex(Operation):
    """Build (or replace) the vector index of a collection in place."""

    kind: ClassVar[str] = "create_index"
    collection: str
    index: IndexSpec

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "index": self.index.as_dict()}}

    def apply(self, state: DeclaredState, where: str) -> None:
        spec = state.spec(self.collection, where)
        state.collections[self.collection] = replace(spec, index=self.index)

    def inverse(self, before: DeclaredState) -> list[Operation]:
        previous = before.collections[self.collection].index
        if previous is None:
            return [DropIndex(self.collection, self.index.field)]
        return [CreateIndex(self.collection, previous)]


@dataclass(frozen=True)
class DropIndex(Operation):
    kind: ClassVar[str] = "drop_index"
    collection: str
    field_name: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "field": self.field_name}}

    def apply(self, state: DeclaredState, where: str) -> None:
        spec = state.spec(self.collection, where)
        state.collections[self.collection] = replace(spec, index=None)  # type: ignore[arg-type]

    def inverse(self, before: DeclaredState) -> list[Operation] | None:
        previous = before.collections[self.collection].index
        return [CreateIndex(self.collection, previous)] if previous is not None else []


@dataclass(frozen=True)
class AddField(Operation):
    """A scalar field with a value for existing rows; shadow copy where the store cannot add."""

    kind: ClassVar[str] = "add_field"
    collection: str
    field_spec: FieldSpec
    default: Any

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "field": self.field_spec.as_dict(), "default": self.default}}

    def apply(self, state: DeclaredState, where: str) -> None:
        spec = state.spec(self.collection, where)
        if any(f.name.lower() == self.field_spec.name.lower() for f in spec.fields):
            raise MigrationError(f"{where}: collection {self.collection!r} already has a field {self.field_spec.name!r}")
        state.collections[self.collection] = replace(spec, fields=(*spec.fields, self.field_spec))

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [DropField(self.collection, self.field_spec.name)]

    def describe(self) -> str:
        return f"add field {self.field_spec.name} {self.field_spec.type} to {self.collection} (existing rows get {self.default!r})"


@dataclass(frozen=True)
class DropField(Operation):
    kind: ClassVar[str] = "drop_field"
    destroys_data: ClassVar[bool] = True
    collection: str
    field_name: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "field": self.field_name}}

    def apply(self, state: DeclaredState, where: str) -> None:
        spec = state.spec(self.collection, where)
        kept = tuple(f for f in spec.fields if f.name != self.field_name)
        if len(kept) == len(spec.fields):
            raise MigrationError(f"{where}: collection {self.collection!r} has no field {self.field_name!r}")
        if spec.primary.name == self.field_name or spec.index.field == self.field_name:
            raise MigrationError(f"{where}: cannot drop the primary key or the vector field {self.field_name!r}")
        state.collections[self.collection] = replace(spec, fields=kept)


@dataclass(frozen=True)
class RenameCollection(Operation):
    kind: ClassVar[str] = "rename_collection"
    old: str
    new: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"from": self.old, "to": self.new}}

    def apply(self, state: DeclaredState, where: str) -> None:
        spec = state.spec(self.old, where)
        if self.new in state.collections:
            raise MigrationError(f"{where}: collection {self.new!r} already exists")
        del state.collections[self.old]
        state.collections[self.new] = spec.renamed(self.new)
        state.partitions[self.new] = state.partitions.pop(self.old, set())
        for alias, target in list(state.aliases.items()):
            if target == self.old:
                state.aliases[alias] = self.new

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [RenameCollection(self.new, self.old)]


@dataclass(frozen=True)
class CreateAlias(Operation):
    kind: ClassVar[str] = "create_alias"
    alias: str
    collection: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"alias": self.alias, "collection": self.collection}}

    def apply(self, state: DeclaredState, where: str) -> None:
        state.spec(self.collection, where)
        if self.alias in state.aliases or self.alias in state.collections:
            raise MigrationError(f"{where}: name {self.alias!r} is already taken")
        state.aliases[self.alias] = self.collection

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [DropAlias(self.alias)]


@dataclass(frozen=True)
class AlterAlias(Operation):
    kind: ClassVar[str] = "alter_alias"
    alias: str
    collection: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"alias": self.alias, "collection": self.collection}}

    def apply(self, state: DeclaredState, where: str) -> None:
        state.spec(self.collection, where)
        if self.alias not in state.aliases:
            raise MigrationError(f"{where}: alias {self.alias!r} does not exist")
        state.aliases[self.alias] = self.collection

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [AlterAlias(self.alias, before.aliases[self.alias])]


@dataclass(frozen=True)
class DropAlias(Operation):
    kind: ClassVar[str] = "drop_alias"
    alias: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"alias": self.alias}}

    def apply(self, state: DeclaredState, where: str) -> None:
        if self.alias not in state.aliases:
            raise MigrationError(f"{where}: alias {self.alias!r} does not exist")
        del state.aliases[self.alias]

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [CreateAlias(self.alias, before.aliases[self.alias])]


@dataclass(frozen=True)
class CreatePartition(Operation):
    kind: ClassVar[str] = "create_partition"
    collection: str
    partition: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "partition": self.partition}}

    def apply(self, state: DeclaredState, where: str) -> None:
        state.spec(self.collection, where)
        parts = state.partitions.setdefault(self.collection, set())
        if self.partition in parts:
            raise MigrationError(f"{where}: partition {self.partition!r} already exists")
        parts.add(self.partition)

    def inverse(self, before: DeclaredState) -> list[Operation]:
        return [DropPartition(self.collection, self.partition)]


@dataclass(frozen=True)
class DropPartition(Operation):
    kind: ClassVar[str] = "drop_partition"
    destroys_data: ClassVar[bool] = True
    collection: str
    partition: str

    def as_dict(self) -> dict[str, Any]:
        return {self.kind: {"collection": self.collection, "partition": self.partition}}

    def apply(self, state: DeclaredState, where: str) -> None:
        state.spec(self.collection, where)
        parts = state.partitions.setdefault(self.collection, set())
        if self.partition not in parts:
            raise MigrationError(f"{where}: partition {self.partition!r} does not exist")
        parts.discard(self.partition)


@dataclass(frozen=True)
class Rebuild(Operation):
    """A new collection with the new schema or index, rows copied in batches, then swapped in
    under the old name (the store keeps every row; aliases keep pointing at the name)."""

    kind: ClassVar[str] = "rebuild"
    collection: str
    target: CollectionSpec
    defaults: tuple[tuple[str, Any], ...] = ()  # values of added fields for copied rows

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"collection": self.collection, "schema": self.target.as_dict()}
        if self.defaults:
            out["defaults"] = dict(self.defaults)
        return {self.kind: out}

    def apply(self, state: DeclaredState, where: str) -> None:
        before = state.spec(self.collection, where)
        old = {f.name: f for f in before.fields}
        for f in self.target.fields:
            if f.name in old and (old[f.name].type, old[f.name].dim, old[f.name].primary) != (f.type, f.dim, f.primary):
                raise MigrationError(f"{where}: rebuild cannot change field {f.name!r} (type, dim or key); "
                                     "add a new field instead")
        state.collections[self.collection] = self.target

    def inverse(self, before: DeclaredState) -> list[Operation] | None:
        previous = before.collections[self.collection]
        dropped = {f.name for f in previous.fields} - {f.name for f in self.target.fields}
        return None if dropped else [Rebuild(self.collection, previous)]

    def describe(self) -> str:
        idx = self.target.index
        return f"rebuild {self.collection} (index {idx.index_type} {idx.metric}, {len(self.target.fields)} fields; rows copied)"


OPERATIONS: dict[str, type[Operation]] = {
    cls.kind: cls for cls in (CreateCollection, DropCollection, CreateIndex, DropIndex, AddField, DropField,
                              RenameCollection, CreateAlias, AlterAlias, DropAlias, CreatePartition,
                              DropPartition, Rebuild)
}


@dataclass(frozen=True)
class VectorMigration:
    """One versioned file: its operations and, optionally, an explicit downgrade."""

    version: str
    description: str
    depends_on: str | None
    operations: tuple[Operation, ...]
    downgrade_ops: tuple[Operation, ...] | None = None
    irreversible: bool = False
    path: str = ""

    @property
    def operations_hash(self) -> str:
        """sha256 of the canonical form of the operations (and of an explicit downgrade)."""
        canonical: dict[str, Any] = {"operations": [op.as_dict() for op in self.operations]}
        if self.downgrade_ops is not None:
            canonical["downgrade"] = [op.as_dict() for op in self.downgrade_ops]
        if self.irreversible:
            canonical["irreversible"] = True
        text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def apply(self, state: DeclaredState) -> DeclaredState:
        after = state.copy()
        for i, op in enumerate(self.operations):
            op.apply(after, f"{self.path or self.version}: operations[{i}] {op.kind}")
        return after

    def downgrade(self, before: DeclaredState) -> list[Operation]:
        """The operations that take the store from after this migration back to ``before``."""
        if self.downgrade_ops is not None:
            return list(self.downgrade_ops)
        if self.irreversible:
            raise MigrationError(f"{self.version} is marked irreversible")
        undo: list[Operation] = []
        state = before.copy()
        inverses: list[list[Operation]] = []
        for i, op in enumerate(self.operations):
            inv = op.inverse(state)
            if inv is None:
                raise MigrationError(f"{self.path or self.version}: operations[{i}] {op.kind} has no safe inverse "
                                     "(it deletes data); add a 'downgrade:' block or 'irreversible: true'")
            inverses.append(inv)
            op.apply(state, f"{self.version}: operations[{i}]")
        for inv in reversed(inverses):
            undo.extend(inv)
        return undo
