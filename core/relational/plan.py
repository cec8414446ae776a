"""Plans: what an upgrade, downgrade or stamp will do, computed without touching anything.

A plan carries its ordered steps, the offline SQL of exactly those steps, and flags for
non-transactional steps (``autocommit_block``) and destructive statements. Execution later
recomputes the steps under the migration lock and refuses to run anything else.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from migctl.core.errors import UsageError
from migctl.core.relational.assessment import LintFinding, Verdict
from migctl.core.relational.project import ALEMBIC_RUN_LOCK, AlembicProject, honour_version_table

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

DESTRUCTIVE_SQL = re.compile(
    r"^\s*(DROP\s+(TABLE|SCHEMA|DATABASE|MATERIALIZED\s+VIEW)\b[^;]*|ALTER\s+TABLE\s+[^;]*?\bDROP\s+(COLUMN\s+)?(?!CONSTRAINT|DEFAULT|NOT\b)\w[^;]*|TRUNCATE\b[^;]*)",
    re.IGNORECASE | re.MULTILINE,
)
_STEP_MARKER = re.compile(r"^-- Running (?P<log>.+)$", re.MULTILINE)
_RELATIVE = re.compile(r"^[+-]\d+$")


@dataclass(frozen=True)
class PlanStep:
    """One revision applied, reverted or stamped."""

    revision: str
    direction: str  # "up", "down" or "stamp"
    message: str
    path: str | None = None
    non_transactional: bool = False
    destructive: tuple[str, ...] = ()
    sql: str = ""
    render_error: str | None = None  # why this step's offline SQL could not be rendered
    verdict: Verdict | None = None  # from ``migctl verify``, for this file's bytes; None: not verified
    lint: tuple[LintFinding, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.revision, self.direction)

    @property
    def broken(self) -> bool:
        """Verified as failing in this step's direction: running it needs --allow-broken."""
        return self.verdict is not None and self.verdict.breaks(self.direction)


@dataclass(frozen=True)
class Plan:
    """Everything a shell shows before asking; ``execute`` runs exactly ``steps``."""

    action: str  # "upgrade", "downgrade" or "stamp"
    target: str
    current: tuple[str, ...]
    after: tuple[str, ...]
    steps: tuple[PlanStep, ...]
    purge: bool = False
    sql: str | None = None
    environment: str = ""
    url: str = ""
    protected: bool = False
    protected_as: str | None = None  # the name to confirm: the database's mark, else the environment's
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Alembic's own step objects, reused by the runner when the database is where the plan
    # started (computing them is the costly part of a long chain).
    alembic_steps: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    analysed: bool = True  # False: offline SQL not generated, so destructive statements unknown

    @property
    def empty(self) -> bool:
        return not self.steps and not self.purge and set(self.after) == set(self.current)

    @property
    def destructive(self) -> tuple[str, ...]:
        return tuple(s for step in self.steps for s in step.destructive)

    @property
    def non_transactional(self) -> tuple[PlanStep, ...]:
        return tuple(s for s in self.steps if s.non_transactional)

    @property
    def broken_steps(self) -> tuple[PlanStep, ...]:
        return tuple(s for s in self.steps if s.broken)

    @property
    def confirm_name(self) -> str:
        """What an operator types to confirm a change to a protected database."""
        return self.protected_as or self.environment

    @property
    def mutates_schema(self) -> bool:
        return any(s.direction in ("up", "down") for s in self.steps)

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "target": self.target,
            "environment": self.environment,
            "url": self.url,
            "current": list(self.current),
            "after": list(self.after),
            "purge": self.purge,
            "steps": [
                {
                    "revision": s.revision,
                    "direction": s.direction,
                    "message": s.message,
                    "non_transactional": s.non_transactional,
                    "destructive": list(s.destructive),
                    "lint": [f.as_dict() for f in s.lint],
                }
                for s in self.steps
            ],
            "destructive": list(self.destructive) if self.analysed else None,
            "analysed": self.analysed,
            "notes": list(self.notes),
            "sql": self.sql,
        }


