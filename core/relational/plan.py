"""Plans: what an upgrade, downgrade or stamp will do, computed without touching anything.

A plan carries its ordered steps, the offline SQL of exactly those steps, and flags for
non-transactional steps (``autocommit_block``) and destructive statements. A step whose SQL
cannot be rendered offline (its code reads rows, or needs the live table) is marked as such;
every other step keeps its SQL and flags. Each step also carries its ``migctl verify`` verdict;
a plan through a broken step is refused unless the operator allows it. Execution later
recomputes the steps under the migration lock and refuses to run anything else.
"""

from __future__ import annotations

import io
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from migctl.core.errors import MigctlError, OperationFailed, UsageError
from migctl.core.relational.assessment import LintFinding, Verdict, step_verdict_label
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

    @property
    def verdict_label(self) -> str:
        """``verified``, ``BROKEN downgrade: …``, ``incomplete downgrade: …`` or ``not verified``."""
        return step_verdict_label(self.verdict, self.direction)

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "direction": self.direction,
            "message": self.message,
            "non_transactional": self.non_transactional,
            "destructive": list(self.destructive),
            "sql": self.sql if self.render_error is None else None,
            "render_error": self.render_error,
            "verdict": self.verdict_label if self.direction != "stamp" else None,
            "verification": self.verdict.as_dict() if self.verdict is not None else None,
            "broken": self.broken,
            "lint": [f.as_dict() for f in self.lint],
        }


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
    # True: every step's offline SQL was rendered, so its destructive statements are known.
    # False: SQL not generated (an unattended upgrade), or some steps could not be rendered
    # (``unrendered`` names them; the others keep their SQL and flags).
    analysed: bool = True

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
    def unrendered(self) -> tuple[PlanStep, ...]:
        """Steps whose offline SQL could not be rendered (``render_error`` says why)."""
        return tuple(s for s in self.steps if s.render_error is not None)

    @property
    def unverified(self) -> tuple[PlanStep, ...]:
        return tuple(s for s in self.steps if s.direction != "stamp" and s.verdict is None)

    def broken_refusal(self) -> str | None:
        """Why running this plan is refused without ``allow_broken`` (one line), or ``None``."""
        broken = self.broken_steps
        if not broken:
            return None
        named = [f"{s.revision} which is {_clipped(s.verdict_label)}"
                 + (f" (verified on {s.verdict.server})" if s.verdict and s.verdict.server else "")
                 for s in broken[:3]]
        more = f", and {len(broken) - 3} more broken step(s)" if len(broken) > 3 else ""
        return (f"{self.action} through {', and '.join(named)}{more}; "
                "pass --allow-broken to run it anyway")

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
            "steps": [s.as_dict() for s in self.steps],
            # With some steps unrendered, the flags of the rendered ones (the unrendered are
            # listed under "unrendered"); with no SQL at all, unknown.
            "destructive": list(self.destructive) if self.analysed or self.unrendered else None,
            "analysed": self.analysed,
            "notes": list(self.notes),
            "unrendered": [s.revision for s in self.unrendered],
            "broken": [s.revision for s in self.broken_steps],
            "sql": self.sql,
        }


def _clipped(text: str, limit: int = 200) -> str:
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return line if len(line) <= limit else line[:limit] + "..."


def with_verdicts(plan: Plan, verdicts: Mapping[str, Verdict]) -> Plan:
    """``plan`` with each applied or reverted step's verdict (``None``: not verified)."""
    steps = tuple(replace(s, verdict=verdicts.get(s.revision) if s.direction != "stamp" else None)
                  for s in plan.steps)
    return replace(plan, steps=steps)


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


class OfflineRenderFailed(OperationFailed):
    """``--sql``: a step could not be rendered offline; ``sql`` is the script up to that step."""

    def __init__(self, revision: str, direction: str, reason: str, sql: str) -> None:
        super().__init__(f"revision {revision} ({direction}) could not be rendered offline: {reason}")
        self.revision = revision
        self.direction = direction
        self.reason = reason
        self.sql = sql


@dataclass(frozen=True)
class _Render:
    """One run of env.py in offline mode over some steps."""

    sql: str  # everything emitted, up to the failure when there was one
    error: Exception | None = None
    failed_at: int | None = None  # index of the step that raised; None with an error: before any step


def _render(project: AlembicProject, url: str, target: str, current: tuple[str, ...],
            steps: list[Any]) -> _Render:
    """Run env.py offline over ``steps``, knowing which step was running if it raises: the
    steps are handed to Alembic one at a time, so the last one handed out is the one that failed
    (its ``-- Running`` marker is out already, its statements are cut off)."""
    from alembic.runtime.environment import EnvironmentContext

    buffer = io.StringIO()
    running = [-1, -1]  # index handed out, index finished

    def each(_rev: Any, _ctx: Any) -> Any:
        for i, step in enumerate(steps):
            running[0] = i
            yield step
            running[1] = i  # Alembic asks for the next step once this one's version row is written

    try:
        with ALEMBIC_RUN_LOCK:
            config = project.make_config(url, output_buffer=buffer)
            script = project.script()
            with honour_version_table(EnvironmentContext(
                config, script, fn=each, as_sql=True,
                starting_rev=list(current) or None, destination_rev=target,
            )):
                script.run_env()
    except Exception as exc:  # a revision's code, env.py, or Alembic refusing an op offline
        failed = running[0] if running[0] >= 0 and running[0] != running[1] else None
        return _Render(buffer.getvalue(), exc, failed)
    return _Render(buffer.getvalue())


