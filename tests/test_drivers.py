"""URLs as Alembic takes them: the driver env.py gets, Unix-socket URLs, and the URL a
project's own env.py configures (issue 12, point 6). Real PostgreSQL 18 throughout."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from migctl.core.config import (
    PROJECT_ROOT,
    AlembicLocation,
    Environment,
    load_environment,
    validate_url,
)
from migctl.core.errors import UsageError
from migctl.core.relational.project import AlembicProject, env_is_async_only
from migctl.core.relational.url_probe import url_from_env_py
from migctl.core.secrets import mask_url
from tests.conftest import PgServer
from tests.support import (
    ALEMBIC,
    APP_PASSWORD,
    REPO,
    clean_env,
    make_project,
    pg_scalar,
    run_cli,
    unique_name,
    write_config,
)

DUAL = REPO / "tests" / "fixtures" / "dual_env"


def _dual_project(tmp: Path, name: str = "dual") -> Path:
    """A copy of the both-branches fixture; returns its alembic.ini."""
    target = tmp / name
    shutil.copytree(DUAL, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target / "alembic.ini"


def _tables(admin: str) -> set[str]:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        rows = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    return {r[0] for r in rows}


def _branches(admin: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        return [tuple(r) for r in conn.execute("SELECT branch, driver FROM env_branch").fetchall()]


# -- which env.py is async-only ------------------------------------------------------------

ASYNC_TEMPLATE_LIKE = """
from sqlalchemy.ext.asyncio import async_engine_from_config
async def run():
    connectable = async_engine_from_config(config.get_section("alembic"), prefix="sqlalchemy.")
"""


@pytest.mark.parametrize(("source", "async_only"), [
    (ASYNC_TEMPLATE_LIKE, True),
    ("from sqlalchemy.ext.asyncio import create_async_engine as make\nengine = make(URL)\n", True),
    ((DUAL / "env.py").read_text(), False),  # both branches
    ("# we used to call create_async_engine here\nfrom sqlalchemy import engine_from_config\n"
     "e = engine_from_config({})\n", False),
    ('"""Uses create_async_engine in production."""\nimport sqlalchemy\ne = sqlalchemy.create_engine(URL)\n', False),
    ("def broken(:\n    create_async_engine(URL)\n", False),  # not Python: env.py fails on its own
    ((PROJECT_ROOT / "alembic" / "env.py").read_text(), True),  # the reference project
], ids=["async-template", "aliased-create-async-engine", "both-branches", "comment-only", "docstring-only",
        "not-python", "reference-project"])
def test_async_only_means_no_sync_engine_call(source: str, async_only: bool) -> None:
    assert env_is_async_only(source) is async_only


def test_alembic_templates_are_classified(tmp_path: Path) -> None:
    generic = make_project(tmp_path, "small", "generic").parent / "migrations" / "env.py"
    asynchronous = make_project(tmp_path, "small", "async").parent / "migrations" / "env.py"
    assert not env_is_async_only(generic.read_text()) and env_is_async_only(asynchronous.read_text())


# -- the driver env.py gets -----------------------------------------------------------------

def test_plain_url_runs_the_sync_branch_as_plain_alembic_does(embedded_pg: PgServer, tmp_path: Path) -> None:
    """``postgresql://`` on an env.py with both branches: the sync branch on SQLAlchemy's default
    driver (psycopg), and a revision with two statements in one ``op.execute`` succeeds."""
    url, admin = embedded_pg.create_database()
    assert url.startswith("postgresql://")
    plain_url, plain_admin = embedded_pg.create_database()
    ini = _dual_project(tmp_path)

    plain = subprocess.run([ALEMBIC, "-c", str(ini), "upgrade", "head"], cwd=tmp_path, capture_output=True,
                           text=True, env=clean_env(DATABASE_URL=plain_url))
    assert plain.returncode == 0, plain.stderr
    assert {"a", "b"} <= _tables(plain_admin) and _branches(plain_admin) == [("sync", "psycopg")]

    cfg = write_config(tmp_path, url, ini=ini)
    up = run_cli("--config", str(cfg), "--log-level", "debug", "upgrade", "head", "--yes", cwd=tmp_path)
    assert up.code == 0, up.text
    assert "env.py gets the URL as given (postgresql, driver psycopg)" in up.err
    assert {"a", "b"} <= _tables(admin)
    assert _branches(admin) == [("sync", "psycopg")]
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "0001"
    assert APP_PASSWORD not in up.text


@pytest.mark.parametrize(("driver", "succeeds"), [("asyncpg", False), ("psycopg_async", True)])
def test_async_driver_in_the_url_runs_the_async_branch(embedded_pg: PgServer, tmp_path: Path, driver: str,
                                                       succeeds: bool) -> None:
    """An async driver named in the URL reaches env.py unchanged, so its async branch runs.
    asyncpg prepares every statement and so refuses two in one ``op.execute``, under plain
    alembic and migctl alike; psycopg's async mode takes them."""
    url, admin = embedded_pg.create_database()
    async_url = url.replace("postgresql://", f"postgresql+{driver}://", 1)
    cfg = write_config(tmp_path, async_url, ini=_dual_project(tmp_path))
    up = run_cli("--config", str(cfg), "upgrade", "head", "--yes", cwd=tmp_path)
    assert _branches(admin) == [("async", driver.removesuffix("_async"))]  # SQLAlchemy's name: "psycopg"
    if succeeds:
        assert up.code == 0, up.text
        assert {"a", "b"} <= _tables(admin)
    else:
        assert up.code == 1 and "cannot insert multiple commands into a prepared statement" in up.err, up.text
        assert not {"a", "b"} & _tables(admin)
        plain_url, plain_admin = embedded_pg.create_database()
        plain = subprocess.run([ALEMBIC, "-c", str(_dual_project(tmp_path, "plain")), "upgrade", "head"],
                               cwd=tmp_path, capture_output=True, text=True,
                               env=clean_env(DATABASE_URL=plain_url.replace("postgresql://", "postgresql+asyncpg://")))
        assert plain.returncode != 0 and "cannot insert multiple commands" in plain.stderr
    assert APP_PASSWORD not in up.text


