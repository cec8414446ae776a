"""Applying one vector operation to a live store, idempotently.

Every operation looks at the live store first and does only what is missing, so running a
migration again after a crash resumes and converges. Changes a store cannot make in place
(adding a field on Milvus, renaming on Milvus Lite, a new index by rebuild) go through a
shadow collection: create it with the target schema, copy rows in primary-key order (resuming
from the shadow's largest key), verify the count, index it, and only then swap it in under the
original name in one step (rename; a copy back where the store cannot rename). No step drops
rows that exist nowhere else, and the name answers reads throughout.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from migctl.core.errors import OperationFailed
from migctl.core.events import CopyProgress, EventSink, ignore
from migctl.core.faults import fault_point
from migctl.core.vector import model as m
from migctl.core.vector.drift import differences, matches
from migctl.core.vector.stores.base import VectorStore
from migctl.core.vector.templates import CollectionSpec, IndexSpec

SHADOW_SUFFIX = "__migctl_shadow"


def flat(spec: CollectionSpec) -> CollectionSpec:
    """The spec with a FLAT index (pgvector: none), for filling a collection before indexing."""
    return replace(spec, index=IndexSpec(spec.index.field, "FLAT", spec.index.metric, ()))


def same_fields(spec: CollectionSpec, live: Any, exact_index: bool = False) -> bool:
    """Whether ``live`` has ``spec``'s fields (and, with ``exact_index``, its index too)."""
    problems = differences(spec.renamed(live.name), live, store="")
    if exact_index:
        return not problems
    return not [p for p in problems if ": index " not in p]


def shadow_name(collection: str) -> str:
    return f"{collection[:63 - len(SHADOW_SUFFIX)]}{SHADOW_SUFFIX}"


