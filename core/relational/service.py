"""The relational side of migctl as one async service: history, status, plan, execute.

Blocking Alembic work runs in worker threads; migctl's own queries use an async driver.
Every mutating call holds the migration lock and writes one audit row.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import re
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from migctl.core import audit
from migctl.core.config import Environment
from migctl.core.db import connect, create_engine, render, url_for_env_py
from migctl.core.errors import MigctlError, OperationFailed, UsageError
from migctl.core.events import Event, EventSink, Notice, StepFinished, ignore
from migctl.core.guard import Guard, GuardedRun
from migctl.core.identity import current_actor
from migctl.core.lock import read_holder
from migctl.core.relational.assessment import Verdict
from migctl.core.relational.graph import RevisionGraph
from migctl.core.relational.plan import Plan, build_plan, offline_sql, with_verdicts
from migctl.core.relational.project import AlembicProject
from migctl.core.relational.state import current_revisions, drifted, file_sha256, record_checksums
from migctl.core.secrets import mask_url

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection
    from migctl.core.relational.expected import SchemaCache, ScratchFactory


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def docstring_safe(message: str | None) -> str | None:
    """``message`` as it can stand in a script template's ``\"\"\"${message}`` (Alembic renders it
    unescaped, then imports the new file at once): backslashes and quotes escaped, control
    characters blanked, so the module's ``__doc__`` is the message and nothing of it is code."""
    if message is None:
        return None
    text = _CONTROL.sub(" ", message).replace("\\", "\\\\").replace('"', '\\"')
    return re.sub(r"'{3,}", lambda m: "\\'" * len(m[0]), text)  # for a template that uses '''


@dataclass
class ExecutionResult:
    plan: Plan
    before: tuple[str, ...]
    after: tuple[str, ...]
    applied: list[tuple[str, str, float]] = field(default_factory=list)
    nothing_to_do: bool = False


