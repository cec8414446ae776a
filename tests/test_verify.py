"""``migctl verify``: up, down and up again of every revision on a throwaway database.

Server tests use ``verify: {on: server}``, so the scratch database is made on the suite's
embedded PostgreSQL; one test takes the default path (an embedded PostgreSQL of the
environment's own state dir)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.conftest import PgServer
from tests.support import APP_PASSWORD, REPO, make_project, pg_scalar, run_cli, unique_name

FIXTURE = REPO / "tests" / "fixtures" / "verify_project"
UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"  # verify reads nothing before the range is valid
HALF = "not transactional, half-commits on failure"
EXPECTED = {  # revision -> (state, words its line shows)
    "1a0000000001": ("ok", "ok"),
    "2b0000000002": ("downgrade fails", 'BROKEN downgrade: column "code" cannot be cast automatically to type integer'),
    "3c0000000003": ("downgrade incomplete", "incomplete downgrade: index public.ix_items_name extra"),
    "4d0000000004": ("ok", "ok"),
    "5e0000000005": (HALF, f'BROKEN downgrade, {HALF}: index "ix_tags_label" does not exist; part of it '
                           "committed: index public.ix_tags_label missing"),
    "6f0000000006": ("ok", "ok"),
    "7a0000000007": ("downgrade fails", "BROKEN downgrade: NotImplementedError: irreversible: the values of "
                                        "items.code are gone"),
    "8b0000000008": ("ok", "ok"),
}
SUMMARY = re.compile(r"^8 revisions: 4 ok, 2 downgrade fails, 1 downgrade incomplete, 1 half-commits; (\d+) cached; "
                     r"PostgreSQL \d+\.\d+ \((target's server|embedded)\); \d+\.\d s$")


def _project(tmp: Path) -> Path:
    """A copy of the fixture project (tests edit it); returns its alembic.ini."""
    shutil.copytree(FIXTURE, tmp / "verify_project", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp / "verify_project" / "alembic.ini"


def _config(tmp: Path, url: str, *, ini: Path | None = None, script_location: Path | None = None,
            on_server: bool = True, extra: str = "") -> Path:
    alembic = f"      ini: {ini}" if ini else f"      script_location: {script_location}"
    text = (f"default_environment: test\nstate_dir: {tmp / 'state'}\n"
            + ("verify:\n  on: server\n" if on_server else "")
            + f"environments:\n  test:\n    database_url: \"{url}\"\n    alembic:\n{alembic}\n" + extra)
    path = tmp / "migctl.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _verify(cfg: Path, *args: str):
    return run_cli("--config", str(cfg), "verify", *args, cwd=cfg.parent)


def _lines(result) -> dict[str, str]:
    """revision -> the rest of its line."""
    return {line.split("  ", 1)[0]: line.split("  ", 1)[1] for line in result.out.splitlines()[:-1]}


def _execute(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def _scratch_databases(server: PgServer) -> int:
    return int(pg_scalar(server.admin_url, "SELECT count(*) FROM pg_database WHERE datname LIKE 'migctl_verify_%'"))


def _write_revision(versions: Path, rev: str, down: str | None, upgrade: str, downgrade: str = "pass") -> None:
    (versions / f"{rev}_r.py").write_text(
        f'"""{rev}\n\nRevision ID: {rev}\nRevises: {down or ""}\n"""\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\nbranch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade() -> None:\n    {upgrade}\n\n\ndef downgrade() -> None:\n    {downgrade}\n", encoding="utf-8")


def _small_project(tmp: Path, revisions: list[tuple[str, str | None, str, str]]) -> Path:
    """The fixture's alembic.ini and env.py with these revisions: (id, down, upgrade, downgrade)."""
    root = tmp / "small_project"
    (root / "versions").mkdir(parents=True)
    for name in ("alembic.ini", "env.py"):
        shutil.copy(FIXTURE / name, root / name)
    for rev, down, up, downgrade in revisions:
        _write_revision(root / "versions", rev, down, up, downgrade)
    return root / "alembic.ini"


