"""A throwaway database for ``migctl verify``: created empty, handed over, dropped afterwards.

Where it lives (``verify:`` in migctl.yaml, in the environment's section or at the top level):

* PostgreSQL, by default: a database ``migctl_verify_<hex>`` on the embedded PostgreSQL 18 of
  the environment's state dir, with the extensions the target uses created first (read from
  the target's ``pg_extension`` when it answers, else ``verify: {extensions: [...]}``).
* ``verify: {on: server}``: that database on the target's own server instead, since a
  PostgreSQL 15 target can behave differently from 18 (and its roles exist there). Creating
  it needs the CREATE DATABASE privilege.
* MySQL/MariaDB: a scratch database on the target's server; SQLite: a temporary file.

The target database itself is only read (its extensions and server version). Identifiers
reach SQL through the dialect's quoting; URLs are shown masked.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
import sqlite3
import tempfile
import tomllib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from migctl.core.config import Environment, ensure_state_dir
from migctl.core.errors import ConfigError, ConnectionFailed, OperationFailed, Refused
from migctl.core.events import EventSink, Notice, ignore
from migctl.core.lock import pid_alive
from migctl.core.secrets import mask_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from migctl.core.relational.project import AlembicProject

PLACES = ("embedded", "server")
NAME_PREFIX = "migctl_verify_"
_EXTENSION = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
# A revision that creates an extension itself: verify must not create it first, or that
# revision's downgrade (DROP EXTENSION) reads as removing something that was there before.
_CREATES_EXTENSION = re.compile(r"""create\s+extension\s+(?:if\s+not\s+exists\s+)?["'`]?([A-Za-z_][\w-]*)""",
                                re.IGNORECASE)
log = logging.getLogger("migctl")


@dataclass(frozen=True)
class VerifySettings:
    """``verify:`` of the environment, else of the config file's top level."""

    on: str | None = None  # "embedded" or "server"; None: the default for the target's kind
    extensions: tuple[str, ...] = ()


def _section(environment: Environment, key: str) -> dict[str, Any] | None:
    """``key:`` of the environment's section, else of the top level (as ``check.max_heads``)."""
    path = environment.config_file
    if path is None or not path.is_file():
        return None
    try:
        if path.suffix == ".toml":
            data: Any = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get("migctl", {})
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, ValueError, yaml.YAMLError):
        return None  # loading the environment already read this file; its errors were reported there
    if not isinstance(data, dict):
        return None
    env_section = (data.get("environments") or {}).get(environment.name)
    for section in (env_section, data):
        value = section.get(key) if isinstance(section, dict) else None
        if isinstance(value, dict):
            return value
    return None


def verify_settings(environment: Environment) -> VerifySettings:
    section = _section(environment, "verify") or {}
    where = f"{environment.config_file}: verify"
    on = section.get("on", section.get(True))  # YAML 1.1 reads a bare `on:` key as true
    if on is not None and on not in PLACES:
        raise ConfigError(f"{where}.on must be {' or '.join(PLACES)}, not {str(on)[:40]!r}")
    raw = section.get("extensions") or []
    if not isinstance(raw, list) or not all(isinstance(e, str) and _EXTENSION.fullmatch(e) for e in raw):
        raise ConfigError(f"{where}.extensions must be a list of extension names, e.g. [vector]")
    return VerifySettings(on, tuple(raw))


def extensions_created_by(texts: Iterable[str]) -> set[str]:
    """The extensions revision files create themselves (``CREATE EXTENSION [IF NOT EXISTS] x``)."""
    return {m.group(1).lower() for text in texts for m in _CREATES_EXTENSION.finditer(text)}


