"""``migctl verify`` for vector migrations: each one up, down and up again on a throwaway store.

The store is of the environment's kind, never the environment's own: Milvus (Lite or a
server) is verified on a Milvus Lite database in a temporary directory (run in-process by
pymilvus, deleted afterwards); pgvector in the environment's ``vectors`` schema of a scratch
database made the way the relational walk makes one (``core.relational.scratch``: on the
embedded PostgreSQL 18, or ``verify: {on: server}``), dropped afterwards. The target store is
never opened; a pgvector target's database is only read (its extensions).

For each migration in chain order: apply its operations, compare the store with the declared
state after it (``core.vector.drift`` per collection, plus collections, aliases and partitions
the declaration does not have), apply its downgrade, compare with the declared state before
it, apply it again, compare with the state after. Vector operations commit one by one, so a
downgrade that fails after changing something is ``not transactional, half-commits on
failure``; a store left elsewhere than a clean walk leaves it is emptied and brought back by
replaying the upgrades applied so far. Verdicts use the relational states
(``core.relational.assessment``) and are cached in the same ``VerdictCache`` under the key
``vector:<version>`` and the YAML file's sha256; a cached verdict obtained on another kind of
store (Milvus vs PostgreSQL) is not reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migctl.core.config import Environment
from migctl.core.errors import OperationFailed
from migctl.core.events import EventSink, Notice, VerifyProgress, ignore
from migctl.core.relational.assessment import (
    DOWNGRADE_FAILS,
    DOWNGRADE_INCOMPLETE,
    HALF_COMMITS,
    OK,
    REUPGRADE_DIFFERS,
    UPGRADE_FAILS,
    Verdict,
)
from migctl.core.relational.state import file_sha256
from migctl.core.relational.verdict_cache import VerdictCache
from migctl.core.relational.verify import NOT_REACHED, count_verdicts, servers_of
from migctl.core.secrets import clip
from migctl.core.vector.drift import differences
from migctl.core.vector.executor import OperationExecutor
from migctl.core.vector.loader import FILE_NAME, MigrationChain
from migctl.core.vector.model import DeclaredState, MigrationError, Operation, VectorMigration
from migctl.core.vector.settings import VectorSettings
from migctl.core.vector.stores.base import StoreError, StoreUnreachable, VectorStore

PREFIX = "vector:"  # cache key and verdict revision: vector:<version>
TEMP_PREFIX = "migctl_verify_"
DIFF_LIMIT = 3  # differences named in a verdict, as the relational side's summary(limit=3)


def cache_key(version: str) -> str:
    """The revision a vector migration's verdict is kept (and shown) under."""
    return PREFIX + version


def version_of(key: str) -> str:
    return key.removeprefix(PREFIX)


@dataclass(frozen=True)
class VectorVerifyResult:
    """The verdicts of the vector migrations, in chain order (revisions ``vector:<version>``)."""

    verdicts: tuple[Verdict, ...]
    store: str  # the environment's kind: milvus or pgvector
    cached: frozenset[str] = frozenset()
    not_reached: frozenset[str] = frozenset()
    server: str = ""  # what this walk ran on; "" when every verdict was cached
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    @property
    def bad(self) -> int:
        return sum(1 for v in self.verdicts if not v.ok)

    def counts(self) -> dict[str, int]:
        return count_verdicts(self.verdicts, self.not_reached)

    @property
    def servers(self) -> str:
        return self.server or servers_of(self.verdicts, "no store")

    def summary(self) -> str:
        """``4 vector migrations: 3 ok, 1 downgrade fails; 0 cached; Milvus Lite 3.2.2 (temporary directory); 2.1 s``"""
        counts = self.counts()
        shown = [f"{n} {label}" for label, n in counts.items() if n or label == "ok"]
        n = len(self.verdicts)
        return (f"{n} vector migration{'' if n == 1 else 's'}: {', '.join(shown)}; {len(self.cached)} cached; "
                f"{self.servers}; {self.seconds:.1f} s")

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdicts": [{**v.as_dict(), "version": version_of(v.revision), "cached": v.revision in self.cached,
                          "not_reached": v.revision in self.not_reached} for v in self.verdicts],
            "summary": {"migrations": len(self.verdicts), "store": self.store, "counts": self.counts(),
                        "cached": len(self.cached), "server": self.servers, "seconds": round(self.seconds, 3),
                        "text": self.summary()},
        }


