"""The one way a mutation runs: protection check, migration lock, audit row.

Every path that changes a database (upgrade, downgrade, stamp, migrate, init, reset, restore,
vector upgrade/downgrade/repair, protect/unprotect) enters :meth:`Guard.run`; none writes its
own copy of the sequence, so a protected database cannot be reached by a path that forgot one.

Protection follows the database, not the environment's name: when an environment marked
``protected: true`` is first reached, its name is written into ``migctl_protection`` in that
database, and from then on any mutation of it, under any environment name or URL, needs that
name confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

from migctl.core import audit
from migctl.core.errors import MigctlError, OperationFailed, Refused, UsageError
from migctl.core.events import EventSink, Notice
from migctl.core.identity import current_actor
from migctl.core.lock import MigrationLock

if TYPE_CHECKING:
    from contextlib import AbstractAsyncContextManager

    from migctl.core.config import Environment
    from migctl.core.db import ThreadedConnection

log = logging.getLogger("migctl")

Revisions = Callable[["ThreadedConnection"], Awaitable[tuple[str, ...]]]


def database_missing(exc: BaseException, url: str) -> bool:
    """Whether a connection failed because the database itself does not exist (``init``
    creates it), not a role or anything else that "does not exist"."""
    from sqlalchemy.engine import make_url

    return f'database "{make_url(url).database}" does not exist' in str(exc)


def mark_audited(exc: BaseException) -> BaseException:
    """An outer guarded run must not audit again what an inner one (or a wait) recorded."""
    exc.audited = True  # type: ignore[attr-defined]
    return exc


def _audited(exc: BaseException) -> bool:
    return bool(getattr(exc, "audited", False))


@dataclass(frozen=True)
class Protection:
    """Which name an operator must confirm to change this database (``None``: not protected)."""

    name: str | None
    recorded: bool = False  # the mark is in the database itself

    @property
    def protected(self) -> bool:
        return self.name is not None

    def confirmed_by(self, confirm_env: str | None) -> bool:
        return self.name is None or confirm_env == self.name

    def refusal(self) -> str:
        where = " (recorded in the database)" if self.recorded else ""
        return (f"database is protected as {self.name!r}{where}: type its name to confirm "
                f"(or pass --confirm-env {self.name})")


async def read_mark(conn: ThreadedConnection) -> str | None:
    """The protected name recorded in this database, or ``None`` (also when migctl never ran)."""
    from sqlalchemy import inspect

    table = audit.tables()["protection"]
    has = await conn.run_sync(lambda sync: inspect(sync).has_table(table.name))
    if not has:
        return None
    return (await conn.execute(table.select().with_only_columns(table.c.name))).scalar()


async def write_mark(conn: ThreadedConnection, name: str | None) -> None:
    """Record ``name`` as this database's protection, or clear it with ``None``."""
    table = audit.tables()["protection"]
    await conn.execute(table.delete())
    if name is not None:
        await conn.execute(table.insert().values(id=1, name=name, marked_at=datetime.now(UTC),
                                                 marked_by=current_actor().label))
    await conn.commit()


@dataclass
class GuardedRun:
    """What the body of :meth:`Guard.run` reports back: when the change began and where it ended."""

    conn: ThreadedConnection
    environment: str
    action: str
    target: str | None
    revisions: Revisions
    before: tuple[str, ...] = ()
    after: tuple[str, ...] | None = None
    entry: audit.AuditEntry | None = None
    # Kept with the outcome in the audit row, e.g. the broken steps an operator chose to run
    # through with --allow-broken, so an overridden run does not read like any other.
    note: str | None = None

    async def begin(self) -> None:
        """The change starts now: the audit row opens (``running``), so a kill leaves a trace."""
        async with audit.flushed_by_finish(self.conn):
            self.entry = await audit.start(self.conn, self.environment, self.action, self.target, self.before)

    async def refuse(self, reason: str) -> NoReturn:
        """Refuse under the lock (the plan went stale, drift): audited once, exit 3."""
        try:
            await audit.record(self.conn, self.environment, self.action, self.target, self.before, "refused",
                               reason)
        except Exception as exc:  # the refusal stands even when it cannot be recorded
            log.debug("the refusal could not be audited: %s", exc)
        raise mark_audited(Refused(reason))