@dataclass
class Scratch:
    """A scratch database. ``url`` carries the password (for drivers only, never shown);
    ``description`` names the server, as every verdict does: ``PostgreSQL 18.1 (embedded)``."""

    url: str = field(repr=False)
    description: str = ""
    backend: str = ""  # postgresql, mysql or sqlite
    name: str = ""
    extensions: tuple[str, ...] = ()
    _make: Callable[[], None] = field(default=lambda: None, repr=False)
    _drop: Callable[[], None] = field(default=lambda: None, repr=False)
    _cleanup: Callable[[], None] = field(default=lambda: None, repr=False)  # after the last drop
    _engine: Engine | None = field(default=None, repr=False)
    embedded: bool = False  # on migctl's own embedded server: what the walk leaves there is its to remove
    # PostgreSQL: the server's role names, and dropping some (roles are server-wide: a revision's
    # CREATE ROLE outlives the scratch database).
    _roles: Callable[[], set[str]] | None = field(default=None, repr=False)
    _drop_roles: Callable[[Iterable[str]], list[str]] = field(default=lambda names: [], repr=False)
    roles_before: frozenset[str] | None = None

    def new_roles(self) -> set[str]:
        """The roles made since the scratch database was (PostgreSQL; else none)."""
        if self._roles is None or self.roles_before is None:
            return set()
        return self._roles() - self.roles_before

    def connect(self) -> Connection:
        """A connection in autocommit mode: every read sees what is committed, and no open
        transaction of it holds up Alembic's (CREATE INDEX CONCURRENTLY waits for those)."""
        if self._engine is None:
            self._engine = _engine(self.url)
        conn = _connect(self._engine, self.url)
        if self.backend != "sqlite":  # a file path has no other database to land in
            _ensure_on(conn, self.name, self.url)
        return conn

    def recreate(self) -> None:
        """Drop it and create it again, empty (with its extensions): after a failure left it
        somewhere no known revision describes."""
        self.dispose()
        self._drop()
        if self.embedded:  # the replay creates them again
            self._drop_roles(self.new_roles())
        self._make()

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _engine(url: str) -> Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    from migctl.core.db import with_driver
    from migctl.core.extras import require_driver

    sync = with_driver(url, asynchronous=False)
    require_driver(sync.drivername)
    args = {"connect_timeout": 10} if sync.get_backend_name() in ("postgresql", "mysql", "mariadb") else {}
    return create_engine(sync, poolclass=NullPool, connect_args=args, isolation_level="AUTOCOMMIT")


def _connect(engine: Engine, url: str) -> Connection:
    from migctl.core.db import first_line

    try:
        return engine.connect()
    except Exception as exc:  # drivers raise OSError, their own errors and SQLAlchemy's
        raise ConnectionFailed(f"cannot connect to {mask_url(url)}: {first_line(exc)}") from None


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote(name)


def _render(url: URL) -> str:
    from migctl.core.db import render

    return render(url)


def server_version(conn: Connection) -> str:
    """``PostgreSQL 18.1``, ``MariaDB 11.4.2``, ``MySQL 8.0.36``, ``SQLite 3.45.1``."""
    name = conn.dialect.name
    if name == "postgresql":
        return "PostgreSQL " + str(conn.exec_driver_sql("SHOW server_version").scalar()).split()[0]
    if name in ("mysql", "mariadb"):
        raw = str(conn.exec_driver_sql("SELECT VERSION()").scalar())
        number = raw.split("-")[0]
        return ("MariaDB " if "mariadb" in raw.lower() else "MySQL ") + number
    return f"SQLite {sqlite3.sqlite_version}"


def _target_extensions(target_url: str) -> tuple[str, ...] | None:
    """The target's extensions (not plpgsql), or ``None`` when it does not answer."""
    try:
        engine = _engine(target_url)
        try:
            with _connect(engine, target_url) as conn:
                rows = conn.exec_driver_sql("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' "
                                            "ORDER BY extname").scalars().all()
        finally:
            engine.dispose()
    except Exception as exc:  # noqa: BLE001 - unreachable, or no such catalog: fall back to the config
        from migctl.core.db import first_line

        log.debug("verify: target extensions not read: %s", first_line(exc))
        return None
    return tuple(str(r) for r in rows)


def _wanted_extensions(target_url: str, settings: VerifySettings, skip: set[str], emit: EventSink) -> tuple[str, ...]:
    found = _target_extensions(target_url)
    if found is None:
        listed = ", ".join(settings.extensions) or "none"
        emit(Notice(f"the target database did not answer: creating the extensions verify.extensions lists ({listed})"))
        found = ()
    names = dict.fromkeys((*found, *settings.extensions))
    return tuple(n for n in names if n.lower() not in skip)


