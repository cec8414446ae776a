"""The schema a database should have at a set of heads, and how the live one differs from it.

The reference is a throwaway database (``scratch.py``) brought to the heads by the project's own
env.py, then snapshotted (``schema.capture``). Building one costs an upgrade from base, so it is
kept in the state dir (``verify/schemas/<key>.json``) under a key that changes with any byte of
any revision file it ran: ``status`` reads only the cache (it must stay fast and start nothing),
``status --drift``, ``check --drift`` and a failed run's report build what is missing, and the
verify walk stores its after-upgrade snapshots there too.

The live side is captured with the same exclusions (migctl's tables, the version table), only
in the schemas the reference has (what lives in a schema Alembic never touches is not its
drift), and without the pgvector store's collections and aliases when the store shares the
database: those are the vector side's, not the relational schema's.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.relational.schema import (
    FORMAT,
    Schema,
    SchemaDiff,
    capture,
    compare,
    default_exclusions,
)
from migctl.core.relational.state import file_sha256

if TYPE_CHECKING:
    import sqlalchemy

    from migctl.core.config import AlembicLocation, Environment
    from migctl.core.relational.graph import RevisionGraph
    from migctl.core.relational.project import AlembicProject

log = logging.getLogger("migctl")

# What a pgvector store creates in the database it shares (core/vector/stores/pgvector.py): the
# extension, collections (tables with a vector column) and aliases (views with this comment).
VECTOR_EXTENSION = "vector"
_VECTOR_TYPES = ("vector", "halfvec", "sparsevec")
ALIAS_COMMENT = "migctl alias"  # the same words as core/vector/stores/pgvector_catalog.py

ScratchFactory = Callable[[], AbstractContextManager[str]]


def dialect_key(name: str) -> str:
    """One word per kind of server: MariaDB and MySQL share snapshots' conventions."""
    return "mysql" if name in ("mysql", "mariadb") else name


# -- the cache ---------------------------------------------------------------------------------

class SchemaCache:
    """Snapshots by key under ``<state_dir>/verify/schemas/``, one JSON file each, written whole
    (temporary file, then rename) so a reader never sees half of one."""

    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "verify" / "schemas"

    def path(self, key: str) -> Path:
        if not key or not all(c in "0123456789abcdef" for c in key):
            raise ValueError(f"not a schema key: {key!r}")
        return self.directory / f"{key}.json"

    def empty(self) -> bool:
        """No snapshot at all: ``status`` then skips hashing the revision files for a key."""
        try:
            return not any(p.suffix == ".json" for p in self.directory.iterdir())
        except OSError:
            return True

    def get(self, key: str) -> Schema | None:
        try:
            data = json.loads(self.path(key).read_text(encoding="utf-8"))
            return Schema.from_dict(data["schema"] if isinstance(data, dict) and "schema" in data else data)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # none yet, or unreadable (an older format): built again when asked

    def put(self, key: str, schema: Schema, heads: Iterable[str] = ()) -> None:
        target = self.path(key)
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {"key": key, "heads": sorted(heads), "at": datetime.now(UTC).isoformat(timespec="seconds"),
                "schema": schema.as_dict()}
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".schema-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=1, sort_keys=True)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """Held while a snapshot is built: two commands asking at once build it once."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _ancestor_files(source: Any, heads: tuple[str, ...]) -> list[tuple[str, str]]:
    """(revision, file path) of every ancestor of ``heads`` (the heads included), from a
    :class:`RevisionGraph` or an Alembic ``ScriptDirectory``."""
    if not heads:
        return []
    revision_map = getattr(source, "revision_map", None)
    if revision_map is not None:  # a ScriptDirectory
        try:
            scripts = revision_map._get_ancestor_nodes(revision_map.get_revisions(heads), check=False)
        except Exception as exc:  # noqa: BLE001 - Alembic's RevisionError and friends
            raise ValueError(f"unknown revision among {', '.join(heads)}: {exc}") from None
        return [(s.revision, str(s.path)) for s in scripts]
    unknown = [h for h in heads if h not in source.by_id]
    if unknown:
        raise ValueError(f"unknown revision(s) {', '.join(unknown)}: no file has them")
    return [(rev, str(source.by_id[rev].path)) for rev in source.ancestors(heads)]


