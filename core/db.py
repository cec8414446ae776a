"""Database URLs per driver and connections for migctl's own work (lock, audit, state).

Alembic runs on the driver its env.py expects (sync or async). migctl's own queries run on
the sync driver Alembic uses anyway (psycopg, pymysql, sqlite3), each connection in a thread
of its own behind an awaitable facade (:class:`ThreadedConnection`): SQLAlchemy's asyncio
layer imports its ORM and an async driver, a sixth of a short command's start-up, and a
connection that sits in one thread needs no greenlets.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from migctl.core.errors import ConnectionFailed
from migctl.core.secrets import mask_url, scrub

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine, Result

T = TypeVar("T")

SYNC_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": "pysqlite"}
ASYNC_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "mariadb": "aiomysql", "sqlite": "aiosqlite"}


def with_driver(url: str, *, asynchronous: bool) -> URL:
    """The URL with the driver migctl uses for its own sync or async work."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    table = ASYNC_DRIVERS if asynchronous else SYNC_DRIVERS
    return parsed.set(drivername=f"{backend}+{table[backend]}")


def url_for_env_py(url: str, *, async_only: bool) -> tuple[URL, str]:
    """The URL handed to a project's env.py, and why (for the debug log; no secrets in it).

    As written, as plain ``alembic`` would get it, with SQLAlchemy's default driver for a bare
    dialect. Two exceptions, where env.py could not run at all: an async-only env.py given a
    driver with no async variant gets migctl's async driver, and a bare dialect whose default
    driver is not installed (``mysql://`` means MySQLdb) gets migctl's sync driver.
    """
    import importlib.util

    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import NoSuchModuleError

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    try:
        dialect = parsed.get_dialect(_is_async=async_only)
    except NoSuchModuleError:
        return parsed, f"driver {parsed.drivername} unknown to SQLAlchemy: env.py gets it as written"
    if async_only:
        if dialect.is_async or backend not in ASYNC_DRIVERS:
            return parsed, f"env.py builds only an async engine; {parsed.drivername} (driver {dialect.driver}) is async"
        driver = ASYNC_DRIVERS[backend]
        if backend == "postgresql" and importlib.util.find_spec("asyncpg") is None:
            driver = "psycopg"  # psycopg 3 runs under asyncio too
        return (parsed.set(drivername=f"{backend}+{driver}"),
                f"env.py builds only an async engine and {parsed.drivername} (driver {dialect.driver}) "
                f"has no async variant: env.py gets {backend}+{driver}")
    if "+" not in parsed.drivername and backend in SYNC_DRIVERS:
        try:
            dialect.import_dbapi()
        except ImportError:
            driver = SYNC_DRIVERS[backend]
            return (parsed.set(drivername=f"{backend}+{driver}"),
                    f"SQLAlchemy's default driver for {backend} ({dialect.driver}) is not installed: "
                    f"env.py gets {backend}+{driver}")
    return parsed, f"env.py gets the URL as given ({parsed.drivername}, driver {dialect.driver})"


def dialect_of(url: str) -> str:
    from sqlalchemy.engine import make_url

    name = make_url(url).get_backend_name()
    return "mysql" if name == "mariadb" else name


def render(url: URL) -> str:
    """Full URL text (password included) for handing to a driver, never for display."""
    return url.render_as_string(hide_password=False)


def first_line(exc: BaseException) -> str:
    """The database's own message, one line, secrets masked."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip() or type(orig).__name__
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    line = re.sub(r"^<class '[^']+'>:\s*", "", line)
    return scrub(line)


class ThreadedConnection:
    """The part of SQLAlchemy's ``AsyncConnection`` that migctl uses, over a sync connection
    that lives in one worker thread (sqlite3 and pymysql connections must not wander between
    threads). Results come back fully fetched, so reading them never touches the driver."""

    def __init__(self, sync: Connection, worker: ThreadPoolExecutor) -> None:
        self.sync_connection = sync
        self._worker = worker

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._worker, fn, *args)

    @staticmethod
    def _fetched(result: Result) -> Result:
        # An INSERT's implicit RETURNING was read at execution (inserted_primary_key).
        if not result.returns_rows or result.context.isinsert:  # type: ignore[attr-defined]
            return result
        return result.freeze()()

    async def execute(self, statement: Any, parameters: Any = None) -> Result:
        return await self._call(lambda: self._fetched(self.sync_connection.execute(statement, parameters)))

    async def exec_driver_sql(self, statement: str) -> Result:
        return await self._call(lambda: self._fetched(self.sync_connection.exec_driver_sql(statement)))

    async def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(fn, self.sync_connection, *args)

    async def execution_options(self, **options: Any) -> ThreadedConnection:
        await self._call(lambda: self.sync_connection.execution_options(**options))
        return self

    async def commit(self) -> None:
        await self._call(self.sync_connection.commit)

    async def rollback(self) -> None:
        await self._call(self.sync_connection.rollback)

    def in_transaction(self) -> bool:
        return self.sync_connection.in_transaction()

    @property
    def closed(self) -> bool:
        return self.sync_connection.closed

    @property
    def invalidated(self) -> bool:
        return self.sync_connection.invalidated

    @property
    def dialect(self) -> Any:
        return self.sync_connection.dialect

    async def close(self) -> None:
        try:
            await self._call(self.sync_connection.close)
        finally:
            self._worker.shutdown(wait=False)


class ThreadedEngine:
    """Makes :class:`ThreadedConnection` objects; no pool (migctl holds few, explicit ones)."""

    def __init__(self, engine: Engine) -> None:
        self.sync_engine = engine

    async def connect(self) -> ThreadedConnection:
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="migctl-db")
        opened: list[Connection] = []

        def open_() -> Connection:
            opened.append(self.sync_engine.connect())
            return opened[-1]

        def close_late() -> None:  # queued behind open_: it runs once the connect has ended
            for conn in opened:
                conn.close()

        try:
            sync = await asyncio.get_running_loop().run_in_executor(worker, open_)
        except BaseException:  # cancelled while connecting: the connection still arrives, close it
            worker.submit(close_late)
            worker.shutdown(wait=False)
            raise
        return ThreadedConnection(sync, worker)

    async def dispose(self) -> None:
        self.sync_engine.dispose()


def create_engine(url: str, application_name: str | None = None) -> ThreadedEngine:
    """An engine on the sync driver, without pooling."""
    from sqlalchemy import create_engine as sa_create_engine
    from sqlalchemy.pool import NullPool

    from migctl.core.extras import require_driver

    sync_url = with_driver(url, asynchronous=False)
    require_driver(sync_url.drivername)
    backend = sync_url.get_backend_name()
    connect_args: dict = {}
    if backend == "postgresql":
        connect_args = {"connect_timeout": 10}
        if application_name:
            connect_args["application_name"] = application_name[:63]
    elif backend in ("mysql", "mariadb"):
        connect_args = {"connect_timeout": 10}
    return ThreadedEngine(sa_create_engine(sync_url, poolclass=NullPool, connect_args=connect_args))


async def connect(engine: ThreadedEngine, url: str) -> ThreadedConnection:
    """Open a connection; any failure becomes one operator-facing line."""
    try:
        return await engine.connect()
    except Exception as exc:  # drivers raise OSError, psycopg, pymysql and SQLAlchemy errors
        raise ConnectionFailed(f"cannot connect to {mask_url(url)}: {first_line(exc)}") from None
