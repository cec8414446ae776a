"""Run a plan's steps through the project's own env.py, exactly as ``alembic`` would.

Runs in a worker thread (Alembic's ``command`` layer is blocking and an async env.py calls
``asyncio.run`` itself). Per-step events are handed to ``emit`` from that thread; the caller
turns them into loop-side events.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.errors import OperationFailed, Refused
from core.events import Event, StepFailed, StepFinished, StepStarted
from core.relational.plan import Plan, compute_steps, step_key
from core.relational.project import ALEMBIC_RUN_LOCK, AlembicProject
from core.secrets import scrub


class StopFlag(threading.Event):
    """Set by the caller to stop before the next revision (the running one completes)."""


class Interrupted(Exception):
    """Raised between revisions when the StopFlag is set."""


@dataclass
class RunOutcome:
    """What actually happened: the steps that completed, in order."""

    completed: list[tuple[str, str, str | None, float]] = field(default_factory=list)
    failed_step: tuple[str, str] | None = None


def _environment_context(config: Any, script: Any, on_apply: Callable[..., None], **kw: Any) -> Any:
    """Alembic's EnvironmentContext with migctl's per-step callback added to whatever the
    project's env.py configures (instance-level: ``alembic.context`` proxies the class)."""
    from alembic.runtime.environment import EnvironmentContext
    from alembic.util import to_tuple

    ctx = EnvironmentContext(config, script, **kw)
    original = ctx.configure

    def configure(*args: Any, **options: Any) -> None:
        options["on_version_apply"] = (*to_tuple(options.get("on_version_apply"), default=()), on_apply)
        # One transaction per revision, so a failure leaves the last good revision recorded
        # (env.py may still choose otherwise explicitly).
        options.setdefault("transaction_per_migration", True)
        _restore_logging()  # env.py's fileConfig has just disabled migctl's loggers
        _commit_without_waiting(options.get("connection"))
        original(*args, **options)

    ctx.configure = configure  # type: ignore[method-assign]
    return ctx


def _commit_without_waiting(connection: Any) -> None:
    """PostgreSQL: let each revision's commit return before its WAL reaches the disk.

    One transaction per revision means one WAL flush per revision; on a slow or busy disk that
    costs more than the revision itself (a 1,000-revision chain took half again as long as one
    transaction). ``synchronous_commit = off`` cannot corrupt or half-apply anything: a server
    crash can only lose the last few commits whole, leaving the database at an earlier
    revision with a version table that tells the truth. Nor is the run reported before it is
    durable: migctl's audit row is committed synchronously on its own connection after the
    run, and that commit flushes the WAL up to and including every revision before it.
    """
    if connection is None or getattr(connection.dialect, "name", None) != "postgresql":
        return
    began = not connection.in_transaction()
    connection.exec_driver_sql("SET synchronous_commit TO off")
    if began:  # leave the connection as env.py had it: outside any transaction
        connection.commit()


def _restore_logging() -> None:
    """A project's ``fileConfig`` disables existing loggers; migctl's own must keep working."""
    for name, logger in logging.root.manager.loggerDict.items():
        if name.startswith("migctl") and isinstance(logger, logging.Logger):
            logger.disabled = False


def run_plan(project: AlembicProject, url: str, plan: Plan, emit: Callable[[Event], None],
             stop: StopFlag | None = None) -> RunOutcome:
    """Execute ``plan``; refuse when the steps Alembic computes now differ from the plan."""
    outcome = RunOutcome()
    planned = [s.key for s in plan.steps]
    total = len(planned)
    state = {"index": 0, "started": 0.0}
    by_index = list(plan.steps)

    def start(i: int) -> None:
        if i < total:
            s = by_index[i]
            state["index"], state["started"] = i, time.monotonic()
            emit(StepStarted(i, total, s.revision, s.direction, s.message))

    def fn(rev: Any, _context: Any) -> list[Any]:
        current = tuple(rev) if not plan.purge else ()
        if plan.alembic_steps and tuple(sorted(current)) == tuple(sorted(() if plan.purge else plan.current)):
            steps = list(plan.alembic_steps)
        else:
            steps = compute_steps(script, plan.action, plan.target, current)
        if [step_key(s) for s in steps] != planned:
            now = ", ".join(f"{r} {d}" for r, d in (step_key(s) for s in steps)) or "nothing"
            raise Refused(f"the database changed since the plan was made; it would now run: {now}")
        return _stoppable(steps)

    def _stoppable(steps: list[Any]) -> Any:
        # Alembic takes each step from this generator outside the previous step's transaction,
        # so stopping here never cuts a revision in half.
        for i, step in enumerate(steps):
            if stop is not None and stop.is_set():
                raise Interrupted()
            start(i)
            yield step

    def on_apply(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        i = state["index"]
        s = by_index[i]
        duration = time.monotonic() - state["started"]
        outcome.completed.append((s.revision, s.direction, s.path, duration))
        emit(StepFinished(i, total, s.revision, s.direction, duration))

    with ALEMBIC_RUN_LOCK:
        config = project.make_config(url)
        script = project.script()
        kwargs: dict[str, Any] = {"fn": fn, "as_sql": False}
        if plan.action == "stamp":
            kwargs["destination_rev"] = plan.target
            kwargs["purge"] = plan.purge
        else:
            kwargs["destination_rev"] = plan.target
        try:
            with _environment_context(config, script, on_apply, **kwargs):
                script.run_env()
        except Refused:
            raise
        except Interrupted:
            return outcome
        except Exception as exc:
            i = state["index"]
            if total and i < total and len(outcome.completed) == i:
                s = by_index[i]
                message = describe_failure(exc)
                outcome.failed_step = (s.revision, s.direction)
                emit(StepFailed(i, total, s.revision, s.direction, message))
                err = OperationFailed(
                    f"revision {s.revision} ({s.direction}) failed: {message}",
                    detail=scrub(_traceback(exc)),
                )
                err.outcome = outcome  # type: ignore[attr-defined]
                raise err from None
            err = OperationFailed(describe_failure(exc), detail=scrub(_traceback(exc)))
            err.outcome = outcome  # type: ignore[attr-defined]
            raise err from None
        finally:
            _restore_logging()
    return outcome


def describe_failure(exc: BaseException) -> str:
    from core.db import first_line

    return first_line(exc)


def _traceback(exc: BaseException) -> str:
    import traceback

    return "".join(traceback.format_exception(exc))
