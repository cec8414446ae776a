"""DDL lint of a plan's steps: squawk over each step's offline SQL, an AST pass where there is none.

squawk (``squawk-cli``, a dependency that ships the binary) runs once for the whole plan, one
file per step, so a 300-step dry-run pays for one process. Each violation is mapped back to its
step and to the statement it points at, and the table that statement touches is measured in the
live database (``pg_class.reltuples``, ``pg_total_relation_size``) so a finding reads
``rewrites documents (≈12M rows, 41 GB) under ACCESS EXCLUSIVE``.

Where no SQL could be rendered (MySQL/MariaDB, where migctl does not send Alembic's offline SQL
through squawk; SQLite; a step that failed to render), the revision file's ``op.*`` calls are
read with :mod:`ast` instead, for drops, type changes, NOT NULL adds without a default and index
builds without CONCURRENTLY.
"""

from __future__ import annotations

import ast
import bisect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.relational.assessment import LintFinding
from migctl.core.secrets import child_env

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection
    from migctl.core.relational.plan import PlanStep

# Rules left out of every run. Both fire once per file on its first locking statement: with a
# file per step they would repeat on every step of a plan and drown the findings that differ.
# The timeouts belong to the session that runs the migration, not to each revision.
# Left out: the timeout rules fire on every step linted on its own, and the prefer-* rules are
# schema-design advice for code review, not hazards an operator weighs before running a plan.
EXCLUDED_RULES = ("require-lock-timeout", "require-statement-timeout", "prefer-identity",
                  "prefer-bigint-over-int", "prefer-bigint-over-smallint", "prefer-robust-stmts")
SQUAWK_TIMEOUT = 120.0  # seconds for the one run over a whole plan
SMALL_TABLE = 10 * 1024 * 1024  # never-analysed tables below this are counted exactly
# ... the first this many of them: counting hundreds of tables (a long plan over a freshly
# built schema) cost a dry-run more than the lint itself; the others' estimate stands.
MAX_COUNTED = 25
STATEMENT_CHARS = 2000  # a finding keeps at most this much of its statement


class LintUnavailable(Exception):
    """squawk is missing or failed. ``findings`` holds what the AST pass found meanwhile (one
    tuple per step), so a plan still shows those."""

    def __init__(self, message: str, findings: list[tuple[LintFinding, ...]]) -> None:
        super().__init__(message)
        self.findings = findings


# -- squawk -----------------------------------------------------------------------------------

def squawk_binary() -> str | None:
    """The squawk of this interpreter's environment (where ``squawk-cli`` installs it), else
    the first on PATH."""
    name = "squawk.exe" if os.name == "nt" else "squawk"
    for scripts in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(scripts) / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("squawk")