class OperationExecutor:
    """Runs operations against one store; reports copy progress through ``sink``."""

    def __init__(self, store: VectorStore, sink: EventSink = ignore, batch_size: int = 2000) -> None:
        self.store = store
        self.sink = sink
        self.batch_size = batch_size

    async def run(self, op: m.Operation, before: m.DeclaredState) -> None:
        handler = getattr(self, f"_{op.kind}")
        await handler(op, before)

    # -- collections ---------------------------------------------------------------------
    async def _create_collection(self, op: m.CreateCollection, before: m.DeclaredState) -> None:
        await self.store.create_collection(op.spec)

    async def _drop_collection(self, op: m.DropCollection, before: m.DeclaredState) -> None:
        for alias, target in (await self.store.list_aliases()).items():
            if target == op.name:
                await self.store.drop_alias(alias)
        await self.store.drop_collection(op.name)

    async def _rename_collection(self, op: m.RenameCollection, before: m.DeclaredState) -> None:
        old_live = await self.store.describe(op.old)
        if old_live is None and await self.store.describe(op.new) is not None:
            return  # done before a crash
        if self.store.capabilities.rename_collection:
            await self.store.rename_collection(op.old, op.new)
            return
        spec = before.collections[op.old]
        await self._move(op.old, spec.renamed(op.new), {}, spec)

    # -- indexes and fields --------------------------------------------------------------
    async def _create_index(self, op: m.CreateIndex, before: m.DeclaredState) -> None:
        live = await self.store.describe(op.collection)
        if live is not None and live.index is not None and not differences(
                replace(before.collections[op.collection], index=op.index), live, store=self.store.kind):
            return
        if live is not None and live.index is not None:
            await self.store.drop_index(op.collection, live.index.field)
        await self.store.create_index(op.collection, op.index)

    async def _drop_index(self, op: m.DropIndex, before: m.DeclaredState) -> None:
        await self.store.drop_index(op.collection, op.field_name)

    async def _add_field(self, op: m.AddField, before: m.DeclaredState) -> None:
        spec = before.collections[op.collection]
        target = replace(spec, fields=(*spec.fields, op.field_spec))
        if self.store.capabilities.add_field:
            live = await self.store.describe(op.collection)
            if live is not None and any(f.name == op.field_spec.name for f in live.fields):
                return
            await self.store.add_field(op.collection, op.field_spec, op.default)
            return
        await self._move(op.collection, target, {op.field_spec.name: op.default}, spec)

    async def _drop_field(self, op: m.DropField, before: m.DeclaredState) -> None:
        spec = before.collections[op.collection]
        target = replace(spec, fields=tuple(f for f in spec.fields if f.name != op.field_name))
        if self.store.capabilities.drop_field:
            live = await self.store.describe(op.collection)
            if live is not None and any(f.name == op.field_name for f in live.fields):
                await self.store.drop_field(op.collection, op.field_name)
            return
        await self._move(op.collection, target, {}, spec)

    async def _rebuild(self, op: m.Rebuild, before: m.DeclaredState) -> None:
        await self._move(op.collection, op.target, dict(op.defaults), before.collections[op.collection])

    # -- aliases and partitions ----------------------------------------------------------
    async def _create_alias(self, op: m.CreateAlias, before: m.DeclaredState) -> None:
        current = (await self.store.list_aliases()).get(op.alias)
        if current == op.collection:
            return
        if current is None:
            await self.store.create_alias(op.alias, op.collection)
        else:
            await self.store.alter_alias(op.alias, op.collection)

    async def _alter_alias(self, op: m.AlterAlias, before: m.DeclaredState) -> None:
        await self._create_alias(m.CreateAlias(op.alias, op.collection), before)

    async def _drop_alias(self, op: m.DropAlias, before: m.DeclaredState) -> None:
        if op.alias in await self.store.list_aliases():
            await self.store.drop_alias(op.alias)

    async def _create_partition(self, op: m.CreatePartition, before: m.DeclaredState) -> None:
        if op.partition not in await self.store.list_partitions(op.collection):
            await self.store.create_partition(op.collection, op.partition)

    async def _drop_partition(self, op: m.DropPartition, before: m.DeclaredState) -> None:
        if op.partition in await self.store.list_partitions(op.collection):
            await self.store.drop_partition(op.collection, op.partition)

    # -- shadow copy ----------------------------------------------------------------------
    async def _move(self, source: str, target: CollectionSpec, defaults: Mapping[str, Any],
                    old: CollectionSpec | None = None) -> None:
        """Make ``target.name`` hold ``source``'s rows with ``target``'s schema (``source`` may
        equal ``target.name``: a rebuild in place). ``old`` is the declared source schema.

        The shadow is built completely first: created without a real index, filled (much
        faster than indexing row by row), counted, then indexed (and loaded on Milvus). Only
        then does it take the name, in one step where the store can rename
        (:meth:`VectorStore.replace_collection`: one transaction on pgvector), so the name
        keeps answering reads with every row while a rebuild runs, and after a kill at any
        point. Without rename the rows are copied back under the name. The live state says
        what a crashed run reached: the source as declared means the swap has not happened.
        """
        store, kind = self.store, self.store.kind
        shadow = shadow_name(target.name)
        live = await store.describe(source)
        staged = await store.describe(shadow)
        final = live if target.name == source else await store.describe(target.name)
        if final is not None and matches(target, final, store=kind) and staged is None and (
                source == target.name or live is None):
            return  # done (before a crash, or nothing to do)
        shadow_ready = staged is not None and same_fields(target, staged)
        source_intact = live is not None and (old is None or matches(old, live, store=kind))
        if source_intact:
            if staged is not None and not shadow_ready:
                await store.drop_collection(shadow)  # a stale shadow; the source still has every row
                staged = None
            if staged is None:
                await store.create_collection(flat(target.renamed(shadow)))
            fault_point("shadow-created")
            await self.copy(source, shadow, target, defaults)
            fault_point("copied")
            await self._verify(source, shadow)
        elif not shadow_ready:
            raise OperationFailed(f"collection {source} is not as declared and there is no complete shadow "
                                  f"copy ({shadow}) to resume from; inspect with 'migctl collections'")
        await self._ensure_index(shadow, target)
        fault_point("shadow-indexed")
        if store.capabilities.rename_collection:
            await store.replace_collection(target.name, shadow)
            if source != target.name:
                await self._point_aliases(source, target.name)
                await store.drop_collection(source)
            fault_point("swapped")
            return
        if source_intact:  # without rename the name must be freed for the copy back
            await self._point_aliases(source, shadow)
            fault_point("aliases-swapped")
            await store.drop_collection(source)
            fault_point("original-dropped")
        if await store.describe(target.name) is None:
            await store.create_collection(flat(target))
        await self.copy(shadow, target.name, target, {})
        fault_point("copied-back")
        await self._verify(shadow, target.name)
        await self._ensure_index(target.name, target)
        await self._point_aliases(shadow, target.name)
        await store.drop_collection(shadow)

    async def _ensure_index(self, name: str, spec: CollectionSpec) -> None:
        live = await self.store.describe(name)
        if live is None or matches(spec.renamed(name), live, store=self.store.kind):
            return
        if live.index is not None:
            await self.store.drop_index(name, live.index.field)
        await self.store.create_index(name, spec.index)

    async def _point_aliases(self, old: str, new: str) -> None:
        for alias, target in (await self.store.list_aliases()).items():
            if target == old:
                await self.store.alter_alias(alias, new)

    async def _verify(self, source: str, target: str) -> None:
        have, want = await self.store.count(target), await self.store.count(source)
        if have != want:
            raise OperationFailed(f"copy of {source} into {target} has {have} rows, expected {want}; "
                                  "nothing was dropped, run again to resume")

    async def copy(self, source: str, target: str, spec: CollectionSpec, defaults: Mapping[str, Any]) -> int:
        """Copy rows in primary-key order from ``source`` into ``target``, resuming after the
        target's largest key; rows get ``defaults`` for fields the source lacks."""
        store = self.store
        names = [f.name for f in spec.fields]
        await store.flush(source)  # Milvus Lite: counting and reading unflushed rows costs most
        source_live = await store.describe(source)
        source_fields = {f.name for f in source_live.fields} if source_live else set()
        wanted = [n for n in names if n in source_fields]
        fill = {n: defaults[n] for n in names if n not in source_fields and n in defaults}
        missing = [n for n in names if n not in source_fields and n not in defaults]
        if missing:
            raise OperationFailed(f"copying {source} into {target}: no value for new field(s) {', '.join(missing)}")
        if source_live is not None and source_live.vector_field and spec.vector_field.dim != source_live.vector_field.dim:
            raise OperationFailed(f"copying {source} into {target}: dimension {source_live.vector_field.dim} "
                                  f"does not fit {spec.vector_field.dim}")
        # total and done only feed progress; describe counted the source exactly unless it is an
        # unloaded Milvus collection (then it gave the server's statistics)
        counted = source_live is not None and source_live.loaded is not False
        total = source_live.rows if counted and source_live else await store.count(source)
        after = await store.max_pk(target)
        done = await store.count(target) if after is not None else 0
        started, copied, batches = time.monotonic(), 0, 0
        copy_rows = getattr(store, "copy_rows", None)  # same-store copy inside the server
        while True:
            if copy_rows is not None:
                count, last = await copy_rows(source, target, after, max(self.batch_size, 10_000), wanted, fill)
                if not count:
                    break
                after = last
            else:
                rows = None  # let the previous batch go before the next one is read
                rows = await store.read_batch(source, after, self.batch_size, wanted)
                if not rows:
                    break
                if fill:
                    rows = [{**row, **fill} for row in rows]
                await store.write_batch(target, rows)
                after = rows[-1][spec.primary.name]
                count = len(rows)
            copied += count
            batches += 1
            elapsed = max(time.monotonic() - started, 1e-9)
            rate = copied / elapsed
            remaining = max(total - done - copied, 0)
            self.sink(CopyProgress(source, target, min(done + copied, total), total, rate,
                                   remaining / rate if rate else None))
            fault_point(f"copy-batch-{batches}")
        await store.flush(target)
        return copied