def test_each_fixture_revision_gets_its_verdict(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = _config(tmp_path, url, ini=_project(tmp_path))
    result = _verify(cfg)
    assert result.code == 4, result.text
    assert _lines(result) == {rev: words for rev, (_, words) in EXPECTED.items()}
    assert list(_lines(result)) == list(EXPECTED)  # graph order: each after its down revisions
    summary = SUMMARY.match(result.out.splitlines()[-1])
    assert summary and summary.groups() == ("0", "target's server"), result.out
    assert "migctl: verify failed: 4 of 8 revision(s) not ok" in result.err
    assert "[8/8]" in result.err  # per-revision progress on stderr
    assert APP_PASSWORD not in result.text
    # The target was only read; the scratch database is gone.
    assert pg_scalar(admin, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE n.nspname = 'public'") == 0
    assert _scratch_databases(embedded_pg) == 0


def test_rerun_is_cached_and_an_edit_reverifies_only_that_file(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = _project(tmp_path)
    cfg = _config(tmp_path, url, ini=ini)
    first = _verify(cfg)
    assert first.code == 4, first.text

    started = time.monotonic()
    again = _verify(cfg)
    took = time.monotonic() - started
    assert again.code == 4, again.text
    assert all(line.endswith("(cached)") for line in _lines(again).values()), again.out
    assert SUMMARY.match(again.out.splitlines()[-1]).group(1) == "8"
    assert "scratch database" not in again.err  # nothing to verify: no database made
    assert took < 5, took

    note = ini.parent / "versions" / "0004_4d0000000004_branch_a_notes.py"
    note.write_text(note.read_text() + "\n# edited\n")
    edited = _verify(cfg)
    assert edited.code == 4, edited.text
    assert "verifying 1 revision(s) up, down and up again; 7 cached" in edited.err
    assert re.findall(r"\[\d+/\d+\] (\w+)", edited.err) == ["4d0000000004"]
    lines = _lines(edited)
    assert lines["4d0000000004"] == "ok"
    assert all(v.endswith("(cached)") for r, v in lines.items() if r != "4d0000000004")

    forced = _verify(cfg, "--force")
    assert SUMMARY.match(forced.out.splitlines()[-1]).group(1) == "0"


def test_json_shape(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = _project(tmp_path)
    result = _verify(_config(tmp_path, url, ini=ini), "--json")
    assert result.code == 4, result.text
    data = json.loads(result.out)
    assert set(data) == {"ok", "verdicts", "summary", "exit", "error"}
    assert data["ok"] is False and data["exit"] == 4
    assert data["error"] == "verify failed: 4 of 8 revision(s) not ok"
    assert [(v["revision"], v["state"]) for v in data["verdicts"]] == [(r, s) for r, (s, _) in EXPECTED.items()]
    first = data["verdicts"][0]
    assert set(first) == {"revision", "state", "detail", "sha256", "server", "seconds", "at", "cached", "not_reached"}
    path = ini.parent / "versions" / "0001_1a0000000001_create_items.py"
    assert first["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert first["server"].startswith("PostgreSQL ") and first["server"].endswith("(target's server)")
    summary = data["summary"]
    assert summary["revisions"] == 8 and summary["cached"] == 0 and summary["interrupted"] is False
    assert summary["counts"] == {"ok": 4, "downgrade fails": 2, "downgrade incomplete": 1, "half-commits": 1,
                                 "upgrade fails": 0, "re-upgrade differs": 0, "not reached": 0}
    assert SUMMARY.match(summary["text"])
    assert "[1/8]" not in result.err  # no progress lines under --json


def test_bad_range_is_one_line_and_changes_nothing(tmp_path: Path) -> None:
    cfg = _config(tmp_path, UNREACHABLE, ini=_project(tmp_path))
    for bad, says in (("zzzz9999:", "unknown revision 'zzzz9999'"),
                      ("8b0000000008:1a0000000001", "selects no revision"),
                      ("1a0000000001", "expected A:B"),
                      ("1a:", "a prefix needs 4+ characters")):
        result = _verify(cfg, "--range", bad)
        assert result.code == 2, result.text
        assert result.out == "" and len(result.err.splitlines()) == 1 and says in result.err, result.err
    as_json = _verify(cfg, "--range", "zzzz9999:", "--json")
    assert as_json.code == 2 and json.loads(as_json.out)["exit"] == 2
    assert not (tmp_path / "state" / "verify").exists()


def test_bad_verify_config_is_a_usage_error(tmp_path: Path) -> None:
    cfg = _config(tmp_path, UNREACHABLE, ini=_project(tmp_path), on_server=False, extra="verify:\n  on: elsewhere\n")
    result = _verify(cfg)
    assert result.code == 2, result.text
    assert "verify.on must be embedded or server" in result.err


def test_range_verifies_only_its_revisions(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    result = _verify(_config(tmp_path, url, ini=_project(tmp_path)), "--range", "4d00:6f0000000006")
    assert result.code == 0, result.text  # the broken ancestors are upgraded through, not verified
    assert _lines(result) == {"4d0000000004": "ok", "6f0000000006": "ok"}
    assert result.out.splitlines()[-1].startswith("2 revisions: 2 ok; 0 cached; PostgreSQL")


def test_reference_project_verifies_clean(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    # The target has pgvector; the first revision creates it itself, so verify must not create
    # it first (its downgrade would then read as dropping something that was there before).
    _execute(admin, "CREATE EXTENSION IF NOT EXISTS vector")
    result = _verify(_config(tmp_path, url, script_location=REPO / "alembic"))
    assert result.code == 0, result.text
    lines = _lines(result)
    assert len(lines) == 10 and set(lines.values()) == {"ok"}, result.out
    assert re.match(r"^10 revisions: 10 ok; 0 cached; PostgreSQL \d+\.\d+ \(target's server\); ",
                    result.out.splitlines()[-1])


def test_upgrade_failure_leaves_descendants_not_reached(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = _small_project(tmp_path, [
        ("a1", None, 'op.execute("CREATE TABLE t1 (id integer)")', 'op.execute("DROP TABLE t1")'),
        ("b2", "a1", 'op.execute("CREATE TABLE half (id integer)"); op.execute("INSERT INTO nowhere VALUES (1)")',
         "pass"),
        ("c3", "b2", 'op.execute("CREATE TABLE t3 (id integer)")', 'op.execute("DROP TABLE t3")'),
        ("d4", "a1", 'op.execute("CREATE TABLE t4 (id integer)")', 'op.execute("DROP TABLE t4")'),
    ])
    cfg = _config(tmp_path, url, ini=ini)
    result = _verify(cfg)
    assert result.code == 4, result.text
    lines = _lines(result)
    assert lines["a1"] == "ok" and lines["d4"] == "ok"  # the other branch is still verified
    assert lines["b2"] == 'BROKEN upgrade: relation "nowhere" does not exist'
    assert lines["c3"] == "not verified: not reached: ancestor b2 fails to upgrade"
    assert ", 1 upgrade fails, 1 not reached;" in result.out.splitlines()[-1]
    again = _verify(cfg)  # c3 has no verdict of its own: it is tried again, and not reached again
    assert "verifying 1 revision(s)" in again.err
    assert _lines(again)["c3"] == lines["c3"] and _lines(again)["b2"] == lines["b2"]


def test_the_targets_extensions_are_created_first(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    _execute(admin, "CREATE EXTENSION IF NOT EXISTS citext")
    ini = _small_project(tmp_path, [
        ("e1", None, 'op.execute("CREATE TABLE people (email citext)")', 'op.execute("DROP TABLE people")'),
    ])
    result = _verify(_config(tmp_path, url, ini=ini))
    assert result.code == 0, result.text
    assert _lines(result) == {"e1": "ok"}


def test_missing_create_database_privilege_is_one_line(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                       tmp_path: Path) -> None:
    _, admin = pg_db
    role, password = unique_name("nocreate"), "Pw-" + unique_name("x")
    _execute(embedded_pg.admin_url, f"CREATE ROLE {role} LOGIN NOCREATEDB PASSWORD '{password}'")
    database = admin.rsplit("/", 1)[1]
    url = f"postgresql://{role}:{password}@{embedded_pg.host}:{embedded_pg.port}/{database}"
    result = _verify(_config(tmp_path, url, ini=_project(tmp_path)))
    assert result.code == 1, result.text
    errors = [line for line in result.err.splitlines() if line.startswith("migctl:")]
    assert len(errors) == 1 and result.out == "", result.err
    assert "permission denied to create database" in errors[0] and "CREATEDB" in errors[0]
    assert password not in result.text


def test_default_path_uses_the_environments_embedded_postgres(pg_db: tuple[str, str], tmp_path: Path) -> None:
    from migctl.core.embedded import EmbeddedPostgres

    url, _ = pg_db
    cfg = _config(tmp_path, url, ini=_project(tmp_path), on_server=False)
    try:
        result = _verify(cfg)
        assert result.code == 4, result.text
        assert _lines(result) == {rev: words for rev, (_, words) in EXPECTED.items()}
        summary = SUMMARY.match(result.out.splitlines()[-1])
        assert summary and summary.group(2) == "embedded", result.out
    finally:
        EmbeddedPostgres(tmp_path / "state").stop()


def test_sqlite_verifies_a_small_project(sqlite_url: str, tmp_path: Path) -> None:
    cfg = _config(tmp_path, sqlite_url, ini=make_project(tmp_path, "small"), on_server=False)
    result = _verify(cfg)
    assert result.code == 0, result.text
    assert _lines(result) == {"aaa111aaa111": "ok", "bbb222bbb222": "ok", "ccc333ccc333": "ok"}
    assert re.search(r"; SQLite \d+\.\d+\.\d+ \(temporary file\); ", result.out)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # the target was not even created


def test_mariadb_verifies_a_small_project(mariadb_url: str, tmp_path: Path) -> None:
    import pymysql

    cfg = _config(tmp_path, mariadb_url, ini=make_project(tmp_path, "small"), on_server=False)
    result = _verify(cfg)
    assert result.code == 0, result.text
    assert _lines(result) == {"aaa111aaa111": "ok", "bbb222bbb222": "ok", "ccc333ccc333": "ok"}
    assert re.search(r"; (MariaDB|MySQL) [\d.]+ \(target's server\); ", result.out)
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES LIKE 'migctl\\_verify\\_%'")
            assert cur.fetchall() == ()
            cur.execute("SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s",
                        (mariadb_url.rsplit("/", 1)[1],))
            assert cur.fetchone() == (0,)  # the target was only read
    finally:
        conn.close()


@pytest.mark.parametrize("text", ["verify: {on: server}", "verify:\n  on: server\n  extensions: [vector]"])
def test_verify_settings_read_yaml_on(tmp_path: Path, text: str) -> None:
    from migctl.core.config import load_environment
    from migctl.core.relational.scratch import verify_settings

    cfg = _config(tmp_path, UNREACHABLE, ini=_project(tmp_path), on_server=False, extra=text + "\n")
    settings = verify_settings(load_environment(config_file=str(cfg)))
    assert settings.on == "server"


def test_an_env_py_that_ignores_the_url_is_refused_before_it_touches_anything(pg_db: tuple[str, str],
                                                                              tmp_path: Path) -> None:
    from tests.support import clean_env

    url, admin = pg_db
    ini = _small_project(tmp_path, [
        ("h1", None, 'op.execute("CREATE TABLE t1 (id integer)")', 'op.execute("DROP TABLE t1")'),
    ])
    env_py = ini.parent / "env.py"
    env_py.write_text(env_py.read_text().replace(
        "connectable = engine_from_config(config.get_section(config.config_ini_section, {}), prefix=\"sqlalchemy.\",\n"
        "                                     poolclass=pool.NullPool)",
        "import os\n    from sqlalchemy import create_engine\n"
        "    connectable = create_engine(os.environ['FIXTURE_URL'], poolclass=pool.NullPool)"))
    assert "FIXTURE_URL" in env_py.read_text()
    cfg = _config(tmp_path, url, ini=ini)
    result = run_cli("--config", str(cfg), "verify", cwd=tmp_path,
                     env=clean_env(FIXTURE_URL=url.replace("postgresql://", "postgresql+psycopg://")))
    assert result.code == 3, result.text
    assert "not to the scratch database" in result.err
    assert pg_scalar(admin, "SELECT count(*) FROM pg_class WHERE relname IN ('alembic_version', 't1')") == 0
    assert APP_PASSWORD not in result.text
