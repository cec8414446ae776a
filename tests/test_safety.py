"""Checksums and drift, protected environments, confirmation prompts, the audit trail."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import time
from pathlib import Path

from tests.support import MIGCTL, clean_env, make_project, pg_scalar, run_cli, write_config


def test_edited_revision_shows_as_drifted(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_revision_checksums") == 3
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["drifted"] == []
    history = run_cli("--config", str(cfg), "history", "--indicate-current", cwd=tmp_path).out
    assert "bbb222bbb222 -> ccc333ccc333 (current) (head), add note to orders" in history
    assert run_cli("--config", str(cfg), "current", cwd=tmp_path).out.strip() == "ccc333ccc333"

    edited = next((ini.parent / "migrations" / "versions").glob("0002_*"))
    edited.write_text(edited.read_text().replace('server_default="0"', 'server_default="1"'))
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["drifted"] == [
        {"revision": "bbb222bbb222", "reason": "edited since applied", "path": str(edited)}]
    text = run_cli("--config", str(cfg), "status", cwd=tmp_path).out
    assert "drifted:     bbb222bbb222 (edited since applied)" in text

    # A changed history is refused (exit 3) until the operator says otherwise.
    refused = run_cli("--config", str(cfg), "downgrade", "aaa111aaa111", "--yes", cwd=tmp_path)
    assert refused.code == 3 and "bbb222bbb222 (edited since applied)" in refused.err and "--allow-drift" in refused.err
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    # Reverting the revision forgets its checksum; re-applying records the new one.
    assert run_cli("--config", str(cfg), "downgrade", "aaa111aaa111", "--yes", "--allow-drift", cwd=tmp_path).code == 0
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_revision_checksums") == 1
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["drifted"] == []


def test_protected_environment_needs_its_name(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini, name="prod", protected=True)
    refused = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert refused.code == 3 and "protected" in refused.err and "--confirm-env prod" in refused.err
    wrong = run_cli("--config", str(cfg), "upgrade", "--yes", "--confirm-env", "dev", cwd=tmp_path)
    assert wrong.code == 3
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'") == 0
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE outcome = 'refused'") == 2
    ok = run_cli("--config", str(cfg), "upgrade", "--yes", "--confirm-env", "prod", cwd=tmp_path)
    assert ok.code == 0, ok.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"


def _run_on_tty(args: list[str], answers: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run migctl with a pseudo-terminal as stdin/stdout, answering prompts as they appear."""
    master, slave = pty.openpty()
    env = clean_env()
    env.pop("CI", None)
    proc = subprocess.Popen([MIGCTL, *args], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                            close_fds=True)
    os.close(slave)
    out = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if pending and out.rstrip().endswith((b"[y/N]", b"confirm:")):
                os.write(master, (pending.pop(0) + "\n").encode())
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    from tests.support import CLI_OUTPUT

    text = out.decode(errors="replace")
    CLI_OUTPUT.append(text)
    return proc.returncode, text


def test_tty_confirmation_declined_then_accepted(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini, name="prod", protected=True)
    code, text = _run_on_tty(["--config", str(cfg), "upgrade"], ["n"], tmp_path)
    assert code == 3, text
    assert "1. upgrade   aaa111aaa111  create accounts" in text and "declined" in text
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'accounts'") == 0

    code, text = _run_on_tty(["--config", str(cfg), "upgrade"], ["y", "production"], tmp_path)
    assert code == 3 and "name not typed correctly" in text
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'accounts'") == 0

    code, text = _run_on_tty(["--config", str(cfg), "downgrade", "base"], ["y"], tmp_path)
    assert code == 0 and "nothing to do" in text

    code, text = _run_on_tty(["--config", str(cfg), "upgrade"], ["y", "prod"], tmp_path)
    assert code == 0, text
    assert "-- Running upgrade" not in text, "the prompt shows the plan; SQL only with --dry-run/--sql"
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    outcomes = pg_scalar(admin, "SELECT string_agg(outcome, ',' ORDER BY id) FROM migctl_audit")
    assert outcomes == "refused,refused,ok"


