"""The environments overview: every environment of a config in one table, read in parallel.

What an operator checks before promoting a release from staging to production. Each
environment is read with a timeout of its own, so one that is down or silent becomes a row
saying so and never holds up the others.

Reading creates nothing: no database, no extension, no migctl table, no protection mark (the
mark an environment flagged ``protected`` writes on first contact is left to the commands
that act on it). The vector columns come from the tracking table and the migration files;
the vector store itself is not opened (opening Milvus Lite by path would take it from the
process that serves it; pgvector may create its schema). An embedded PostgreSQL that is not
running is not started for a look.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from migctl.core.config import Environment, environment_names, load_environment
from migctl.core.errors import ConnectionFailed, MigctlError
from migctl.core.events import ignore
from migctl.core.relational.graph import RevisionGraph
from migctl.core.relational.service import RelationalService
from migctl.core.secrets import clip, mask_url, scrub

OK = "ok"
READING = "reading…"
RowSink = Callable[["EnvironmentRow"], None]


@dataclass
class EnvironmentRow:
    """One environment's state, or why it could not be read (``state`` other than ``ok``)."""

    name: str
    protected: bool = False
    protected_as: str | None = None  # the name to confirm: the database's mark, else the flag's
    url: str = ""  # masked
    embedded: bool = False
    state: str = READING
    current: list[str] = field(default_factory=list)
    heads: list[str] = field(default_factory=list)
    pending: int | None = None
    drifted: int | None = None
    vector: str = "not configured"  # "ok", "off", "not configured" or "error: ..."
    vector_current: str | None = None
    vector_pending: int | None = None
    lock: str | None = None  # who holds the migration lock, running what
    seconds: float = 0.0
    # What a shell needs to switch to this environment (None: its configuration is broken).
    environment: Environment | None = field(default=None, repr=False, compare=False)

    @property
    def reachable(self) -> bool:
        return self.state == OK

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "protected": self.protected, "protected_as": self.protected_as,
                "url": self.url, "embedded": self.embedded, "state": self.state, "current": self.current,
                "heads": self.heads, "pending": self.pending, "drifted": self.drifted, "vector": self.vector,
                "vector_current": self.vector_current, "vector_pending": self.vector_pending,
                "lock": self.lock, "seconds": round(self.seconds, 3)}


def environment_rows(config_file: str | None = None) -> list[EnvironmentRow]:
    """Every environment of the config, resolved but not read (``state`` is ``reading…``).

    URLs come from the config file: ``DATABASE_URL`` and ``POSTGRES_*`` would otherwise put
    one database under every name. A broken environment (an unset variable) is a row saying so.
    """
    rows = []
    for name in environment_names(config_file):
        row = EnvironmentRow(name)
        try:
            env = load_environment(config_file=config_file, env=name, url_overrides=False)
        except MigctlError as exc:
            row.state = f"error: {_line(exc)}"
            rows.append(row)
            continue
        row.environment = env
        row.protected = env.protected
        row.protected_as = name if env.protected else None
        row.url = env.masked_url
        row.embedded = env.embedded
        row.vector = "ok" if env.vector_configured else "not configured"
        rows.append(row)
    return rows


async def environments_overview(config_file: str | None = None, *, timeout: float = 5.0, vector: bool = True,
                                on_row: RowSink | None = None,
                                rows: Sequence[EnvironmentRow] | None = None) -> list[EnvironmentRow]:
    """Read every environment at once, each within ``timeout`` seconds; ``on_row`` hears each
    row as it is done (on the caller's loop). ``vector=False``: the vector columns say ``off``."""
    rows = list(rows) if rows is not None else environment_rows(config_file)
    graphs: dict[Any, asyncio.Future[RevisionGraph]] = {}
    # Local work first, off every environment's clock: the revision files of each Alembic
    # project, and the imports of the database stack (a cold start spends most of a short
    # timeout there, and every environment would seem slow).
    environments = [r.environment for r in rows if r.environment is not None]
    for env in environments:
        _graph(env, graphs)
    local = asyncio.gather(asyncio.to_thread(_load_drivers, environments), *graphs.values(), return_exceptions=True)
    # Bounded too: reading a graph waits for a migration this process runs (Alembic's lock);
    # the rows then say "timeout" instead of all staying unread until it ends.
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(local), timeout)

    async def one(row: EnvironmentRow) -> EnvironmentRow:
        if row.environment is not None:
            await read_environment(row, timeout=timeout, vector=vector, graphs=graphs)
        if on_row is not None:
            on_row(row)
        return row

    return list(await asyncio.gather(*(one(row) for row in rows)))


def _load_drivers(environments: list[Environment]) -> None:
    """Import each URL's dialect and driver, and the vector side's reader, without connecting."""
    from migctl.core.db import create_engine

    for url in {env.database_url for env in environments if env.database_url}:
        with contextlib.suppress(Exception):  # a missing driver is the row's own error later
            create_engine(url).sync_engine.dispose()
    if any(env.vector_configured for env in environments):
        import migctl.core.vector.service  # noqa: F401