class _Absorb:
    """Stands in for the version table's SQL constructs: HeadMaintainer builds an INSERT,
    UPDATE or DELETE per step, which only the real run needs."""

    def __getattr__(self, _name: str) -> _Absorb:
        return self

    def __call__(self, *_a: Any, **_k: Any) -> _Absorb:
        return self

    def __eq__(self, _other: object) -> _Absorb:  # type: ignore[override]
        return self

    __hash__ = object.__hash__


class _HeadsOnly:
    """Just enough of a MigrationContext for Alembic's HeadMaintainer to track heads."""

    as_sql = True

    def __init__(self) -> None:
        self.impl = _Absorb()
        self._version = _Absorb()


def heads_after(steps: list[Any], current: tuple[str, ...]) -> tuple[str, ...]:
    """The version table's contents after ``steps``, by Alembic's own bookkeeping."""
    from alembic.runtime.migration import HeadMaintainer

    maintainer = HeadMaintainer(_HeadsOnly(), current)  # type: ignore[arg-type]
    for step in steps:
        maintainer.update_to_step(step)
    return tuple(sorted(maintainer.heads))


def steps_done(steps: list[Any], current: tuple[str, ...], version_table: tuple[str, ...]) -> int | None:
    """How many of ``steps`` (from ``current``) the version table's rows say are done: the
    first prefix that leaves Alembic's bookkeeping there; ``None`` when none does."""
    from alembic.runtime.migration import HeadMaintainer

    want = set(version_table)
    maintainer = HeadMaintainer(_HeadsOnly(), current)  # type: ignore[arg-type]
    if set(maintainer.heads) == want:
        return 0
    for n, step in enumerate(steps, 1):
        maintainer.update_to_step(step)
        if set(maintainer.heads) == want:
            return n
    return None


def shown(target: str, limit: int = 80) -> str:
    """A target as messages echo it: quoted, and cut short (a 5,000-character target made a
    10,000-character error line)."""
    return repr(target if len(target) <= limit else target[:limit] + "...")


def _alembic_error(exc: Exception, target: str) -> UsageError:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if len(text) > 200:
        text = text[:200] + "..."
    return UsageError(f"target {shown(target)}: {text}")


def compute_steps(script: ScriptDirectory, action: str, target: str, current: tuple[str, ...]) -> list[Any]:
    """Alembic's own step list for the action, as its ``command`` module would compute it."""
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    if action == "upgrade" and target.startswith("-") and _RELATIVE.match(target):
        raise UsageError(f"target {shown(target)}: upgrade takes +N; use downgrade {target}")
    if action == "downgrade" and target.startswith("+") and _RELATIVE.match(target):
        raise UsageError(f"target {shown(target)}: downgrade takes -N; use upgrade {target}")
    if not target.strip():
        raise UsageError(f"{action} needs a target revision")
    _check_target(script, target)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "multiple heads": the plan shows what happens
            if action == "upgrade":
                return script._upgrade_revs(target, current)
            if action == "downgrade":
                return script._downgrade_revs(target, current)
            if action == "stamp":
                from alembic import util

                return script._stamp_revs(util.to_tuple(target), current)
    except (CommandError, RevisionError) as exc:
        raise _alembic_error(exc, target) from None
    except (AssertionError, ValueError, KeyError) as exc:  # Alembic asserts on some malformed targets
        raise UsageError(f"target {shown(target)} is not a revision, head(s), base, +N/-N or branch@rev"
                         + (f" ({exc})" if str(exc) else "")) from None
    raise UsageError(f"unknown action {action!r}")


MIN_PREFIX = 4  # README: a unique prefix of 4+ characters


def _check_target(script: ScriptDirectory, target: str) -> None:
    """Resolve a named target up front: Alembic's step functions turn an ambiguous prefix
    into "Can't locate revision", which hides the real problem from the operator."""
    from alembic.script.revision import RevisionError

    known = getattr(script.revision_map, "_revision_map", {})  # full ids and branch labels
    for part in re.sub(r"[+-]\d+$", "", target).split("@"):
        if part not in ("", "head", "heads", "base") and len(part) < MIN_PREFIX and part not in known:
            raise UsageError(f"target {shown(target)}: a revision prefix needs at least {MIN_PREFIX} characters "
                             "(a short one matches more revisions as the project grows)")
    if target in ("head", "heads", "base") or re.search(r"[+-]\d+$", target):
        return
    try:
        script.revision_map.get_revisions(target)
    except RevisionError as exc:
        raise _alembic_error(exc, target) from None
    except (AssertionError, ValueError, KeyError):
        pass  # compute_steps reports it with Alembic's own reading of the target