class Guard:
    """The guard of one database, reached as one environment."""

    def __init__(self, url: str, environment: Environment,
                 connection: Callable[[], AbstractAsyncContextManager[ThreadedConnection]],
                 revisions: Revisions, sink: Callable[[], EventSink]) -> None:
        self.url = url
        self.environment = environment
        self._connection = connection
        self._revisions = revisions
        self._sink = sink
        self._mark_tried = False

    async def protection(self, conn: ThreadedConnection | None = None) -> Protection:
        """The database's mark wins over the environment's own flag. An environment marked
        protected records its name on first contact (once per process; a read-only role can't).
        A mark that exists but cannot be read is an error, never "not protected"."""
        from sqlalchemy.exc import SQLAlchemyError

        async def read(c: ThreadedConnection) -> Protection:
            from migctl.core.db import first_line

            try:
                mark = await read_mark(c)
            except SQLAlchemyError as exc:
                raise OperationFailed(f"cannot read the database's protection mark: {first_line(exc)}") from None
            if mark is not None:
                return Protection(mark, recorded=True)
            if not self.environment.protected:
                return Protection(None)
            if not self._mark_tried:
                self._mark_tried = True
                try:
                    await audit.ensure_tables(c)
                    await write_mark(c, self.environment.name)
                    return Protection(self.environment.name, recorded=True)
                except SQLAlchemyError as exc:
                    log.debug("protection mark not recorded: %s", exc)
            return Protection(self.environment.name)

        if conn is not None:
            return await read(conn)
        from migctl.core.errors import ConnectionFailed

        try:
            async with self._connection() as c:
                return await read(c)
        except ConnectionFailed as exc:
            if not database_missing(exc, self.url):  # init creates it: only the flag can protect it
                raise
            return Protection(self.environment.name if self.environment.protected else None)

    async def refuse(self, action: str, target: str | None, reason: str) -> None:
        """Audit an operation refused before it started (declined, not confirmed, lock held)."""
        from sqlalchemy.exc import SQLAlchemyError

        from migctl.core.errors import ConnectionFailed

        try:
            async with self._connection() as conn:
                await audit.ensure_tables(conn)
                before = await self._revisions(conn)
                await audit.record(conn, self.environment.name, action, target, before, "refused", reason)
        except ConnectionFailed as exc:  # init's database not created yet: nowhere to audit
            if not database_missing(exc, self.url):
                raise
            log.debug("refusal not audited: %s", exc)
        except SQLAlchemyError as exc:  # a read-only role cannot keep an audit; the refusal stands
            from migctl.core.db import first_line

            self._sink()(Notice(f"the refusal could not be audited: {first_line(exc)}"))

    async def check(self, action: str, target: str | None, confirm_env: str | None) -> Protection:
        """Refuse (audited, exit 3) unless ``confirm_env`` names the database's protection."""
        protection = await self.protection()
        if not protection.confirmed_by(confirm_env):
            await self.refuse(action, target, f"protected database {protection.name!r} not confirmed")
            raise mark_audited(Refused(protection.refusal()))
        return protection

    def check_unreachable(self, confirm_env: str | None) -> None:
        """The check before the database exists (``init`` creating it): only the environment's
        own flag can protect it, and no audit can be kept yet."""
        protection = Protection(self.environment.name if self.environment.protected else None)
        if not protection.confirmed_by(confirm_env):
            raise mark_audited(Refused(protection.refusal()))

    async def set_mark(self, protect: bool, confirm_env: str | None) -> Protection:
        """``migctl protect`` / ``unprotect``: guarded like any mutation, so removing the mark
        needs the protected name confirmed."""
        action = "protect" if protect else "unprotect"
        if not protect and self.environment.protected:
            source = f" in {self.environment.source}" if self.environment.source else ""
            raise UsageError(f"environment {self.environment.name!r} is marked 'protected: true'{source}, "
                             "which would mark the database again: remove that first")
        existing = await self.protection()
        if protect and existing.recorded:
            return existing
        async with self.run(action, self.environment.name, confirm_env) as run:
            await run.begin()
            await write_mark(run.conn, self.environment.name if protect else None)
        return Protection(self.environment.name if protect else None, recorded=protect)

    @contextlib.asynccontextmanager
    async def run(self, action: str, target: str | None, confirm_env: str | None, *,
                  lock_timeout: float = 0.0, within: GuardedRun | None = None) -> AsyncIterator[GuardedRun]:
        """Check protection, take the lock, audit the outcome. ``within``: a step of a larger
        guarded run (migrate, init), which holds the lock and confirmed protection already.

        The body calls :meth:`GuardedRun.begin` when it starts changing things (a run that finds
        nothing to do leaves no row), :meth:`GuardedRun.refuse` to refuse under the lock, and
        sets ``after``; an exception after ``begin`` completes the row as ``failed``.
        """
        if within is not None:
            run = GuardedRun(within.conn, self.environment.name, action, target, self._revisions)
            run.before = await self._revisions(run.conn)
            async with self._audited(run):
                yield run
            return
        await self.check(action, target, confirm_env)  # before the lock: a refusal must not wait
        lock = MigrationLock(self.url, action, lock_timeout, self._sink())
        async with self._connection() as conn:
            # PostgreSQL: migctl's tables are made while the lock is being taken (their
            # creation has an advisory lock of its own). Elsewhere a concurrent CREATE could
            # wait on the holder's migration, so it comes after the lock.
            tables = asyncio.ensure_future(_ensure_tables(conn)) if lock.dialect == "postgresql" else None
            try:
                await lock.acquire()
            except BaseException as exc:
                if tables is not None:
                    await _settle(tables)  # the lock's outcome is the one reported
                if (reason := lock.refusal(exc)) is not None:
                    await self.refuse(action, target, reason)
                    mark_audited(exc)
                raise
            try:
                if tables is not None and not lock.waited:
                    await tables
                else:
                    if tables is not None:
                        await _settle(tables)
                    # the holder ran meanwhile and may have dropped them: check again
                    await _ensure_tables(conn)
                run = GuardedRun(conn, self.environment.name, action, target, self._revisions)
                run.before = await self._revisions(conn)
                # Again under the lock: the holder we waited for may have protected the database.
                protection = await self.protection(conn)
                if not protection.confirmed_by(confirm_env):
                    await run.refuse(protection.refusal())
                async with self._audited(run):
                    yield run
            finally:
                await lock.release()

    @contextlib.asynccontextmanager
    async def _audited(self, run: GuardedRun) -> AsyncIterator[None]:
        try:
            yield
        except BaseException as exc:
            await self._close_failed(run, exc)
            raise
        if run.entry is not None:
            after = run.after if run.after is not None else await self._revisions(run.conn)
            await audit.finish(run.conn, run.entry, "ok", after, run.note)

    async def _close_failed(self, run: GuardedRun, exc: BaseException) -> None:
        from migctl.core.db import first_line

        if _audited(exc):
            if run.entry is None:
                return
        try:
            if run.entry is None:
                if isinstance(exc, Refused):
                    await audit.record(run.conn, run.environment, run.action, run.target, run.before,
                                       "refused", str(exc))
                    mark_audited(exc)
                return
            after = run.after
            if after is None:
                with contextlib.suppress(Exception):
                    after = await self._revisions(run.conn)
            outcome = "refused" if isinstance(exc, Refused) else "failed"
            message = str(exc) if isinstance(exc, MigctlError) else first_line(exc)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
                message = "interrupted"
            await audit.finish(run.conn, run.entry, outcome, after, f"{message}; {run.note}" if run.note else message)
        except Exception as audit_error:  # the operation's own error is the one to report
            log.debug("the outcome could not be audited: %s", audit_error)


async def _settle(task: asyncio.Future[Any]) -> None:
    """Wait until ``task`` has ended, whatever it raised and however often the waiter is
    cancelled meanwhile (it shares migctl's connection: it must not run on behind the caller)."""
    while not task.done():
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait([task])
    if not task.cancelled():
        task.exception()  # seen


async def _ensure_tables(conn: ThreadedConnection) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from migctl.core.db import first_line

    try:
        await audit.ensure_tables(conn)
    except SQLAlchemyError as exc:
        raise OperationFailed(f"cannot create migctl's tables: {first_line(exc)}") from None