def test_async_only_env_py_gets_an_async_driver_and_says_so(embedded_pg: PgServer, tmp_path: Path) -> None:
    """``alembic init -t async`` given a sync-only driver (psycopg2, not even installed) could not
    run at all: migctl hands it asyncpg, and says so at debug level."""
    url, admin = embedded_pg.create_database()
    cfg = write_config(tmp_path, url.replace("postgresql://", "postgresql+psycopg2://", 1),
                       ini=make_project(tmp_path, "small", "async"))
    up = run_cli("--config", str(cfg), "--log-level", "debug", "upgrade", "head", "--yes", cwd=tmp_path)
    assert up.code == 0, up.text
    assert ("env.py builds only an async engine and postgresql+psycopg2 (driver psycopg2) has no async variant: "
            "env.py gets postgresql+asyncpg") in up.err
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    quiet = run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path)
    assert quiet.code == 0 and "async" not in quiet.err, quiet.text


def test_async_only_env_py_keeps_a_bare_url_that_runs_async(embedded_pg: PgServer, tmp_path: Path) -> None:
    """``postgresql://`` has an async variant (psycopg): the async template gets it unchanged."""
    url, admin = embedded_pg.create_database()
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small", "async"))
    up = run_cli("--config", str(cfg), "--log-level", "debug", "upgrade", "head", "--yes", cwd=tmp_path)
    assert up.code == 0, up.text
    assert "env.py builds only an async engine; postgresql (driver psycopg) is async" in up.err
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"


# -- Unix sockets -----------------------------------------------------------------------------

def _socket_url(server: PgServer, url: str) -> str:
    database = url.rsplit("/", 1)[1]
    return f"postgresql://app:{APP_PASSWORD}@/{database}?host={server.socket_dir}&port={server.port}"


@pytest.mark.parametrize("url", ["postgresql://app@/rag?host=/run/postgresql",
                                 "postgresql://app:pw@:5433/rag?host=%2Frun%2Fpostgresql",
                                 "mysql+pymysql://root@/rag?unix_socket=/run/mysqld/mysqld.sock"])
def test_socket_urls_are_valid(url: str) -> None:
    assert validate_url(url) == url


def test_a_url_without_host_or_socket_names_the_socket_form() -> None:
    with pytest.raises(UsageError, match=r"no host \(for a Unix socket: postgresql://user@/dbname\?host="):
        validate_url("postgresql://app@/rag")


def test_socket_url_is_masked() -> None:
    assert mask_url("postgresql://app:s3cret@/rag?host=/run/postgresql") == "postgresql://app:***@/rag?host=/run/postgresql"