# -- comparing a store with a declared state ----------------------------------------------
async def state_difference(store: VectorStore, declared: DeclaredState) -> list[str]:
    """Everything in which ``store`` differs from ``declared``, one line each: the drift lines of
    each declared collection, and collections, aliases and partitions declared nowhere."""
    out: list[str] = []
    live_names = set(await store.list_collections())
    for name in sorted(live_names | set(declared.collections)):
        spec = declared.collections.get(name)
        if spec is None:
            out.append(f"collection {name} extra")
            continue
        live = await store.describe(name) if name in live_names else None
        out.extend(differences(spec, live, store=store.kind))
        if live is not None and store.capabilities.partitions:
            have = set(await store.list_partitions(name)) - {"_default"}
            want = declared.partitions.get(name, set())
            out.extend(f"partition {name}.{p} extra" for p in sorted(have - want))
            out.extend(f"partition {name}.{p} missing" for p in sorted(want - have))
    aliases = await store.list_aliases()
    for alias in sorted(set(aliases) | set(declared.aliases)):
        have_target, want_target = aliases.get(alias), declared.aliases.get(alias)
        if want_target is None:
            out.append(f"alias {alias} extra (on {have_target})")
        elif have_target is None:
            out.append(f"alias {alias} missing")
        elif have_target != want_target:
            out.append(f"alias {alias} points to {have_target}, declared {want_target}")
    return out


def summarize(lines: Sequence[str]) -> str:
    if len(lines) <= DIFF_LIMIT:
        return "; ".join(lines)
    return "; ".join(lines[:DIFF_LIMIT]) + f" (+{len(lines) - DIFF_LIMIT} more)"


# -- the throwaway store ----------------------------------------------------------------------
@dataclass
class Throwaway:
    """A connected store nobody else uses, and the words a verdict names it by."""

    store: VectorStore
    description: str


@contextlib.asynccontextmanager
async def throwaway_store(environment: Environment, settings: VectorSettings, relational_url: str, *,
                          emit: EventSink = ignore) -> AsyncIterator[Throwaway]:
    """A new, empty store of ``settings.store``'s kind, deleted when the block ends however it
    ends. Milvus: Milvus Lite in a temporary directory; pgvector: ``settings.schema`` in a
    scratch database (see ``core.relational.scratch``) for ``relational_url``."""
    from migctl.core.extras import require

    if settings.store == "pgvector":
        require("pgvector", "pgvector", "the pgvector store")
        require("asyncpg", "pgvector", "the pgvector store")
        async with _pgvector_scratch(environment, settings, relational_url, emit) as scratch:
            yield scratch
        return
    require("pymilvus", "milvus", "the Milvus store")
    require("milvus_lite", "milvus", "Milvus Lite")
    async with _milvus_lite_scratch() as scratch:
        yield scratch


@contextlib.asynccontextmanager
async def _milvus_lite_scratch() -> AsyncIterator[Throwaway]:
    from migctl.core.vector.stores.milvus import MilvusStore

    directory = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX))
    store = MilvusStore(str(directory / "milvus.db"))
    try:
        await store.connect()
        number = re.search(r"\d+(?:\.\d+)+", store.version or "")
        kind = "Milvus Lite" if store.server == "milvus-lite" else "Milvus"
        yield Throwaway(store, f"{kind} {number.group(0) if number else store.version} (temporary directory)")
    finally:
        try:
            await store.close()
        finally:
            await asyncio.to_thread(shutil.rmtree, directory, True)


@contextlib.asynccontextmanager
async def _pgvector_scratch(environment: Environment, settings: VectorSettings, relational_url: str,
                            emit: EventSink) -> AsyncIterator[Throwaway]:
    from migctl.core.relational.scratch import scratch_database
    from migctl.core.vector.stores.pgvector import PgVectorStore

    # scratch_database is synchronous (CREATE/DROP DATABASE over a sync engine): entered and left
    # in a worker thread so the loop keeps serving the sink meanwhile.
    manager = scratch_database(environment, relational_url, emit=emit)
    scratch = await asyncio.to_thread(manager.__enter__)
    try:
        # Scratch.connect() refuses a URL that lands on another database; the store's own
        # driver then uses that same URL.
        await asyncio.to_thread(lambda: scratch.connect().close())
        store = PgVectorStore(scratch.url, schema=settings.schema)
        try:
            await store.connect()
            info = await store.info()
            pgvector = info.extra.get("pgvector")
            yield Throwaway(store, scratch.description + (f", pgvector {pgvector}" if pgvector else ""))
        finally:
            await store.close()
    finally:  # the scratch database is dropped however the block ended (its body is try/finally)
        await asyncio.to_thread(manager.__exit__, None, None, None)


