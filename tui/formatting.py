"""Plain-text rendering of core results for the CLI (pure functions, easy to test)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migctl.core.api import Plan, RevisionGraph, RevisionNode

ARROW = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}


def plural(count: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows``, ``1,000 rows``: the count with its noun agreeing."""
    return f"{count:,} {word if count == 1 else (many or word + 's')}"


def one_line(message: str | None) -> str:
    """A revision message on one line, for lists and tables: a message may span lines (the
    first paragraph of the revision's docstring), and a line break there would print at
    column 0 and break the columns around it. Its lines are joined with `` / ``."""
    if not message:
        return ""
    if "\n" not in message and "\r" not in message:
        return message
    return " / ".join(line.strip() for line in message.splitlines() if line.strip())


def _flags(node: RevisionNode, current: set[str]) -> str:
    flags = []
    if node.branch_labels:
        flags.append("(" + ", ".join(node.branch_labels) + ")")
    if node.id in current:
        flags.append("(current)")
    if node.is_head:
        flags.append("(head)")
    if node.is_base:
        flags.append("(base)")
    if node.is_branch_point:
        flags.append("(branchpoint)")
    if node.is_merge_point:
        flags.append("(mergepoint)")
    return " ".join(flags)


def revision_line(node: RevisionNode, current: set[str] | frozenset[str] = frozenset()) -> str:
    """``down -> rev (head), message`` as ``alembic history`` prints it."""
    down = ", ".join(node.down_revisions) or "<base>"
    if node.depends_on:
        down += " (" + ", ".join(node.depends_on) + ")"
    flags = _flags(node, set(current))
    return f"{down} -> {node.id}{' ' + flags if flags else ''}, {one_line(node.message)}"


def history_lines(graph: RevisionGraph, *, verbose: bool = False, current: set[str] | None = None) -> list[str]:
    current = current or set()
    lines: list[str] = []
    for node in graph.nodes:
        prefix = graph.graph_prefix(node)
        if not verbose:
            lines.append(f"{prefix}  {revision_line(node, current)}")
            continue
        pad = " " * len(prefix)
        lines.append(f"{prefix}  Rev: {node.id} {_flags(node, current)}".rstrip())
        if node.down_revisions:
            label = "Merges" if node.is_merge_point else "Parent"
            lines.append(f"{pad}  {label}: {', '.join(node.down_revisions)}")
        else:
            lines.append(f"{pad}  Parent: <base>")
        if node.children and node.is_branch_point:
            lines.append(f"{pad}  Branches into: {', '.join(node.children)}")
        if node.branch_labels:
            lines.append(f"{pad}  Branch names: {', '.join(node.branch_labels)}")
        if node.depends_on:
            lines.append(f"{pad}  Also depends on: {', '.join(node.depends_on)}")
        lines.append(f"{pad}  Path: {node.path}")
        if node.create_date:
            lines.append(f"{pad}  Create Date: {node.create_date}")
        # every line of the message indented, as ``alembic history --verbose`` prints it
        lines.extend(f"{pad}      {line}" for line in (node.message or "").splitlines() or [""])
        lines.append(pad)
    return lines


