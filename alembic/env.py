"""Alembic environment for the RAG system schema (async, asyncpg).

Database URL resolution order (first non-empty wins):

1. ``sqlalchemy.url`` from the Alembic config (empty in ``alembic.ini``);
2. ``alembic -x database_url=...``;
3. the ``DATABASE_URL`` environment variable;
4. ``alembic -x config_file=PATH`` or the ``CONFIG_FILE`` environment variable,
   resolved through ``core.config.resolve_database_url`` (with ``MIGCTL_ENV``).

The version table: ``version_table`` / ``version_table_schema`` as main options (migctl sets
them from migctl.yaml; or in alembic.ini) or ``-x version_table=...``; else ``alembic_version``.

A caller (e.g. migctl or a test) may instead hand over a SQLAlchemy sync
``Connection`` in ``config.attributes["connection"]``; it is then used directly.
Hand it over outside of any transaction (fresh, or after ``commit()``): the
HNSW index revision uses ``autocommit_block()``, which Alembic cannot run
inside a transaction begun by the caller.
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from sqlalchemy import pool
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import async_engine_from_config

from alembic import context

# The Alembic Config object, which provides access to the .ini file values.
config = context.config

# Configure Python logging from the ini file, unless migctl drives us (it sets
# up logging itself and marks the config with attributes["migctl"]).
if config.config_file_name is not None and not config.attributes.get("migctl"):
    fileConfig(config.config_file_name)

# Migrations are hand-written raw DDL; there is no model metadata.
target_metadata = None

NO_URL_MESSAGE = (
    "no database URL: set DATABASE_URL, pass -x database_url=..., or run through migctl"
)

# Drivers rewritten to asyncpg for the (async) online engine.
_ASYNCPG_REWRITE = {
    "postgres",
    "postgresql",
    "postgres+psycopg",
    "postgresql+psycopg",
    "postgres+psycopg2",
    "postgresql+psycopg2",
    "postgres+asyncpg",
}


def _resolve_url() -> str:
    """Find the database URL (see module docstring for the order)."""
    url = (config.get_main_option("sqlalchemy.url") or "").strip()
    if url:
        return url

    x_args = context.get_x_argument(as_dictionary=True)
    url = (x_args.get("database_url") or "").strip()
    if url:
        return url

    url = os.environ.get("DATABASE_URL", "").strip()
    if url:
        return url

    config_file = (x_args.get("config_file") or os.environ.get("CONFIG_FILE") or "").strip()
    if config_file:
        # Imported lazily: only this path needs the project's config module.
        from migctl.core.config import resolve_database_url

        url = resolve_database_url(config_file=config_file, env=os.environ.get("MIGCTL_ENV"))
        if url:
            return str(url)

    raise RuntimeError(NO_URL_MESSAGE)


def _version_table() -> dict[str, str]:
    """The version table to keep revisions in: ``version_table`` (and ``version_table_schema``)
    from migctl (which sets them from migctl.yaml), alembic.ini or ``-x version_table=...``;
    otherwise Alembic's ``alembic_version``. migctl reads the same table."""
    x_args = context.get_x_argument(as_dictionary=True)
    options = {}
    for key in ("version_table", "version_table_schema"):
        value = (x_args.get(key) or config.get_main_option(key) or "").strip()
        if value:
            options[key] = value
    return options


def _async_url(raw: str) -> URL:
    """Normalise a PostgreSQL URL to the asyncpg driver (for the online engine)."""
    url = make_url(raw)
    if url.drivername in _ASYNCPG_REWRITE:
        url = url.set(drivername="postgresql+asyncpg")
    if url.drivername == "postgresql+asyncpg" and "sslmode" in url.query:
        # libpq spelling -> asyncpg spelling (asyncpg.connect(ssl=...)).
        sslmode = url.query["sslmode"]
        url = url.difference_update_query(["sslmode"]).update_query_dict({"ssl": sslmode})
    return url


def _offline_url(raw: str) -> URL:
    """Offline mode only needs the dialect: keep it plain ``postgresql``."""
    url = make_url(raw)
    if url.get_backend_name() in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql")
    return url


def run_migrations_offline() -> None:
    """Run migrations in 'offline' mode: emit SQL to stdout, no DBAPI needed."""
    context.configure(
        url=_offline_url(_resolve_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        transaction_per_migration=True,
        **_version_table(),
    )

    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        transaction_per_migration=True,
        **_version_table(),
    )

    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    """Create an async engine (asyncpg, NullPool) and run the migrations."""
    section = dict(config.get_section(config.config_ini_section, {}))
    section["sqlalchemy.url"] = _async_url(_resolve_url())

    connectable = async_engine_from_config(
        section,
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )

    try:
        async with connectable.connect() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await connectable.dispose()


def run_migrations_online() -> None:
    """Run migrations in 'online' mode."""
    connection = config.attributes.get("connection")
    if connection is None:
        asyncio.run(run_async_migrations())
    elif isinstance(connection, Connection):
        do_run_migrations(connection)
    else:
        raise TypeError(
            "config.attributes['connection'] must be a sqlalchemy.engine.Connection, "
            f"got {type(connection).__name__}"
        )


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
