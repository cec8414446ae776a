"""DDL lint of plan steps: squawk over the offline SQL (PostgreSQL), an AST pass over the revision
files where there is no SQL (MariaDB), live table sizes, and accepted findings from the config.

The fixture project ``tests/fixtures/lint_project`` has one hazard per revision: a NOT NULL column
without a default (0002), a plain CREATE INDEX (0003), a foreign key without NOT VALID (0004), a
type change (0005), a rename (0006), a dropped column (0007) and SET NOT NULL (0008).
"""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from migctl.core.config import AlembicLocation, load_environment
from migctl.core.errors import ConfigError
from migctl.core.relational.assessment import LintFinding
from migctl.core.relational.lint import (
    LintUnavailable,
    ast_findings,
    describe,
    human_bytes,
    human_rows,
    lint_steps,
    squawk_binary,
    squawk_input,
    statements,
    table_of,
)
from migctl.core.relational.plan import PlanStep, build_plan
from migctl.core.relational.project import AlembicProject
from tests.support import REPO, run_cli, write_config

LINT_PROJECT = REPO / "tests" / "fixtures" / "lint_project"
# rule -> the revision whose upgrade triggers it and the table it touches
SQUAWK_RULES = {
    "adding-required-field": ("0002", "documents"),
    "require-concurrent-index-creation": ("0003", "documents"),
    "adding-foreign-key-constraint": ("0004", "documents"),
    "constraint-missing-not-valid": ("0004", "documents"),
    "changing-column-type": ("0005", "documents"),
    "renaming-column": ("0006", "authors"),
    "ban-drop-column": ("0007", "documents"),
    "adding-not-nullable-field": ("0008", "documents"),
}
ACCEPTED = ("0006", "renaming-column")
DOCUMENTS, AUTHORS = 1234, 300  # rows the server tests put in each table


