"""Run a plan's steps through the project's own env.py, exactly as ``alembic`` would.

Runs in a worker thread (Alembic's ``command`` layer is blocking and an async env.py calls
``asyncio.run`` itself). Per-step events are handed to ``emit`` from that thread; the caller
turns them into loop-side events.

On PostgreSQL, unless env.py chooses otherwise or a step opens an ``autocommit_block``, the
whole run is one transaction (as plain ``alembic`` does it): a commit per revision costs a
server round trip and a WAL record each, about a fifth of a long chain's time. A failure then
rolls everything back, so the runner replays the revisions that succeeded, one transaction
each, and stops before the failing one: the database ends at the last good revision, as if
each had been committed on its own. Elsewhere (MySQL/MariaDB DDL is not transactional) each
revision has its own transaction.

Each applied revision's checksum row is written on Alembic's connection in the transaction that
moves the version table (:class:`_Checksums`), so a process killed between the two cannot leave
a revision applied without its checksum.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from migctl.core.errors import OperationFailed, Refused
from migctl.core.events import Event, Notice, StepFailed, StepFinished, StepStarted
from migctl.core.faults import fault_point
from migctl.core.identity import current_actor
from migctl.core.lock import worker_application_name
from migctl.core.relational.plan import Plan, compute_steps, step_key
from migctl.core.relational.project import ALEMBIC_RUN_LOCK, AlembicProject, honour_version_table
from migctl.core.relational.version_table import bound_version_updates
from migctl.core.secrets import scrub

Completed = tuple[str, str, str | None, float]  # revision, direction, file path, seconds


class StopFlag(threading.Event):
    """Set by the caller to stop before the next revision (the running one completes)."""


@dataclass
class RunOutcome:
    """What actually happened: the steps that completed (and are committed), in order."""

    completed: list[Completed] = field(default_factory=list)
    failed_step: tuple[str, str] | None = None
    checksums_written: bool = False  # every completed revision's checksum row is committed with it
    # A one-transaction run's rollback did not take the database back to where it started: an
    # autocommit_block the plan could not see committed part of the run (see _keep_good_revisions).
    committed_itself: bool = False


@dataclass
class _Mode:
    """``may_be_single``: the plan allows one transaction for the whole run; ``per_revision``:
    forced (the replay). Set when env.py calls ``configure``: ``single`` when migctl chose one
    transaction, ``committing`` when each revision commits on its own (whoever chose it)."""

    may_be_single: bool = False
    per_revision: bool = False
    single: bool = False
    committing: bool = False
    operation: str = "upgrade"  # named in the connection's application_name


class _Checksums:
    """Checksum rows written on Alembic's own connection, inside the transaction that records
    the revision in the version table (after a revision, Alembic updates the version table and
    then calls ``on_version_apply``, both before the revision's commit).

    A transaction per revision: each row goes in with its revision. One transaction for the
    run: the rows are kept and written once, after the last step, still inside it. Each write
    sits in a savepoint: should env.py's connection not see migctl's table (another schema on
    its search_path, say), the revision still commits and the caller writes the rows after the
    run, as before (``ok`` stays False).
    """

    def __init__(self, project: AlembicProject, plan: Plan) -> None:
        self.enabled = plan.action != "stamp"
        self.paths = {s.revision: s.path for s in plan.steps}
        self.project = project  # its file_digests: the bytes the run executes, hashed as loaded
        self.pending: list[tuple[str, str]] = []  # (revision, direction) kept for the run's end
        self.connection: Any = None
        self.ok = True

    def applied(self, ctx: Any, revision: str, direction: str, now: bool) -> None:
        if not self.enabled:
            return
        self.connection = ctx.connection
        self.pending.append((revision, direction))
        if now:
            self.write()

    def write(self) -> None:
        """Write the kept rows on Alembic's connection (inside its open transaction)."""
        steps, self.pending = self.pending, []
        if not steps or self.connection is None:
            return
        from migctl.core.audit import tables
        from migctl.core.relational.state import file_sha256

        table = tables()["checksums"]
        final = dict(steps)  # the last direction of each revision counts
        now = datetime.now(UTC)
        who = current_actor().label
        rows = []
        for revision, direction in final.items():
            path = self.paths.get(revision)
            if direction == "up" and path:
                try:
                    sha = self.project.file_digests.get(str(path)) or file_sha256(path)
                except OSError:  # gone meanwhile: the run's end reports it
                    self.ok = False
                    continue
                rows.append({"revision": revision, "sha256": sha, "path": str(path), "applied_at": now,
                             "applied_by": who})
        try:
            with self.connection.begin_nested():
                self.connection.execute(table.delete().where(table.c.revision.in_(list(final))))
                if rows:
                    self.connection.execute(table.insert(), rows)
        except Exception as exc:  # noqa: BLE001 - any failure: the caller writes them after the run
            logging.getLogger("migctl").debug("checksums not written with their revisions: %s", exc)
            self.ok = False


def _environment_context(config: Any, script: Any, on_apply: Callable[..., None], mode: _Mode,
                         on_configure: Callable[[Any], None] | None = None, **kw: Any) -> Any:
    """Alembic's EnvironmentContext with migctl's per-step callback added to whatever the
    project's env.py configures (instance-level: ``alembic.context`` proxies the class).
    ``on_configure`` sees env.py's connection first, before Alembic uses it at all."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.util import to_tuple

    ctx = honour_version_table(EnvironmentContext(config, script, **kw))
    original = ctx.configure

    def configure(*args: Any, **options: Any) -> None:
        options["on_version_apply"] = (*to_tuple(options.get("on_version_apply"), default=()), on_apply)
        connection = options.get("connection")
        if on_configure is not None:
            on_configure(connection)
        if mode.per_revision:
            options["transaction_per_migration"] = True
        elif "transaction_per_migration" not in options:  # env.py's explicit choice stands
            postgres = getattr(getattr(connection, "dialect", None), "name", None) == "postgresql"
            single = mode.may_be_single and postgres
            options["transaction_per_migration"] = not single
            mode.single = single
        mode.committing = bool(options.get("transaction_per_migration"))
        _restore_logging()  # env.py's fileConfig has just disabled migctl's loggers
        _commit_without_waiting(connection, mode.operation)
        original(*args, **options)

    ctx.configure = configure  # type: ignore[method-assign]
    return ctx


# migctl's own tables live in the user's database; autogenerate must never propose dropping them
# (a dropped migctl_protection would unprotect the database).
MIGCTL_TABLES = ("migctl_audit", "migctl_revision_checksums", "migctl_protection", "migctl_lock",
                 "vector_db_migrations")


@contextlib.contextmanager
def migctl_tables_hidden() -> Iterator[None]:
    """While ``alembic revision --autogenerate`` runs: env.py's ``include_name`` (if any) sees no
    migctl table. Class-level, as ``alembic.context`` proxies the instance ``command`` makes;
    callers hold ALEMBIC_RUN_LOCK, so no other Alembic run sees the patch."""
    from alembic.runtime.environment import EnvironmentContext

    original = EnvironmentContext.configure

    def configure(self: Any, *args: Any, **options: Any) -> None:
        theirs = options.get("include_name")

        def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
            if type_ == "table" and name in MIGCTL_TABLES:
                return False
            return bool(theirs(name, type_, parent_names)) if theirs else True

        options["include_name"] = include_name
        original(self, *args, **options)

    EnvironmentContext.configure = configure  # type: ignore[method-assign]
    try:
        yield
    finally:
        EnvironmentContext.configure = original  # type: ignore[method-assign]


def _commit_without_waiting(connection: Any, operation: str = "upgrade") -> None:
    """PostgreSQL: let commits return before their WAL reaches the disk, and name the session
    as the lock's holder (``migctl OP USER@HOST pid=N``): should this process be killed, the
    next holder finds the statement still running here and ends it (core/lock.py).

    A transaction per revision (env.py's choice, or the replay after a failure) means one WAL
    flush per revision; on a slow or busy disk that costs more than the revision itself.
    ``synchronous_commit = off`` cannot corrupt or half-apply anything: a server crash can only
    lose the last few commits whole, leaving the database at an earlier revision with a
    version table that tells the truth. Nor is the run reported before it is durable: migctl's
    audit row is committed synchronously on its own connection after the run, and that commit
    flushes the WAL up to and including every revision before it.
    """
    if connection is None or getattr(connection.dialect, "name", None) != "postgresql":
        return
    from sqlalchemy import text

    began = not connection.in_transaction()
    connection.execute(text("SELECT set_config('synchronous_commit', 'off', false), "
                            "set_config('application_name', :name, false)"),
                       {"name": worker_application_name(operation)})
    if began:  # leave the connection as env.py had it: outside any transaction
        connection.commit()


def _restore_logging() -> None:
    """A project's ``fileConfig`` disables existing loggers; migctl's own must keep working."""
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("migctl") and isinstance(logger, logging.Logger):
            logger.disabled = False


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """While env.py runs, its ``fileConfig`` re-enables migctl's loggers as soon as it has
    disabled them: the loop logs the steps of an earlier run meanwhile (a replay after a failure
    runs env.py again), and lines logged in between would be lost."""
    import logging.config

    original = logging.config.fileConfig

    def file_config(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        _restore_logging()

    logging.config.fileConfig = file_config  # type: ignore[assignment]
    try:
        yield
    finally:
        logging.config.fileConfig = original  # type: ignore[assignment]


def _run_env(project: AlembicProject, url: str, plan: Plan, script: Any, fn: Callable[..., Any],
             on_apply: Callable[..., None], mode: _Mode) -> None:
    kwargs: dict[str, Any] = {"destination_rev": plan.target}
    if plan.action == "stamp":
        kwargs["purge"] = plan.purge
    run_env(project, url, script, fn, on_apply, mode=mode, **kwargs)


def run_env(project: AlembicProject, url: str, script: Any, fn: Callable[..., Any], on_apply: Callable[..., None],
            *, mode: _Mode | None = None, operation: str = "upgrade",
            on_configure: Callable[[Any], None] | None = None, **kwargs: Any) -> None:
    """Run the project's env.py once, online, with ``fn`` as Alembic's source of steps and
    ``on_apply`` called after each (see :func:`_environment_context`). Without ``mode``: a
    transaction per revision, whatever env.py asks for (``verify`` reads each step's committed
    result from another connection). The caller holds ``ALEMBIC_RUN_LOCK``."""
    config = project.make_config(url)
    mode = mode or _Mode(per_revision=True, operation=operation)
    kwargs.setdefault("destination_rev", "heads")
    try:
        with _logging_kept(), bound_version_updates(), _environment_context(config, script, on_apply, mode,
                                                                             on_configure, fn=fn, as_sql=False,
                                                                             **kwargs):
            script.run_env()
    finally:
        _restore_logging()


def run_plan(project: AlembicProject, url: str, plan: Plan, emit: Callable[[Event], None],
             stop: StopFlag | None = None) -> RunOutcome:
    """Execute ``plan``; refuse when the steps Alembic computes now differ from the plan."""
    outcome = RunOutcome()
    planned = [s.key for s in plan.steps]
    total = len(planned)
    state = {"index": 0, "started": 0.0}
    by_index = list(plan.steps)
    # An autocommit_block commits the run's transaction half-way through its revision, whose
    # version row then lands in the next transaction: a later failure would roll that row back
    # but not the block's work, and the replay would run the block twice. Such plans keep a
    # transaction per revision.
    mode = _Mode(may_be_single=not plan.non_transactional, operation=plan.action)
    checksums = _Checksums(project, plan)

    def start(i: int) -> None:
        if i < total:
            s = by_index[i]
            state["index"], state["started"] = i, time.monotonic()
            emit(StepStarted(i, total, s.revision, s.direction, s.message))

    def fn(rev: Any, _context: Any) -> Iterator[Any]:
        current = tuple(rev) if not plan.purge else ()
        if plan.alembic_steps and tuple(sorted(current)) == tuple(sorted(() if plan.purge else plan.current)):
            steps = list(plan.alembic_steps)
        else:
            steps = compute_steps(script, plan.action, plan.target, current)
        if [step_key(s) for s in steps] != planned:
            now = ", ".join(f"{r} {d}" for r, d in (step_key(s) for s in steps)) or "nothing"
            raise Refused(f"the database changed since the plan was made; it would now run: {now}")
        return _stoppable(steps)

    def _stoppable(steps: list[Any]) -> Iterator[Any]:
        # Alembic takes each step from this generator after the previous step's transaction
        # has ended, so ending it here never cuts a revision in half; what ran is committed.
        for i, step in enumerate(steps):
            state["committed"] = i  # meaningful where each revision commits on its own
            if stop is not None and stop.is_set():
                break
            start(i)
            yield step
        checksums.write()  # one transaction for the run: still inside it, before its commit

    def on_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        i = state["index"]
        s = by_index[i]
        duration = time.monotonic() - state["started"]
        outcome.completed.append((s.revision, s.direction, s.path, duration))
        # Without transactional DDL Alembic commits each revision whatever the run's mode.
        checksums.applied(ctx, s.revision, s.direction, now=mode.committing or not ctx.impl.transactional_ddl)
        emit(StepFinished(i, total, s.revision, s.direction, duration))

    with ALEMBIC_RUN_LOCK:
        script = project.script()
        try:
            _run_env(project, url, plan, script, fn, on_apply, mode)
        except Refused:
            raise
        except Exception as exc:
            checksums.pending.clear()  # rolled back with their revisions
            # on_version_apply runs before its revision's commit: keep only what is committed.
            if mode.committing:
                del outcome.completed[int(state.get("committed", 0)):]
            elif not mode.single:  # env.py's own single transaction: all of it rolled back
                outcome.completed.clear()
            i = state["index"]
            failing = by_index[i] if total and i < total and len(outcome.completed) == i else None
            message = describe_failure(exc)
            if failing is not None:
                outcome.failed_step = failing.key
                emit(StepFailed(i, total, failing.revision, failing.direction, message))
                message = f"revision {failing.revision} ({failing.direction}) failed: {message}"
            detail = scrub(_traceback(exc))
            if mode.single and outcome.completed:
                try:
                    outcome.completed = _keep_good_revisions(project, url, plan, script, outcome.completed,
                                                             failing.key if failing else None, emit, checksums,
                                                             outcome)
                except _ReplayFailed as replay:
                    outcome.completed = replay.committed
                    at = f" at revision {replay.revision}" if replay.revision else ""
                    message += f"; re-applied one transaction each, it then failed{at}: {replay.message}"
            outcome.checksums_written = checksums.enabled and checksums.ok
            err = OperationFailed(message, detail=detail)
            err.outcome = outcome  # type: ignore[attr-defined]
            raise err from None
    outcome.checksums_written = checksums.enabled and checksums.ok
    fault_point("revisions-committed")  # where a kill once lost the checksums (written after this)
    return outcome


class _ReplayFailed(Exception):
    def __init__(self, message: str, revision: str | None, committed: list[Completed]) -> None:
        super().__init__(message)
        self.message, self.revision, self.committed = message, revision, committed


def _keep_good_revisions(project: AlembicProject, url: str, plan: Plan, script: Any,
                         ran: list[Completed], failed: tuple[str, str] | None,
                         emit: Callable[[Event], None], checksums: _Checksums,
                         outcome: RunOutcome | None = None) -> list[Completed]:
    """After a one-transaction run failed and rolled back: apply again, a transaction each, the
    revisions that succeeded in it, stopping before the failing one (``failed``; ``None`` when
    the run's final commit failed, whose culprit then fails again on its own). Returns what is
    committed now.

    A revision counts as committed once Alembic asks for the next step (its transaction has
    ended) or the run ends. If the rollback did not take the database back to where the run
    started, part of the run committed itself (an ``autocommit_block`` the plan did not see):
    nothing is re-applied, and the revisions up to where the database is count as committed."""
    good = {(r, d): (r, d, p, t) for r, d, p, t in ran}
    start = tuple(sorted(() if plan.purge else plan.current))
    todo: list[Any] = []
    committed: list[Completed] = []

    def fn(rev: Any, _context: Any) -> Iterator[Any]:
        remaining = compute_steps(script, plan.action, plan.target, tuple(rev))
        if tuple(sorted(rev)) != start:
            left = {step_key(s) for s in remaining}
            committed.extend(c for c in ran if (c[0], c[1]) not in left)
            checksums.ok = False  # those kept rows were rolled back: the caller writes them
            if outcome is not None:
                outcome.committed_itself = True
            emit(Notice(f"after the rollback the database is at {','.join(sorted(rev)) or 'base'}: part of the "
                        "run committed itself (an autocommit_block?); nothing is re-applied"))
            return iter(())
        for step in remaining:
            key = step_key(step)
            if key == failed or key not in good:
                break
            todo.append(step)
        if todo:
            why = "before the failure" if failed else "to find the one whose commit fails"
            emit(Notice(f"the run's transaction was rolled back; re-applying the {len(todo)} revision(s) {why}, "
                        "one transaction each, to stop at the last good revision"))
        return confirming()

    def confirming() -> Iterator[Any]:
        for step in todo:
            yield step
            committed.append(good[step_key(step)])  # resumed: its transaction has committed

    def on_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        revision, direction = step_key(todo[len(committed)])
        checksums.applied(ctx, revision, direction, now=True)

    try:
        _run_env(project, url, plan, script, fn, on_apply, _Mode(per_revision=True, operation=plan.action))
    except Exception as exc:
        running = step_key(todo[len(committed)])[0] if len(committed) < len(todo) else None
        raise _ReplayFailed(describe_failure(exc), running, committed) from None
    return committed


def describe_failure(exc: BaseException) -> str:
    from migctl.core.db import first_line

    return first_line(exc)


def _traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))
