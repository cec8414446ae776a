"""Bad input: one clear line, the documented exit code, and nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import make_project, pg_scalar, reference_project, run_cli, write_config

TABLES = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"


def _one_line_error(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, text
    assert lines[0].startswith("migctl: error: "), text
    return lines[0]


def test_unknown_revision(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    result = run_cli("--database-url", url, "upgrade", "deadbeef0000", "--yes", cwd=tmp_path)
    assert result.code == 2
    assert "deadbeef0000" in _one_line_error(result.err)
    assert pg_scalar(admin, TABLES) == 0


def test_ambiguous_prefix(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_project(tmp_path, "branches")
    versions = ini.parent / "migrations" / "versions"
    twin = next(versions.glob("0008_*")).read_text().replace("f1f1f1f1f1f1", "a1a1ffffffff").replace("('side',)", "None")
    (versions / "0009_a1a1ffffffff_twin.py").write_text(twin)
    cfg = write_config(tmp_path, url, ini=ini)
    result = run_cli("--config", str(cfg), "upgrade", "a1a1", "--yes", cwd=tmp_path)
    assert result.code == 2
    assert "Multiple revisions start with 'a1a1'" in _one_line_error(result.err)
    assert pg_scalar(admin, TABLES) == 0


def test_downgrade_with_plus_is_usage_error(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, _ = pg_db
    result = run_cli("--database-url", url, "downgrade", "+1", "--yes", cwd=tmp_path)
    assert result.code == 2 and "downgrade takes -N" in _one_line_error(result.err)


@pytest.mark.parametrize("url", ["postgresql//nohost", "postgresql://app@/db", "oracle://u:p@h/db",
                                 "postgresql://u@h:70000/db"])
def test_malformed_url(url: str, tmp_path: Path) -> None:
    reference_project(tmp_path)
    result = run_cli("--database-url", url, "status", cwd=tmp_path)
    assert result.code == 2
    _one_line_error(result.err)


def test_unreachable_host(tmp_path: Path) -> None:
    reference_project(tmp_path)
    result = run_cli("--database-url", "postgresql://app:pw-unreachable@127.0.0.1:1/rag", "upgrade", "--yes",
                     cwd=tmp_path)
    assert result.code == 1
    line = _one_line_error(result.err)
    assert "cannot connect to postgresql://app:***@127.0.0.1:1/rag" in line
    assert "pw-unreachable" not in result.text


def test_wrong_password(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    bad = url.replace("Sup3r-Secret-pw", "Wrong-Secret-pw")
    result = run_cli("--database-url", bad, "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1
    line = _one_line_error(result.err)
    assert "password authentication failed" in line and "app:***@" in line
    assert "Wrong-Secret-pw" not in result.text
    assert pg_scalar(admin, TABLES) == 0


def test_missing_alembic_directory(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = write_config(tmp_path, url, script_location=tmp_path / "nowhere")
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 2
    assert "missing alembic directory" in _one_line_error(result.err)
    assert pg_scalar(admin, TABLES) == 0


def test_malformed_config(tmp_path: Path) -> None:
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text("environments:\n  dev:\n    database_url: [unclosed\n")
    result = run_cli("--config", str(cfg), "status", cwd=tmp_path)
    assert result.code == 2
    assert "migctl.yaml line" in _one_line_error(result.err)


def test_unknown_environment(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    cfg = write_config(tmp_path, url)
    result = run_cli("--config", str(cfg), "--env", "staging", "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 2
    assert "unknown environment 'staging'" in _one_line_error(result.err)


def test_unknown_command_and_missing_argument(tmp_path: Path) -> None:
    result = run_cli("frobnicate", cwd=tmp_path)
    assert result.code == 2
    assert result.err.count("\n") == 1 and "invalid choice" in result.err
    result = run_cli("downgrade", cwd=tmp_path)
    assert result.code == 2 and "TARGET" in result.err