def statements(sql: str) -> list[tuple[int, int]]:
    """(start, end) offsets of each statement of ``sql``: from its first character that is not
    blank or a comment up to and including its ``;``. Quotes, quoted identifiers, dollar quotes
    and comments are skipped, so a ``;`` inside them does not end a statement."""
    out: list[tuple[int, int]] = []
    i, n, start = 0, len(sql), -1
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
            continue
        if sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
            continue
        if start < 0:
            if c.isspace():
                i += 1
                continue
            start = i
        if c in "'\"`":
            backslash = c == "'" and i > 0 and sql[i - 1] in "eE"  # E'...' takes backslash escapes
            j = i + 1
            while j < n:
                if backslash and sql[j] == "\\":
                    j += 2
                    continue
                if sql[j] == c:
                    if j + 1 < n and sql[j + 1] == c:  # '' inside '...'
                        j += 2
                        continue
                    break
                j += 1
            i = j + 1
            continue
        if c == "$":
            m = re.match(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$", sql[i:i + 64])
            if m:
                j = sql.find(m.group(0), i + len(m.group(0)))
                i = n if j < 0 else j + len(m.group(0))
                continue
        if c == ";":
            out.append((start, i + 1))
            start = -1
        i += 1
    if start >= 0:
        out.append((start, len(sql.rstrip())))
    return out


def _version_statement(version_table: str) -> re.Pattern[str]:
    name = re.escape(version_table)
    return re.compile(rf"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+TABLE|DROP\s+TABLE)\s+"
                      rf"(?:[\w$]+\.|\"[^\"]+\"\.)?\"?{name}\"?(?:\s|\(|;|$)", re.IGNORECASE)


_TRANSACTION = re.compile(r"^\s*(?:(?P<begin>BEGIN|START\s+TRANSACTION)|COMMIT|END|ROLLBACK)\b[^;]*;?\s*$",
                          re.IGNORECASE)


def squawk_input(sql: str, version_table: str = "alembic_version") -> tuple[str, list[tuple[int, int]]]:
    """A step's SQL as squawk gets it, and its statements' offsets (into ``sql``).

    A step's slice of Alembic's script starts inside a transaction (the run's, or the step's own
    with ``transaction_per_migration``) whose BEGIN came before it, so a BEGIN is put on top. The
    version table's INSERT/UPDATE/DELETE are blanked (Alembic's bookkeeping, not the revision's),
    and so are the BEGIN/COMMITs after the step's last statement (the next step's business); a
    COMMIT closes the step if it is still in a transaction there. An ``autocommit_block``'s
    COMMIT ... BEGIN stays, so squawk sees what runs outside the transaction. Blanking keeps every
    other character in place: squawk's lines and columns point into ``sql``, one line down.
    """
    spans = statements(sql)
    version = _version_statement(version_table)
    blank: set[int] = {k for k, (a, b) in enumerate(spans) if version.match(sql[a:b])}
    work = [k for k in range(len(spans)) if k not in blank]
    while work and _TRANSACTION.match(sql[slice(*spans[work[-1]])]):
        blank.add(work.pop())
    if not work:
        return "", spans
    in_transaction = True
    for k in work:
        m = _TRANSACTION.match(sql[slice(*spans[k])])
        if m:
            in_transaction = bool(m["begin"])
    chars = list(sql)
    for k in blank:
        a, b = spans[k]
        for j in range(a, b):
            if chars[j] != "\n":
                chars[j] = " "
    return "BEGIN;\n" + "".join(chars) + ("\nCOMMIT;\n" if in_transaction else "\n"), spans


def _line_starts(text: str) -> list[int]:
    starts = [0]
    starts.extend(m.end() for m in re.finditer("\n", text))
    return starts


def _statement_at(sql: str, spans: list[tuple[int, int]], line: int, column: int) -> str:
    """The statement squawk's (0-based) line and column point at."""
    starts = _line_starts(sql)
    if not 0 <= line < len(starts):
        return ""
    offset = starts[line] + column
    for a, b in spans:
        if offset < b:  # within it, or in the blank before it
            return _one_line(sql[a:b])
    return ""


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= STATEMENT_CHARS else text[:STATEMENT_CHARS - 1] + "…"


def run_squawk(files: Mapping[str, str], *, pg_version: str | None = None,
               binary: str | None = None) -> list[dict[str, Any]]:
    """squawk's JSON violations for ``files`` (name -> SQL), in one run in a temporary directory
    (so no ``.squawk.toml`` of the working directory changes the rules). Raises
    :class:`RuntimeError` with one line when squawk cannot run or its output is not JSON."""
    binary = binary or squawk_binary()
    if binary is None:
        raise FileNotFoundError("squawk not found (install migctl's dependency squawk-cli)")
    with tempfile.TemporaryDirectory(prefix="migctl-lint-") as tmp:
        for name, text in files.items():
            Path(tmp, name).write_text(text, encoding="utf-8")
        argv = [binary, "--reporter", "json", "--exclude", ",".join(EXCLUDED_RULES)]
        if pg_version:
            argv += ["--pg-version", pg_version]
        proc = subprocess.run([*argv, *files], cwd=tmp, capture_output=True, text=True, timeout=SQUAWK_TIMEOUT,
                              env=child_env(NO_COLOR="1"))  # no secrets of ours in its environ
    # 1: violations found, printed as JSON; anything else (or 1 with nothing printed) went wrong
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not proc.stdout.strip()):
        why = next((ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()),
                   f"exit status {proc.returncode}")
        raise RuntimeError(f"squawk failed: {why[:200]}")
    try:
        data = json.loads(proc.stdout or "[]")
    except ValueError:
        raise RuntimeError(f"squawk printed no JSON: {proc.stdout.strip()[:120]!r}") from None
    if not isinstance(data, list):
        raise RuntimeError("squawk's JSON is not a list of violations")
    return data


# -- what a rule does to a table ----------------------------------------------------------------