def test_status_and_upgrade_over_a_unix_socket(embedded_pg: PgServer, tmp_path: Path) -> None:
    url, admin = embedded_pg.create_database()
    sock = _socket_url(embedded_pg, url)
    cfg = write_config(tmp_path, sock, ini=_dual_project(tmp_path))
    before = run_cli("--config", str(cfg), "status", "--json", "--skip-vector-db", cwd=tmp_path)
    assert before.code == 0, before.text
    status = json.loads(before.out)
    assert status["relational"]["url"] == sock.replace(APP_PASSWORD, "***") and status["relational"]["pending"] == 1
    assert status["url_source"] == str(cfg) and not status["embedded"]
    up = run_cli("--config", str(cfg), "upgrade", "head", "--yes", cwd=tmp_path)
    assert up.code == 0, up.text
    assert {"a", "b"} <= _tables(admin) and _branches(admin) == [("sync", "psycopg")]
    after = json.loads(run_cli("--config", str(cfg), "status", "--json", "--skip-vector-db", cwd=tmp_path).out)
    assert after["relational"]["current"] == ["0001"] and after["relational"]["pending"] == 0
    assert APP_PASSWORD not in before.text + up.text


@pytest.mark.slow
def test_reference_project_pgvector_reset_and_restore_over_a_unix_socket(embedded_pg: PgServer,
                                                                         tmp_path: Path) -> None:
    """Every way migctl connects, over the socket: the lock and audit (psycopg), the reference
    env.py (asyncpg), the pgvector store (asyncpg), pg_dump and pg_restore (libpq)."""
    url, admin = embedded_pg.create_database()
    cfg = write_config(tmp_path, _socket_url(embedded_pg, url))  # the reference project
    env = clean_env(VECTOR_STORE_TYPE="pgvector")
    migrate = run_cli("--config", str(cfg), "migrate", "--yes", "--json", cwd=tmp_path, env=env)
    assert migrate.code == 0, migrate.text
    status = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path, env=env).out)
    assert status["relational"]["pending"] == 0 and status["vector"]["pending"] == []
    collections = pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'vectors'")
    assert collections and collections > 0
    reset = run_cli("--config", str(cfg), "reset", "--confirm-reset", "--yes", "--json", cwd=tmp_path, env=env)
    assert reset.code == 0, reset.text
    backup = Path(json.loads(reset.out)["backup"])
    assert (backup / "relational.dump").stat().st_size > 0
    assert pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'vectors'") == 0
    restored = run_cli("--config", str(cfg), "restore", str(backup), "--yes", "--json", cwd=tmp_path, env=env)
    assert restored.code == 0, restored.text
    assert pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'vectors'") == collections
    again = json.loads(run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path, env=env).out)
    assert again["relational"]["pending"] == 0 and again["vector"]["pending"] == []
    assert APP_PASSWORD not in migrate.text + reset.text + restored.text


# -- the URL from the project's own env.py ---------------------------------------------------

# The module name is unique per project: several projects' env.py run in the test process, and
# Python keeps the first module of a name it imported.
SETTINGS_IMPORT = """\
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the application, as real projects do
from {module} import DB_URL  # noqa: E402
"""


ENGINE_FROM_CONFIG = """\
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
"""


def _settings_project(tmp: Path, url: str, style: str) -> Path:
    """``alembic init`` output whose env.py takes the URL from the application's settings module;
    alembic.ini names none. ``config``: env.py puts it into the Alembic config (offline mode finds
    it); ``engine``: only the online path builds an engine from it."""
    ini = make_project(tmp, "small")
    project = ini.parent
    module = unique_name("myapp_settings")
    (project / f"{module}.py").write_text(f"DB_URL = {url!r}\n")
    text = ini.read_text()
    ini.write_text("\n".join(ln for ln in text.splitlines() if not ln.startswith("sqlalchemy.url")) + "\n")
    env_py = project / "migrations" / "env.py"
    edits = [("from alembic import context\n", "from alembic import context\n" + SETTINGS_IMPORT.format(module=module))]
    if style == "config":
        edits.append(("config = context.config\n",
                      "config = context.config\nconfig.set_main_option('sqlalchemy.url', DB_URL)\n"))
    else:
        edits += [("def run_migrations_offline() -> None:\n",
                   "def run_migrations_offline() -> None:\n    raise NotImplementedError('online only')\n"),
                  (ENGINE_FROM_CONFIG, "    connectable = create_engine(DB_URL, poolclass=pool.NullPool)\n"),
                  ("from sqlalchemy import pool\n", "from sqlalchemy import create_engine, pool\n")]
    source = env_py.read_text()
    for old, new in edits:
        assert old in source, old
        source = source.replace(old, new, 1)
    env_py.write_text(source)
    return ini