# -- the walk ---------------------------------------------------------------------------------
class _OwnFailure(Exception):
    """The throwaway store itself failed (unreachable), not a migration."""


@dataclass
class _Walk:
    chain: MigrationChain
    store: VectorStore
    server: str
    todo: set[str]
    digests: dict[str, str]
    emit: EventSink
    at: str
    total: int
    executor: OperationExecutor = field(init=False)
    applied: int = 0  # migrations of the chain the store holds, as a clean walk leaves it
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)  # version -> the one that fails to upgrade
    started: float = 0.0

    def __post_init__(self) -> None:
        # ignore: a copy's progress lines (empty collections) would only crowd the verdicts
        self.executor = OperationExecutor(self.store, ignore)

    async def run_ops(self, ops: Iterable[Operation], before: DeclaredState) -> None:
        """The operations one by one, each told the declared state before it (as the migrator
        runs them, without the tracking table: nothing of the environment is written)."""
        state = before.copy()
        for op in ops:
            try:
                await self.executor.run(op, state)
            except StoreUnreachable as exc:
                raise _OwnFailure(str(exc)) from None
            op.apply(state, "verify")

    async def difference(self, declared: DeclaredState) -> list[str]:
        try:
            return await state_difference(self.store, declared)
        except StoreUnreachable as exc:
            raise _OwnFailure(str(exc)) from None

    def record(self, version: str, state: str, detail: str = "", *, seconds: float | None = None) -> None:
        took = time.monotonic() - self.started if seconds is None else seconds
        key = cache_key(version)
        verdict = Verdict(key, state, clip(detail), self.digests[version], self.server, round(took, 4), self.at)
        self.verdicts[key] = verdict
        if version in self.todo:
            done = sum(1 for k in self.verdicts if version_of(k) in self.todo)
            self.emit(VerifyProgress(done, self.total, key, state, verdict.detail, verdict.seconds))

    def block_after(self, index: int, cause: str) -> None:
        for mig in self.chain.migrations[index + 1:]:
            self.blocked[mig.version] = cause

    async def reset(self) -> None:
        """Empty the store and replay the upgrades a clean walk has applied by now."""
        try:
            for alias in await self.store.list_aliases():
                await self.store.drop_alias(alias)
            for name in await self.store.list_collections():
                await self.store.drop_collection(name)
        except StoreError as exc:
            raise _OwnFailure(f"the throwaway store could not be emptied: {exc}") from None
        for mig in self.chain.migrations[:self.applied]:
            try:
                await self.run_ops(mig.operations, self.chain.state_after(mig.depends_on))
            except (StoreError, OperationFailed, MigrationError) as exc:
                raise _OwnFailure(f"the throwaway store could not be brought back to {mig.version}: its upgrade "
                                  f"fails: {exc}") from None

    async def run(self, last: int) -> None:
        for index, mig in enumerate(self.chain.migrations[:last + 1]):
            self.started = time.monotonic()
            if mig.version in self.blocked:
                if mig.version in self.todo:
                    self.record(mig.version, UPGRADE_FAILS, f"{NOT_REACHED}: ancestor {self.blocked[mig.version]} "
                                                            "fails to upgrade", seconds=0.0)
                continue
            if not await self.verify_one(index, mig):
                self.block_after(index, mig.version)

    async def verify_one(self, index: int, mig: VectorMigration) -> bool:
        """Verify ``mig`` (or only upgrade through it when it has a cached verdict); False when
        its upgrade fails, so that none after it can be reached."""
        before, after = self.chain.state_after(mig.depends_on), self.chain.states[index]
        through = mig.version not in self.todo
        try:
            await self.run_ops(mig.operations, before)
        except (StoreError, OperationFailed, MigrationError) as exc:
            left = await self.difference(before)
            self.record(mig.version, UPGRADE_FAILS,
                        f"{exc}; part of it committed: {summarize(left)}" if left else str(exc))
            return False
        if differs := await self.difference(after):
            self.record(mig.version, UPGRADE_FAILS, f"the store differs from the declared state after it: "
                                                    f"{summarize(differs)}")
            return False
        self.applied = index + 1
        if through:
            return True
        try:
            down = mig.downgrade(before)
        except MigrationError as exc:  # irreversible, or no safe inverse: nothing was run
            self.record(mig.version, DOWNGRADE_FAILS, str(exc))
            return True
        try:
            await self.run_ops(down, after)
        except (StoreError, OperationFailed, MigrationError) as exc:
            left = await self.difference(after)
            if left:
                self.record(mig.version, HALF_COMMITS, f"{exc}; part of it committed: {summarize(left)}")
                await self.reset()
            else:
                self.record(mig.version, DOWNGRADE_FAILS, str(exc))
            return True
        incomplete = await self.difference(before)
        pending = (DOWNGRADE_INCOMPLETE, summarize(incomplete)) if incomplete else None
        try:
            await self.run_ops(mig.operations, before)
        except (StoreError, OperationFailed, MigrationError) as exc:
            self.record(mig.version, *(pending or (REUPGRADE_DIFFERS, f"the upgrade after the downgrade fails: {exc}")))
            await self.reset()
            return True
        again = await self.difference(after)
        state, detail = pending or ((REUPGRADE_DIFFERS, summarize(again)) if again else (OK, ""))
        self.record(mig.version, state, detail)
        if again:
            await self.reset()
        return True