def _project(tmp: Path) -> Path:
    """A copy of the lint fixture project; returns its alembic.ini."""
    target = tmp / "lint_project"
    shutil.copytree(LINT_PROJECT, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "alembic.ini"


def _config(tmp: Path, url: str) -> Path:
    path = write_config(tmp, url, ini=_project(tmp))
    with path.open("a") as fh:
        fh.write(f"lint:\n  ignore:\n    '{ACCEPTED[0]}': [{ACCEPTED[1]}]\n")
    return path


# -- the AST pass (no server) ----------------------------------------------------------------

REVISION = '''
import sqlalchemy as sa
from alembic import op

revision = "r1"
down_revision = None


def upgrade():
    op.drop_table("old_things")
    op.drop_column("documents", "legacy")
    op.alter_column("documents", "title", type_=sa.String(200))
    op.alter_column("documents", "summary", nullable=True)  # no type change: not flagged
    op.add_column("documents", sa.Column("body", sa.Text(), nullable=False))
    op.add_column("documents", sa.Column("lang", sa.Text(), nullable=False, server_default="en"))
    op.create_index("ix_documents_title", "documents", ["title"])
    op.create_index("ix_quick", "documents", ["lang"], postgresql_concurrently=True)
    op.execute("DROP TABLE scratch")
    op.execute(sa.text("ALTER TABLE authors DROP COLUMN nickname; SELECT 1"))
    with op.batch_alter_table("chunks", schema="rag") as batch_op:
        batch_op.drop_column("embedding_v1")
        batch_op.alter_column("score", type_=sa.Float())
        batch_op.add_column(sa.Column("rank", sa.Integer(), nullable=False))


def downgrade():
    op.drop_table("only_in_downgrade")
'''


def _rules(findings: tuple[LintFinding, ...]) -> list[tuple[str, str | None]]:
    return [(f.rule, f.table) for f in findings]


def test_ast_pass_flags_each_hazardous_op_of_the_direction() -> None:
    found = ast_findings(REVISION, "up", dialect="postgresql")
    assert sorted(_rules(found), key=str) == sorted([
        ("ast-drop-table", "old_things"),
        ("ast-drop-column", "documents"),
        ("ast-type-change", "documents"),
        ("ast-not-null-without-default", "documents"),
        ("ast-index-without-concurrently", "documents"),
        ("ast-drop-table", "scratch"),
        ("ast-drop-column", "authors"),
        ("ast-drop-column", "rag.chunks"),
        ("ast-type-change", "rag.chunks"),
        ("ast-not-null-without-default", "rag.chunks"),
    ], key=str)
    assert all(f.source == "ast" and f.lock for f in found)
    by_rule = {(f.rule, f.table): f for f in found}
    assert by_rule[("ast-type-change", "documents")].statement.startswith('op.alter_column("documents", "title"')
    assert by_rule[("ast-type-change", "documents")].lock == "ACCESS EXCLUSIVE"
    assert by_rule[("ast-index-without-concurrently", "documents")].lock == "SHARE"
    assert "ix_quick" not in " ".join(f.statement for f in found)  # built CONCURRENTLY
    assert "lang" not in " ".join(f.statement for f in found)  # NOT NULL with a server default
    assert _rules(ast_findings(REVISION, "down")) == [("ast-drop-table", "only_in_downgrade")]


def test_ast_pass_on_mysql_leaves_out_postgresql_locks_and_concurrently() -> None:
    found = ast_findings(REVISION, "up", dialect="mysql")
    rules = {f.rule for f in found}
    assert "ast-index-without-concurrently" not in rules  # InnoDB builds secondary indexes online
    assert {"ast-drop-table", "ast-drop-column", "ast-type-change", "ast-not-null-without-default"} <= rules
    assert all(f.lock is None for f in found)
    change = next(f for f in found if f.rule == "ast-type-change")
    assert describe(change).startswith("ast-type-change — rewrites documents as a table copy that blocks writes: ")


def test_ast_pass_survives_a_file_that_is_not_python() -> None:
    assert ast_findings("def upgrade(:\n", "up") == ()
    assert ast_findings("x = 1\n", "up") == ()


# -- statements, tables, squawk's input (no server) ------------------------------------------

@pytest.mark.parametrize(("statement", "table"), [
    ("ALTER TABLE documents ADD COLUMN body TEXT NOT NULL;", "documents"),
    ("ALTER TABLE IF EXISTS ONLY public.documents DROP COLUMN x;", "public.documents"),
    ('ALTER TABLE "Mixed Case" RENAME a TO b;', '"Mixed Case"'),
    ("CREATE INDEX ix_t ON documents (title);", "documents"),
    ("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix ON ONLY rag.chunks USING hnsw (e);", "rag.chunks"),
    ("CREATE INDEX ON documents (title);", "documents"),
    ("DROP TABLE IF EXISTS old_things;", "old_things"),
    ("DROP INDEX CONCURRENTLY ix_t;", "ix_t"),
    ("TRUNCATE TABLE logs CASCADE;", "logs"),
    ("CREATE TABLE IF NOT EXISTS t (id bigint);", "t"),
    ("UPDATE documents SET x = 1;", "documents"),
    ("SELECT 1;", None),
    ("SET lock_timeout = '2s';", None),
])
def test_table_of_a_statement(statement: str, table: str | None) -> None:
    assert table_of(statement) == table


def test_statements_skip_semicolons_in_quotes_comments_and_dollar_quotes() -> None:
    sql = ("-- a comment; with a semicolon\nSELECT 'a;b', \"c;d\";\n/* x; y */ CREATE FUNCTION f() RETURNS int "
           "AS $body$ SELECT 1; $body$ LANGUAGE sql;\nSELECT E'it\\'s;';\nSELECT 2")
    texts = [sql[a:b] for a, b in statements(sql)]
    assert texts == ["SELECT 'a;b', \"c;d\";",
                     "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;",
                     "SELECT E'it\\'s;';", "SELECT 2"]


def test_squawk_input_drops_the_bookkeeping_and_keeps_positions() -> None:
    chunk = ("-- Running upgrade a -> b\n\nALTER TABLE documents ADD COLUMN x int;\n\n"
             "UPDATE alembic_version SET version_num='b' WHERE alembic_version.version_num = 'a';\n\n"
             "COMMIT;\n\nBEGIN;\n")
    text, _spans = squawk_input(chunk)
    lines = text.splitlines()
    assert lines[0] == "BEGIN;" and lines[-1] == "COMMIT;"
    assert lines[3] == "ALTER TABLE documents ADD COLUMN x int;"  # line 2 of the chunk, one down
    assert "alembic_version" not in text and text.count("COMMIT") == 1 and text.count("BEGIN") == 1
    # An autocommit block (transaction_per_migration): its COMMIT ... stays, and no COMMIT is added.
    block = ("-- Running upgrade b -> c\n\nCOMMIT;\n\nCREATE INDEX CONCURRENTLY ix ON documents (x);\n\nBEGIN;\n\n"
             "UPDATE alembic_version SET version_num='c';\n\nCOMMIT;\n\nBEGIN;\n")
    text, _spans = squawk_input(block)
    assert [ln for ln in text.splitlines() if ln.strip()] == [
        "BEGIN;", "-- Running upgrade b -> c", "COMMIT;", "CREATE INDEX CONCURRENTLY ix ON documents (x);"]
    assert squawk_input("-- Running upgrade c -> d\n\nUPDATE alembic_version SET version_num='d';\n")[0] == ""


def test_sizes_read_as_an_operator_says_them() -> None:
    assert [human_rows(n) for n in (0, 1, 850, 1234, 12_000, 12_345_678, 3_200_000_000)] == [
        "0", "≈1", "≈850", "≈1.2k", "≈12k", "≈12M", "≈3.2G"]
    assert [human_bytes(n) for n in (512, 8192, 2 * 1024**2, 41 * 1024**3)] == ["512 bytes", "8 kB", "2 MB", "41 GB"]
    f = LintFinding("changing-column-type", "…", "ALTER TABLE document_embeddings ALTER COLUMN e TYPE vector(1536);",
                    "document_embeddings", rows=12_000_000, bytes=41 * 1024**3, lock="ACCESS EXCLUSIVE")
    assert describe(f) == ("changing-column-type — rewrites document_embeddings (≈12M rows, 41 GB) under ACCESS "
                           "EXCLUSIVE: ALTER TABLE document_embeddings ALTER COLUMN e TYPE vector(1536);")
    accepted = LintFinding("renaming-column", "Renaming a column may break existing clients.", "ALTER TABLE a RENAME x TO y;",
                           "a", accepted=True, lock="ACCESS EXCLUSIVE")
    assert describe(accepted).startswith("renaming-column (accepted) — renames a column of a under ACCESS EXCLUSIVE")
    plain = LintFinding("prefer-bigint-over-int", "Using 32-bit integer fields can result in hitting the max `int` limit.",
                        "CREATE TABLE t (id int);", "t")
    assert describe(plain) == ("prefer-bigint-over-int — Using 32-bit integer fields can result in hitting the max "
                               "`int` limit: CREATE TABLE t (id int);")


# -- squawk itself on Alembic's offline SQL (no server: offline SQL needs none) ---------------

def _offline_plan(tmp: Path, action: str = "upgrade", target: str = "head", current: tuple[str, ...] = ()):
    ini = _project(tmp)
    project = AlembicProject(AlembicLocation(ini.parent, ini), None)
    return build_plan(project, "postgresql+psycopg://nobody@127.0.0.1:1/none", action, target, current)


def test_squawk_is_the_installed_dependency() -> None:
    binary = squawk_binary()
    assert binary is not None and Path(binary).parent == Path(sys.executable).parent


def test_squawk_findings_map_to_their_step_and_statement(tmp_path: Path) -> None:
    plan = _offline_plan(tmp_path)
    assert [s.revision for s in plan.steps] == [f"000{i}" for i in range(1, 9)]
    found = lint_steps(plan.steps, dialect="postgresql", ignore={ACCEPTED[0]: [ACCEPTED[1]]}, pg_version="18.1")
    by_step = {step.revision: findings for step, findings in zip(plan.steps, found, strict=True)}
    rules = {f.rule for fs in found for f in fs}
    assert len(set(SQUAWK_RULES) & rules) >= 6, rules
    for rule, (revision, table) in SQUAWK_RULES.items():
        (hit,) = [f for f in by_step[revision] if f.rule == rule]
        assert hit.table == table and hit.source == "squawk"
        assert hit.statement.startswith(("ALTER TABLE", "CREATE INDEX")) and hit.statement.endswith(";")
        assert hit.accepted == ((revision, rule) == ACCEPTED)
    assert by_step["0005"][0].statement == "ALTER TABLE documents ALTER COLUMN title TYPE VARCHAR(200);"
    # Alembic's bookkeeping is not the revision's: nothing on the version table, no BEGIN/COMMIT noise.
    flat = [f for fs in found for f in fs]
    assert not [f for f in flat if "alembic_version" in f.statement or f.rule in (
        "transaction-nesting", "ban-uncommitted-transaction", "require-lock-timeout")]


def test_a_downgrade_is_linted_from_its_own_sql(tmp_path: Path) -> None:
    plan = _offline_plan(tmp_path, "downgrade", "base", ("0008",))
    found = lint_steps(plan.steps, dialect="postgresql")
    first = dict(zip([s.revision for s in plan.steps], found, strict=True))
    assert {"ban-drop-table"} <= {f.rule for f in first["0001"]}
    assert {f.table for f in first["0001"] if f.rule == "ban-drop-table"} == {"documents", "authors"}


def test_squawk_failing_keeps_the_ast_findings_and_says_why(tmp_path: Path) -> None:
    plan = _offline_plan(tmp_path)
    steps = [*plan.steps[:2], PlanStep("0007", "up", "m", path=str(tmp_path / "lint_project" / "versions"
                                                                     / "0007_drop_column.py"))]
    with pytest.raises(LintUnavailable) as caught:
        lint_steps(steps, dialect="postgresql", binary="/bin/false")
    assert "squawk failed" in str(caught.value)
    assert [[f.rule for f in fs] for fs in caught.value.findings][2] == ["ast-drop-column"]
    with pytest.raises(LintUnavailable, match="No such file|not found"):
        lint_steps(plan.steps[:1], dialect="postgresql", binary=str(tmp_path / "no-squawk"))


def test_steps_without_sql_go_through_the_ast_pass(tmp_path: Path) -> None:
    plan = _offline_plan(tmp_path)
    bare = [PlanStep(s.revision, s.direction, s.message, s.path) for s in plan.steps]  # none rendered
    found = lint_steps(bare, dialect="postgresql")
    rules = {f.rule for fs in found for f in fs}
    assert {"ast-not-null-without-default", "ast-index-without-concurrently", "ast-type-change",
            "ast-drop-column"} <= rules
    assert all(f.source == "ast" for fs in found for f in fs)


# -- config ----------------------------------------------------------------------------------

def test_accepted_rules_merge_from_the_top_level_and_the_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text(textwrap.dedent(f"""\
        state_dir: {tmp_path / 'state'}
        alembic: {{script_location: {LINT_PROJECT}}}
        lint:
          ignore:
            '0006': [renaming-column]
        environments:
          prod:
            database_url: postgresql://u@h/db
            lint:
              ignore:
                '0006': [ban-drop-column]
                '0007': [ban-drop-column]
          dev:
            database_url: postgresql://u@h/db
            lint: {{enabled: false}}
        """))
    prod = load_environment(cfg, env="prod", environ={})
    assert prod.lint_ignore == {"0006": {"renaming-column", "ban-drop-column"}, "0007": {"ban-drop-column"}}
    assert prod.lint_enabled
    dev = load_environment(cfg, env="dev", environ={})
    assert dev.lint_ignore == {"0006": {"renaming-column"}} and not dev.lint_enabled


@pytest.mark.parametrize(("section", "message"), [
    ("lint: {ignore: {0006: [renaming-column]}}", "lint.ignore: revision 6 is not a string: quote revision ids"),
    ("lint: {ignore: {'0006': renaming-column}}", "lint.ignore.0006: expected a list of rule names"),
    ("lint: {ignore: {'0006': []}}", "lint.ignore.0006: expected a list of rule names"),
    ("lint: {ignore: [renaming-column]}", "lint.ignore: expected a mapping"),
    ("lint: {ignor: {}}", "unknown key lint.'ignor' (did you mean 'ignore'?)"),
    ("lint: {enabled: 'no'}", "lint.enabled: expected true or false"),
])
def test_invalid_lint_config_is_one_clear_line(tmp_path: Path, section: str, message: str) -> None:
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text(f"alembic: {{script_location: {LINT_PROJECT}}}\n{section}\n")
    with pytest.raises(ConfigError) as caught:
        load_environment(cfg, environ={})
    assert message in str(caught.value) and "\n" not in str(caught.value)


# -- live sizes, through the real CLI (embedded PostgreSQL 18) --------------------------------

def _fill(admin_url: str, analyse: bool = True) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"INSERT INTO authors (name) SELECT 'a' || g FROM generate_series(1, {AUTHORS}) g")
        conn.execute(f"INSERT INTO documents (title, author_id) SELECT 't' || g, 1 FROM generate_series(1, {DOCUMENTS}) g")
        if analyse:
            conn.execute("ANALYZE authors")
            conn.execute("ANALYZE documents")