# rule -> (what it does to the table, {t} standing for it and its size; the lock it takes on
# PostgreSQL, appended as "under <lock>" unless the text places {lock} itself)
EFFECTS: dict[str, tuple[str, str | None]] = {
    "changing-column-type": ("rewrites {t}", "ACCESS EXCLUSIVE"),
    "adding-field-with-default": ("rewrites {t}", "ACCESS EXCLUSIVE"),
    "adding-serial-primary-key-field": ("rewrites {t}", "ACCESS EXCLUSIVE"),
    "adding-required-field": ("takes {lock} on {t} and fails if it has any row", "ACCESS EXCLUSIVE"),
    "adding-not-nullable-field": ("scans {t}", "ACCESS EXCLUSIVE"),
    "adding-foreign-key-constraint": ("scans {t}", "SHARE ROW EXCLUSIVE"),
    "constraint-missing-not-valid": ("validates every row of {t}, blocking writes", None),
    "require-concurrent-index-creation": ("builds an index over {t} under {lock}, blocking writes", "SHARE"),
    "require-concurrent-index-deletion": ("drops index {t}", "ACCESS EXCLUSIVE"),
    "disallowed-unique-constraint": ("builds a unique index over {t}", "ACCESS EXCLUSIVE"),
    "renaming-column": ("renames a column of {t} under {lock}; clients using the old name break",
                        "ACCESS EXCLUSIVE"),
    "renaming-table": ("renames {t} under {lock}; clients using the old name break", "ACCESS EXCLUSIVE"),
    "ban-drop-column": ("drops a column of {t}", "ACCESS EXCLUSIVE"),
    "ban-drop-table": ("drops {t}", "ACCESS EXCLUSIVE"),
    "ban-drop-not-null": ("drops NOT NULL on a column of {t}", "ACCESS EXCLUSIVE"),
    "ban-truncate-cascade": ("truncates {t} and every table referencing it", "ACCESS EXCLUSIVE"),
    "prefer-text-field": ("locks {t} for a varchar size", "ACCESS EXCLUSIVE"),
    # the AST pass's own rules (on PostgreSQL; elsewhere their message and the table are shown)
    "ast-drop-table": ("drops {t}", "ACCESS EXCLUSIVE"),
    "ast-drop-column": ("drops a column of {t}", "ACCESS EXCLUSIVE"),
    "ast-type-change": ("rewrites {t}", "ACCESS EXCLUSIVE"),
    "ast-not-null-without-default": ("takes {lock} on {t} and fails if it has any row", "ACCESS EXCLUSIVE"),
    "ast-index-without-concurrently": ("builds an index over {t} under {lock}, blocking writes", "SHARE"),
}
# The AST pass's rules on MySQL/MariaDB and SQLite, which lock (and copy tables) their own way.
OTHER_EFFECTS = {
    "ast-drop-table": "drops {t}",
    "ast-drop-column": "drops a column of {t}",
    "ast-type-change": "rewrites {t} as a table copy that blocks writes",
    "ast-not-null-without-default": "adds a NOT NULL column without a server default to {t}",
}

_NAME = r'(?:"(?:[^"]|"")+"|`[^`]+`|[\w$]+)(?:\.(?:"(?:[^"]|"")+"|`[^`]+`|[\w$]+))?'
_TABLE_PATTERNS = [re.compile(p, re.IGNORECASE | re.DOTALL) for p in (
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<t>{_NAME})",
    rf"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}\s+)?"
    rf"ON\s+(?:ONLY\s+)?(?P<t>{_NAME})",
    rf"^\s*DROP\s+INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+EXISTS\s+)?(?P<t>{_NAME})",
    rf"^\s*(?:DROP|CREATE)\s+TABLE\s+(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(?P<t>{_NAME})",
    rf"^\s*TRUNCATE\s+(?:TABLE\s+)?(?:ONLY\s+)?(?P<t>{_NAME})",
    rf"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(?:ONLY\s+)?(?P<t>{_NAME})",
    rf"^\s*(?:VACUUM|CLUSTER|REINDEX\s+TABLE|REFRESH\s+MATERIALIZED\s+VIEW)\s+(?:CONCURRENTLY\s+)?(?P<t>{_NAME})",
    rf"^\s*COMMENT\s+ON\s+(?:TABLE|COLUMN)\s+(?P<t>{_NAME})",
)]


_LOCK = re.compile(r"\b(ACCESS EXCLUSIVE|SHARE ROW EXCLUSIVE|SHARE UPDATE EXCLUSIVE|ROW EXCLUSIVE|EXCLUSIVE|SHARE)"
                   r"`? lock", re.IGNORECASE)


