"""Database URLs per driver and connections for migctl's own work (lock, audit, state).

Alembic runs on the driver its env.py expects (sync or async); migctl's own queries always
use an async driver: asyncpg, aiomysql or aiosqlite.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from core.errors import ConnectionFailed
from core.secrets import mask_url, scrub

if TYPE_CHECKING:
    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

SYNC_DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql", "mariadb": "pymysql", "sqlite": "pysqlite"}
ASYNC_DRIVERS = {"postgresql": "asyncpg", "mysql": "aiomysql", "mariadb": "aiomysql", "sqlite": "aiosqlite"}


def with_driver(url: str, *, asynchronous: bool, keep_explicit: bool = False) -> URL:
    """The URL with the driver migctl uses for sync (Alembic) or async work."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if keep_explicit and "+" in parsed.drivername:
        return parsed
    table = ASYNC_DRIVERS if asynchronous else SYNC_DRIVERS
    return parsed.set(drivername=f"{backend}+{table[backend]}")


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


def create_engine(url: str, application_name: str | None = None) -> AsyncEngine:
    """An async engine without pooling: migctl holds few, explicit connections."""
    from sqlalchemy.ext.asyncio import create_async_engine
    from sqlalchemy.pool import NullPool

    async_url = with_driver(url, asynchronous=True)
    backend = async_url.get_backend_name()
    connect_args: dict = {}
    if backend == "postgresql":
        connect_args = {"timeout": 10, "command_timeout": None}
        # libpq spellings that asyncpg takes under another name
        if "sslmode" in async_url.query:
            connect_args["ssl"] = async_url.query["sslmode"]
            async_url = async_url.difference_update_query(["sslmode"])
        if application_name:
            connect_args["server_settings"] = {"application_name": application_name[:63]}
    elif backend in ("mysql", "mariadb"):
        connect_args = {"connect_timeout": 10}
    return create_async_engine(async_url, poolclass=NullPool, connect_args=connect_args)


async def connect(engine: AsyncEngine, url: str) -> AsyncConnection:
    """Open a connection; any failure becomes one operator-facing line."""
    try:
        return await engine.connect()
    except Exception as exc:  # drivers raise OSError, asyncpg, pymysql and SQLAlchemy errors
        raise ConnectionFailed(f"cannot connect to {mask_url(url)}: {first_line(exc)}") from None
