"""``migctl verify``: each revision upgraded, downgraded and upgraded again on a scratch database.

For every revision R, in graph order (each after its down revisions; merges and branches
included): snapshot S0, upgrade R alone, snapshot S1, downgrade R alone, compare with S0,
upgrade R again, compare with S1. A snapshot is the schema read from the catalogs
(``core.relational.schema``) plus the version table's rows, read on a connection of its own.

Speed: the whole walk is one run of the project's env.py. Alembic takes each step from the
``fn`` generator only after the previous step's transaction has ended (migctl forces a
transaction per revision), so the generator yields ``up R``, reads S1 (committed), yields
``down R`` and so on. When a step fails, env.py ends: the verdict is recorded, the database
is compared with the snapshot of where it should be, and when it is not there (an
``autocommit_block`` committed part of a failed step, a failed re-upgrade) the scratch database
is created again and brought to the revisions applied so far; a new env.py run goes on from
the next revision.

Verdicts (``core.relational.assessment``): ``ok``; ``upgrade fails``; ``downgrade fails`` (the
database's error; a downgrade raising NotImplementedError is one); ``downgrade incomplete``
(what differs from S0); ``not transactional, half-commits on failure`` (the downgrade failed
and the database no longer matches S1); ``upgrade after downgrade differs``. A revision whose
ancestor fails to upgrade cannot be reached: its verdict is ``upgrade fails`` with the detail
``not reached: ancestor X fails to upgrade``, and it is not cached (it says nothing of its own
file).

``--range A:B`` selects the revisions that are descendants of A and ancestors of B, both ends
included (as ``alembic history -r A:B`` reads it); an empty side (or ``base``, ``heads``) is
open. Verdicts are kept by file digest (``VerdictCache``): a later walk verifies only
revisions without one for their current bytes, and only upgrades through the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.config import Environment
from migctl.core.errors import MigctlError, OperationFailed, Refused, UsageError
from migctl.core.events import EventSink, Notice, VerifyProgress
from migctl.core.relational.assessment import (
    DOWNGRADE_FAILS,
    DOWNGRADE_INCOMPLETE,
    HALF_COMMITS,
    OK,
    REUPGRADE_DIFFERS,
    UPGRADE_FAILS,
    Verdict,
)
from migctl.core.relational.graph import RevisionGraph
from migctl.core.relational.project import ALEMBIC_RUN_LOCK, AlembicProject
from migctl.core.relational.runner import StopFlag
from migctl.core.relational.state import file_sha256
from migctl.core.relational.verdict_cache import VerdictCache, backend_of
from migctl.core.secrets import clip

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from migctl.core.relational.schema import Schema
    from migctl.core.relational.scratch import Scratch

log = logging.getLogger("migctl")

# How the summary counts each state, in this order.
SHORT = {OK: "ok", DOWNGRADE_FAILS: "downgrade fails", DOWNGRADE_INCOMPLETE: "downgrade incomplete",
         HALF_COMMITS: "half-commits", UPGRADE_FAILS: "upgrade fails", REUPGRADE_DIFFERS: "re-upgrade differs"}
NOT_REACHED = "not reached"
MIN_PREFIX = 4


@dataclass(frozen=True)
class VerifyResult:
    """The verdicts of the revisions in range, in graph order (oldest first)."""

    verdicts: tuple[Verdict, ...]
    cached: frozenset[str] = frozenset()  # those read from the cache
    not_reached: frozenset[str] = frozenset()  # an ancestor fails to upgrade
    server: str = ""  # where this walk ran; "" when every verdict was cached
    seconds: float = 0.0
    interrupted: bool = False
    selected: int = 0  # revisions in range (more than the verdicts when interrupted)

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts) and not self.interrupted

    def counts(self) -> dict[str, int]:
        return count_verdicts(self.verdicts, self.not_reached)

    @property
    def servers(self) -> str:
        return self.server or servers_of(self.verdicts, "no server")

    def summary(self) -> str:
        """``12 revisions: 9 ok, 1 downgrade fails, ...; 0 cached; PostgreSQL 18.1 (embedded); 3.2 s``"""
        counts = self.counts()
        shown = [f"{n} {label}" for label, n in counts.items() if n or label == "ok"]
        n = self.selected or len(self.verdicts)
        head = f"{n} revision{'' if n == 1 else 's'}: {', '.join(shown)}"
        if self.interrupted:
            head += f", {n - len(self.verdicts)} not verified (interrupted)"
        return f"{head}; {len(self.cached)} cached; {self.servers}; {self.seconds:.1f} s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "verdicts": [{**v.as_dict(), "cached": v.revision in self.cached,
                          "not_reached": v.revision in self.not_reached} for v in self.verdicts],
            "summary": {"revisions": self.selected or len(self.verdicts), "counts": self.counts(),
                        "cached": len(self.cached), "server": self.servers, "seconds": round(self.seconds, 3),
                        "interrupted": self.interrupted, "text": self.summary()},
        }


# -- which revisions ------------------------------------------------------------------------------
def count_verdicts(verdicts: Iterable[Verdict], not_reached: Collection[str]) -> dict[str, int]:
    """How many of each verdict, in the order a summary names them (shared with the vector side)."""
    counts = dict.fromkeys([*SHORT.values(), NOT_REACHED], 0)
    for v in verdicts:
        counts[NOT_REACHED if v.revision in not_reached else SHORT.get(v.state, v.state)] += 1
    return counts


def servers_of(verdicts: Iterable[Verdict], none: str) -> str:
    """The servers the verdicts were obtained on, each once, in order."""
    return ", ".join(dict.fromkeys(v.server for v in verdicts if v.server)) or none


def _resolve(graph: RevisionGraph, text: str, where: str) -> str:
    text = text.strip()
    if text in graph.by_id:
        return text
    for node in graph.nodes:  # a branch label names its branch's head... of its own revisions
        if text in node.branch_labels:
            return node.id
    if len(text) < MIN_PREFIX:
        raise UsageError(f"--range {where}: unknown revision {clip(text, 40)!r} (a prefix needs {MIN_PREFIX}+ "
                         "characters)")
    found = [r for r in graph.by_id if r.startswith(text)]
    if len(found) != 1:
        what = "unknown revision" if not found else f"ambiguous prefix ({', '.join(sorted(found)[:3])}...)"
        raise UsageError(f"--range {where}: {what} {clip(text, 40)!r}")
    return found[0]


def _descendants(graph: RevisionGraph, revision: str) -> set[str]:
    children: dict[str, list[str]] = {}
    for node in graph.nodes:
        for parent in (*node.down_revisions, *node.depends_on):
            children.setdefault(parent, []).append(node.id)
    seen: set[str] = set()
    stack = [revision]
    while stack:
        rev = stack.pop()
        if rev not in seen:
            seen.add(rev)
            stack.extend(children.get(rev, ()))
    return seen


def select_revisions(graph: RevisionGraph, revision_range: str | None) -> list[str]:
    """The revisions ``--range A:B`` names, oldest first (see the module's docstring)."""
    order = [n.id for n in reversed(graph.nodes)]
    if not revision_range:
        return order
    if revision_range.count(":") != 1:
        raise UsageError(f"--range {clip(revision_range, 40)!r}: expected A:B (either side may be empty)")
    lower, upper = (part.strip() for part in revision_range.split(":"))
    keep = set(order)
    if upper not in ("", "head", "heads"):
        keep &= graph.ancestors([_resolve(graph, upper, revision_range)])
    if lower not in ("", "base"):
        keep &= _descendants(graph, _resolve(graph, lower, revision_range))
    if not keep:
        raise UsageError(f"--range {clip(revision_range, 80)}: selects no revision ({lower} is not an ancestor of "
                         f"{upper})")
    return [r for r in order if r in keep]


# -- the walk ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _State:
    schema: Schema
    versions: tuple[str, ...]


class _OwnError(Exception):
    """A failure of verify's own work inside env.py's run (a snapshot), not of a revision."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


def describe(exc: BaseException) -> str:
    """The database's error, one line; a Python error keeps its type (``NotImplementedError``)."""
    from sqlalchemy.exc import SQLAlchemyError

    from migctl.core.db import first_line

    text = first_line(exc)
    if not isinstance(exc, SQLAlchemyError) and getattr(exc, "orig", None) is None:
        name = type(exc).__name__
        text = name if text in ("", name) else f"{name}: {text}"
    return clip(text)


@dataclass
class _Walk:
    project: AlembicProject
    script: Any
    graph: RevisionGraph
    scratch: Scratch
    env_url: str
    order: list[str]  # what to apply, in Alembic's order
    todo: set[str]  # what to verify
    digests: dict[str, str]
    emit: EventSink
    stop: StopFlag
    at: str
    total: int
    pos: int = 0
    applied: list[str] = field(default_factory=list)  # on the scratch database now, in order applied
    heads: tuple[str, ...] = ()  # the version table, as Alembic keeps it
    snapshot: _State | None = None  # the database now, when known
    restore: list[str] = field(default_factory=list)  # to apply first, after the database was recreated
    failed_up: set[str] = field(default_factory=set)
    blocked: dict[str, str] = field(default_factory=dict)  # revision -> the ancestor that fails to upgrade
    why: dict[str, str] = field(default_factory=dict)  # ancestor -> why it blocks, when not its own upgrade
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    phase: str = ""  # the step running: restore, through, up, down, reup
    current: str = ""
    started: float = 0.0
    s0: _State | None = None
    s1: _State | None = None
    pending: tuple[str, str] | None = None  # (state, detail) found before the re-upgrade
    reset_needed: bool = False
    last_clean: _State | None = None  # the last state a revision verified ok left (kept as a reference)
    checked: bool = False  # this env.py run's connection is the scratch database's
    _conn: Connection | None = None

    # -- snapshots --------------------------------------------------------------------------
    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.scratch.connect()
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def capture(self) -> _State:
        from sqlalchemy import Column, MetaData, String, Table, select
        from sqlalchemy.exc import DBAPIError

        from migctl.core.relational.schema import Schema, capture, default_exclusions

        location = self.project.location
        try:
            conn = self._connection()
            schema = capture(conn, exclude_tables=default_exclusions(location.version_table))
            if conn.dialect.name == "postgresql":
                # Roles are server-wide, not in a database's schema, but a revision makes them: a
                # downgrade that leaves one makes the next upgrade fail ("already exists").
                roles = conn.exec_driver_sql("SELECT rolname FROM pg_roles").scalars().all()
                schema = Schema(schema.dialect, schema.server, {**schema.objects, "role": dict.fromkeys(roles, "")})
            table = Table(location.version_table, MetaData(), Column("version_num", String(32)),
                          schema=location.version_table_schema)
            try:
                versions = tuple(sorted(conn.execute(select(table.c.version_num)).scalars().all()))
            except DBAPIError:  # no version table yet (autocommit: the error ends nothing)
                versions = ()
        except Exception as exc:
            raise _OwnError(exc) from exc
        return _State(schema, versions)

    @staticmethod
    def difference(expected: _State, actual: _State) -> str:
        """What differs, in a few words; "" when nothing does."""
        from migctl.core.relational.schema import compare

        parts = []
        diff = compare(expected.schema, actual.schema)
        if not diff.empty:
            parts.append(diff.summary(limit=3))
        if expected.versions != actual.versions:
            parts.append(f"the version table says {', '.join(actual.versions) or 'nothing'}, not "
                         f"{', '.join(expected.versions) or 'nothing'}")
        return "; ".join(parts)

    # -- verdicts ---------------------------------------------------------------------------
    def record(self, revision: str, state: str, detail: str = "", *, seconds: float | None = None) -> None:
        sha = self.digests.get(revision)
        if sha is None:
            path = self.script.get_revision(revision).path
            sha = self.project.file_digests.get(str(path)) or file_sha256(path)
        took = time.monotonic() - self.started if seconds is None else seconds
        verdict = Verdict(revision, state, clip(detail), sha, self.scratch.description, round(took, 4), self.at)
        self.verdicts[revision] = verdict
        if revision in self.todo:
            self.emit(VerifyProgress(sum(1 for r in self.verdicts if r in self.todo), self.total, revision, state,
                                     verdict.detail, verdict.seconds))

    def _fails_to_upgrade(self, revision: str) -> None:
        """``revision``'s upgrade fails: none of its descendants still to come can be reached."""
        self.failed_up.add(revision)
        for rev in self.order[self.pos:]:
            node = self.graph.by_id.get(rev)
            for parent in (*node.down_revisions, *node.depends_on) if node else ():
                cause = parent if parent in self.failed_up else self.blocked.get(parent)
                if cause is not None:
                    self.blocked[rev] = cause
                    break

    # -- Alembic's side ---------------------------------------------------------------------
    def _step(self, revision: str, up: bool) -> Any:
        from alembic.runtime.migration import RevisionStep

        return RevisionStep(self.script.revision_map, self.script.get_revision(revision), up)

    def on_apply(self, *, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        self.heads = tuple(sorted(heads))

    def check_connection(self, conn: Any) -> None:
        """When env.py configures Alembic, before Alembic touches its connection: refuse unless
        it is connected to the scratch database (an env.py that ignores ``sqlalchemy.url`` would
        otherwise migrate whatever it connects to, the target itself perhaps)."""
        if conn is None:  # env.py hands Alembic a URL: checked once Alembic has connected (steps)
            return
        from migctl.core.relational.scratch import connected_to

        self.checked = True
        where = connected_to(conn)
        if where != self.scratch.name:
            raise Refused(f"env.py connected to {where!r}, not to the scratch database: it does not take its URL "
                          "from sqlalchemy.url; verify refuses to run its revisions there")

    def steps(self, heads: Any, ctx: Any) -> Iterator[Any]:
        if not self.checked:
            self.check_connection(ctx.connection)
        if getattr(ctx, "_in_external_transaction", False):  # the snapshots read committed state
            raise UsageError("env.py runs every revision in one transaction of its own (engine.begin()); verify "
                             "needs Alembic's transaction per revision: use connect() and context.begin_transaction()")
        if tuple(sorted(heads)) != self.heads:
            raise _OwnError(RuntimeError(f"the scratch database is at {', '.join(heads) or 'base'}, expected "
                                         f"{', '.join(self.heads) or 'base'}"))
        self.phase = "restore"
        while self.restore:
            self.current = self.restore[0]
            yield self._step(self.current, True)
            self.restore.pop(0)
        while self.pos < len(self.order):
            if self.stop.is_set():
                return
            rev = self.current = self.order[self.pos]
            self.started = time.monotonic()
            if rev in self.blocked:
                self._not_reached(rev)
                self.pos += 1
                continue
            if rev not in self.todo:
                self.phase = "through"
                yield self._step(rev, True)
                self.applied.append(rev)
                self.snapshot = None
                self.pos += 1
                continue
            self.s0 = self.snapshot or self.capture()
            self.snapshot = None
            self.phase = "up"
            yield self._step(rev, True)
            self.applied.append(rev)
            self.s1 = self.capture()
            self.phase = "down"
            yield self._step(rev, False)
            self.applied.remove(rev)
            left = self.difference(self.s0, self.capture())
            self.pending = (DOWNGRADE_INCOMPLETE, left) if left else None
            self.phase = "reup"
            yield self._step(rev, True)
            self.applied.append(rev)
            s3 = self.capture()
            differs = self.difference(self.s1, s3)
            state, detail = self.pending or ((REUPGRADE_DIFFERS, differs) if differs else (OK, ""))
            self.record(rev, state, detail)
            if state == OK:
                self.last_clean = s3
            self.pos += 1
            if differs:  # not where a clean upgrade leaves it: start again from a new database
                self.reset_needed = True
                return
            self.snapshot = s3

    def failed(self, exc: BaseException) -> None:
        """A step raised and env.py ended: the verdict, and whether the database must be rebuilt."""
        rev, error = self.current, describe(exc)
        self.pos += 1
        if self.phase == "through":  # no snapshot was taken before it: rebuild rather than guess
            self.record(rev, UPGRADE_FAILS, error)
            self._fails_to_upgrade(rev)
            self.reset_needed = True
        elif self.phase == "up":
            assert self.s0 is not None
            left = self.difference(self.s0, self.capture())
            self.record(rev, UPGRADE_FAILS, f"{error}; part of it committed: {left}" if left else error)
            self._fails_to_upgrade(rev)
            if left:
                self.reset_needed = True
            else:
                self.snapshot = self.s0
        elif self.phase == "down":
            assert self.s1 is not None
            left = self.difference(self.s1, self.capture())
            if left:
                self.record(rev, HALF_COMMITS, f"{error}; part of it committed: {left}")
                self.reset_needed = True
            else:
                self.record(rev, DOWNGRADE_FAILS, error)
                self.snapshot = self.s1
        elif self.phase == "reup":
            state, detail = self.pending or (REUPGRADE_DIFFERS, f"the upgrade after the downgrade fails: {error}")
            self.record(rev, state, detail)
            self.applied.append(rev)  # where a clean walk stands after it
            self.reset_needed = True
        elif self.phase == "restore":
            self.pos -= 1  # no revision of the order was started
            self._not_replayable(rev, error)
        else:
            raise OperationFailed(f"verify: the scratch database could not be brought back to "
                                  f"{', '.join(self.applied) or 'base'}: revision {rev} fails to upgrade: {error}")

    def _not_replayable(self, revision: str, error: str) -> None:
        """Replaying ``revision`` on the rebuilt database failed (it upgraded once, in this walk:
        something it leaves outside the database, a role, makes a second upgrade fail). It and
        its descendants leave the replay; those still to come are not reached; the rest of the
        graph goes on, on a database rebuilt without them."""
        gone = _descendants(self.graph, revision)
        self.applied = [r for r in self.applied if r not in gone]
        self.failed_up.add(revision)
        self.why[revision] = f"ancestor {revision} fails to upgrade again on a rebuilt scratch database: {error}"
        for rev in self.order[self.pos:]:
            if rev in gone:
                self.blocked[rev] = revision
        self.emit(Notice(f"verify: revision {revision} could not be applied again on the rebuilt scratch database "
                         f"({error}); its descendants are not reached"))
        self.reset_needed = True

    def rebuild(self) -> None:
        self.close()
        self.scratch.recreate()
        self.restore = list(self.applied)
        self.heads = ()
        self.snapshot = None
        self.reset_needed = False

    def run(self) -> None:
        from migctl.core.db import first_line

        try:
            self._run()
        except _OwnError as exc:
            raise OperationFailed(f"verify: reading the scratch database failed: {first_line(exc.error)}",
                                  detail=repr(exc.error)) from None

    def _run(self) -> None:
        from migctl.core.db import first_line
        from migctl.core.relational.runner import run_env

        while True:
            self.phase = ""
            self.checked = False
            try:
                run_env(self.project, self.env_url, self.script, self.steps, self.on_apply, operation="verify",
                        on_configure=self.check_connection)
            except (_OwnError, MigctlError):
                raise
            except Exception as exc:  # a revision's step failed (or env.py before any step)
                if not self.phase:
                    raise OperationFailed(f"verify: env.py failed on the scratch database: {first_line(exc)}") from None
                log.debug("verify: %s %s failed: %s", self.current, self.phase, describe(exc))
                self.failed(exc)
            if self.stop.is_set() or (self.pos >= len(self.order) and not self.reset_needed):
                return
            if self.reset_needed:
                rest = self.order[self.pos:]
                if all(r in self.blocked for r in rest):  # nothing left to reach: no need to rebuild
                    for rev in rest:
                        self._not_reached(rev)
                    return
                self.rebuild()

    def _not_reached(self, revision: str) -> None:
        if revision in self.todo:
            cause = self.blocked[revision]
            self.record(revision, UPGRADE_FAILS, f"{NOT_REACHED}: {self.why.get(cause, f'ancestor {cause} fails to upgrade')}",
                        seconds=0.0)


def run_verify(environment: Environment, target_url: str, project: AlembicProject, *,
               revision_range: str | None = None, force: bool = False,
               emit: EventSink, stop: StopFlag | None = None) -> VerifyResult:
    """The walk, blocking (run it in a worker thread). ``target_url``: the environment's database,
    only read (its extensions and server); the walk runs on a scratch database."""
    from migctl.core.relational.scratch import (
        env_py_url,
        extensions_created_by,
        scratch_database,
        verify_settings,
    )

    began = time.monotonic()
    stop = stop or StopFlag()
    verify_settings(environment)  # a mistake in verify: is reported before anything is done
    graph = project.graph(environment.state_dir / "cache")
    selected = select_revisions(graph, revision_range) if len(graph) else []
    paths = {r: graph.by_id[r].path for r in selected}
    digests = {r: file_sha256(p) for r, p in paths.items()}
    cache = VerdictCache(environment.state_dir)
    cached = {} if force else cache.for_files(paths, {str(paths[r]): d for r, d in digests.items()},
                                              backend=backend_of(target_url))
    todo = [r for r in selected if r not in cached]
    if not todo:
        return VerifyResult(tuple(cached[r] for r in selected), frozenset(cached), seconds=time.monotonic() - began,
                            selected=len(selected))
    emit(Notice(f"verifying {len(todo)} revision(s) up, down and up again; {len(cached)} cached"))
    with ALEMBIC_RUN_LOCK:
        from migctl.core.relational.plan import compute_steps

        script = project.script()
        alembic_order = [step.revision.revision for step in compute_steps(script, "upgrade", "heads", ())]
        needed = graph.ancestors(todo)
        order = [r for r in alembic_order if r in needed]
        texts = _texts(graph.by_id[r].path for r in order if r in graph.by_id)
        fresh: dict[str, Verdict] = {}
        walk: _Walk | None = None
        try:
            with scratch_database(environment, target_url, emit=emit,
                                  skip_extensions=extensions_created_by(texts)) as scratch:
                emit(Notice(f"scratch database on {scratch.description}"))
                walk = _Walk(project, script, graph, scratch, env_py_url(project, scratch.url), order, set(todo),
                             digests, emit, stop, datetime.now(UTC).isoformat(timespec="seconds"), len(todo))
                try:
                    walk.run()
                finally:
                    walk.close()
        finally:
            if walk is not None:
                fresh = walk.verdicts
                keep = [v for r, v in fresh.items() if r not in walk.blocked]
                cache.put_many(keep)  # what was learned stays learned, even when the walk broke off
    assert walk is not None
    if walk.last_clean is not None:
        _keep_reference(environment, graph, walk.last_clean, {str(paths[r]): d for r, d in digests.items()})
    verdicts = [fresh.get(r) or cached[r] for r in selected if r in fresh or r in cached]
    return VerifyResult(tuple(verdicts), frozenset(r for r in cached if r not in fresh),
                        frozenset(r for r in walk.blocked if r in fresh), walk.scratch.description,
                        time.monotonic() - began, interrupted=stop.is_set() and len(verdicts) < len(selected),
                        selected=len(selected))


def _keep_reference(environment: Environment, graph: RevisionGraph, state: _State,
                    walked: Mapping[str, str]) -> None:
    """The schema the walk ended at, kept as the expected schema at those revisions: a database
    at the heads then has its drift read by ``status`` without a throwaway build."""
    from migctl.core.relational.expected import SchemaCache, schema_key
    from migctl.core.relational.schema import Schema

    schema = state.schema
    reference = Schema(schema.dialect, schema.server, {k: v for k, v in schema.objects.items() if k != "role"})
    try:
        # The bytes the walk ran (``walked``, by path), so the key names what the schema came from.
        digests = {str(n.path): walked.get(str(n.path)) or file_sha256(n.path) for n in graph.nodes}
        SchemaCache(environment.state_dir).put(schema_key(graph, state.versions, schema.dialect, digests),
                                               reference, state.versions)
    except (OSError, ValueError) as exc:  # a courtesy: the verdicts stand without it
        log.debug("the walk's schema was not kept as a reference: %s", exc)


def _texts(paths: Iterable[Path]) -> list[str]:
    out = []
    for path in paths:
        try:
            out.append(Path(path).read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
    return out


async def verify(environment: Environment, target_url: str, project: AlembicProject, sink: EventSink, *,
                 revision_range: str | None = None, force: bool = False) -> VerifyResult:
    """:func:`run_verify` in a worker thread, its events handed to ``sink`` on the loop. Ctrl-C
    finishes the running step, stops, and drops the scratch database before returning."""
    from migctl.core.relational.service import ThreadEvents

    events = ThreadEvents(asyncio.get_running_loop(), sink)
    stop = StopFlag()
    work: asyncio.Future[VerifyResult] = asyncio.ensure_future(asyncio.to_thread(
        run_verify, environment, target_url, project, revision_range=revision_range, force=force,
        emit=events.emit, stop=stop))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        stop.set()
        sink(Notice("interrupted: finishing the running step, then dropping the scratch database"))
        await work
        raise
    finally:
        events.flush()