def schema_key(source: Any, heads: Iterable[str], dialect: str,
               digests: Mapping[str, str] | None = None) -> str:
    """The cache key of the schema at ``heads``: sha256 over the sorted (revision, file sha256)
    of every ancestor of ``heads``, the dialect and the snapshot format. An edited revision
    file changes it. ``source``: a :class:`RevisionGraph` or a ``ScriptDirectory``; ``digests``:
    sha256 by path already computed (``AlembicProject.file_digests``). ``ValueError`` for a head
    no file has."""
    known = digests or {}
    pairs = sorted((rev, known.get(path) or file_sha256(path)) for rev, path in _ancestor_files(source, tuple(heads)))
    h = hashlib.sha256(f"migctl-schema:{FORMAT}:{dialect_key(dialect)}\n".encode())
    for rev, sha in pairs:
        h.update(f"{rev} {sha}\n".encode())
    return h.hexdigest()


# -- building the reference --------------------------------------------------------------------

def upgrade_scratch(project: AlembicProject, url: str, heads: Iterable[str]) -> None:
    """Bring the empty database at ``url`` to exactly ``heads`` (two unmerged heads are two
    targets, one after the other) in one run of the project's env.py, a transaction per
    revision. Refused unless env.py is connected to that database and finds it empty: an env.py
    that ignores ``sqlalchemy.url`` would otherwise upgrade whatever it connects to. Blocking."""
    from sqlalchemy.engine import make_url

    from migctl.core.errors import Refused
    from migctl.core.relational.plan import compute_steps, heads_after
    from migctl.core.relational.project import ALEMBIC_RUN_LOCK
    from migctl.core.relational.runner import run_env
    from migctl.core.relational.scratch import connected_to, env_py_url

    scratch_name = make_url(url).database
    checked: list[bool] = []

    def check(conn: Any) -> None:
        if conn is None or checked:
            return  # env.py hands Alembic a URL: checked once Alembic has connected (steps)
        checked.append(True)
        where = connected_to(conn)
        if where != scratch_name:
            raise Refused(f"env.py connected to {where!r}, not to the throwaway database: it does not take its "
                          "URL from sqlalchemy.url; the expected schema is not built there")

    with ALEMBIC_RUN_LOCK:
        script = project.script()
        steps: list[Any] = []
        current: tuple[str, ...] = ()
        for head in sorted(heads):
            more = compute_steps(script, "upgrade", head, current)
            steps += more
            current = heads_after(more, current)

        def fn(rev: Any, ctx: Any) -> Iterator[Any]:
            check(ctx.connection)
            if tuple(rev):
                raise Refused(f"the throwaway database is at {', '.join(rev)}, not empty")
            return iter(steps)

        run_env(project, env_py_url(project, url), script, fn, lambda **_kw: None, operation="verify",
                on_configure=check)


def capture_reference(connection: sqlalchemy.engine.Connection, location: AlembicLocation) -> Schema:
    """A throwaway database's snapshot as the cache keeps it: every non-system schema, without
    migctl's tables and the version table (the verify walk stores its snapshots this way too)."""
    return capture(connection, exclude_tables=default_exclusions(location.version_table))


def capture_url(url: str, location: AlembicLocation) -> Schema:
    """:func:`capture_reference` of the database at ``url``."""
    from migctl.core.db import with_driver

    engine = _sync_engine(with_driver(url, asynchronous=False))
    try:
        with engine.connect() as conn:
            return capture_reference(conn, location)
    finally:
        engine.dispose()


def _sync_engine(url: Any) -> sqlalchemy.engine.Engine:
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    return create_engine(url, poolclass=NullPool)


def build_expected(project: AlembicProject, heads: Iterable[str], scratch: ScratchFactory) -> Schema:
    """The schema at ``heads`` on a throwaway database from ``scratch`` (a context manager
    yielding its URL, dropped on exit). Blocking."""
    heads = tuple(heads)
    with scratch() as url:
        upgrade_scratch(project, url, heads)
        return capture_url(url, project.location)