@contextlib.contextmanager
def scratch_database(environment: Environment, target_url: str, *, emit: EventSink = ignore,
                     skip_extensions: Iterable[str] = ()) -> Iterator[Scratch]:
    """A new, empty scratch database for ``environment`` (whose database is at ``target_url``),
    dropped when the block ends, however it ends. ``skip_extensions``: extensions the revisions
    create themselves (see :func:`extensions_created_by`), not created first."""
    from sqlalchemy.engine import make_url

    settings = verify_settings(environment)
    target = make_url(target_url)
    backend = target.get_backend_name()
    if backend == "postgresql":
        skip = {e.lower() for e in skip_extensions}
        scratch = (_pg_on_server(target, settings, skip, emit) if settings.on == "server"
                   else _pg_embedded(environment, target, settings, skip, emit))
    elif settings.on == "embedded":
        raise ConfigError(f"{environment.config_file}: verify.on: embedded needs a PostgreSQL target; a {backend} "
                          "target is verified on a scratch database of its own kind")
    elif backend in ("mysql", "mariadb"):
        scratch = _mysql_on_server(target)
    elif backend == "sqlite":
        scratch = _sqlite_file(target)
    else:
        raise ConfigError(f"migctl verify does not support {backend} databases")
    try:
        scratch._make()
        if scratch._roles is not None:
            scratch.roles_before = frozenset(scratch._roles())
        yield scratch
    finally:
        scratch.dispose()
        try:
            try:
                scratch._drop()
                _left_roles(scratch, emit)
            finally:
                scratch._cleanup()
        except Exception as exc:  # noqa: BLE001 - never hide the walk's own outcome behind this
            from migctl.core.db import first_line

            emit(Notice(f"the scratch database {scratch.name} could not be dropped: {first_line(exc)}"))


def _left_roles(scratch: Scratch, emit: EventSink) -> None:
    """Roles the walk's revisions made: dropped on the embedded server; on the target's server
    (``on: server``) they are not verify's to drop, so the operator is told."""
    left = sorted(scratch.new_roles())
    if not left:
        return
    if not scratch.embedded:
        emit(Notice(f"the walk left role(s) on the target's server: {', '.join(left)} (not dropped: "
                    "roles are server-wide; drop them by hand if no one uses them)"))
        return
    kept = scratch._drop_roles(left)
    if kept:
        emit(Notice(f"role(s) the walk made could not be dropped from the embedded server: {', '.join(kept)}"))


def _new_name() -> str:
    return NAME_PREFIX + secrets.token_hex(6)


# Query keys a driver takes as the database name. SQLAlchemy's dialects apply the URL's query
# after its path (psycopg: dbname, asyncpg: database, pymysql/mysqlclient: db, database), so a
# target URL ``.../app?dbname=app`` with its path replaced still names ``app``: the "scratch"
# URL would connect to the target. (A libpq ``service`` stays: an explicit dbname overrides
# the service file's, and every connection checks where it landed anyway.)
_DATABASE_KEYS = frozenset({"dbname", "database", "db"})


def scratch_url(target: URL, name: str) -> URL:
    """``target`` with the database ``name``: the path replaced and every query key that names
    a database removed."""
    query = {k: v for k, v in target.query.items() if k.lower() not in _DATABASE_KEYS}
    return target.set(database=name, query=query)


def env_py_url(project: AlembicProject, url: str) -> str:
    """The scratch URL as the project's env.py gets it (see ``RelationalService.alembic_url``)."""
    from migctl.core.db import render, url_for_env_py
    from migctl.core.extras import require_driver

    parsed, _why = url_for_env_py(url, async_only=project.env_is_async_only)
    require_driver(parsed.drivername)
    return render(parsed)


def connected_to(conn: Connection) -> str | None:
    """The database ``conn`` is connected to (SQLite: its file, as the URL names it)."""
    name = conn.dialect.name
    began = not conn.in_transaction()
    if name == "postgresql":
        where = conn.exec_driver_sql("SELECT current_database()").scalar()
    elif name in ("mysql", "mariadb"):
        where = conn.exec_driver_sql("SELECT DATABASE()").scalar()
    else:
        where = conn.engine.url.database
    if began and conn.in_transaction():  # autobegun by the read: not left open for the caller
        conn.commit()
    return None if where is None else str(where)