def render_reason(exc: BaseException) -> str:
    """Why a step could not be rendered, in one line."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from migctl.core.db import first_line

    text = first_line(exc)
    if not isinstance(exc, CommandError | SQLAlchemyError | MigctlError):
        text = f"{type(exc).__name__}: {text}"
    if isinstance(exc, TypeError | AttributeError) and "NoneType" in text:
        # The usual cause: the revision reads rows (op.get_bind().execute(...), op.execute(...)),
        # and offline there is no database, so those calls return None.
        text += " (it reads from the database: offline, op.get_bind() and op.execute() return no rows)"
    return _clipped(text, 300)


def _cut_before(sql: str, index: int) -> str:
    """``sql`` up to the ``-- Running`` marker of step ``index`` (all of it without one)."""
    markers = list(_STEP_MARKER.finditer(sql))
    return sql[:markers[index].start()] if index < len(markers) else sql


def not_rendered_line(revision: str, direction: str, reason: str) -> str:
    return f"-- revision {revision} ({direction}) could not be rendered offline: {reason}"


def offline_sql(project: AlembicProject, url: str, action: str, target: str,
                current: tuple[str, ...], steps: list[Any]) -> str:
    """The SQL Alembic emits in ``--sql`` mode for exactly these steps.

    A step that cannot be rendered raises :class:`OfflineRenderFailed` carrying the script up
    to it (the steps after it would continue from a state the script never reached)."""
    rendered = _render(project, url, target, current, steps)
    if rendered.error is None:
        return rendered.sql
    reason = render_reason(rendered.error)
    if rendered.failed_at is None:
        raise OperationFailed(f"offline SQL could not be rendered: {reason}")
    revision, direction = step_key(steps[rendered.failed_at])
    raise OfflineRenderFailed(revision, direction, reason, _cut_before(rendered.sql, rendered.failed_at))


def split_sql(sql: str, count: int) -> list[str]:
    """Per-step slices of an offline script, cut at Alembic's ``-- Running`` markers."""
    markers = list(_STEP_MARKER.finditer(sql))
    chunks = []
    for i, m in enumerate(markers[:count]):
        end = markers[i + 1].start() if i + 1 < len(markers) else len(sql)
        chunks.append(sql[m.start():end].strip())
    return chunks + [""] * (count - len(chunks))


@dataclass
class StepRendering:
    """Per step: its SQL and why it could not be rendered; the whole script (Alembic's, when
    one run rendered everything; else the steps' SQL one after another, a comment line where a
    step could not be rendered); plan-level notes."""

    chunks: list[str]
    errors: list[str | None]
    sql: str
    notes: list[str] = field(default_factory=list)


def render_steps(project: AlembicProject, url: str, target: str, current: tuple[str, ...],
                 raw: list[Any]) -> StepRendering:
    """Every step's offline SQL, keeping what renders when some steps do not.

    One env.py run renders the whole plan (the common case, and the only cost). When a step
    raises, that run's output up to the step is the SQL of every step before it; rendering
    continues after the failing step from the heads it would have left, so a plan costs one
    run plus one per failing step, never one per step."""
    count = len(raw)
    chunks = [""] * count
    errors: list[str | None] = [None] * count
    notes: list[str] = []
    first = _render(project, url, target, current, raw)
    if first.error is None:
        return StepRendering(split_sql(first.sql, count), errors, first.sql)
    begin, heads, rendered = 0, current, first
    while True:
        part = raw[begin:]
        if rendered.error is None:
            chunks[begin:] = split_sql(rendered.sql, len(part))
            break
        reason = render_reason(rendered.error)
        if rendered.failed_at is None:  # env.py itself (or Alembic before the first step): none renders
            notes.append(f"offline SQL not available for {'this plan' if begin == 0 else 'the steps left'}: "
                         f"{reason}")
            errors[begin:] = [reason] * len(part)
            break
        failed = rendered.failed_at
        chunks[begin:begin + failed] = split_sql(_cut_before(rendered.sql, failed), failed)
        errors[begin + failed] = reason
        heads = heads_after(part[:failed + 1], heads)
        begin += failed + 1
        if begin >= count:
            break
        rendered = _render(project, url, target, heads, raw[begin:])
    keys = [step_key(s) for s in raw]
    sql = "\n\n".join(chunk if error is None else not_rendered_line(*key, error)
                       for chunk, error, key in zip(chunks, errors, keys, strict=True)) + "\n"
    return StepRendering(chunks, errors, sql, notes)


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
    analysed = not raw or action == "stamp"
    if with_sql and raw and not purge:
        if action == "stamp":  # only version-table statements: nothing per step to keep
            rendered = _render(project, url, target, start, raw)
            sql = rendered.sql if rendered.error is None else None
            if rendered.error is not None:
                notes.append(f"offline SQL not available for this plan: {render_reason(rendered.error)}")
        else:
            result = render_steps(project, url, target, start, raw)
            sql = result.sql
            notes += result.notes
            steps = [
                replace(s, sql=chunk, render_error=error,
                        destructive=tuple(" ".join(m.group(0).split()) for m in DESTRUCTIVE_SQL.finditer(chunk)))
                for s, chunk, error in zip(steps, result.chunks, result.errors, strict=True)
            ]
            analysed = all(error is None for error in result.errors)
    if purge:
        notes.append("--purge: every row of the version table is deleted first")
    return Plan(action, target, tuple(current), after, tuple(steps), purge, sql, notes=tuple(notes),
                alembic_steps=tuple(raw), analysed=analysed)
