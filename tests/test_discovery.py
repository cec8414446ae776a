"""Finding the project like alembic does, `init-project`, and the vector side only when
configured: the real CLI on a real PostgreSQL (the machine's on 127.0.0.1:5432, and the
embedded server where pgvector is needed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from migctl.core.config import NO_PROJECT
from tests.conftest import PgServer
from tests.support import ALEMBIC, FIXTURES, clean_env, make_project, pg_scalar, run_cli

USER_TABLES = ("SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND c.relkind = 'r'")
SMALL_HEAD = "ccc333ccc333"


def _milvus_traces(root: Path) -> list[str]:
    """milvus.db files (or Lite server homes) under ``root``, and live processes naming it."""
    found = [str(p) for p in root.rglob("*milvus*")]
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(root) in cmdline and "milvus" in cmdline.lower():
                found.append(f"pid {proc.name}: {cmdline}")
    return found


def _set_ini_url(ini: Path, url: str) -> None:
    text = ini.read_text()
    lines = [f"sqlalchemy.url = {url.replace('%', '%%')}" if ln.startswith("sqlalchemy.url") else ln
             for ln in text.splitlines()]
    ini.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("template", ["generic", "async"])
def test_a_plain_alembic_init_directory_is_used_as_it_is(machine_pg: PgServer, tmp_path: Path, template: str) -> None:
    ini = make_project(tmp_path, "small", template=template)
    proj = ini.parent
    assert sorted(p.name for p in proj.iterdir()) == ["alembic.ini", "migrations"]
    history = run_cli("history", cwd=proj)
    assert history.code == 0, history.text
    assert "ccc333ccc333 (head)" in history.out and "aaa111aaa111" in history.out

    url, admin = machine_pg.create_database()
    up = run_cli("--database-url", url, "upgrade", "head", "--yes", cwd=proj)
    assert up.code == 0, up.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == SMALL_HEAD
    status = json.loads(run_cli("--database-url", url, "status", "--json", cwd=proj).out)
    assert status["relational"]["current"] == [SMALL_HEAD] and status["relational"]["pending"] == 0
    assert Path(status["relational"]["script_location"]) == (proj / "migrations").resolve()
    assert status["url_source"] == "--database-url" and status["environment"] == "default"
    assert status["vector_configured"] is False and "vector" not in status
    text = run_cli("--database-url", url, "status", cwd=proj).out
    assert "(from --database-url)" in text and "vector: not configured" in text

    # The URL from sqlalchemy.url of that alembic.ini, nothing given to migctl.
    url2, admin2 = machine_pg.create_database()
    _set_ini_url(ini, url2)
    up = run_cli("upgrade", "head", "--yes", cwd=proj)
    assert up.code == 0, up.text
    assert pg_scalar(admin2, "SELECT version_num FROM alembic_version") == SMALL_HEAD
    status = json.loads(run_cli("status", "--json", cwd=proj).out)
    assert status["url_source"] == f"alembic.ini {ini.resolve()}" and status["relational"]["pending"] == 0
    assert "app:***@" in status["relational"]["url"]
    assert _milvus_traces(tmp_path) == []


def test_the_placeholder_url_of_alembic_init_is_no_url(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    assert "driver://user:pass@localhost/dbname" in ini.read_text()
    result = run_cli("status", cwd=ini.parent)
    assert result.code == 2
    assert result.err == ("migctl: error: no database URL for environment default: pass --database-url, "
                          "set DATABASE_URL or database_url in migctl.yaml\n")


DATABASE_COMMANDS = [
    ("status",), ("status", "--json"), ("current",), ("history",), ("history", "-i"), ("heads",), ("branches",),
    ("upgrade", "head", "--yes"), ("downgrade", "base", "--yes"), ("stamp", "head", "--yes"),
    ("upgrade", "head", "--sql"), ("revision", "-m", "x"), ("merge",), ("audit",),
    ("migrate", "--yes"), ("init", "--yes"), ("reset", "--confirm-reset", "--yes"), ("restore", "x", "--yes"),
    ("vector", "status"), ("vector", "upgrade", "--yes"), ("collections",), ("create-migration", "-d", "x"),
    ("templates", "list"),
]


def test_an_empty_directory_touches_no_database(machine_pg: PgServer, tmp_path: Path) -> None:
    url, admin = machine_pg.create_database()
    empty = tmp_path / "empty"
    empty.mkdir()
    for args in DATABASE_COMMANDS:
        result = run_cli("--database-url", url, *args, cwd=empty)
        out = json.dumps({"error": NO_PROJECT, "exit": 2}, indent=2) + "\n" if "--json" in args else ""
        assert (result.code, result.out, result.err) == (2, out, f"migctl: error: {NO_PROJECT}\n"), args
        env_result = run_cli(*args, cwd=empty, env=clean_env(DATABASE_URL=url))
        assert (env_result.code, env_result.err) == (2, f"migctl: error: {NO_PROJECT}\n"), args
    assert pg_scalar(admin, USER_TABLES) == 0
    assert list(empty.iterdir()) == [], "nothing written here either (.migctl, logs)"


def test_relative_paths_resolve_against_the_config_file(machine_pg: PgServer, tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / "db").mkdir(parents=True)
    subprocess.run([ALEMBIC, "init", "migrations"], cwd=project / "db", check=True, capture_output=True)
    for f in sorted((FIXTURES / "small").glob("*.py")):
        shutil.copy(f, project / "db" / "migrations" / "versions" / f.name)
    url, admin = machine_pg.create_database()
    (project / "migctl.yaml").write_text(
        "default_environment: dev\nstate_dir: var/migctl\nenvironments:\n  dev:\n"
        f"    database_url: \"{url}\"\n    alembic:\n      script_location: db/migrations\n")
    # A decoy with the same relative layout where the command runs: it must not be used.
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "db" / "migrations" / "versions").mkdir(parents=True)
    up = run_cli("--config", "../project/migctl.yaml", "upgrade", "head", "--yes", cwd=elsewhere)
    assert up.code == 0, up.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == SMALL_HEAD
    status = json.loads(run_cli("--config", str(project / "migctl.yaml"), "status", "--json", cwd=elsewhere).out)
    assert Path(status["relational"]["script_location"]) == (project / "db" / "migrations").resolve()
    assert status["url_source"] == str((project / "migctl.yaml").resolve()) or status["url_source"].endswith(
        "project/migctl.yaml")
    assert (project / "var" / "migctl" / "migrations.log").is_file()
    assert not (elsewhere / "var").exists() and not (elsewhere / ".migctl").exists()
    # CONFIG_FILE does the same
    env = clean_env(CONFIG_FILE=str(project / "migctl.yaml"))
    assert json.loads(run_cli("status", "--json", cwd=elsewhere, env=env).out)["relational"]["current"] == [SMALL_HEAD]


def test_tool_migctl_in_pyproject(machine_pg: PgServer, tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    proj = ini.parent
    url, admin = machine_pg.create_database()
    (proj / "pyproject.toml").write_text(
        '[project]\nname = "app"\nversion = "1"\n\n[tool.migctl]\ndefault_environment = "local"\n\n'
        f'[tool.migctl.environments.local]\ndatabase_url = "{url}"\n\n'
        '[tool.migctl.environments.local.alembic]\nini = "alembic.ini"\n')
    up = run_cli("upgrade", "head", "--yes", cwd=proj)
    assert up.code == 0, up.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == SMALL_HEAD
    status = json.loads(run_cli("status", "--json", cwd=proj).out)
    assert status["environment"] == "local" and status["url_source"] == str((proj / "pyproject.toml").resolve())


# --- init-project --------------------------------------------------------------------------------


def test_init_project_then_migctl_and_plain_alembic(machine_pg: PgServer, tmp_path: Path) -> None:
    created = run_cli("init-project", "app", cwd=tmp_path)
    assert created.code == 0, created.text
    proj = tmp_path / "app"
    assert {str(p.relative_to(proj)) for p in proj.rglob("*")} == {
        "migctl.yaml", "alembic.ini", "alembic", "alembic/env.py", "alembic/script.py.mako", "alembic/README",
        "alembic/versions"}
    config = (proj / "migctl.yaml").read_text()
    import yaml

    assert "vector" not in yaml.safe_load(config)["environments"]["dev"]  # relational only unless asked
    rev = run_cli("revision", "-m", "create items", cwd=proj, env=clean_env(DATABASE_URL="postgresql://x@h/unused"))
    assert rev.code == 0, rev.text
    path = next((proj / "alembic" / "versions").glob("*_create_items.py"))
    path.write_text(path.read_text().replace(
        "def upgrade() -> None:\n    \"\"\"Upgrade schema.\"\"\"\n    pass",
        "def upgrade() -> None:\n    \"\"\"Upgrade schema.\"\"\"\n    op.execute(\"CREATE TABLE items (id int PRIMARY KEY)\")"))
    assert "CREATE TABLE items" in path.read_text()
    history = run_cli("history", cwd=proj)
    assert history.code == 0 and "create items" in history.out, history.text

    url, admin = machine_pg.create_database()
    up = run_cli("--database-url", url, "upgrade", "head", "--yes", cwd=proj)
    assert up.code == 0, up.text
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'items'") == 1
    status = json.loads(run_cli("--database-url", url, "status", "--json", cwd=proj).out)
    assert status["relational"]["pending"] == 0 and status["vector_configured"] is False
    migrate = run_cli("--database-url", url, "migrate", "--yes", cwd=proj)
    assert migrate.code == 0 and "nothing to do" in migrate.out, migrate.text
    assert _milvus_traces(tmp_path) == []

    # Plain alembic in the same project: the URL from DATABASE_URL, as env.py says.
    url2, admin2 = machine_pg.create_database()
    plain = subprocess.run([ALEMBIC, "upgrade", "head"], cwd=proj, env=clean_env(DATABASE_URL=url2),
                           capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert pg_scalar(admin2, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'items'") == 1
    # ... and from migctl.yaml through migctl, when it names the database
    url3, admin3 = machine_pg.create_database()
    (proj / "migctl.yaml").write_text(config.replace("    # database_url: postgresql://app:${DB_PASSWORD}",
                                                     f"    database_url: \"{url3}\"\n    # x: ", 1))
    plain = subprocess.run([ALEMBIC, "upgrade", "head"], cwd=proj, env=clean_env(), capture_output=True, text=True)
    assert plain.returncode == 0, plain.stderr
    assert pg_scalar(admin3, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'items'") == 1
    nothing = subprocess.run([ALEMBIC, "current"], cwd=proj, env=clean_env(),
                             capture_output=True, text=True)
    assert nothing.returncode == 0
    (proj / "migctl.yaml").write_text(config)
    missing = subprocess.run([ALEMBIC, "current"], cwd=proj, env=clean_env(), capture_output=True, text=True)
    assert missing.returncode != 0 and "no database URL for environment dev" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_init_project_with_pgvector(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    created = run_cli("init-project", "demo", "--vector-store", "pgvector", cwd=tmp_path)
    assert created.code == 0, created.text
    proj = tmp_path / "demo"
    assert (proj / "vector_migrations" / "templates.yaml").is_file()
    assert len(list((proj / "vector_migrations" / "versions").glob("*_create_document.yaml"))) == 1
    migrate = run_cli("--database-url", url, "migrate", "--yes", "--json", cwd=proj)
    assert migrate.code == 0, migrate.text
    assert len(json.loads(migrate.out)["vector_applied"]) == 1
    status = json.loads(run_cli("--database-url", url, "status", "--json", cwd=proj).out)
    assert status["relational"]["pending"] == 0
    assert status["vector"]["store"] == "pgvector" and status["vector"]["pending"] == []
    assert len(status["vector"]["applied"]) == 1
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables "
                            "WHERE table_schema = 'vectors' AND table_name = 'document'") == 1
    assert _milvus_traces(tmp_path) == []


def test_init_project_example_and_adopting_an_alembic_ini(tmp_path: Path) -> None:
    ex = run_cli("init-project", "ex", "--example", cwd=tmp_path)
    assert ex.code == 0, ex.text
    listed = json.loads(run_cli("templates", "list", "--json", cwd=tmp_path / "ex").out)
    assert {r["name"] for r in listed} == {"document", "image", "chunk"}
    history = run_cli("history", cwd=tmp_path / "ex")
    assert "f07c3a5e9b18 (head)" in history.out, history.text
    for folder in ("alembic/versions", "vector_migrations/versions", "sql/common"):
        assert any((tmp_path / "ex" / folder).iterdir()), folder

    ini = make_project(tmp_path, "small")
    sub = tmp_path / "ops"
    adopted = run_cli("init-project", str(sub), "--alembic-ini", str(ini), cwd=tmp_path)
    assert adopted.code == 0, adopted.text
    assert [p.name for p in sub.iterdir()] == ["migctl.yaml"]
    assert f"ini: ../{ini.parent.name}/alembic.ini" in (sub / "migctl.yaml").read_text()
    history = run_cli("history", cwd=sub)
    assert "ccc333ccc333 (head)" in history.out, history.text


def test_init_project_never_overwrites(tmp_path: Path) -> None:
    proj = tmp_path / "p"
    (proj / "alembic").mkdir(parents=True)
    (proj / "alembic" / "env.py").write_text("# mine\n")
    result = run_cli("init-project", str(proj), "--vector-store", "milvus", cwd=tmp_path)
    assert result.code == 2
    assert result.err == (f"migctl: error: {proj / 'alembic' / 'env.py'} exists: init-project never overwrites "
                          "a file; nothing was written\n")
    assert sorted(str(p.relative_to(proj)) for p in proj.rglob("*")) == ["alembic", "alembic/env.py"]
    assert (proj / "alembic" / "env.py").read_text() == "# mine\n"
    assert run_cli("init-project", str(tmp_path / "q"), cwd=tmp_path).code == 0
    again = run_cli("init-project", str(tmp_path / "q"), "--example", cwd=tmp_path)
    assert again.code == 2 and "exists" in again.err
    assert not (tmp_path / "q" / "vector_migrations").exists() and not (tmp_path / "q" / "sql").exists()
    bad = run_cli("init-project", str(tmp_path / "r"), "--alembic-ini", str(tmp_path / "none.ini"), cwd=tmp_path)
    assert bad.code == 2 and "file not found" in bad.err and not (tmp_path / "r").exists()


# --- the vector side only when configured --------------------------------------------------------


def test_vector_only_commands_say_how_to_configure(machine_pg: PgServer, tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    url, admin = machine_pg.create_database()
    for args in (("vector", "status"), ("vector", "upgrade", "--yes"), ("collections",),
                 ("create-migration", "-d", "x"), ("templates", "list")):
        result = run_cli("--database-url", url, *args, cwd=ini.parent)
        assert result.code == 2, (args, result.text)
        assert result.err == ("migctl: error: vector store not configured for environment default: add a "
                              "'vector:' section to it in migctl.yaml, set VECTOR_STORE_TYPE or MILVUS_URI, "
                              "or pass --vector-store-type\n"), args
    assert pg_scalar(admin, USER_TABLES) == 0
    assert _milvus_traces(tmp_path) == []


def test_relational_only_status_and_migrate_start_no_milvus(machine_pg: PgServer, tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    url, admin = machine_pg.create_database()
    env = clean_env()
    for key in ("VECTOR_STORE_TYPE", "MILVUS_URI", "MILVUS_HOST"):
        env.pop(key, None)
    migrate = run_cli("--database-url", url, "migrate", "--yes", cwd=ini.parent, env=env)
    assert migrate.code == 0, migrate.text
    assert "vector: not configured" in migrate.text
    init = run_cli("--database-url", url, "init", "--yes", "--json", cwd=ini.parent, env=env)
    assert init.code == 0 and json.loads(init.out)["vector_configured"] is False, init.text
    status = run_cli("--database-url", url, "status", cwd=ini.parent, env=env)
    assert status.code == 0 and status.out.rstrip().endswith("vector: not configured"), status.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == SMALL_HEAD
    assert pg_scalar(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == 0
    assert _milvus_traces(tmp_path) == [], "no milvus.db, no Milvus Lite process"
    # With VECTOR_STORE_TYPE set, the same project has a vector side: its files are looked for.
    vec = run_cli("--database-url", url, "vector", "status", "--json", cwd=ini.parent,
                  env={**env, "VECTOR_STORE_TYPE": "pgvector"})
    assert vec.code == 2 and vec.err.rstrip().endswith("vector_migrations/templates.yaml: file not found"), vec.text


async def test_console_on_a_relational_only_project(machine_pg: PgServer, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from migctl.core.config import load_environment
    from migctl.tui.console.app import MigctlApp
    from tests.tui_support import ready, screen_text

    ini = make_project(tmp_path, "small")
    url, _ = machine_pg.create_database()
    for key in ("VECTOR_STORE_TYPE", "MILVUS_URI", "MILVUS_HOST", "CONFIG_FILE", "DATABASE_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(ini.parent)
    app = MigctlApp(load_environment(database_url=url))
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert "3 revisions" in screen_text(app)
        header = str(app.query_one("#header").render())
        assert "db: connected" in header and "vector: not configured" in header, header
        await pilot.press("2")
        await pilot.pause(0.1)
        assert "vector: not configured" in screen_text(app)
        assert _milvus_traces(tmp_path) == []
    assert _milvus_traces(tmp_path) == []


def test_a_new_project_with_no_url_says_so_in_one_line(tmp_path: Path) -> None:
    """The generated env.py gives up with sys.exit("...") when it finds no URL; the probe takes
    that as "named none" and the operator gets migctl's one line, text and JSON."""
    assert run_cli("init-project", "p", cwd=tmp_path).code == 0
    project = tmp_path / "p"
    env = clean_env()
    line = "migctl: error: no database URL for environment dev: pass --database-url, set DATABASE_URL or " \
           "database_url in migctl.yaml\n"
    for args in (("status",), ("upgrade", "head", "--yes"), ("check",)):
        result = run_cli(*args, cwd=project, env=env)
        assert (result.code, result.out, result.err) == (2, "", line), args
    result = run_cli("--json", "status", cwd=project, env=env)
    assert result.code == 2 and result.err == line
    assert json.loads(result.out) == {"error": line.removeprefix("migctl: error: ").strip(), "exit": 2}
    # Writing a revision needs no database, as under plain alembic.
    made = run_cli("revision", "-m", "first table", cwd=project, env=env)
    assert made.code == 0, made.text
    assert len(list((project / "alembic" / "versions").glob("*_first_table.py"))) == 1
    assert run_cli("revision", "-m", "x", "--autogenerate", cwd=project, env=env).err == line