def test_dry_run_shows_each_finding_with_the_live_row_count(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = _config(tmp_path, url)
    assert run_cli("--config", str(cfg), "upgrade", "0001", "--yes", cwd=tmp_path).code == 0
    _fill(admin)
    shown = run_cli("--config", str(cfg), "upgrade", "head", "--dry-run", cwd=tmp_path)
    assert shown.code == 0, shown.text
    lint_lines = [ln.strip() for ln in shown.out.splitlines() if ln.strip().startswith("lint: ")]
    for rule, (_revision, table) in SQUAWK_RULES.items():
        rows = "≈1.2k rows" if table == "documents" else "≈300 rows"
        (line,) = [ln for ln in lint_lines if ln.startswith(f"lint: {rule} ")]
        assert f"{table} ({rows}, " in line, line
    assert "lint: changing-column-type — rewrites documents (≈1.2k rows, " in shown.out
    assert "under ACCESS EXCLUSIVE: ALTER TABLE documents ALTER COLUMN title TYPE VARCHAR(200);" in shown.out
    assert [ln for ln in lint_lines if "(accepted)" in ln] == [
        next(ln for ln in lint_lines if ln.startswith("lint: renaming-column "))]
    assert "lint not available" not in shown.out

    as_json = run_cli("--config", str(cfg), "upgrade", "head", "--dry-run", "--json", cwd=tmp_path)
    plan = json.loads(as_json.out)
    findings = {(s["revision"], f["rule"]): f for s in plan["steps"] for f in s["lint"]}
    for rule, (revision, table) in SQUAWK_RULES.items():
        f = findings[(revision, rule)]
        assert f["table"] == table and f["rows"] == (DOCUMENTS if table == "documents" else AUTHORS)
        assert f["bytes"] > 0 and f["statement"] and f["source"] == "squawk"
        assert f["accepted"] == ((revision, rule) == ACCEPTED)
    assert findings[("0005", "changing-column-type")]["lock"] == "ACCESS EXCLUSIVE"


@pytest.mark.asyncio
async def test_sizes_count_a_never_analysed_small_table_and_skip_absent_ones(pg_db: tuple[str, str],
                                                                            tmp_path: Path) -> None:
    import psycopg

    from migctl.core.db import connect, create_engine
    from migctl.core.relational.lint import table_sizes, with_sizes

    url, admin = pg_db
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('CREATE TABLE "Mixed Case" (id int) WITH (autovacuum_enabled = false)')
        conn.execute('INSERT INTO "Mixed Case" SELECT generate_series(1, 77)')
        conn.execute("CREATE SCHEMA rag")
        conn.execute("CREATE TABLE rag.chunks (id int)")
        conn.execute("INSERT INTO rag.chunks SELECT generate_series(1, 5000)")
        conn.execute("ANALYZE rag.chunks")
    engine = create_engine(url)
    conn = await connect(engine, url)
    try:
        sizes = await table_sizes(conn, ['"Mixed Case"', "rag.chunks", "not_there", "rag.nope"])
        assert set(sizes) == {'"Mixed Case"', "rag.chunks"}
        assert sizes['"Mixed Case"'][0] == 77 and sizes["rag.chunks"][0] == 5000
        assert all(b and b > 0 for _r, b in sizes.values())
        findings = [(LintFinding("ban-drop-table", "m", "DROP TABLE rag.chunks;", "rag.chunks"),),
                    (LintFinding("ban-drop-table", "m", "DROP TABLE gone;", "gone"),)]
        sized = await with_sizes(findings, conn)
        assert sized[0][0].rows == 5000 and sized[1][0].rows is None
        # the session is left as it was
        assert (await conn.exec_driver_sql("SHOW lock_timeout")).scalar() == "0"
    finally:
        await conn.close()
        await engine.dispose()


@pytest.mark.asyncio
async def test_a_missing_squawk_is_a_plan_note_not_a_failure(pg_db: tuple[str, str], tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from migctl.core import api
    from migctl.core.relational import lint

    url, _admin = pg_db
    cfg = _config(tmp_path, url)
    monkeypatch.setattr(lint, "squawk_binary", lambda: None)  # as on a machine without squawk-cli
    app = api.Migctl.open(str(cfg))
    try:
        plan = await app.plan_upgrade("head")
    finally:
        await app.close()
    assert len(plan.steps) == 8 and plan.sql
    assert any(n.startswith("lint not available: squawk not found") for n in plan.notes), plan.notes
    assert not any(s.lint for s in plan.steps)


def test_lint_can_be_switched_off(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _admin = pg_db
    cfg = _config(tmp_path, url)
    with cfg.open("a") as fh:
        fh.write("  enabled: false\n")
    shown = run_cli("--config", str(cfg), "upgrade", "head", "--dry-run", "--json", cwd=tmp_path)
    assert shown.code == 0, shown.text
    assert all(s["lint"] == [] for s in json.loads(shown.out)["steps"])


# -- MariaDB: no squawk, the AST pass ---------------------------------------------------------

def test_mariadb_dry_run_flags_the_drop_and_the_type_change(mariadb_url: str, tmp_path: Path) -> None:
    import pymysql

    cfg = _config(tmp_path, mariadb_url)
    assert run_cli("--config", str(cfg), "upgrade", "0001", "--yes", cwd=tmp_path).code == 0
    name = mariadb_url.rsplit("/", 1)[1]
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", database=name, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO documents (title) VALUES ('a'), ('b'), ('c')")
        cur.execute("ANALYZE TABLE documents")
    conn.close()
    shown = run_cli("--config", str(cfg), "upgrade", "head", "--dry-run", cwd=tmp_path)
    assert shown.code == 0, shown.text
    lint_lines = [ln.strip() for ln in shown.out.splitlines() if ln.strip().startswith("lint: ")]
    assert any(ln.startswith("lint: ast-drop-column — drops a column of documents (≈3 rows, ") for ln in lint_lines), lint_lines
    assert any(ln.startswith("lint: ast-type-change — rewrites documents (≈3 rows, ") for ln in lint_lines), lint_lines
    assert any(ln.startswith("lint: ast-not-null-without-default") for ln in lint_lines)
    assert not any("CONCURRENTLY" in ln or "squawk" in ln for ln in lint_lines)
    down = json.loads(run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    (step,) = down["steps"]
    assert {(f["rule"], f["table"]) for f in step["lint"]} == {("ast-drop-table", "documents"),
                                                              ("ast-drop-table", "authors")}
    assert {f["table"]: f["rows"] for f in step["lint"]}["documents"] == 3


def test_a_statement_squawk_cannot_parse_costs_only_its_own_step(tmp_path: Path) -> None:
    """squawk reports only ``syntax-error`` for a file it cannot parse: one step it cannot read
    must not take the other steps' findings with it (the plan goes as one file until then)."""
    from dataclasses import replace

    plan = _offline_plan(tmp_path)
    steps = list(plan.steps)
    steps[1] = replace(steps[1], sql="ALTER TABLE documents ADD COLUMN x int NOT NULL DEFAULT 1 2 3;\n")
    found = dict(zip([s.revision for s in steps], lint_steps(steps, dialect="postgresql"), strict=True))
    assert {f.rule for f in found["0002"]} == {"syntax-error"}
    assert "require-concurrent-index-creation" in {f.rule for f in found["0003"]}
    assert "changing-column-type" in {f.rule for f in found["0005"]}