def plan_lines(plan: Plan, *, show_sql: bool = False, cli: bool = True, allow_broken: bool = False,
               would_refuse: bool = True) -> list[str]:
    """``cli=False`` for the console, where no command-line flag can be passed. ``would_refuse``:
    end with the refusal a broken step brings (a dry run; a real run prints the refusal itself).

    Per step: its flags and, when ``migctl verify`` has a verdict for its file, ``verified``,
    ``BROKEN``, or ``incomplete`` (the verdict's detail on the line under a broken step). Unverified
    steps are counted on one line rather than marked one by one when no step is verified."""
    head = f"Plan: {plan.action} to {plan.target} on {plan.environment} ({plan.url})"
    if plan.protected:
        head += "  [PROTECTED]"
    lines = [head, f"  from: {', '.join(plan.current) or 'base'}", f"  to:   {', '.join(plan.after) or 'base'}"]
    if not plan.steps and not plan.purge:
        lines.append("  nothing to do")
        return lines
    for note in plan.notes:
        lines.append(f"  note: {note}")
    unrendered = plan.unrendered
    any_verdict = any(s.verdict is not None for s in plan.steps)
    for i, step in enumerate(plan.steps, 1):
        marks = []
        if step.verdict is not None:
            marks.append(step.verdict_label.split(":")[0])  # "verified", "BROKEN downgrade", ...
        elif any_verdict and step.direction != "stamp":
            marks.append("not verified")
        if step.non_transactional:
            marks.append("NON-TRANSACTIONAL")
        if step.destructive:
            marks.append("DESTRUCTIVE")
        if step.render_error is not None:
            marks.append("SQL NOT RENDERED")
        mark = f"  [{', '.join(marks)}]" if marks else ""
        lines.append(f"  {i:>3}. {ARROW[step.direction]:<9} {step.revision}  {one_line(step.message)}{mark}")
        if step.broken and step.verdict is not None:
            where = f" (verified on {step.verdict.server})" if step.verdict.server else ""
            lines.append(f"         {one_line(step.verdict_label)[:200]}{where}")
        for stmt in step.destructive:
            lines.append(f"         ! {stmt[:110]}")
        # A reason the plan's note gives (env.py cannot run offline at all) is not repeated per step.
        if step.render_error is not None and not any(step.render_error in note for note in plan.notes):
            lines.append(f"         offline SQL could not be rendered: {step.render_error}")
        if step.lint:
            from migctl.core.api import describe_lint

            lines.extend(f"         lint: {describe_lint(f)}" for f in step.lint)
    if unrendered:
        lines.append(f"  ({plural(len(unrendered), 'step')} not rendered offline: "
                     f"{'its' if len(unrendered) == 1 else 'their'} destructive statements are unknown)")
    elif not plan.analysed:
        lines.append("  (SQL not analysed for destructive statements"
                     + (": --dry-run shows the SQL and flags)" if cli else ")"))
    if plan.non_transactional:
        lines.append("  Non-transactional steps run outside a transaction: a failure there cannot be rolled back.")
    unverified = plan.unverified
    if unverified and cli:
        of = f" of {len([s for s in plan.steps if s.direction != 'stamp'])}" if any_verdict else ""
        lines.append(f"  {plural(len(unverified), 'step')}{of} not verified (run migctl verify)")
    servers = sorted({s.verdict.server for s in plan.steps if s.verdict is not None and s.verdict.server})
    if servers:
        lines.append(f"  verdicts of migctl verify, obtained on {', '.join(servers)}")
    if (why := plan.broken_refusal()) is not None and (would_refuse or allow_broken):
        if allow_broken:
            lines.append(f"  --allow-broken: runs anyway through {plural(len(plan.broken_steps), 'broken step')}")
        else:
            lines.append(f"  would be refused: {why if cli else why.split('; pass --allow-broken')[0]}")
    if show_sql and plan.sql:
        lines.append("")
        lines.append("-- SQL --")
        lines.extend(plan.sql.rstrip().splitlines())
    return lines


def status_lines(status: dict[str, Any]) -> list[str]:
    rel = status["relational"]
    env = status["environment"] + ("  [PROTECTED]" if status.get("protected") else "")
    lines = [
        f"environment: {env}",
        f"database:    {rel['url']}{'  (embedded)' if status.get('embedded') else ''}"
        + (f"  (from {status['url_source']})" if status.get("url_source") and not status.get("embedded") else ""),
        f"alembic:     {rel['script_location']} ({rel['revisions']} revisions)",
        f"current:     {', '.join(rel['current']) or 'base (empty)'}",
        f"heads:       {', '.join(rel['heads']) or '-'}",
        f"pending:     {rel['pending']}" + (f" ({', '.join(rel['pending_revisions'][:5])}"
                                             f"{', ...' if rel['pending'] > 5 else ''})" if rel['pending'] else ""),
    ]
    if rel["unknown_current"]:
        lines.append(f"unknown:     {', '.join(rel['unknown_current'])} (in the database, not in the scripts)")
    if rel["drifted"]:
        lines.append("drifted:     " + "; ".join(f"{d['revision']} ({d['reason']})" for d in rel["drifted"]))
    else:
        lines.append("drifted:     none")
    if "schema_drift" in rel:
        lines.append(f"schema:      {schema_state(rel)}")
    lock = status.get("lock")
    lines.append(f"lock:        {'held by ' + lock['who'] + ' running ' + lock['operation'] if lock else 'free'}")
    if status.get("vector_configured") is False:
        lines.append("vector: not configured")
    return lines


def schema_state(rel: dict[str, Any], *, short: bool = False) -> str:
    """The live schema against the one expected at the current revision(s), from a relational
    status: ``matches R``, ``differs from R: <summary>`` or ``not compared (...)``. ``short``:
    revisions cut to 8 characters and no hint (the console's summary line)."""
    report = rel.get("schema_drift")
    if report is None:
        note = rel.get("schema_drift_note")
        if short:
            return "schema not compared"
        return f"not compared ({note or 'run migctl verify, or migctl status --drift'})"
    at = ", ".join(r[:8] + "…" if short and len(r) > 8 else r for r in report["at"]) or "base"
    prefix = "schema " if short else ""
    if not report["differs"]:
        return f"{prefix}matches {at}"
    return f"{prefix}differs from {at}: {report['summary']}"