def default_scratch(environment: Environment, url: str, project: AlembicProject) -> ScratchFactory:
    """``migctl verify``'s throwaway database for this environment (``scratch.py``: the embedded
    PostgreSQL, or ``verify: {on: server}``; MySQL/MariaDB and SQLite of their own kind), with the
    target's extensions except those a revision creates itself."""

    @contextlib.contextmanager
    def scratch() -> Iterator[str]:
        from migctl.core.relational.scratch import extensions_created_by, scratch_database

        texts = []
        for node in project.graph().nodes:
            with contextlib.suppress(OSError):
                texts.append(Path(node.path).read_text(encoding="utf-8", errors="replace"))
        with scratch_database(environment, url, skip_extensions=extensions_created_by(texts)) as made:
            yield made.url

    return scratch


def expected_schema(project: AlembicProject, graph: RevisionGraph | Any, heads: Iterable[str], dialect: str,
                    cache: SchemaCache, *, build: bool = False, scratch: ScratchFactory | None = None,
                    digests: Mapping[str, str] | None = None) -> Schema | None:
    """The schema at ``heads``: cached, else (``build``) made on a throwaway database from
    ``scratch`` and cached. ``None`` when not cached and not built. ``digests``: see
    :func:`schema_key` (``None``: the files are hashed as they are now). Blocking."""
    heads = tuple(sorted(heads))
    key = schema_key(graph, heads, dialect, digests)
    found = cache.get(key)
    if found is not None or not build:
        return found
    if scratch is None:
        raise ValueError("no throwaway database to build the expected schema on")
    with cache.building():
        found = cache.get(key)  # another command built it meanwhile
        if found is None:
            found = build_expected(project, heads, scratch)
            cache.put(key, found, heads)
    return found


# -- the live side -----------------------------------------------------------------------------

def vector_store_objects(connection: sqlalchemy.engine.Connection, schema: str) -> list[str]:
    """``schema.name`` of the pgvector store's collections and aliases in ``schema``."""
    from sqlalchemy import bindparam, text

    query = text(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = :schema AND ("
        " (c.relkind IN ('r', 'p') AND EXISTS (SELECT 1 FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        "  WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND t.typname IN :types))"
        " OR (c.relkind = 'v' AND obj_description(c.oid, 'pg_class') = :alias))"
    ).bindparams(bindparam("types", expanding=True))
    rows = connection.execute(query, {"schema": schema, "types": list(_VECTOR_TYPES), "alias": ALIAS_COMMENT})
    return [r[0] for r in rows]


def capture_live(connection: sqlalchemy.engine.Connection, expected: Schema, location: AlembicLocation,
                 vector_schema: str | None = None) -> Schema:
    """The live database as comparable with ``expected``: the same exclusions, the schemas
    ``expected`` has (PostgreSQL), without what the pgvector store in ``vector_schema`` made
    (unless the reference has it too: then Alembic made it)."""
    excluded: list[str] = list(default_exclusions(location.version_table))
    schemas: list[str] | None = None
    if connection.dialect.name == "postgresql":
        schemas = sorted(expected.objects.get("schema", {})) or ["public"]
        if vector_schema and vector_schema in schemas:
            ours = set(expected.objects.get("table", {})) | set(expected.objects.get("view", {}))
            excluded += [name for name in vector_store_objects(connection, vector_schema) if name not in ours]
    return capture(connection, schemas=schemas, exclude_tables=excluded)


def live_diff(expected: Schema, live: Schema, *, vector_store: bool = False) -> SchemaDiff:
    """``compare(expected, live)``; with a pgvector store on this database its extension is
    the vector side's, not drift, when the reference lacks it."""
    diff = compare(expected, live)
    if vector_store and ("extension", VECTOR_EXTENSION) in diff.extra:
        diff = SchemaDiff(diff.missing, tuple(e for e in diff.extra if e != ("extension", VECTOR_EXTENSION)),
                          diff.changed)
    return diff


def compare_live(connection: sqlalchemy.engine.Connection, expected: Schema, location: AlembicLocation,
                 vector_schema: str | None = None) -> SchemaDiff:
    """How the live database differs from ``expected`` (blocking, on ``connection``)."""
    live = capture_live(connection, expected, location, vector_schema)
    return live_diff(expected, live, vector_store=vector_schema is not None)


def drift_report(diff: SchemaDiff, heads: Collection[str], expected: Schema) -> dict[str, Any]:
    """``status``'s ``schema_drift``: the diff's dict, with where it was compared and its lines."""
    return {**diff.as_dict(), "at": sorted(heads), "differs": not diff.empty, "summary": diff.summary(),
            "lines": diff.lines(), "reference": expected.server}