def _ensure_on(conn: Connection, name: str, url: str) -> None:
    """Refuse unless ``conn`` is connected to the scratch database ``name``: nothing verify
    runs may land on another database (the target, through a URL the driver read otherwise)."""
    where = connected_to(conn)
    if where != name:
        conn.close()
        raise Refused(f"verify: a connection for the scratch database {name} reached {where!r} instead "
                      f"({mask_url(url)}); nothing was run there")


def _pg_embedded(environment: Environment, target: URL, settings: VerifySettings, skip: set[str],
                 emit: EventSink) -> Scratch:
    from sqlalchemy.engine import make_url

    from migctl.core.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(ensure_state_dir(environment.state_dir))
    if server.status().pid is None:
        emit(Notice("starting the embedded PostgreSQL 18 for verify (a first start takes a few seconds)"))
    server.ensure_running()
    base = make_url(server.url)
    name = _new_name()
    # env.py gets the driver it gets for the target (asyncpg, psycopg...), on the embedded server.
    url = scratch_url(base.set(drivername=target.drivername), name)
    extensions = _wanted_extensions(_render(target), settings, skip, emit)
    return _pg_scratch(_render(base.set(database="postgres")), _render(url), name, extensions, "embedded", emit)


def _pg_on_server(target: URL, settings: VerifySettings, skip: set[str], emit: EventSink) -> Scratch:
    name = _new_name()
    extensions = _wanted_extensions(_render(target), settings, skip, emit)
    return _pg_scratch(_render(target), _render(scratch_url(target, name)), name, extensions, "target's server",
                       emit)


def _privilege_error(exc: BaseException, what: str, url: str, hint: str) -> OperationFailed:
    from migctl.core.db import first_line

    return OperationFailed(f"verify: cannot {what} on {mask_url(url)}: {first_line(exc)}{hint}")


# Who made a scratch database, in its comment: a later verify on the same host drops the ones
# whose process is gone (killed with SIGKILL, or the machine went down mid-walk).
_CREATOR = re.compile(r"migctl verify host=(\S+) pid=(\d+)")


def _creator() -> str:
    return f"migctl verify host={socket.gethostname()} pid={os.getpid()}"


def _literal(conn: Connection, value: str) -> str:
    """``value`` as an SQL string literal, quoted by the dialect (COMMENT takes no parameters)."""
    from sqlalchemy import literal

    return str(literal(value).compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))


