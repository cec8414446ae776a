"""Per-step offline rendering: a step whose SQL cannot be rendered offline is named, and every
other step keeps its SQL and its DESTRUCTIVE flags; ``--sql`` prints the script up to it.

Real Alembic projects (``alembic init``, env.py as Alembic writes it, plus a line that counts its
runs), on SQLite and the embedded PostgreSQL.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import make_chain_project, pg_scalar, run_cli, write_config

R1, R2, R3, R4, R5 = "a1a1a1a1a1a1", "b2b2b2b2b2b2", "c3c3c3c3c3c3", "d4d4d4d4d4d4", "e5e5e5e5e5e5"

# Two downgrades that read rows: offline there is no database, so op.get_bind().execute()
# returns None. R4 iterates it (the TypeError the issue reports), R2 calls .scalar() on it.
CHAIN = [
    (R1, "create t1", 'op.create_table("t1", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("t1")'),
    (R2, "add t1.note", 'op.add_column("t1", sa.Column("note", sa.String(50)))',
     'n = op.get_bind().execute(sa.text("SELECT count(*) FROM t1")).scalar()\nop.drop_column("t1", "note")'),
    (R3, "create t2", 'op.create_table("t2", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("t2")'),
    (R4, "add t2.flag", 'op.add_column("t2", sa.Column("flag", sa.Integer))',
     'for row in op.get_bind().execute(sa.text("SELECT id FROM t2")):\n    pass\nop.drop_column("t2", "flag")'),
    (R5, "create t3", 'op.create_table("t3", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("t3")'),
]

NOT_ITERABLE = ("TypeError: 'NoneType' object is not iterable (it reads from the database: offline, "
                "op.get_bind() and op.execute() return no rows)")


def _count_env_runs(ini: Path) -> Path:
    """Make env.py append a line to a file each time it runs; returns that file."""
    env = ini.parent / "migrations" / "env.py"
    runs = ini.parent / "env-runs.txt"
    env.write_text(f"open({str(runs)!r}, 'a').write('run\\n')\n" + env.read_text())
    return runs


def _runs(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server)])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, str, str | None]:
    """(config, alembic.ini, backend, admin URL on PostgreSQL) of the five-revision chain, at base."""
    if request.param == "sqlite":
        url, admin = f"sqlite:///{tmp_path / 'app.db'}", None
    else:
        url, admin = request.getfixturevalue("pg_db")
    ini = make_chain_project(tmp_path, CHAIN)
    return write_config(tmp_path, url, ini=ini), ini, request.param, admin


def test_one_unrenderable_step_keeps_the_others(project: tuple[Path, Path, str, str | None], tmp_path: Path) -> None:
    cfg, ini, backend, _ = project
    runs = _count_env_runs(ini)
    # Upgrading renders in one env.py run: the fast path.
    before = _runs(runs)
    up = json.loads(run_cli("--config", str(cfg), "upgrade", "--dry-run", "--json", cwd=tmp_path).out)
    assert _runs(runs) - before == 1
    assert up["analysed"] is True and up["unrendered"] == [] and up["broken"] == []
    assert all(s["render_error"] is None and s["sql"].startswith("-- Running upgrade") for s in up["steps"])
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0

    before = _runs(runs)
    plan = json.loads(run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    # One run up to R4, one from R3 up to R2, one for R1: one per failing step, not one per step.
    assert _runs(runs) - before == 3
    steps = {s["revision"]: s for s in plan["steps"]}
    assert [s["revision"] for s in plan["steps"]] == [R5, R4, R3, R2, R1]
    assert plan["analysed"] is False and plan["unrendered"] == [R4, R2]
    assert steps[R4]["render_error"] == NOT_ITERABLE and steps[R4]["sql"] is None
    assert steps[R2]["render_error"].startswith("AttributeError: 'NoneType' object has no attribute 'scalar'")
    for rev, table in ((R5, "t3"), (R3, "t2"), (R1, "t1")):
        assert steps[rev]["render_error"] is None
        assert steps[rev]["destructive"] == [f"DROP TABLE {table}"]
        assert steps[rev]["sql"].startswith(f"-- Running downgrade {rev}") and f"DROP TABLE {table};" in steps[rev]["sql"]
    assert plan["destructive"] == ["DROP TABLE t3", "DROP TABLE t2", "DROP TABLE t1"]
    # The whole script names the failing steps where their SQL would be.
    assert f"-- revision {R4} (down) could not be rendered offline: {NOT_ITERABLE}" in plan["sql"]
    assert plan["sql"].index("DROP TABLE t3") < plan["sql"].index(f"-- revision {R4}") < plan["sql"].index(
        "DROP TABLE t2") < plan["sql"].index(f"-- revision {R2}") < plan["sql"].index("DROP TABLE t1")

    text = run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", cwd=tmp_path)
    assert text.code == 0
    lines = text.out.splitlines()
    assert sum("[DESTRUCTIVE]" in line for line in lines) == 3
    at = next(i for i, line in enumerate(lines) if f"downgrade {R4}" in line)
    assert lines[at].endswith("add t2.flag  [SQL NOT RENDERED]")
    assert lines[at + 1].strip() == f"offline SQL could not be rendered: {NOT_ITERABLE}"
    assert "  (2 steps not rendered offline: their destructive statements are unknown)" in lines
    assert "SQL not analysed" not in text.out


def test_sql_prints_up_to_the_unrenderable_step_and_names_it(project: tuple[Path, Path, str, str | None],
                                                              tmp_path: Path) -> None:
    cfg, _, backend, admin = project
    whole = run_cli("--config", str(cfg), "upgrade", "--sql", cwd=tmp_path)
    assert whole.code == 0 and whole.out.count("-- Running upgrade") == 5
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0

    sql = run_cli("--config", str(cfg), "downgrade", "base", "--sql", cwd=tmp_path)
    assert sql.code == 1
    # Today's "unexpected TypeError: 'NoneType' object is not iterable" and no SQL: gone.
    assert "unexpected" not in sql.err
    assert f"-- Running downgrade {R5}" in sql.out and "DROP TABLE t3;" in sql.out
    assert sql.out.endswith(f"-- revision {R4} (down) could not be rendered offline: {NOT_ITERABLE}\n")
    assert "DROP TABLE t2" not in sql.out and f"-- Running downgrade {R4}" not in sql.out
    if backend == "postgresql":
        assert sql.out.startswith("BEGIN;")
    errors = [line for line in sql.err.splitlines() if line.startswith("migctl:")]
    assert errors == [f"migctl: error: revision {R4} (down) could not be rendered offline: {NOT_ITERABLE}"]
    # Nothing ran.
    assert run_cli("--config", str(cfg), "current", cwd=tmp_path).out.strip() == R5
    if admin is not None:
        assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 't3'") == 1


def test_sqlite_batch_step_needs_the_live_table(tmp_path: Path) -> None:
    """SQLite's batch mode reflects the live table, which offline mode does not have."""
    chain = [*CHAIN[:1], ("f6f6f6f6f6f6", "rename via batch",
                          'with op.batch_alter_table("t1") as b:\n    b.add_column(sa.Column("z", sa.Integer))',
                          'with op.batch_alter_table("t1") as b:\n    b.drop_column("z")')]
    ini = make_chain_project(tmp_path, chain)
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    plan = json.loads(run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    batch, first = plan["steps"]
    assert batch["render_error"].startswith("This operation cannot proceed in --sql mode; batch mode with dialect "
                                            "sqlite requires a live database connection")
    assert first["destructive"] == ["DROP TABLE t1"] and plan["unrendered"] == ["f6f6f6f6f6f6"]
    sql = run_cli("--config", str(cfg), "downgrade", "base", "--sql", cwd=tmp_path)
    assert sql.code == 1 and sql.out.startswith("-- revision f6f6f6f6f6f6 (down) could not be rendered offline: "
                                                "This operation cannot proceed in --sql mode")


def test_env_py_that_cannot_run_offline_is_said_once(tmp_path: Path) -> None:
    """A failure before the first step (env.py itself) fails every step the same way: one env.py
    run, one note, not a line per step."""
    ini = make_chain_project(tmp_path, CHAIN)
    env = ini.parent / "migrations" / "env.py"
    env.write_text(env.read_text().replace("def run_migrations_offline() -> None:\n",
                                           "def run_migrations_offline() -> None:\n"
                                           "    raise RuntimeError('this project has no offline mode')\n"))
    runs = _count_env_runs(ini)
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'app.db'}", ini=ini)
    before = _runs(runs)
    text = run_cli("--config", str(cfg), "upgrade", "--dry-run", cwd=tmp_path)
    assert _runs(runs) - before == 1
    assert text.code == 0
    assert ("  note: offline SQL not available for this plan: RuntimeError: this project has no offline mode"
            in text.out.splitlines())
    assert "offline SQL could not be rendered" not in text.out and text.out.count("[SQL NOT RENDERED]") == 5
    assert "  (5 steps not rendered offline: their destructive statements are unknown)" in text.out.splitlines()
    plan = json.loads(run_cli("--config", str(cfg), "upgrade", "--dry-run", "--json", cwd=tmp_path).out)
    assert plan["unrendered"] == [R1, R2, R3, R4, R5] and plan["analysed"] is False
    sql = run_cli("--config", str(cfg), "upgrade", "--sql", cwd=tmp_path)
    assert sql.code == 1 and sql.out == ""
    assert sql.err.strip() == ("migctl: error: offline SQL could not be rendered: RuntimeError: this project has no "
                               "offline mode")
    # Running it needs no offline SQL at all.
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
