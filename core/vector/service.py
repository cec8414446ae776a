"""The vector side of migctl as one async service: status, plans, execution under the lock.

Tracking and audit rows go to the relational database (through the relational service's
connection); the store is Milvus or pgvector as configured.
"""

from __future__ import annotations

from typing import Any

from migctl.core.config import Environment
from migctl.core.errors import MigctlError
from migctl.core.events import EventSink, ignore
from migctl.core.guard import GuardedRun
from migctl.core.lock import read_holder
from migctl.core.relational.service import RelationalService
from migctl.core.vector import tracking
from migctl.core.vector.loader import MigrationChain, load_chain, write_migration
from migctl.core.vector.migrator import VectorMigrator, VectorPlan, refuse_edited
from migctl.core.vector.settings import VectorSettings, open_store
from migctl.core.vector.stores.base import StoreBusy, StoreUnreachable, VectorStore
from migctl.core.vector.templates import TemplateSet, load_templates


class VectorService:
    """Opened lazily: reading the chain needs no server; status and changes connect."""

    def __init__(self, environment: Environment, settings: VectorSettings, relational: RelationalService,
                 sink: EventSink = ignore, lock_timeout: float = 0.0) -> None:
        self.environment = environment
        self.settings = settings
        self.lock_timeout = lock_timeout  # how long to wait for a migration holding Milvus Lite
        self.relational = relational
        self.sink = sink
        self._store: VectorStore | None = None
        self._templates: TemplateSet | None = None
        self._chain: MigrationChain | None = None

    @property
    def templates(self) -> TemplateSet:
        if self._templates is None:
            self._templates = load_templates(self.settings.templates)
        return self._templates

    @property
    def chain(self) -> MigrationChain:
        if self._chain is None:
            self._chain = load_chain(self.settings.migrations_dir, self.templates)
            from migctl.core.vector.templates import validate_for_store

            for state in self._chain.states:
                for spec in state.collections.values():
                    validate_for_store(spec, self.settings.store)
        return self._chain

    async def store(self) -> VectorStore:
        if self._store is None:
            store = open_store(self.settings, self.relational.url)
            try:
                await store.connect()
            except StoreBusy as busy:
                await self._wait_for_lite(store, busy)
            self._store = store
        return self._store

    async def _wait_for_lite(self, store: VectorStore, busy: StoreBusy) -> None:
        """Milvus Lite by path is held by another process. When that is a migration (it holds the
        migration lock), wait ``lock_timeout`` seconds for it like any lock, then refuse naming
        it (audited); Lite held by anything else stays the store's own error."""
        import asyncio
        import os
        import time

        from migctl.core.errors import LockHeld
        from migctl.core.events import LockWaiting
        from migctl.core.guard import mark_audited
        from migctl.core.lock import read_holder

        holder = await read_holder(self.relational.url)
        if holder is None or holder.pid == os.getpid():  # not a migration, or this one's own lock
            raise busy
        described = holder.describe()
        self.sink(LockWaiting(described, self.lock_timeout))
        deadline = time.monotonic() + self.lock_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(min(0.25, max(0.0, deadline - time.monotonic())))
            try:
                await store.connect()
                return
            except StoreBusy:
                continue
        reason = f"migration lock is held by {described}; retry later or pass --lock-timeout SECONDS"
        await self.relational.record_refusal("vector", self.settings.address, reason)
        raise mark_audited(LockHeld(reason, holder=holder.as_dict()))

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def migrator(self) -> VectorMigrator:
        chain = self.chain
        store = await self.store()
        async with self.relational.connection() as conn:
            return VectorMigrator(chain, store, conn, self.sink)

    # -- reading --------------------------------------------------------------------------
    async def status(self, live: bool = True) -> dict[str, Any]:
        migrator = await self.migrator()
        out = await migrator.status(live=live)
        out["address"] = self.settings.address
        out["embedded"] = self.settings.embedded
        return out

    async def status_or_busy(self, live: bool = True) -> dict[str, Any]:
        """:meth:`status`, or what :meth:`busy` says while Milvus Lite is open in another
        process: a read neither fails nor waits (nor is audited) because a migration runs."""
        busy = await self.busy()  # asked first: opening a busy Lite waits for the migration lock
        if busy is not None:
            return busy
        try:
            return await self.status(live=live)
        except StoreUnreachable:  # taken between the look and the open, by something unlocked
            busy = await self.busy()
            if busy is None:
                raise
            return busy

    async def busy(self) -> dict[str, Any] | None:
        """``{"busy": who}`` while Milvus Lite by path is open in another process (it admits
        one at a time), naming the migration lock's holder; ``None`` otherwise. Looks at
        Lite's own lock file without opening the store."""
        from migctl.core.vector.lite_server import LiteServer, is_local_path

        if self._store is not None or self.settings.store != "milvus" or not is_local_path(self.settings.uri):
            return None  # already open here, or not Lite by path
        if not LiteServer(self.settings.uri or "").held_elsewhere():
            return None
        holder = await read_holder(self.relational.url)
        return {"busy": holder.describe() if holder else "another process has it open (no migration lock held)",
                "holder": holder.as_dict() if holder else None, "store": self.settings.store,
                "address": self.settings.address, "embedded": self.settings.embedded}

    async def history(self) -> list[dict[str, Any]]:
        migrator = await self.migrator()
        rows = await migrator.tracked()
        out = []
        for m in self.chain.migrations:
            row = rows.get(m.version)
            state = row.status if row else "pending"
            if row and row.status == "applied" and row.operations_hash != m.operations_hash:
                state = "drifted"
            out.append({"version": m.version, "description": m.description, "status": state,
                        "store": row.vector_store_type if row else None,
                        "applied_at": row.as_dict()["applied_at"] if row else None,
                        "applied_by": row.applied_by if row else None, "operations_hash": m.operations_hash,
                        "operations": [op.describe() for op in m.operations], "path": m.path})
        return out

    async def collections(self) -> dict[str, Any]:
        migrator = await self.migrator()
        rows = await migrator.tracked()
        collections, drift = await migrator.live_state(migrator.current_of(rows))
        return {"store": self.settings.store, "address": self.settings.address, "collections": collections,
                "live_drift": drift}

    # -- planning and changing ------------------------------------------------------------
    async def check_drift(self) -> None:
        """Refuse (exit 3) while an applied migration file differs from what was applied.
        Reads the files and the tracking table only: no vector store is opened."""
        chain = self.chain
        async with self.relational.connection() as conn:
            rows = await tracking.rows(conn)
        refuse_edited(chain, rows)

    async def plan(self, action: str, target: str | None) -> VectorPlan:
        migrator = await self.migrator()
        return await self.with_verdicts(await migrator.plan(action, target))

    async def with_verdicts(self, plan: VectorPlan) -> VectorPlan:
        """``plan`` with each step's ``migctl verify`` verdict for its file as it is now."""
        import asyncio

        from migctl.core.vector.verify import cached_verdicts

        versions = [s.version for s in plan.steps if s.direction != "stamp"]
        if not versions:
            return plan
        verdicts = await asyncio.to_thread(cached_verdicts, self.environment, self.settings, versions)
        return plan.with_verdicts(verdicts)

    async def execute(self, plan: VectorPlan, *, lock_timeout: float = 0.0, confirm_env: str | None = None,
                      within: GuardedRun | None = None, allow_broken: bool = False) -> list[str]:
        """Run ``plan`` through the guard; planned again under the lock, which refuses a moved
        chain, an applied file edited since and (without ``allow_broken``) a step ``migctl
        verify`` found broken in its direction (the refusal is audited by the guard)."""
        async with self.relational.guard.run(f"vector {plan.action}", plan.target, confirm_env,
                                             lock_timeout=lock_timeout, within=within) as run:
            # The lock is held before Milvus Lite is opened: Lite by path admits one process.
            migrator = await self.migrator()
            run.before = (plan.current or "base",)
            fresh = await migrator.plan(plan.action, None if plan.target == "latest" else plan.target)
            if [(s.version, s.direction) for s in fresh.steps] != [(s.version, s.direction) for s in plan.steps]:
                if fresh.empty:
                    return []
                await run.refuse("the vector migrations moved since the plan was made; plan again")
            # The verdicts as they are now: a walk may have ended, or a file been edited, since.
            judged = await self.with_verdicts(plan)
            broken = judged.broken_steps
            if broken and not allow_broken:
                await run.refuse(judged.broken_refusal() or "broken steps")
            if broken:
                run.note = "--allow-broken through " + ", ".join(
                    f"{s.version} ({s.verdict.short if s.verdict else '?'})" for s in broken)
            await run.begin()
            try:
                done = await migrator.execute(plan)
            except MigctlError:
                rows = await migrator.tracked()
                run.after = (migrator.current_of(rows) or "base",)
                raise
            run.after = (plan.after or "base",)
            return done

    async def repair(self, version: str, *, confirm_env: str | None = None) -> str:
        async with self.relational.guard.run("vector repair", version, confirm_env,
                                             lock_timeout=self.lock_timeout) as run:
            migrator = await self.migrator()
            await migrator.check_repairable(version)  # before begin: bad input leaves no audit row
            run.before = (version,)
            await run.begin()
            new_hash = await migrator.repair(version)
            run.after = (version,)
            return new_hash

    def create_migration(self, description: str, collections: list[str]) -> str:
        path = write_migration(self.settings.migrations_dir, self.chain, self.templates, description, collections)
        self._chain = None
        _ = self.chain  # the new file must load with the rest
        return str(path)