def test_audit_command_lists_rows(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "+2", "--yes", cwd=tmp_path).code == 0
    assert run_cli("--config", str(cfg), "downgrade", "-1", "--yes", cwd=tmp_path,
                   env=clean_env(SSH_CLIENT="203.0.113.9 52000 22")).code == 0
    rows = json.loads(run_cli("--config", str(cfg), "audit", "--json", "--limit", "5", cwd=tmp_path).out)
    assert [(r["action"], r["target"], r["outcome"]) for r in rows] == [("downgrade", "-1", "ok"),
                                                                        ("upgrade", "+2", "ok")]
    assert rows[0]["revisions_before"] == "bbb222bbb222" and rows[0]["revisions_after"] == "aaa111aaa111"
    assert rows[0]["ssh_client"] == "203.0.113.9" and rows[1]["ssh_client"] is None
    assert rows[0]["duration_ms"] >= 0 and rows[0]["finished_at"]
    text = run_cli("--config", str(cfg), "audit", cwd=tmp_path).out
    assert "downgrade -1" in text and "(ssh 203.0.113.9)" in text


def test_restore_of_a_damaged_backup_fails_in_one_line_and_is_audited(pg_db: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    backup = tmp_path / "backup"
    backup.mkdir()
    (backup / "db.dump").write_bytes(b"PGDMP but not really a dump\n" * 10)
    (backup / "manifest.json").write_text(json.dumps({"environment": "test", "relational": "db.dump",
                                                      "tables": {}, "collections": {}}))
    res = run_cli("--config", str(cfg), "restore", str(backup), "--yes", cwd=tmp_path)
    assert res.code == 1, res.text
    lines = [ln for ln in res.err.splitlines() if ln.startswith("migctl:")]
    assert len(lines) == 1 and lines[0].startswith("migctl: error: pg_restore failed: "), res.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"  # untouched
    row = json.loads(run_cli("--config", str(cfg), "audit", "--json", "--limit", "1", cwd=tmp_path).out)[0]
    assert (row["action"], row["target"], row["outcome"]) == ("restore", str(backup), "failed"), row
    assert row["error"].startswith("pg_restore failed: "), row


HOSTILE = 'workspaces"; DROP TABLE tasks; --'


def test_reset_quotes_catalog_names(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """A table whose name closes the quote and runs SQL: planning a reset (no --confirm-reset)
    reads and drops nothing; the reset itself drops exactly that table and the others."""
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        for sql in ('CREATE TABLE tasks (id int)', 'INSERT INTO tasks VALUES (1), (2)', 'CREATE TABLE workspaces (id int)',
                    'CREATE TABLE "workspaces""; DROP TABLE tasks; --" (id int)',
                    'CREATE SCHEMA "odd.schema"', 'CREATE TABLE "odd.schema"."a.b" (id int)',
                    'CREATE VIEW "v""x" AS SELECT 1 AS one'):
            conn.execute(sql)
    planned = run_cli("--config", str(cfg), "--json", "reset", cwd=tmp_path)
    assert planned.code == 3, planned.text
    tables = {t["name"]: t["rows"] for t in json.loads(planned.out)["plan"]["tables"]}
    assert tables == {"public.tasks": 2, "public.workspaces": 0, f"public.{HOSTILE}": 0, "odd.schema.a.b": 0}, tables
    assert pg_scalar(admin, "SELECT count(*) FROM tasks") == 2, "planning dropped nothing"

    done = run_cli("--config", str(cfg), "reset", "--confirm-reset", "--yes", "--no-backup", cwd=tmp_path)
    assert done.code == 0, done.text
    left = pg_scalar(admin, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE c.relkind IN ('r', 'v') AND n.nspname IN ('public', 'odd.schema') "
                            "AND c.relname NOT LIKE 'migctl%'")
    assert left == 0