def _drop_stale(conn: Connection, force: str, emit: EventSink) -> None:
    """Drop the scratch databases a verify on this host left behind: their comment names this
    host and a process that no longer runs."""
    from sqlalchemy import text

    from migctl.core.db import first_line

    rows = conn.execute(text("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                             "WHERE datname LIKE :pattern"), {"pattern": NAME_PREFIX.replace("_", "\\_") + "%"}).all()
    host = socket.gethostname()
    for datname, comment in rows:
        found = _CREATOR.fullmatch(comment or "")
        if found is None or found.group(1) != host or pid_alive(int(found.group(2))):
            continue
        try:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(conn, datname)}{force}")
        except Exception as exc:  # noqa: BLE001 - someone else's business now; the walk goes on
            emit(Notice(f"a stale scratch database {datname} (left by migctl verify pid {found.group(2)}) could not "
                        f"be dropped: {first_line(exc)}"))
            continue
        emit(Notice(f"dropped the stale scratch database {datname}, left by migctl verify pid {found.group(2)} on "
                    "this host, which no longer runs"))


def _pg_scratch(admin_url: str, scratch_url: str, name: str, extensions: tuple[str, ...], where: str,
                emit: EventSink = ignore) -> Scratch:
    """``admin_url``: a database of the server to issue CREATE/DROP DATABASE from (the scratch
    database's own connections end before it is dropped)."""
    state: dict[str, Any] = {}
    admin = _engine(admin_url)
    hint = ("; grant CREATEDB to the role, or remove verify.on to verify on the embedded PostgreSQL"
            if where != "embedded" else "")

    def make() -> None:
        with _connect(admin, admin_url) as conn:
            state["version"] = server_version(conn)
            state["number"] = conn.dialect.server_version_info or (0,)
            force = " WITH (FORCE)" if tuple(state["number"]) >= (13,) else ""
            if not state.get("swept"):  # once per walk, not at each rebuild
                state["swept"] = True
                _drop_stale(conn, force, emit)
            try:
                conn.exec_driver_sql(f"CREATE DATABASE {_quote(conn, name)}")
            except Exception as exc:  # noqa: BLE001 - a missing privilege is one line
                raise _privilege_error(exc, "create a scratch database", admin_url, hint) from None
            state["created"] = True
            conn.exec_driver_sql(f"COMMENT ON DATABASE {_quote(conn, name)} IS {_literal(conn, _creator())}")
        if extensions:
            engine = _engine(scratch_url)
            try:
                with _connect(engine, scratch_url) as conn:
                    _ensure_on(conn, name, scratch_url)
                    for ext in extensions:
                        try:
                            conn.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {_quote(conn, ext)}")
                        except Exception as exc:  # noqa: BLE001 - not installed there, or no privilege
                            raise _privilege_error(
                                exc, f"create extension {ext} in the scratch database", admin_url,
                                "; the target uses it (or verify.extensions lists it)") from None
            finally:
                engine.dispose()

    def drop() -> None:
        if not state.pop("created", False):
            return
        with _connect(admin, admin_url) as conn:
            force = " WITH (FORCE)" if tuple(state.get("number", (0,))) >= (13,) else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(conn, name)}{force}")

    def roles() -> set[str]:
        with _connect(admin, admin_url) as conn:
            return {str(r) for r in conn.exec_driver_sql("SELECT rolname FROM pg_roles").scalars()}

    def drop_roles(names: Iterable[str]) -> list[str]:
        """Drop each; the names that could not be dropped."""
        kept = []
        with _connect(admin, admin_url) as conn:
            for role in sorted(names):
                try:
                    conn.exec_driver_sql(f"DROP ROLE IF EXISTS {_quote(conn, role)}")
                except Exception as exc:  # noqa: BLE001 - it owns something elsewhere: reported by name
                    log.debug("verify: role %s not dropped: %s", role, exc)
                    kept.append(role)
        return kept

    scratch = Scratch(scratch_url, "", "postgresql", name, extensions, make, drop, admin.dispose,
                      embedded=where == "embedded", _roles=roles, _drop_roles=drop_roles)

    def make_and_describe() -> None:
        make()
        scratch.description = f"{state['version']} ({where})"

    scratch._make = make_and_describe
    return scratch


def _mysql_on_server(target: URL) -> Scratch:
    name = _new_name()
    admin_url = _render(target)
    admin = _engine(admin_url)
    state: dict[str, Any] = {}
    hint = "; grant CREATE and DROP on databases named migctl_verify_% to the user"

    def make() -> None:
        with _connect(admin, admin_url) as conn:
            state["version"] = server_version(conn)
            # The target's character set and collation, so that string columns compare alike.
            row = conn.exec_driver_sql("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                                       "FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = DATABASE()").first()
            options = ""
            if row is not None and all(re.fullmatch(r"\w+", str(v)) for v in row):
                options = f" CHARACTER SET {row[0]} COLLATE {row[1]}"
            try:
                conn.exec_driver_sql(f"CREATE DATABASE {_quote(conn, name)}{options}")
            except Exception as exc:  # noqa: BLE001 - a missing privilege is one line
                raise _privilege_error(exc, "create a scratch database", admin_url, hint) from None
            state["created"] = True
        scratch.description = f"{state['version']} (target's server)"

    def drop() -> None:
        if state.pop("created", False):
            with _connect(admin, admin_url) as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {_quote(conn, name)}")

    scratch = Scratch(_render(scratch_url(target, name)), "", "mysql", name, (), make, drop, admin.dispose)
    return scratch


def _sqlite_file(target: URL) -> Scratch:
    directory = Path(tempfile.mkdtemp(prefix=NAME_PREFIX))
    path = directory / "scratch.db"

    def drop() -> None:
        for leftover in directory.glob("scratch.db*"):  # the database and its -wal/-journal files
            leftover.unlink()

    return Scratch(_render(target.set(database=str(path), query={})),
                   f"SQLite {sqlite3.sqlite_version} (temporary file)", "sqlite", str(path), (),
                   lambda: None, drop, lambda: shutil.rmtree(directory, ignore_errors=True))
