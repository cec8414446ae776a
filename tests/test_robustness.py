"""Regression tests for defects found in review: interrupts, unattended runs, odd input, masking."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from migctl.core.secrets import mask_url, remember
from tests.support import (
    CLI_OUTPUT,
    MIGCTL,
    REFERENCE_SECTIONS,
    clean_env,
    make_project,
    pg_scalar,
    reference_project,
    run_cli,
    write_config,
)


def _wait_for_sleep(admin: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg_scalar(admin, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"):
            return
        time.sleep(0.1)
    raise AssertionError("the slow revision never started")


@pytest.mark.slow
def test_ctrl_c_finishes_the_running_revision_and_keeps_the_lock_until_then(pg_db: tuple[str, str],
                                                                           tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "slow"))
    # A suite started in the background (`make test &`) hands its children SIGINT ignored, and
    # Python keeps an ignored SIGINT ignored: give migctl the terminal's default back.
    proc = subprocess.Popen([MIGCTL, "--config", str(cfg), "upgrade", "--yes"], cwd=tmp_path,
                            env=clean_env(MIGCTL_TEST_SLEEP="4"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for_sleep(admin)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        second = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
        assert second.code == 3 and "migration lock is held by" in second.err, second.text
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    CLI_OUTPUT.append(out + err)
    assert proc.returncode == 1, err
    assert "interrupted by the operator after 2 of 3 step(s); now at 5102a0000002" in err
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "5102a0000002"
    assert pg_scalar(admin, "SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_items_name'") == 1
    assert pg_scalar(admin, "SELECT outcome FROM migctl_audit WHERE action = 'upgrade' AND outcome <> 'refused'") \
        == "failed"
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_revision_checksums") == 2


def test_unattended_run_needs_yes(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    result = run_cli("--database-url", url, "upgrade", cwd=tmp_path, input="y\n")
    assert result.code == 3 and "pass --yes" in result.err
    result = run_cli("--database-url", url, "downgrade", "base", "--json", cwd=tmp_path)
    assert result.code in (0, 3)
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'workspaces'") == 0
    assert pg_scalar(admin, "SELECT outcome FROM migctl_audit") == "refused"


@pytest.mark.parametrize("args", [
    ("upgrade", "heads+1", "--dry-run"), ("upgrade", "base+0", "--dry-run"), ("upgrade", "", "--sql"),
    ("downgrade", "", "--dry-run"), ("stamp", "@", "--dry-run"), ("audit", "--limit", "-1"),
    ("stamp", "head", "--purge", "--sql"),
])
def test_odd_targets_are_one_line_usage_errors(pg_db: tuple[str, str], tmp_path: Path, args: tuple[str, ...]) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    result = run_cli("--database-url", url, *args, cwd=tmp_path)
    assert result.code == 2, result.text
    assert len(result.err.strip().splitlines()) == 1 and "Traceback" not in result.err
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == 0


def test_broken_revision_file_is_a_usage_error(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = make_project(tmp_path, "small")
    (ini.parent / "migrations" / "versions" / "0004_broken.py").write_text(
        'revision = "ddd"\ndown_revision = "ccc333ccc333"\ndef upgrade(:\n')
    cfg = write_config(tmp_path, url, ini=ini)
    result = run_cli("--config", str(cfg), "upgrade", "--dry-run", cwd=tmp_path)
    assert result.code == 2 and "SyntaxError" in result.err and "0004_broken.py" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_merge_of_one_head_is_refused(tmp_path: Path, sqlite_url: str) -> None:
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, sqlite_url, ini=ini)
    result = run_cli("--config", str(cfg), "merge", "-m", "nothing", cwd=tmp_path)
    assert result.code == 2 and "nothing to merge" in result.err
    assert len(list((ini.parent / "migrations" / "versions").glob("*.py"))) == 3


def test_legacy_ini_version_locations_without_path_separator(tmp_path: Path, sqlite_url: str) -> None:
    ini = make_project(tmp_path, "small")
    versions = ini.parent / "migrations" / "versions"
    other = ini.parent / "migrations" / "more"
    other.mkdir()
    (versions / "0003_ccc333_add_note.py").rename(other / "0003_ccc333_add_note.py")
    text = ini.read_text().replace("path_separator = os", "")
    text = text.replace("[alembic]", f"[alembic]\nversion_locations = {versions} {other}", 1)
    ini.write_text(text)
    cfg = write_config(tmp_path, sqlite_url, ini=ini)
    heads = json.loads(run_cli("--config", str(cfg), "heads", "--json", cwd=tmp_path).out)
    assert [h["revision"] for h in heads] == ["ccc333ccc333"]
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path).out)
    assert status["relational"]["revisions"] == 3 and status["relational"]["pending"] == 3


def test_sslmode_in_url_is_understood(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, _ = pg_db
    result = run_cli("--database-url", url + "?sslmode=disable", "status", "--json", cwd=tmp_path)
    assert result.code == 0, result.text
    assert json.loads(result.out)["relational"]["url"].endswith("?sslmode=disable")


def test_passwords_with_at_sign_space_or_keyword_form_are_masked(tmp_path: Path) -> None:
    assert mask_url("postgresql://app:Xy@Secret9@db.internal:5432/rag") == "postgresql://app:***@db.internal:5432/rag"
    assert mask_url("host=db user=app password=Hunter2-secret dbname=rag") == "host=db user=app password=*** dbname=rag"
    remember("my secret")
    assert mask_url("postgresql://postgres:my secret@127.0.0.1/x") == "postgresql://postgres:***@127.0.0.1/x"
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("\n".join(REFERENCE_SECTIONS) + "\n"
                   "environments:\n  prod:\n    database_url: postgresql://app:${PROD_DB_PASSWORD}@127.0.0.1:1/rag\n")
    result = run_cli("--config", str(cfg), "status", cwd=tmp_path, env=clean_env(PROD_DB_PASSWORD="Xy@Secret9"))
    assert result.code == 1 and "Secret9" not in result.text and "app:***@" in result.err
    result = run_cli("--database-url", "host=db user=app password=Hunter2-secret dbname=rag", "status", cwd=tmp_path)
    assert result.code == 2 and "Hunter2-secret" not in result.text


def test_config_is_not_looked_for_in_parent_directories(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """As alembic with its alembic.ini: the current directory's config only, else --config."""
    url, admin = pg_db
    cfg = write_config(tmp_path, url, name="staging")
    sub = tmp_path / "app" / "deep"
    sub.mkdir(parents=True)
    result = run_cli("status", "--json", cwd=sub)
    assert result.code == 2 and result.err == (
        "migctl: error: no migctl.yaml or alembic.ini here: run 'migctl init-project', or pass --config\n")
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'") == 0
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=sub).out)
    assert status["environment"] == "staging"
    assert not (sub / ".migctl").exists()


def test_password_with_an_unencoded_at_sign_connects(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    """Operators paste passwords with "@" into URLs unencoded; migctl encodes them for the
    driver instead of connecting to a host made of the password's tail."""
    import psycopg

    url, admin = pg_db
    role = f"at_{tmp_path.name[-8:].lower().replace('-', '_')}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'Xy@Secret9'")
    try:
        pasted = url.replace(url.split("://", 1)[1].split("@", 1)[0], f"{role}:Xy@Secret9")
        result = run_cli("--database-url", pasted, "status", "--json", "--skip-vector-db", cwd=tmp_path)
        assert result.code == 0, result.text
        assert json.loads(result.out)["relational"]["url"].startswith(f"postgresql://{role}:***@127.0.0.1:")
        assert "Secret9" not in result.text
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")


def test_operations_log_has_step_lines_for_user_projects(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "failing"))
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1
    log = (tmp_path / "state" / "migrations.log").read_text()
    assert "step 1/4 up aaa111aaa111 finished" in log, result.text
    assert "step 3/4 up ddd444ddd444 failed" in log and "no_such_table" in log