class ThreadEvents:
    """Hands events from a worker thread to the loop, waking the loop at most once per
    ``interval``: a fast migration must not wait for the loop to print each step, and a loop
    woken per step takes the GIL from the worker just as its database answer arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: EventSink, interval: float = 0.05) -> None:
        self._loop = loop
        self._sink = sink
        self._queue: collections.deque[Event] = collections.deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self._interval = interval

    def emit(self, event: Event) -> None:
        with self._lock:
            self._queue.append(event)
            if self._scheduled:
                return
            self._scheduled = True
        self._loop.call_soon_threadsafe(self._loop.call_later, self._interval, self._drain)

    def flush(self) -> None:
        """Deliver what is still queued now (on the loop, once the worker is done): the last
        step's events must be out before the caller reports the run's outcome."""
        self._drain()

    def _drain(self) -> None:
        with self._lock:
            events = list(self._queue)
            self._queue.clear()
            self._scheduled = False
        for event in events:
            self._sink(event)


class RelationalService:
    """Alembic operations on one environment's database."""

    def __init__(self, environment: Environment, url: str, sink: EventSink = ignore) -> None:
        self.environment = environment
        self.url = url
        self.sink = sink
        self._project: AlembicProject | None = None
        self._alembic_url: str | None = None
        self._engine: Any = None
        self._conn: ThreadedConnection | None = None
        self.guard = Guard(url, environment, self.connection,
                           lambda conn: current_revisions(conn, environment.alembic), lambda: self.sink)
        # The pgvector store's schema when it shares this database (set by the front door, which
        # may read the vector side's settings): its collections are not relational drift.
        self.vector_schema: Callable[[], str | None] = lambda: None
        # Where the expected schema is built: verify's throwaway database unless a caller gives one.
        self.scratch: ScratchFactory | None = None

    # -- plumbing -------------------------------------------------------------
    @property
    def project(self) -> AlembicProject:
        if self._project is None:
            self._project = AlembicProject(self.environment.alembic, self.environment.state_dir / "cache")
        return self._project

    @property
    def alembic_url(self) -> str:
        """The URL handed to env.py: as given, unless env.py could not run with it. A driver
        whose package is missing names the extra that brings it."""
        if self._alembic_url is None:
            from migctl.core.extras import require_driver

            url, why = url_for_env_py(self.url, async_only=self.project.env_is_async_only)
            logging.getLogger("migctl").debug("%s", why)
            if self.project.env_is_async_only:
                require_driver(url.drivername, f"the async env.py of {self.project.script_location}")
            require_driver(url.drivername)
            self._alembic_url = render(url)
        return self._alembic_url

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[ThreadedConnection]:
        """migctl's own connection, opened on first use and kept until :meth:`close`."""
        if self._conn is None or self._conn.closed or self._conn.invalidated:
            if self._engine is None:
                self._engine = create_engine(self.url)
            self._conn = await connect(self._engine, self.url)
            # Autocommit: a kept connection must never sit "idle in transaction", which would
            # stall another session's CREATE INDEX CONCURRENTLY (and VACUUM) behind it.
            await self._conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            yield self._conn
        except BaseException:
            if self._conn.in_transaction():
                await self._conn.rollback()
            raise

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    # -- reading --------------------------------------------------------------
    async def history(self) -> RevisionGraph:
        return await asyncio.to_thread(self.project.graph)

    async def current(self) -> tuple[str, ...]:
        async with self.connection() as conn:
            return await current_revisions(conn, self.environment.alembic)

    async def status(self, *, drift: bool = False) -> dict[str, Any]:
        """Where the database stands. Its schema is compared with the expected one when that
        is cached (``schema_drift``; ``None``: not compared); ``drift`` builds it when missing
        (a throwaway database, an upgrade from base: not for every status)."""
        graph_task = asyncio.create_task(self.history())
        try:
            async with self.connection() as conn:
                current = await current_revisions(conn, self.environment.alembic)
                graph = await graph_task
                edited = await drifted(conn, graph, current)
                holder = await read_holder(self.url, conn)
                schema, note = await self.schema_drift(conn, graph, current, build=drift)
        finally:
            if not graph_task.done():
                graph_task.cancel()
        pending = graph.pending(current)
        unknown = [r for r in current if r not in graph.by_id]
        return {
            "url": mask_url(self.url),
            "script_location": str(self.project.script_location),
            "current": list(current),
            "heads": list(graph.heads),
            "pending": len(pending),
            "pending_revisions": pending,
            "drifted": edited,
            "schema_drift": schema,
            "schema_drift_note": note,
            "unknown_current": unknown,
            "revisions": len(graph),
            "lock": holder.as_dict() if holder else None,
        }

    # -- the schema it should have --------------------------------------------
    @property
    def schema_cache(self) -> SchemaCache:
        from migctl.core.relational.expected import SchemaCache

        return SchemaCache(self.environment.state_dir)

    def _scratch(self) -> ScratchFactory:
        from migctl.core.relational.expected import default_scratch

        return self.scratch or default_scratch(self.environment, self.url, self.project)

    async def schema_drift(self, conn: ThreadedConnection, graph: RevisionGraph, current: tuple[str, ...], *,
                           build: bool) -> tuple[dict[str, Any] | None, str | None]:
        """(how the live schema differs from the one expected at ``current``, or ``None`` when
        not compared; why not, when that is worth saying). Without ``build`` only a cached
        expected schema is used: nothing is started."""
        from sqlalchemy.exc import SQLAlchemyError

        from migctl.core.relational.expected import compare_live, drift_report, expected_schema

        cache = self.schema_cache
        if not build and cache.empty():
            return None, None  # nothing was ever built here: skip hashing the revision files
        unknown = [r for r in current if r not in graph.by_id]
        if unknown:
            return None, f"{', '.join(unknown)} in the database has no file"
        dialect = conn.dialect.name
        digests = self.project.file_digests if build else None  # status hashes the files as they are now
        try:
            expected = await asyncio.to_thread(expected_schema, self.project, graph, current, dialect, cache,
                                               build=build, scratch=self._scratch() if build else None,
                                               digests=digests)
        except OSError as exc:
            return None, f"a revision file cannot be read: {exc}"
        except Exception as exc:  # noqa: BLE001 - the throwaway database or the upgrade there failed
            from migctl.core.db import first_line

            why = str(exc) if isinstance(exc, MigctlError) else first_line(exc)
            logging.getLogger("migctl").debug("expected schema not built: %s", why)
            return None, f"the expected schema could not be built: {why}"
        if expected is None:
            return None, None
        try:
            diff = await conn.run_sync(compare_live, expected, self.environment.alembic, self.vector_schema())
        except SQLAlchemyError as exc:  # a role that cannot read the catalog: status still answers
            from migctl.core.db import first_line

            return None, f"the live schema could not be read: {first_line(exc)}"
        return drift_report(diff, current, expected), None

    # -- planning -------------------------------------------------------------
    async def plan(self, action: str, target: str, *, purge: bool = False, with_sql: bool = True) -> Plan:
        if not target:
            raise UsageError(f"{action} needs a target revision")
        # Load the revision files (slow, in a thread) while the database answers. The thread
        # starts once current() waits on the server, not before: both import SQLAlchemy, and
        # importing its circular modules from two threads at once fails ("partially initialized").
        project = self.project  # a missing project is a usage error before anything starts
        current, _ = await asyncio.gather(self.current(), asyncio.to_thread(project.script))
        protection = await self.guard.protection()
        plan = await self._plan_from(action, target, current, purge=purge, with_sql=with_sql)
        # An unattended run shows no plan, so it is not linted either.
        if with_sql and not purge and action != "stamp" and self.environment.lint_enabled:
            plan = await self._lint(plan)
        return replace(plan, protected=protection.protected, protected_as=protection.name)

    async def _lint(self, plan: Plan) -> Plan:
        """``plan`` with each step's lint findings, sized from the live database when it answers.
        Lint is advice: whatever goes wrong here becomes a plan note, never a failed plan."""
        from migctl.core.db import dialect_of, first_line
        from migctl.core.relational import lint

        if not any(s.direction in ("up", "down") for s in plan.steps):
            return plan
        notes = list(plan.notes)
        pg_version = None
        dialect = dialect_of(self.url)
        if dialect == "postgresql" and self._conn is not None:
            info = getattr(self._conn.dialect, "server_version_info", None) or ()
            pg_version = ".".join(str(p) for p in info[:2]) or None
        location = self.environment.alembic
        try:
            findings = await asyncio.to_thread(
                lint.lint_steps, plan.steps, dialect=dialect, ignore=self.environment.lint_ignore,
                pg_version=pg_version, version_table=location.version_table)
        except lint.LintUnavailable as exc:
            findings = exc.findings
            notes.append(f"lint not available: {exc}")
        except Exception as exc:  # noqa: BLE001 - a plan must never fail because of lint
            return replace(plan, notes=(*notes, f"lint not available: {first_line(exc)}"))
        if any(findings):
            try:
                async with self.connection() as conn:
                    findings = await lint.with_sizes(findings, conn)
            except Exception as exc:  # noqa: BLE001 - the findings stand without sizes
                notes.append(f"lint: table sizes not available: {first_line(exc)}")
        steps = tuple(replace(s, lint=f) for s, f in zip(plan.steps, findings, strict=True))
        return replace(plan, steps=steps, notes=tuple(notes))

    async def plan_from_base(self, action: str, target: str, *, with_sql: bool = True) -> Plan:
        """A plan for a database that does not exist yet (``init`` creating it)."""
        return await self._plan_from(action, target, (), purge=False, with_sql=with_sql)

    async def _plan_from(self, action: str, target: str, current: tuple[str, ...], *, purge: bool,
                         with_sql: bool) -> Plan:
        plan = await asyncio.to_thread(build_plan, self.project, self.alembic_url, action, target, current,
                                       purge=purge, with_sql=with_sql)
        plan = self.with_verdicts(plan)
        return replace(plan, environment=self.environment.name, url=mask_url(self.url),
                       protected=self.environment.protected,
                       protected_as=self.environment.name if self.environment.protected else None)

    async def verdicts(self) -> dict[str, Verdict]:
        """``migctl verify``'s verdict of every revision whose file is as it was verified."""
        from migctl.core.relational.verdict_cache import VerdictCache, backend_of

        graph = await self.history()
        cache = VerdictCache(self.environment.state_dir)
        files = {n.id: n.path for n in graph.nodes}
        return await asyncio.to_thread(cache.for_files, files, self.project.file_digests,
                                       backend=backend_of(self.url))

    def with_verdicts(self, plan: Plan) -> Plan:
        """``plan`` with each step's ``migctl verify`` verdict for its file as it is now: one
        read of the verdict cache (nothing hashed when it is empty; the files loaded for the
        plan were hashed as they were read)."""
        from migctl.core.relational.verdict_cache import VerdictCache, backend_of

        files = {s.revision: s.path for s in plan.steps if s.path and s.direction != "stamp"}
        if not files:
            return plan
        verdicts = VerdictCache(self.environment.state_dir).for_files(files, self.project.file_digests,
                                                                      backend=backend_of(self.url))
        return with_verdicts(plan, verdicts)

    async def offline_sql(self, action: str, target: str, start: str | None = None) -> str:
        """``--sql``: the script for the action from ``start`` (or the current revisions).

        A step that cannot be rendered offline raises ``OfflineRenderFailed`` (an
        ``OperationFailed``) whose ``sql`` is the script up to that step."""
        current = tuple(start.split(",")) if start else await self.current()
        if start in ("base", ""):
            current = ()
        plan = await asyncio.to_thread(build_plan, self.project, self.alembic_url, action, target, current,
                                       with_sql=False)
        if not plan.steps:
            return "-- nothing to do\n"
        from migctl.core.relational.plan import compute_steps

        def run() -> str:
            script = self.project.script()
            steps = compute_steps(script, action, target, current)
            return offline_sql(self.project, self.alembic_url, action, target, current, steps)

        return await asyncio.to_thread(run)

    async def rows_at_risk(self, plan: Plan) -> list[tuple[str, str, int | None]]:
        """The tables ``plan`` drops, truncates or drops columns of, with their rows now."""
        from migctl.core.relational.dropped import rows_at_risk

        if not plan.destructive:
            return []
        async with self.connection() as conn:
            return await rows_at_risk(conn, plan.destructive)

    # -- changing -------------------------------------------------------------
    async def execute(self, plan: Plan, *, lock_timeout: float = 0.0, strict: bool = True,
                      confirm_env: str | None = None, allow_drift: bool = False, allow_broken: bool = False,
                      within: GuardedRun | None = None) -> ExecutionResult:
        """Run ``plan`` through the guard (protection, migration lock, audit).

        ``strict``: refuse (exit 3) if the database moved since the plan was made and the steps
        would now differ; a database that reached the target meanwhile is "nothing to do".
        Without ``strict`` (application start-up) the fresh plan runs instead.
        Applied revisions edited since they ran refuse the run unless ``allow_drift``; a step
        ``migctl verify`` found broken in its direction refuses it unless ``allow_broken``.
        ``within``: the guarded run of a larger operation (migrate, init) this is a step of.
        """
        async with self.guard.run(plan.action, plan.target, confirm_env, lock_timeout=lock_timeout,
                                  within=within) as run:
            return await self._execute_guarded(run, plan, strict=strict, allow_drift=allow_drift,
                                               allow_broken=allow_broken)

    async def _execute_guarded(self, run: GuardedRun, plan: Plan, *, strict: bool,
                               allow_drift: bool, allow_broken: bool = False) -> ExecutionResult:
        from sqlalchemy.exc import SQLAlchemyError

        from migctl.core.db import first_line

        conn = run.conn
        before = run.before
        if before != plan.current or plan.purge:
            fresh = await self._plan_from(plan.action, plan.target, before, purge=plan.purge, with_sql=False)
            if [s.key for s in fresh.steps] != [s.key for s in plan.steps]:
                if strict and not fresh.empty:
                    await run.refuse(f"the database moved from {','.join(plan.current) or 'base'} to "
                                     f"{','.join(before) or 'base'} since the plan was made; plan again")
                if not fresh.empty:
                    self.sink(Notice(f"database is now at {','.join(before) or 'base'}; re-planned"))
                plan = fresh
        if plan.empty:
            self.sink(Notice("nothing to do: already at the target"))
            return ExecutionResult(plan, before, before, nothing_to_do=True)
        if not allow_drift and plan.mutates_schema and before:  # nothing applied: nothing drifted
            graph = await self.history()
            drift = await drifted(conn, graph, before)
            if drift:
                names = ", ".join(f"{d['revision']} ({d['reason']})" for d in drift)
                await run.refuse(f"applied revision(s) changed since they ran: {names}; restore the file(s) "
                                 "or pass --allow-drift")
        # The verdicts as they are now, under the lock: a walk may have finished, or a file
        # been edited (losing its verdict), since the plan was shown.
        plan = self.with_verdicts(plan)
        if plan.broken_steps:
            if not allow_broken:
                await run.refuse(plan.broken_refusal() or "broken steps")
            run.note = "--allow-broken through " + ", ".join(
                f"{s.revision} ({s.verdict.short if s.verdict else '?'})" for s in plan.broken_steps)
        await run.begin()
        from migctl.core.relational.runner import StopFlag, run_plan

        hashes: dict[str, str] = {}
        paths = {s.revision: s.path for s in plan.steps if s.direction == "up" and s.path}

        loaded = self.project.file_digests  # the bytes the run executes, hashed as they were loaded

        def sink(event: Event) -> None:
            # Otherwise hash an applied revision's file now, on the loop, while the worker waits
            # on the database for the next step, instead of all of them after the run.
            if isinstance(event, StepFinished) and event.direction == "up" and event.revision in paths:
                path = paths[event.revision]
                if (digest := loaded.get(str(path))) is not None:
                    hashes[event.revision] = digest
                else:
                    with contextlib.suppress(OSError):  # gone meanwhile: hashed (and reported) after the run
                        hashes[event.revision] = file_sha256(path)
            self.sink(event)

        events = ThreadEvents(asyncio.get_running_loop(), sink)
        stop = StopFlag()
        work = asyncio.ensure_future(asyncio.to_thread(run_plan, self.project, self.alembic_url, plan, events.emit,
                                                       stop))
        outcome = None
        error: MigctlError | None = None
        interrupted = False
        try:
            try:
                outcome = await asyncio.shield(work)
            except asyncio.CancelledError:
                # Ctrl-C: a revision may be half-way; finish it, start no other, keep the lock
                # until the worker is done.
                interrupted = True
                stop.set()
                self.sink(Notice("interrupted: finishing the running revision, then stopping"))
                outcome = await work
        except MigctlError as exc:
            error = exc
            outcome = getattr(exc, "outcome", None)
        except SQLAlchemyError as exc:  # env.py connecting, for instance
            error = OperationFailed(first_line(exc))
        finally:
            events.flush()
        completed = outcome.completed if outcome else []
        # The runner writes them in each revision's transaction; here only when it could not.
        if plan.action != "stamp" and completed and not (outcome and outcome.checksums_written):
            async with audit.flushed_by_finish(conn):
                await record_checksums(conn, [(r, d, p) for r, d, p, _ in completed], current_actor().label, hashes)
        run.after = await current_revisions(conn, self.environment.alembic)
        if error is not None and outcome is not None:
            await self._forget_unapplied(conn, plan, run.after)
            if isinstance(error, OperationFailed) and not interrupted:
                error = await self._failure_report(conn, plan, outcome, error, run.after)
        if interrupted and error is None:
            error = OperationFailed(f"interrupted by the operator after {len(completed)} of {len(plan.steps)} "
                                    f"step(s); now at {','.join(run.after) or 'base'}")
        if error is not None:
            raise error
        return ExecutionResult(plan, before, run.after, [(r, d, t) for r, d, _, t in completed])

    async def _forget_unapplied(self, conn: ThreadedConnection, plan: Plan, after: tuple[str, ...]) -> None:
        """After a failed run: drop the checksums of the plan's revisions the version table no
        longer has applied, as a successful downgrade does (a partly committed failure can
        leave the version table elsewhere than the run's own bookkeeping)."""
        from sqlalchemy.exc import SQLAlchemyError

        graph = await self.history()
        applied = graph.ancestors(after) | set(after)
        gone = sorted({s.revision for s in plan.steps if s.direction in ("up", "down")} - applied)
        if not gone:
            return
        table = audit.tables()["checksums"]
        try:
            await conn.execute(table.delete().where(table.c.revision.in_(gone)))
            await conn.commit()
        except SQLAlchemyError as exc:  # the run's own error is the one to report
            logging.getLogger("migctl").debug("checksums of unapplied revisions not removed: %s", exc)

    async def _failure_report(self, conn: ThreadedConnection, plan: Plan, outcome: Any, error: OperationFailed,
                              after: tuple[str, ...]) -> OperationFailed:
        """The error line with where the database stands: ``rolled back; still at X``, or what
        committed and how the schema differs from the revision the version table names.

        PostgreSQL rolls a transactional revision back whole: trusted without comparing, as long
        as the version table is where the committed steps leave it. An ``autocommit_block``
        (seen in the plan or not), or DDL that commits by itself (MySQL, SQLite), may have left
        part of a revision behind: the live schema is then compared with the one expected at
        the version table's revisions, built now if it is not cached."""
        from migctl.core.relational.plan import steps_done
        from migctl.core.relational.schema import SchemaDiff
        from migctl.core.secrets import LINE_LIMIT, clip

        done = None
        if len(plan.alembic_steps) == len(plan.steps) and not plan.purge:
            done = steps_done(list(plan.alembic_steps), plan.current, after)
        step = next((s for s in plan.steps if s.key == outcome.failed_step), None)
        text = str(error)
        if step is None and done is not None and done < len(plan.steps) and plan.mutates_schema:
            # env.py's own single transaction: the runner could not tell which step failed (it
            # took everything for rolled back); the version table says how far the run got.
            step = plan.steps[done]
            text = f"revision {step.revision} ({step.direction}) failed: {text}"
        if step is None or step.direction == "stamp":
            return error
        at = ",".join(after) or "base"
        # Committed by itself: what the runner counted as committed does not lead to the version table.
        hidden = outcome.committed_itself or done != len(outcome.completed)
        if conn.dialect.name == "postgresql" and not step.non_transactional and not hidden:
            where = f"rolled back; still at {at}"
        else:
            graph = await self.history()
            report, note = await self.schema_drift(conn, graph, after, build=True)
            if report is None:
                where = f"the version table says {at}; the schema was not compared ({note or 'no reference'})"
            elif not report["differs"]:
                where = f"rolled back; still at {at}"
            else:
                moved = set(after) != set(() if plan.purge else plan.current)
                so_far = f"committed through {at}" if moved else "no step committed before it"
                if step.non_transactional:
                    what = f"the autocommit block of {step.revision} committed"
                elif hidden:
                    what = "an autocommit_block the plan did not show committed"
                else:  # DDL that commits as it runs (MySQL, SQLite)
                    what = f"part of {step.revision} committed"
                where = (f"{so_far}; {what}, the version table says {at}: schema differs from {at} in "
                         f"{SchemaDiff.from_dict(report).summary(2)}")
        # The database's message first, cut so that the line (shells show 300 characters) keeps
        # the outcome whole.
        reported = OperationFailed(f"{clip(text, max(80, LINE_LIMIT - 2 - len(where)))}; {where}",
                                   detail=error.detail)
        reported.outcome = outcome  # type: ignore[attr-defined]
        return reported

    async def record_refusal(self, action: str, target: str | None, reason: str) -> None:
        """Audit an operation that was refused before it started (declined, lock held, ...)."""
        await self.guard.refuse(action, target, reason)

    async def merge(self, revisions: list[str], message: str | None) -> str:
        from alembic import command

        def run() -> str:
            from migctl.core.relational.project import ALEMBIC_RUN_LOCK

            wanted = revisions or ["heads"]
            with ALEMBIC_RUN_LOCK:
                resolved = self.project.script().revision_map.get_revisions(wanted)
                if len({r.revision for r in resolved if r is not None}) < 2:
                    raise UsageError("nothing to merge: fewer than two distinct revisions (one head?)")
                config = self.project.make_config(self.alembic_url if self.url else None)
                script = command.merge(config, wanted, message=docstring_safe(message))
            if script is None:
                raise UsageError("nothing to merge")
            return script.revision if not isinstance(script, list) else script[0].revision

        return await self._alembic_verb(run)

    async def revision(self, message: str, *, autogenerate: bool = False, empty: bool = False) -> list[str]:
        from alembic import command

        if autogenerate and empty:
            raise UsageError("--autogenerate and --empty exclude each other")

        def run() -> list[str]:
            from migctl.core.relational.project import ALEMBIC_RUN_LOCK
            from migctl.core.relational.runner import migctl_tables_hidden

            with ALEMBIC_RUN_LOCK, migctl_tables_hidden():
                config = self.project.make_config(self.alembic_url if self.url else None)
                result = command.revision(config, message=docstring_safe(message), autogenerate=autogenerate)
            scripts = result if isinstance(result, list) else [result]
            return [s.path for s in scripts if s is not None]

        return await self._alembic_verb(run)

    async def _alembic_verb(self, fn: Any) -> Any:
        from alembic.script.revision import RevisionError
        from alembic.util import CommandError

        try:
            return await asyncio.to_thread(fn)
        except (CommandError, RevisionError) as exc:
            raise UsageError(str(exc).splitlines()[0]) from None

    async def audit_log(self, limit: int = 20) -> list[dict[str, Any]]:
        async with self.connection() as conn:
            return await audit.recent(conn, limit)