def cached_verdicts(environment: Environment, settings: VectorSettings, versions: list[str]) -> dict[str, Verdict]:
    """By version: the verdicts kept for these files as they are now, obtained on this kind of
    store (what a plan shows; no walk)."""
    files = migration_files(settings.migrations_dir)
    found = VerdictCache(environment.state_dir).for_files({cache_key(v): files[v] for v in versions if v in files},
                                                          backend=settings.store)
    return {version_of(k): v for k, v in found.items()}


def migration_files(directory: Path) -> dict[str, Path]:
    """The file of each version in ``directory`` (the loader checked each name against its version)."""
    out: dict[str, Path] = {}
    for path in sorted(directory.glob("*.y*ml")) if directory.is_dir() else []:
        m = FILE_NAME.match(path.name)
        if m is not None:
            out[m["version"]] = path
    return out


async def verify_vector(environment: Environment, settings: VectorSettings, relational_url: str,
                        chain: MigrationChain, sink: EventSink = ignore, *, force: bool = False) -> VectorVerifyResult:
    """Verify every vector migration of ``chain`` without a cached verdict for its file (all of
    them with ``force``) on a throwaway store; see the module's docstring. ``relational_url``
    (pgvector): the environment's database, only read (its extensions and server)."""
    began = time.monotonic()
    files = migration_files(settings.migrations_dir)
    versions = chain.versions
    if missing := [v for v in versions if v not in files]:  # the chain was read from that folder
        raise OperationFailed(f"verify: vector migration {missing[0]} changed while it was read; run it again")
    digests = {v: file_sha256(files[v]) for v in versions}
    cache = VerdictCache(environment.state_dir)
    cached: dict[str, Verdict] = {}
    if not force:
        cached = cache.for_files({cache_key(v): files[v] for v in versions},
                                 {str(files[v]): digests[v] for v in versions}, backend=settings.store)
    todo = [v for v in versions if cache_key(v) not in cached]
    if not todo:
        return VectorVerifyResult(tuple(cached[cache_key(v)] for v in versions), settings.store,
                                  frozenset(cached), seconds=time.monotonic() - began)
    sink(Notice(f"verifying {len(todo)} vector migration(s) up, down and up again; {len(cached)} cached"))
    walk: _Walk | None = None
    try:
        async with throwaway_store(environment, settings, relational_url, emit=sink) as scratch:
            sink(Notice(f"throwaway vector store on {scratch.description}"))
            walk = _Walk(chain, scratch.store, scratch.description, set(todo), digests, sink,
                         datetime.now(UTC).isoformat(timespec="seconds"), len(todo))
            try:
                await walk.run(max(versions.index(v) for v in todo))
            except _OwnFailure as exc:
                raise OperationFailed(f"verify: {exc}") from None
    finally:
        if walk is not None:  # what was learned stays learned, even when the walk broke off
            cache.put_many(v for k, v in walk.verdicts.items() if version_of(k) not in walk.blocked)
    assert walk is not None
    fresh = walk.verdicts
    verdicts = [fresh.get(cache_key(v)) or cached[cache_key(v)] for v in versions
                if cache_key(v) in fresh or cache_key(v) in cached]
    return VectorVerifyResult(tuple(verdicts), settings.store, frozenset(k for k in cached if k not in fresh),
                              frozenset(cache_key(v) for v in walk.blocked if cache_key(v) in fresh),
                              walk.server, time.monotonic() - began)