def _lock_named(text: str) -> str | None:
    """The lock a rule's own message names (``requires an `ACCESS EXCLUSIVE` lock``), if any."""
    m = _LOCK.search(text.replace("`", ""))
    return m.group(1).upper() if m else None


def table_of(statement: str) -> str | None:
    """The table (or index, for DROP INDEX) a statement touches, as it is written there
    (``documents``, ``public.documents``, ``"Docs"``), or ``None``."""
    for pattern in _TABLE_PATTERNS:
        m = pattern.match(statement)
        if m:
            name = m["t"]
            if re.fullmatch(r"(?i)(IF|ONLY|ON|CONCURRENTLY|TABLE)", name):
                continue
            return name
    return None


def _bare(name: str) -> str:
    """``public."Docs"`` -> ``Docs``: the unqualified, unquoted relation name."""
    last = re.findall(r'"(?:[^"]|"")+"|`[^`]+`|[^.]+', name)[-1]
    return last[1:-1].replace('""', '"') if last[:1] in '"`' else last


# -- the AST pass -------------------------------------------------------------------------------

_DROP_TABLE_SQL = re.compile(r"^\s*DROP\s+TABLE\b", re.IGNORECASE)
_DROP_COLUMN_SQL = re.compile(r"^\s*ALTER\s+TABLE\b[^;]*?\bDROP\s+(?:COLUMN\s+)?(?!CONSTRAINT|DEFAULT|NOT\b|INDEX\b|"
                              r"PRIMARY\b|FOREIGN\b|CHECK\b|KEY\b)\w", re.IGNORECASE | re.DOTALL)
_TYPE_SQL = re.compile(r"^\s*ALTER\s+TABLE\b[^;]*?\b(?:ALTER\s+(?:COLUMN\s+)?\S+\s+(?:SET\s+DATA\s+)?TYPE|MODIFY\b)",
                       re.IGNORECASE | re.DOTALL)
_INDEX_SQL = re.compile(r"^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\b(?!\s+CONCURRENTLY)", re.IGNORECASE)


def _const(node: ast.AST | None) -> Any:
    return node.value if isinstance(node, ast.Constant) else None


def _kw(call: ast.Call, name: str) -> ast.AST | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _arg(call: ast.Call, index: int, name: str) -> ast.AST | None:
    """Argument ``name`` given by position ``index`` or by keyword."""
    return call.args[index] if len(call.args) > index else _kw(call, name)


