"""Vector migrations against one store: status, plans, execution, drift, repair.

Plans are plain data (which versions run in which direction, what each operation does, what
it deletes with row counts); ``execute`` records each step in ``vector_db_migrations`` before
it starts, so a run killed half-way is resumed by the next one.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from migctl.core.errors import OperationFailed, Refused, UsageError
from migctl.core.events import EventSink, Notice, ignore
from migctl.core.faults import fault_point
from migctl.core.identity import current_actor
from migctl.core.relational.assessment import Verdict, broken_refusal, step_verdict_label
from migctl.core.vector import tracking
from migctl.core.vector.drift import differences
from migctl.core.vector.executor import OperationExecutor
from migctl.core.vector.loader import MigrationChain
from migctl.core.vector.model import DeclaredState, MigrationError, Operation, VectorMigration
from migctl.core.vector.stores.base import StoreError, VectorStore

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection

_RELATIVE = re.compile(r"^[+-]\d+$")


@dataclass(frozen=True)
class VectorStep:
    version: str
    direction: str  # "up", "down" or "stamp"
    description: str
    operations: tuple[Operation, ...]
    destroys: tuple[str, ...] = ()
    verdict: Verdict | None = None  # ``migctl verify``'s, for this file's bytes; None: not verified

    @property
    def broken(self) -> bool:
        return self.verdict is not None and self.verdict.breaks(self.direction)

    @property
    def verdict_label(self) -> str:
        return step_verdict_label(self.verdict, self.direction)

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "direction": self.direction, "description": self.description,
                "operations": [op.describe() for op in self.operations], "destroys": list(self.destroys),
                "verdict": self.verdict_label if self.direction != "stamp" else None, "broken": self.broken}


@dataclass(frozen=True)
class VectorPlan:
    action: str
    target: str
    store: str
    current: str | None
    after: str | None
    steps: tuple[VectorStep, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def empty(self) -> bool:
        return not self.steps

    @property
    def destroys(self) -> tuple[str, ...]:
        return tuple(d for s in self.steps for d in s.destroys)

    @property
    def broken_steps(self) -> tuple[VectorStep, ...]:
        return tuple(s for s in self.steps if s.broken)

    def broken_refusal(self) -> str | None:
        """Why running this plan is refused without ``allow_broken`` (one line), or ``None``."""
        return broken_refusal(f"vector {self.action}", [(s.version, s.verdict) for s in self.broken_steps
                                                         if s.verdict is not None], self.steps)

    def with_verdicts(self, verdicts: Mapping[str, Verdict]) -> VectorPlan:
        """Each applied or reverted step with its verdict (by version; ``None``: not verified)."""
        steps = tuple(replace(s, verdict=verdicts.get(s.version)) if s.direction != "stamp" else s
                      for s in self.steps)
        return replace(self, steps=steps)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "target": self.target, "store": self.store, "current": self.current,
                "after": self.after, "steps": [s.as_dict() for s in self.steps], "destroys": list(self.destroys),
                "notes": list(self.notes), "broken": [s.version for s in self.broken_steps]}


def applied_position(chain: MigrationChain, rows: dict[str, tracking.TrackedMigration]) -> int:
    """How many migrations of the chain are applied, up to and including the current one."""
    applied = [i for i, v in enumerate(chain.versions) if v in rows and rows[v].status == "applied"]
    return applied[-1] + 1 if applied else 0


def edited(chain: MigrationChain, rows: dict[str, tracking.TrackedMigration]) -> list[VectorMigration]:
    """The migrations up to the current one whose file differs from what was applied."""
    return [m for m in chain.migrations[:applied_position(chain, rows)]
            if m.version in rows and rows[m.version].operations_hash != m.operations_hash]


def refuse_edited(chain: MigrationChain, rows: dict[str, tracking.TrackedMigration]) -> None:
    """Validate-on-migrate, as Flyway does: every upgrade, even one with nothing to apply, is
    refused while an applied file is edited, so no path reports success over a store that no
    longer matches its files."""
    versions = [m.version for m in edited(chain, rows)]
    if len(versions) == 1:
        raise Refused(f"vector migration {versions[0]} was edited after it was applied: "
                      f"restore it or run 'migctl vector repair {versions[0]}'")
    if versions:
        raise Refused(f"vector migrations {', '.join(versions)} were edited after they were applied: "
                      "restore them or run 'migctl vector repair VERSION' for each")


class VectorMigrator:
    """The chain of migration files, one store, and the tracking table in the relational DB."""

    def __init__(self, chain: MigrationChain, store: VectorStore, conn: ThreadedConnection,
                 sink: EventSink = ignore, batch_size: int = 2000) -> None:
        self.chain = chain
        self.store = store
        self.conn = conn
        self.sink = sink
        self.executor = OperationExecutor(store, sink, batch_size)

    # -- reading --------------------------------------------------------------------------
    async def tracked(self) -> dict[str, tracking.TrackedMigration]:
        return await tracking.rows(self.conn)

    def current_of(self, rows: dict[str, tracking.TrackedMigration]) -> str | None:
        position = applied_position(self.chain, rows)
        return self.chain.versions[position - 1] if position else None

    async def status(self, live: bool = True) -> dict[str, Any]:
        rows = await self.tracked()
        current = self.current_of(rows)
        position = self.chain.index(current) + 1 if current else 0
        drifted = [{"version": m.version, "reason": "edited since applied", "path": m.path}
                   for m in edited(self.chain, rows)]
        unknown = sorted(v for v, r in rows.items() if r.status == "applied" and v not in self.chain.versions)
        unfinished = [r.as_dict() for r in rows.values() if r.status in ("running", "failed")]
        out: dict[str, Any] = {
            "store": self.store.kind, "current": current, "latest": self.chain.latest,
            "applied": [v for v in self.chain.versions if v in rows and rows[v].status == "applied"],
            "pending": self.chain.versions[position:], "drifted": drifted, "unknown_applied": unknown,
            "unfinished": unfinished,
        }
        if live:
            out["collections"], out["live_drift"] = await self.live_state(current)
        return out

    async def live_state(self, current: str | None) -> tuple[list[dict[str, Any]], list[str]]:
        """Live collections and how they differ from the declared state at ``current``."""
        declared = self.chain.state_after(current)
        names = set(await self.store.list_collections())
        aliases = await self.store.list_aliases()
        collections, drift = [], []
        for name in sorted(names | set(declared.collections)):
            live = await self.store.describe(name) if name in names else None
            spec = declared.collections.get(name)
            if spec is not None:
                drift.extend(differences(spec, live, store=self.store.kind))
            if live is not None:
                collections.append({
                    "name": name, "rows": live.rows, "dim": live.vector_field.dim if live.vector_field else None,
                    "index": f"{live.index.index_type} {live.index.metric}" if live.index else None,
                    "aliases": sorted(a for a, c in aliases.items() if c == name), "loaded": live.loaded,
                    "declared": spec is not None})
        for alias, coll in declared.aliases.items():
            if aliases.get(alias) != coll:
                drift.append(f"alias {alias}: points to {aliases.get(alias) or 'nothing'}, declared {coll}")
        return collections, drift

    # -- planning -------------------------------------------------------------------------
    def _resolve(self, target: str | None, current: str | None, action: str) -> str | None:
        versions = self.chain.versions
        position = self.chain.index(current) if current else -1
        if target is None or target in ("head", "heads", "latest"):
            return self.chain.latest
        if not target.strip() or not target.isprintable() or target != target.strip():
            # An empty, blank or padded target is a typo, never "latest": stamping "" recorded every
            # migration as applied and created nothing.
            raise UsageError(f"vector {action} needs a target: a version, latest, base or +N/-N (got {target!r})")
        if target == "base":
            return None
        if _RELATIVE.match(target):
            n = int(target)
            if (action == "upgrade" and n < 0) or (action == "downgrade" and n > 0):
                raise UsageError(f"{action} takes {'+' if action == 'upgrade' else '-'}N, not {target}")
            new = position + n
            if not -1 <= new < len(versions):
                raise UsageError(f"target {target}: only {position + 1} applied and "
                                 f"{len(versions) - position - 1} pending vector migration(s)")
            return versions[new] if new >= 0 else None
        matches = [v for v in versions if v == target] or [v for v in versions if v.startswith(target)]
        if len(matches) != 1:
            raise UsageError(f"unknown vector migration {target[:80]!r}" if not matches
                             else f"ambiguous vector migration {target!r}: {', '.join(matches)}")
        return matches[0]

    async def plan(self, action: str, target: str | None) -> VectorPlan:
        """What ``action`` to ``target`` would do (``None``: latest); an upgrade is refused
        while an applied file is edited (see :func:`refuse_edited`)."""
        rows = await self.tracked()
        current = self.current_of(rows)
        goal = self._resolve(target, current, action)
        if action == "upgrade":
            refuse_edited(self.chain, rows)
        position = self.chain.index(current) if current else -1
        goal_pos = self.chain.index(goal) if goal else -1
        steps: list[VectorStep] = []
        notes: list[str] = []
        if action == "upgrade":
            if goal_pos < position:
                raise UsageError(f"{goal} is behind the current vector migration {current}; use downgrade")
            for mig in self.chain.migrations[position + 1:goal_pos + 1]:
                row = rows.get(mig.version)
                if row is not None and row.status in ("running", "failed"):
                    notes.append(f"{mig.version} was left {row.status} at step {row.current_step}; it resumes")
                steps.append(VectorStep(mig.version, "up", mig.description, mig.operations,
                                        await self._destroys(mig.operations)))
        elif action == "downgrade":
            if goal_pos > position:
                raise UsageError(f"{goal} is ahead of the current vector migration {current or 'base'}; use upgrade")
            for mig in reversed(self.chain.migrations[goal_pos + 1:position + 1]):
                try:
                    ops = mig.downgrade(self.chain.state_after(mig.depends_on))
                except MigrationError as exc:
                    raise Refused(str(exc)) from None
                steps.append(VectorStep(mig.version, "down", mig.description, tuple(ops), await self._destroys(ops)))
        elif action == "stamp":
            if goal != current:
                steps.append(VectorStep(goal or "base", "stamp", f"record {goal or 'base'} as applied, run nothing", ()))
        else:
            raise UsageError(f"unknown vector action {action!r}")
        return VectorPlan(action, target or "latest", self.store.kind, current, goal, tuple(steps), tuple(notes))

    async def _destroys(self, ops: Any) -> tuple[str, ...]:
        out = []
        for op in ops:
            if getattr(op, "destroys_data", False):
                name = getattr(op, "name", None) or getattr(op, "collection", None)
                try:
                    rows = await self.store.count(name) if name in await self.store.list_collections() else 0
                except StoreError:
                    rows = 0
                out.append(f"{op.describe()}: {rows} row(s)")
        return tuple(out)

    # -- changing -------------------------------------------------------------------------
    async def check_drift(self) -> None:
        refuse_edited(self.chain, await self.tracked())

    async def execute(self, plan: VectorPlan) -> list[str]:
        """Run the plan (the caller holds the migration lock); returns the versions done."""
        await tracking.ensure_table(self.conn)
        done: list[str] = []
        if plan.action == "stamp":
            await self._stamp(plan.after)
            return [plan.after or "base"]
        who = current_actor().label
        for step in plan.steps:
            mig = self.chain.migrations[self.chain.index(step.version)]
            before = self.chain.state_after(mig.depends_on) if step.direction == "up" else self.chain.state_after(mig.version)
            state = before.copy()
            started = time.monotonic()
            common = {"description": mig.description, "store": self.store.kind, "operations_hash": mig.operations_hash}
            for i, op in enumerate(step.operations):
                await tracking.mark(self.conn, mig.version, status="running", step=i,
                                    step_description=f"{step.direction}: {op.describe()}", **common)
                self.sink(Notice(f"[{mig.version} {step.direction} {i + 1}/{len(step.operations)}] {op.describe()}"))
                fault_point(f"{mig.version}-{step.direction}-op{i}")
                try:
                    await self.executor.run(op, state)
                except (StoreError, OperationFailed) as exc:
                    await tracking.mark(self.conn, mig.version, status="failed", step=i,
                                        step_description=op.describe(), error=str(exc), **common)
                    raise OperationFailed(f"vector migration {mig.version} ({step.direction}) failed at "
                                          f"{op.describe()}: {exc}") from None
                op.apply(state, f"{mig.version}")
            duration = int((time.monotonic() - started) * 1000)
            status = "applied" if step.direction == "up" else "rolled_back"
            await tracking.mark(self.conn, mig.version, status=status, applied_by=who, duration_ms=duration, **common)
            done.append(mig.version)
        return done

    async def _stamp(self, goal: str | None) -> None:
        rows = await self.tracked()
        goal_pos = self.chain.index(goal) if goal else -1
        who = current_actor().label
        for i, mig in enumerate(self.chain.migrations):
            if i <= goal_pos:
                await tracking.mark(self.conn, mig.version, description=mig.description, store=self.store.kind,
                                    operations_hash=mig.operations_hash, status="applied", applied_by=who,
                                    duration_ms=0)
            elif mig.version in rows:
                await tracking.delete(self.conn, [mig.version])

    async def check_repairable(self, version: str) -> VectorMigration:
        """The applied migration ``version``; a usage error when unknown or never applied."""
        mig = self.chain.migrations[self.chain.index(version)]
        if version not in await self.tracked():
            raise UsageError(f"vector migration {version} was never applied; nothing to repair")
        return mig

    async def repair(self, version: str) -> str:
        """Accept the current file of an applied migration as what was applied."""
        mig = await self.check_repairable(version)
        await tracking.set_hash(self.conn, version, mig.operations_hash)
        return mig.operations_hash

    @staticmethod
    def empty_state() -> DeclaredState:
        return DeclaredState()