def vector_plan_lines(plan: Any, environment: str) -> list[str]:
    lines = [f"Vector plan: {plan.action} to {plan.target} on {environment} ({plan.store})",
             f"  from: {plan.current or 'base'}", f"  to:   {plan.after or 'base'}"]
    if plan.empty:
        lines.append("  nothing to do")
    for note in plan.notes:
        lines.append(f"  note: {note}")
    for i, step in enumerate(plan.steps, 1):
        verb = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}[step.direction]
        mark = f"  [{step.verdict_label.split(':')[0]}]" if step.direction != "stamp" and step.verdict else ""
        lines.append(f"  {i:>3}. {verb:<9} {step.version}  {step.description}{mark}")
        if step.broken:
            lines.append(f"         {step.verdict_label}" + (f" (verified on {step.verdict.server})"
                                                              if step.verdict.server else ""))
        for op in step.operations:
            lines.append(f"         - {op.describe()}")
        for d in step.destroys:
            lines.append(f"         ! DELETES {d}")
    return lines


def at_risk_lines(rows: list[tuple[str, str, int | None]]) -> list[str]:
    """What a plan destroys, with the rows there now (for confirmations)."""
    if not rows:
        return []
    lines = ["", "What is lost:"]
    for table, kind, count in rows:
        held = "does not exist yet" if count is None else f"{plural(count, 'row')} now"
        lines.append(f"  {kind} {table}  ({held})")
    return lines


# Whether it answered first (a narrow terminal cuts the row's end); the URL, the longest cell, last.
OVERVIEW_COLUMNS = ("environment", "protected", "state", "current", "heads", "pending", "drifted", "vector",
                    "lock", "url")


def overview_cells(row: Any) -> tuple[str, ...]:
    """One environment of the overview (an ``EnvironmentRow``) as text cells, in
    :data:`OVERVIEW_COLUMNS` order; columns not read yet (or unreadable) show ``-``."""
    read = row.state == "ok"

    def revs(ids: list[str]) -> str:
        return ", ".join(i[:12] for i in ids) or "base"

    if row.vector == "ok" and row.vector_current is not None:
        vector = f"{row.vector_current} +{row.vector_pending}"
    elif row.vector == "ok":
        vector = "-"
    else:
        vector = row.vector
    protected = "-"
    if row.protected:  # the database's own mark may name another environment
        protected = "PROTECTED" if row.protected_as in (None, row.name) else f"PROTECTED as {row.protected_as}"
    return (row.name, protected, row.state, revs(row.current) if read else "-", revs(row.heads) if read else "-",
            str(row.pending) if read else "-", str(row.drifted) if read else "-", vector,
            (row.lock or "free") if read else "-", row.url)


def overview_lines(rows: list[Any]) -> list[str]:
    """``migctl status --all-envs``: one aligned line per environment under a header; the
    vector column reads ``current +pending``, revisions show their first 12 characters."""
    table = [tuple(c.upper() for c in OVERVIEW_COLUMNS), *(overview_cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(OVERVIEW_COLUMNS) - 1)]
    return ["  ".join([*(cell.ljust(w) for cell, w in zip(line[:-1], widths, strict=True)), line[-1]]).rstrip() for line in table]


# How ``migctl verify`` words each verdict state (core.relational.assessment.STATES).
_VERIFY_WORDS = {
    "ok": "ok",
    "downgrade fails": "BROKEN downgrade",
    "downgrade incomplete": "incomplete downgrade",
    "not transactional, half-commits on failure": "BROKEN downgrade, not transactional, half-commits on failure",
    "upgrade fails": "BROKEN upgrade",
    "upgrade after downgrade differs": "upgrade after downgrade differs",
}


def verify_state_text(state: str, detail: str = "") -> str:
    """``ok``, ``BROKEN downgrade: <the database's error>``, ``incomplete downgrade: <what differs>``..."""
    words = _VERIFY_WORDS.get(state, state)
    if detail.startswith("not reached:"):
        words = "not verified"
    return f"{words}: {detail}" if detail else words


def verify_lines(result: Any, vector: Any = None) -> list[str]:
    """One line per revision (``a1b2c3d4e5f6  ok``), then the summary. A cached verdict says so,
    and one obtained on another server than this walk's names that server. ``vector``: the
    vector side's verdicts, under a ``vector:`` heading, then their own summary."""
    lines = [*_verdict_lines(result, result.verdicts), result.summary()]
    if vector is not None:
        lines += ["vector:", *("  " + line for line in _verdict_lines(vector, vector.verdicts, "vector:")),
                  vector.summary()]
    return lines


def _verdict_lines(result: Any, verdicts: Any, prefix: str = "") -> list[str]:
    lines = []
    for v in verdicts:
        line = f"{v.revision.removeprefix(prefix)}  {verify_state_text(v.state, v.detail)}"
        notes = []
        if v.revision in result.cached:
            notes.append("cached")
        if v.server and v.server != result.servers:
            notes.append(f"on {v.server}")
        lines.append(line + (f"  ({', '.join(notes)})" if notes else ""))
    return lines