def _is_true(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _sql_text(node: ast.AST | None) -> str | None:
    """The SQL of ``op.execute("...")`` or ``op.execute(sa.text("..."))`` when it is a literal."""
    if isinstance(node, ast.Call) and node.args and isinstance(node.func, ast.Attribute | ast.Name):
        fn = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if fn == "text":
            node = node.args[0]
    value = _const(node)
    return value if isinstance(value, str) else None


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def ast_findings(source: str, direction: str, *, dialect: str = "postgresql") -> tuple[LintFinding, ...]:
    """Hazards among the ``op.*`` calls of the function that runs for ``direction``
    (``upgrade()`` for ``up``, ``downgrade()`` for ``down``), including those on a
    ``with op.batch_alter_table(...) as batch_op:`` block's object."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return ()
    fn = _function(tree, "upgrade" if direction == "up" else "downgrade")
    if fn is None:
        return ()
    batches: dict[str, tuple[str | None, str | None]] = {}  # batch_op name -> (table, schema)
    for node in ast.walk(fn):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "batch_alter_table" and isinstance(item.optional_vars, ast.Name)):
                    batches[item.optional_vars.id] = (_const(_arg(call, 0, "table_name")), _const(_kw(call, "schema")))
    pg = dialect == "postgresql"
    out: list[LintFinding] = []

    def add(rule: str, message: str, call: ast.AST, table: str | None, schema: str | None = None) -> None:
        text = _one_line(ast.get_source_segment(source, call) or "")
        name = f"{schema}.{table}" if schema and table else table
        lock = EFFECTS[rule][1] if pg else None  # MySQL and SQLite lock differently: the message says
        out.append(LintFinding(rule, message, text, name, source="ast", lock=lock))

    for node in ast.walk(fn):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)):
            continue
        owner, verb = node.func.value.id, node.func.attr
        batch = batches.get(owner)
        # Positional arguments after the table name shift by one on a batch object.
        shift = 0 if batch is not None else 1
        table = batch[0] if batch is not None else None
        schema = (batch[1] if batch is not None else None) or _const(_kw(node, "schema"))
        if batch is None and verb in ("drop_table", "drop_column", "alter_column", "add_column"):
            table = _const(_arg(node, 0, "table_name"))
        if verb == "drop_table" and batch is None:
            add("ast-drop-table", f"drops table {table or '?'}", node, table, schema)
        elif verb == "drop_column":
            column = _const(_arg(node, shift, "column_name"))
            add("ast-drop-column", f"drops column {column or '?'}", node, table, schema)
        elif verb == "alter_column":
            column = _const(_arg(node, shift, "column_name"))
            if _kw(node, "type_") is not None:
                add("ast-type-change", f"changes the type of column {column or '?'}", node, table, schema)
        elif verb == "add_column":
            column = _arg(node, shift, "column")
            if (isinstance(column, ast.Call) and _kw(column, "nullable") is not None
                    and _const(_kw(column, "nullable")) is False and _kw(column, "server_default") is None
                    and not _is_true(_kw(column, "primary_key"))):
                name = _const(column.args[0]) if column.args else None
                add("ast-not-null-without-default", f"adds NOT NULL column {name or '?'} without a server default",
                    node, table, schema)
        elif verb == "create_index" and pg:
            if not _is_true(_kw(node, "postgresql_concurrently")):
                index_table = table if batch is not None else _const(_arg(node, 1, "table_name"))
                add("ast-index-without-concurrently", "builds an index without CONCURRENTLY", node, index_table,
                    schema)
        elif verb == "execute" and batch is None:
            sql = _sql_text(_arg(node, 0, "sqltext"))
            for a, b in statements(sql or ""):
                stmt = sql[a:b] if sql else ""
                hit = (("ast-drop-table", "drops a table") if _DROP_TABLE_SQL.match(stmt)
                       else ("ast-drop-column", "drops a column") if _DROP_COLUMN_SQL.match(stmt)
                       else ("ast-type-change", "changes a column type") if _TYPE_SQL.match(stmt)
                       else ("ast-index-without-concurrently", "builds an index without CONCURRENTLY")
                       if pg and _INDEX_SQL.match(stmt) else None)
                if hit:
                    add(hit[0], hit[1], node, table_of(stmt))
    return tuple(out)


# -- the public entry ---------------------------------------------------------------------------

_Origin = tuple[int, int, str, list[tuple[int, int]]]  # first line, step, its SQL, its statements


def _squawk_located(parts: list[str], origins: list[_Origin], pg_version: str | None,
                    binary: str | None) -> list[tuple[dict[str, Any], _Origin]]:
    """squawk's violations, each with the step it belongs to. The whole plan goes as one file;
    should squawk fail to parse it (it then reports only ``syntax-error``, hiding every other
    step's findings), each step goes as a file of its own, as lines of that step."""
    violations = run_squawk({"plan.sql": "".join(parts)}, pg_version=pg_version, binary=binary)
    if not any(v.get("rule_name") == "syntax-error" for v in violations):
        firsts = [o[0] for o in origins]
        located = []
        for v in violations:
            k = bisect.bisect_right(firsts, int(v.get("line", 0))) - 1
            if k >= 0:
                located.append((v, origins[k]))
        return located
    names = {f"step-{k:05d}.sql": k for k in range(len(parts))}
    violations = run_squawk({name: parts[k] for name, k in names.items()}, pg_version=pg_version, binary=binary)
    located = []
    for v in violations:
        k = names.get(Path(str(v.get("file", ""))).name)
        if k is not None:
            _first, i, sql, spans = origins[k]
            located.append((v, (0, i, sql, spans)))
    return located


def lint_steps(steps: Sequence[PlanStep], *, dialect: str, ignore: Mapping[str, Collection[str]] | None = None,
               pg_version: str | None = None, version_table: str = "alembic_version",
               binary: str | None = None) -> list[tuple[LintFinding, ...]]:
    """One tuple of findings per step, in order. PostgreSQL steps with SQL go through squawk (one
    run for all of them); every other up/down step through the AST pass. Rules listed for a
    revision in ``ignore`` come back ``accepted``. Raises :class:`LintUnavailable` (with the AST
    pass's findings) when squawk cannot run."""
    ignore = ignore or {}
    found: list[list[LintFinding]] = [[] for _ in steps]
    # Every step in one file, one after the other as they run (a file per step cost more to
    # write than squawk takes to read them all): (first line, step, its SQL, its statements).
    parts: list[str] = []
    origins: list[tuple[int, int, str, list[tuple[int, int]]]] = []
    line = 0
    for i, step in enumerate(steps):
        if step.direction not in ("up", "down"):
            continue
        if dialect == "postgresql" and step.sql.strip():
            text, spans = squawk_input(step.sql, version_table)
            if text:
                text = text if text.endswith("\n") else text + "\n"
                origins.append((line, i, step.sql, spans))
                parts.append(text)
                line += text.count("\n")
        elif step.path:
            try:
                source = Path(step.path).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            found[i].extend(ast_findings(source, step.direction, dialect=dialect))
    failure: str | None = None
    if parts:
        try:
            located = _squawk_located(parts, origins, pg_version, binary)
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            failure = str(exc) if isinstance(exc, RuntimeError | FileNotFoundError) else f"squawk: {exc}"
            located = []
        for v, (first, i, sql, spans) in located:
            at = int(v.get("line", 0))  # 0-based, as squawk 2.70's JSON counts
            # one line down in the step's part: the BEGIN squawk_input put on top
            statement = _statement_at(sql, spans, at - first - 1, int(v.get("column", 0)))
            rule = str(v.get("rule_name", ""))
            message = str(v.get("message", ""))
            lock = EFFECTS[rule][1] if rule in EFFECTS else _lock_named(f"{message} {v.get('help') or ''}")
            found[i].append(LintFinding(rule, message, statement, table_of(statement), lock=lock))
    out = []
    version = version_table.lower()
    for step, findings in zip(steps, found, strict=True):
        accepted = set(ignore.get(step.revision, ()))
        out.append(tuple(replace(f, accepted=f.rule in accepted) for f in findings
                         if f.table is None or _bare(f.table).lower() != version))
    if failure is not None:
        raise LintUnavailable(failure, out)
    return out


# -- live sizes ---------------------------------------------------------------------------------

async def table_sizes(conn: ThreadedConnection, tables: Collection[str]) -> dict[str, tuple[int | None, int | None]]:
    """(rows, bytes) of each table that exists, by the name it was asked for: PostgreSQL's
    planner estimate (``reltuples``; a never-analysed table under 10 MB is counted instead) and
    ``pg_total_relation_size``; MySQL's ``information_schema.tables`` estimate. One query for all
    names, each a bound parameter; absent tables are left out."""
    names = sorted({t for t in tables if t})
    if not names:
        return {}
    backend = conn.dialect.name
    if backend == "postgresql":
        return await _pg_sizes(conn, names)
    if backend in ("mysql", "mariadb"):
        return await _mysql_sizes(conn, names)
    return {}


async def _pg_sizes(conn: ThreadedConnection, names: list[str]) -> dict[str, tuple[int | None, int | None]]:
    from sqlalchemy import bindparam, text
    from sqlalchemy.dialects.postgresql import ARRAY
    from sqlalchemy.types import Text

    query = text(
        "SELECT t.name, c.reltuples, pg_total_relation_size(c.oid), n.nspname, c.relname "
        "FROM unnest(:names) AS t(name) "
        "JOIN pg_class c ON c.oid = to_regclass(t.name) "
        "JOIN pg_namespace n ON n.oid = c.relnamespace"
    ).bindparams(bindparam("names", type_=ARRAY(Text())))
    # pg_total_relation_size waits for a lock a running ALTER holds: give up on sizes instead.
    await conn.exec_driver_sql("SET lock_timeout = '2s'")
    try:
        rows = (await conn.execute(query, {"names": names})).all()
        out: dict[str, tuple[int | None, int | None]] = {}
        count: list[tuple[str, str, str]] = []
        for name, reltuples, size, schema, relname in rows:
            estimate = None if reltuples is None or reltuples < 0 else int(reltuples)
            if (estimate is None or estimate == 0) and size is not None and size < SMALL_TABLE:
                count.append((name, schema, relname))  # never analysed (or just created): cheap to count
            out[name] = (estimate, None if size is None else int(size))
        count = count[:MAX_COUNTED]
        if count:
            quote = conn.dialect.identifier_preparer.quote
            union = " UNION ALL ".join(f"SELECT {k} AS i, count(*) FROM {quote(s)}.{quote(r)}"
                                       for k, (_n, s, r) in enumerate(count))
            for k, rows_now in (await conn.execute(text(union))).all():
                name = count[k][0]
                out[name] = (int(rows_now), out[name][1])
        return out
    finally:
        await conn.exec_driver_sql("RESET lock_timeout")


async def _mysql_sizes(conn: ThreadedConnection, names: list[str]) -> dict[str, tuple[int | None, int | None]]:
    from sqlalchemy import bindparam, text

    wanted: dict[tuple[str | None, str], str] = {}
    for name in names:
        parts = [p.strip("`\"") for p in name.split(".")]
        wanted[(parts[0] if len(parts) == 2 else None, parts[-1])] = name
    query = text(
        "SELECT table_schema, table_name, table_rows, data_length + index_length, table_schema = DATABASE() "
        "FROM information_schema.tables WHERE table_name IN :names"
    ).bindparams(bindparam("names", expanding=True))
    out: dict[str, tuple[int | None, int | None]] = {}
    for schema, table, rows, size, here in (await conn.execute(query, {"names": sorted({t for _s, t in wanted})})).all():
        name = wanted.get((schema, table)) or (wanted.get((None, table)) if here else None)
        if name is not None:
            out[name] = (None if rows is None else int(rows), None if size is None else int(size))
    return out


async def with_sizes(findings: Sequence[tuple[LintFinding, ...]], conn: ThreadedConnection) -> list[tuple[LintFinding, ...]]:
    """``findings`` with the live size of each one's table filled in (one query)."""
    sizes = await table_sizes(conn, {f.table for step in findings for f in step if f.table})
    return with_table_sizes(findings, sizes)


def with_table_sizes(findings: Sequence[tuple[LintFinding, ...]], sizes: Mapping[str, tuple[int | None, int | None]],
          ) -> list[tuple[LintFinding, ...]]:
    """``findings`` with the sizes of their tables (as :func:`table_sizes` returns them)."""
    return [tuple(replace(f, rows=sizes[f.table][0], bytes=sizes[f.table][1]) if f.table in sizes else f
                  for f in step) for step in findings]


# -- text -------------------------------------------------------------------------------------

def human_rows(n: int) -> str:
    """``≈850``, ``≈1.2k``, ``≈12M``: an estimate, so two significant figures at most."""
    for scale, suffix in ((10**9, "G"), (10**6, "M"), (10**3, "k")):
        if n >= scale:
            value = n / scale
            shown = f"{value:.1f}".removesuffix(".0") if value < 10 else f"{value:.0f}"
            return f"≈{shown}{suffix}"
    return f"≈{n}" if n else "0"


def human_bytes(n: int) -> str:
    """``8 kB``, ``2 MB``, ``41 GB`` (units of 1024, as ``pg_size_pretty`` counts)."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "bytes" or value >= 10 else f"{value:.1f} {unit}".replace(".0 ", " ")
        value /= 1024
    return f"{n} bytes"


def sized(f: LintFinding) -> str:
    """``documents (≈12M rows, 41 GB)``; only the name when the size is not known."""
    parts = []
    if f.rows is not None:
        parts.append(f"{human_rows(f.rows)} row{'' if f.rows == 1 else 's'}")
    if f.bytes is not None:
        parts.append(human_bytes(f.bytes))
    return f"{f.table} ({', '.join(parts)})" if parts else str(f.table)


def describe(f: LintFinding, *, statement_chars: int = 80) -> str:
    """One line: ``rule — effect on the table (size) under LOCK: statement``, e.g.
    ``changing-column-type — rewrites documents (≈12M rows, 41 GB) under ACCESS EXCLUSIVE: ALTER …``.
    A rule without a known effect shows squawk's message instead."""
    head = f.rule + (" (accepted)" if f.accepted else "")
    effect = EFFECTS.get(f.rule, ("", None))[0]
    if f.source == "ast" and not f.lock:
        effect = OTHER_EFFECTS.get(f.rule, "")
    if effect and f.table:
        text = effect.format(t=sized(f), lock=f.lock)
        if f.lock and "{lock}" not in effect:
            text += f" under {f.lock}"
    else:
        text = f.message.strip().rstrip(".")
        if f.table and (f.rows is not None or f.bytes is not None):
            text += f" ({sized(f)})"
    statement = f.statement
    if len(statement) > statement_chars:
        statement = statement[:statement_chars - 1] + "…"
    return f"{head} — {text}" + (f": {statement}" if statement else "")