def test_an_env_py_that_exits_with_a_message_fails_in_one_line(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    (ini.parent / "migrations" / "env.py").write_text('import sys\nsys.exit("env.py: refusing this database")\n')
    db = tmp_path / "app.db"
    result = run_cli("--database-url", f"sqlite:///{db}", "upgrade", "head", "--yes", cwd=ini.parent)
    assert result.code == 1, result.text
    assert result.err.splitlines()[-1] == "migctl: error: env.py: refusing this database"
    assert "Traceback" not in result.err


def test_database_initializer_leaves_a_relational_only_project_relational(tmp_path: Path) -> None:
    from migctl.core.compat import DatabaseInitializer

    ini = make_project(tmp_path, "small")
    db = tmp_path / "app.db"
    config = ini.parent / "migctl.yaml"
    config.write_text(f"state_dir: {tmp_path / 'state'}\nenvironments:\n  app:\n"
                      f"    database_url: sqlite:///{db}\n    alembic: {{ini: alembic.ini}}\n")
    result = DatabaseInitializer(config_file=str(config)).initialize_all()
    assert result["relational_applied"] and result["vector_applied"] == []
    import sqlite3

    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "alembic_version" in tables and "vector_db_migrations" not in tables
    assert not list(tmp_path.rglob("milvus.db"))