def _env_py_environment(ini: Path, state: Path, name: str = "app") -> Environment:
    """What discovery resolves when nothing names a URL (the contract with core.config)."""
    location = AlembicLocation((ini.parent / "migrations").resolve(), ini)
    return Environment(name=name, database_url=None, protected=False, alembic=location, state_dir=state,
                       log_file=state / "migrations.log", source="env.py")


@pytest.mark.parametrize("style", ["config", "engine"])
def test_url_probe_learns_the_url_and_writes_nothing(embedded_pg: PgServer, tmp_path: Path, style: str) -> None:
    url, admin = embedded_pg.create_database()
    ini = _settings_project(tmp_path, url, style)
    learnt = url_from_env_py(AlembicProject(_env_py_environment(ini, tmp_path / "state").alembic))
    assert learnt == url
    assert _tables(admin) == set()  # not even the version table


@pytest.mark.parametrize("style", ["config", "engine"])
def test_status_and_upgrade_reach_the_database_env_py_names(embedded_pg: PgServer, tmp_path: Path,
                                                            style: str) -> None:
    from migctl.core.api import Migctl
    from migctl.tui.formatting import status_lines

    url, admin = embedded_pg.create_database()
    ini = _settings_project(tmp_path, url, style)
    environment = _env_py_environment(ini, tmp_path / "state")

    async def run() -> tuple[dict, dict]:
        async with Migctl.open(environment=environment) as api:
            assert api.url == url and not api.environment.embedded
            before = await api.status()
            result = await api.execute(await api.plan_upgrade("head", with_sql=False), confirm_env="app")
            assert result.after == ("ccc333ccc333",)
            return before, await api.status()

    before, after = asyncio.run(run())
    assert before["url_source"] == "env.py" and before["relational"]["pending"] == 3
    assert before["relational"]["url"] == mask_url(url) and APP_PASSWORD not in json.dumps(before)
    assert after["relational"]["current"] == ["ccc333ccc333"]
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    assert f"database:    {mask_url(url)}  (from env.py)" in status_lines(after)
    assert not (tmp_path / "state" / "pg").exists()  # no embedded server was started


@pytest.mark.parametrize("ini_url", ["none", "placeholder"])
def test_env_py_naming_no_url_is_one_usage_line(tmp_path: Path, ini_url: str) -> None:
    """The generic env.py passes on alembic.ini's URL: none, or ``alembic init``'s placeholder
    (which discovery already found to be no URL) is nothing learnt."""
    from migctl.core.api import Migctl

    ini = make_project(tmp_path, "small")
    if ini_url == "none":
        ini.write_text("\n".join(ln for ln in ini.read_text().splitlines() if not ln.startswith("sqlalchemy.url")) + "\n")
    else:
        assert "sqlalchemy.url = driver://user:pass@localhost/dbname" in ini.read_text()
    assert url_from_env_py(AlembicProject(AlembicLocation(ini.parent / "migrations", ini))) is None
    with pytest.raises(UsageError) as caught:
        Migctl.open(environment=_env_py_environment(ini, tmp_path / "state", name="prod"))
    assert str(caught.value) == ("no database URL for environment prod: pass --database-url, set DATABASE_URL "
                                 "or database_url in migctl.yaml")
    assert not (tmp_path / "state" / "pg").exists()


def test_cli_status_names_env_py_as_the_source(embedded_pg: PgServer, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Through discovery (``./alembic.ini``, no URL anywhere): needs core.config to resolve such a
    directory to ``source == "env.py"``."""
    url, admin = embedded_pg.create_database()
    ini = _settings_project(tmp_path, url, "config")
    monkeypatch.chdir(ini.parent)
    assert load_environment(environ={}).source == "env.py"
    status = run_cli("status", "--skip-vector-db", cwd=ini.parent)
    assert status.code == 0, status.text
    assert f"database:    {mask_url(url)}  (from env.py)" in status.out
    up = run_cli("upgrade", "head", "--yes", cwd=ini.parent)
    assert up.code == 0, up.text
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    assert APP_PASSWORD not in status.text + up.text


def test_settings_project_runs_under_plain_alembic(embedded_pg: PgServer, tmp_path: Path) -> None:
    """The fixture is a real project: plain alembic finds the URL in env.py too."""
    url, admin = embedded_pg.create_database()
    ini = _settings_project(tmp_path, url, "engine")
    plain = subprocess.run([ALEMBIC, "-c", str(ini), "upgrade", "head"], cwd=ini.parent, capture_output=True,
                           text=True, env=clean_env())
    assert plain.returncode == 0, plain.stderr
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"