def step_key(step: Any) -> tuple[str, str]:
    from alembic.runtime.migration import StampStep

    if isinstance(step, StampStep):
        return ("+".join(step.to_revisions) or "base", "stamp")
    return (step.revision.revision, "up" if step.is_upgrade else "down")


def _describe(step: Any) -> PlanStep:
    from alembic.runtime.migration import StampStep

    revision, direction = step_key(step)
    if isinstance(step, StampStep):
        frm = "+".join(step.from_revisions) or "base"
        return PlanStep(revision, direction, f"stamp {frm} -> {revision}")
    script = step.revision
    path = script.path
    try:
        text = open(path, encoding="utf-8").read()
    except OSError:
        text = ""
    return PlanStep(
        revision=revision,
        direction=direction,
        message=script.doc or "",
        path=path,
        non_transactional=_uses_autocommit(text, direction),
    )


def _uses_autocommit(source: str, direction: str) -> bool:
    """Whether the function that runs for ``direction`` opens an ``autocommit_block``."""
    name = "upgrade" if direction == "up" else "downgrade"
    m = re.search(rf"^def {name}\(.*?(?=^def |\Z)", source, re.MULTILINE | re.DOTALL)
    return bool(m and "autocommit_block" in m.group(0))


def offline_sql(project: AlembicProject, url: str, action: str, target: str,
                current: tuple[str, ...], steps: list[Any]) -> str:
    """The SQL Alembic emits in ``--sql`` mode for exactly these steps."""
    from alembic.runtime.environment import EnvironmentContext

    buffer = io.StringIO()
    with ALEMBIC_RUN_LOCK:
        config = project.make_config(url, output_buffer=buffer)
        script = project.script()
        with honour_version_table(EnvironmentContext(
            config, script, fn=lambda _rev, _ctx: list(steps), as_sql=True,
            starting_rev=list(current) or None, destination_rev=target,
        )):
            script.run_env()
    return buffer.getvalue()


def split_sql(sql: str, count: int) -> list[str]:
    """Per-step slices of an offline script, cut at Alembic's ``-- Running`` markers."""
    markers = list(_STEP_MARKER.finditer(sql))
    chunks = []
    for i, m in enumerate(markers[:count]):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(sql)
        chunks.append(sql[m.start():end].strip())
    return chunks + [""] * (count - len(chunks))


def build_plan(project: AlembicProject, url: str, action: str, target: str,
               current: tuple[str, ...], *, purge: bool = False, with_sql: bool = True,
               script: ScriptDirectory | None = None) -> Plan:
    """Compute the plan in the calling thread (blocking: Alembic imports revision files)."""
    with ALEMBIC_RUN_LOCK:
        script = script or project.script()
        start = () if purge else current
        raw = compute_steps(script, action, target, start)
        steps = [_describe(s) for s in raw]
        after = heads_after(raw, start)
    sql = None
    notes: list[str] = []
    if with_sql and raw and not purge:
        try:
            sql = offline_sql(project, url, action, target, start, raw)
        except Exception as exc:  # e.g. SQLite batch operations need the live table
            from migctl.core.db import first_line

            notes.append(f"offline SQL not available for this plan: {first_line(exc)}")
        if sql is not None and action != "stamp":
            chunks = split_sql(sql, len(steps))
            steps = [
                PlanStep(s.revision, s.direction, s.message, s.path, s.non_transactional,
                         tuple(" ".join(m.group(0).split()) for m in DESTRUCTIVE_SQL.finditer(chunk)), chunk)
                for s, chunk in zip(steps, chunks, strict=True)
            ]
    if purge:
        notes.append("--purge: every row of the version table is deleted first")
    return Plan(action, target, tuple(current), after, tuple(steps), purge, sql, notes=tuple(notes),
                alembic_steps=tuple(raw), analysed=sql is not None or not raw or action == "stamp")