async def read_environment(row: EnvironmentRow, *, timeout: float, vector: bool = True,
                           graphs: dict[Any, asyncio.Future[RevisionGraph]] | None = None) -> EnvironmentRow:
    """Fill ``row`` from its database; any failure (or ``timeout``) becomes its ``state``."""
    env = row.environment
    assert env is not None
    started = time.monotonic()
    if not vector and env.vector_configured:
        row.vector = "off"
    service: RelationalService | None = None
    try:
        url = await asyncio.wait_for(_url(env), timeout)
        if url is None:
            row.state = "embedded: not running"
            return row
        row.url = mask_url(url) + ("  (embedded)" if env.embedded else "")
        if _sqlite_file_missing(url):  # connecting would create the file: a look creates nothing
            row.state = "no database yet (migctl init creates it)"
            return row
        service = RelationalService(env, url, ignore)
        graph = _graph(env, graphs if graphs is not None else {})
        await asyncio.wait_for(_read(row, service, graph, vector), max(0.0, timeout - (time.monotonic() - started)))
        row.state = OK
    except TimeoutError:
        row.state = f"timeout after {timeout:g}s"
    except ConnectionFailed as exc:
        from migctl.core.guard import database_missing

        missing = service is not None and database_missing(exc, service.url)
        row.state = "no database yet (migctl init creates it)" if missing else f"unreachable: {_reason(exc)}"
    except MigctlError as exc:
        row.state = f"error: {_line(exc)}"
    except Exception as exc:  # a driver error the core does not wrap: the row says it
        from migctl.core.db import first_line

        row.state = f"error: {clip(first_line(exc), 200)}"
    finally:
        row.seconds = time.monotonic() - started
        if service is not None:
            _close_later(service)
    return row


def _sqlite_file_missing(url: str) -> bool:
    from pathlib import Path

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:") and not Path(database).exists()


async def _url(env: Environment) -> str | None:
    """The URL to read; ``None`` for an embedded server that is not running (not started here)."""
    if env.database_url:
        return env.database_url
    if env.embedded:
        from migctl.core.embedded import EmbeddedPostgres

        try:
            return EmbeddedPostgres(env.state_dir).url
        except MigctlError:
            return None
    from migctl.core.config import no_url_message, validate_url
    from migctl.core.errors import UsageError
    from migctl.core.relational.project import AlembicProject
    from migctl.core.relational.url_probe import url_from_env_py

    url = await asyncio.to_thread(url_from_env_py, AlembicProject(env.alembic))
    if url is None:
        raise UsageError(no_url_message(env))
    return validate_url(url)


def _graph(env: Environment, graphs: dict[Any, asyncio.Future[RevisionGraph]]) -> asyncio.Future[RevisionGraph]:
    """The revision graph, read once for every environment sharing an Alembic project."""
    from migctl.core.relational.project import AlembicProject

    key = env.alembic
    if key not in graphs:
        graphs[key] = asyncio.ensure_future(asyncio.to_thread(AlembicProject(env.alembic).graph))
    return graphs[key]


async def _read(row: EnvironmentRow, service: RelationalService, graph_future: asyncio.Future[RevisionGraph],
                vector: bool) -> None:
    from migctl.core.guard import read_mark
    from migctl.core.lock import read_holder
    from migctl.core.relational.state import current_revisions, drifted

    env = service.environment
    async with service.connection() as conn:
        current = await current_revisions(conn, env.alembic)
        mark = await read_mark(conn)
        holder = await read_holder(service.url, conn)
        # Shielded: a timeout here must not cancel the read other environments wait on too.
        graph = await asyncio.shield(graph_future)
        drift = await drifted(conn, graph, current)
        if vector and env.vector_configured:
            await _read_vector(row, service, conn)
    row.current, row.heads = list(current), list(graph.heads)
    row.pending = len(graph.pending(current))
    row.drifted = len(drift)
    row.lock = f"{holder.who} running {holder.operation}" if holder else None
    if mark is not None:
        row.protected, row.protected_as = True, mark


async def _read_vector(row: EnvironmentRow, service: RelationalService, conn: Any) -> None:
    """Current and pending from the tracking table and the files; a broken vector side says
    so in its own column, the relational columns still stand."""
    from migctl.core.vector import tracking
    from migctl.core.vector.migrator import applied_position
    from migctl.core.vector.service import VectorService
    from migctl.core.vector.settings import vector_settings

    try:
        side = VectorService(service.environment, vector_settings(service.environment), service, ignore)
        chain = await asyncio.to_thread(lambda: side.chain)
        tracked = await tracking.rows(conn)
    except MigctlError as exc:
        row.vector = f"error: {_line(exc)}"
        return
    position = applied_position(chain, tracked)
    row.vector = "ok"
    row.vector_current = chain.versions[position - 1] if position else "base"
    row.vector_pending = len(chain.versions) - position


_closing: set[asyncio.Task[None]] = set()


def _close_later(service: RelationalService) -> None:
    """Close without waiting: after a timeout the connection's thread may still be stuck in the
    driver, and the overview must not wait for it."""
    async def close() -> None:
        with contextlib.suppress(Exception):
            await service.close()

    task = asyncio.ensure_future(close())
    _closing.add(task)
    task.add_done_callback(_closing.discard)


def _line(exc: BaseException) -> str:
    text = scrub(str(exc)).strip()
    return clip(text.splitlines()[0] if text else type(exc).__name__, 200)


def _reason(exc: ConnectionFailed) -> str:
    """The driver's reason without the URL, host and port the row already shows
    (``cannot connect to <url>: connection failed: connection to server at ... failed: X``)."""
    import re

    text = _line(exc)
    head, sep, rest = text.partition(": ")
    if sep and head.startswith("cannot connect to"):
        text = rest
    psycopg = re.search(r"connection to server at .*? failed: (.+)$", text)
    return psycopg[1].strip() if psycopg else text
