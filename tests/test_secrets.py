"""Issue 13, points 2-4: no password on a child's command line or in its environment, masking
that is exact and linear, revision messages and environment names that cannot escape."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from migctl.core.secrets import mask_url, remember, scrub
from tests.conftest import PgServer
from tests.support import (
    MIGCTL,
    REPO,
    clean_env,
    make_project,
    pg_scalar,
    reference_project,
    run_cli,
    write_config,
)

# A scram password with every character a passfile or a URL must escape.
DUMP_PASSWORD = "S3cr3t:Dump\\pw 9@x"
LEAKS = {"DATABASE_URL": "postgresql://app:Leaky-Url-pw@127.0.0.1:1/x", "MILVUS_TOKEN": "root:Leaky-Token-7",
         "POSTGRES_PASSWORD": "Leaky-Pg-pw-3", "PGPASSWORD": "Leaky-PGPASSWORD-5"}


# --- 2. child processes -----------------------------------------------------------------------


def _proc_stat(pid: str) -> tuple[str, int] | None:
    """(command name, parent pid) of a process, None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    return comm, int(text[text.rindex(")") + 2:].split()[1])


def _wait_for_child(parent: subprocess.Popen[str], name: str, timeout: float = 60) -> int:
    """The pid of ``parent``'s child process ``name``, read from /proc while it runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            if _proc_stat(pid) == (name, parent.pid):
                return int(pid)
        if parent.poll() is not None:
            pytest.fail(f"migctl ended ({parent.returncode}) before {name} was seen: {parent.communicate()}")
        time.sleep(0.005)
    pytest.fail(f"no {name} child of migctl within {timeout}s")


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def _assert_no_secret(pid: int, secrets: tuple[str, ...]) -> dict[str, str]:
    """Neither argv nor environment of ``pid`` holds a secret or a secret-bearing variable."""
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    env = _environ(pid)
    for secret in secrets:
        assert secret not in argv, f"{secret!r} on the command line: {argv!r}"
        assert secret not in "\0".join(f"{k}={v}" for k, v in env.items()), f"{secret!r} in the environment"
    assert not {"DATABASE_URL", "MILVUS_TOKEN", "POSTGRES_PASSWORD", "PGPASSWORD"} & set(env), sorted(env)
    return env


@pytest.fixture()
def secret_role_db(embedded_pg: PgServer) -> Iterator[tuple[str, str]]:
    """(URL of role ``secretuser`` with a scram password, admin URL) of a fresh database it owns.
    The embedded server asks every role but ``postgres`` for its password on TCP (scram)."""
    import psycopg

    db = f"secret_{os.getpid()}_{time.monotonic_ns() % 10**8}"
    with psycopg.connect(embedded_pg.admin_url, autocommit=True) as conn:
        conn.execute("SET password_encryption = 'scram-sha-256'")
        verb = "ALTER" if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'secretuser'").fetchone() else "CREATE"
        conn.execute(f"{verb} ROLE secretuser LOGIN PASSWORD '{DUMP_PASSWORD}'")
        assert conn.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                            "WHERE rolname = 'secretuser'").fetchone() == (True,)
        conn.execute(f'CREATE DATABASE "{db}" OWNER secretuser')
    url = f"postgresql://secretuser:{quote(DUMP_PASSWORD, safe='')}@127.0.0.1:{embedded_pg.port}/{db}"
    yield url, embedded_pg.admin_url.rsplit("/", 1)[0] + f"/{db}"


def _run_blocked(cfg: Path, cwd: Path, args: tuple[str, ...], child: str, url: str,
                 admin: str) -> tuple[dict[str, str], str]:
    """Run migctl on ``url`` (given as DATABASE_URL, beside other secret-bearing variables) while a transaction holds ``migctl_hold`` exclusively, so that its ``child``
    (pg_dump, pg_restore) waits on the table; check that child's argv and environment, then let
    it finish. Returns the child's environment and migctl's output."""
    import psycopg

    with psycopg.connect(admin) as holder:
        holder.execute("LOCK TABLE migctl_hold IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen([MIGCTL, "--config", str(cfg), *args], cwd=cwd, text=True,
                                env=clean_env(**{**LEAKS, "DATABASE_URL": url}), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            pid = _wait_for_child(proc, child)
            env = _assert_no_secret(pid, (DUMP_PASSWORD, quote(DUMP_PASSWORD, safe=""), "Dump", *LEAKS.values()))
            passfile = Path(env["PGPASSFILE"])
            assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
        finally:
            holder.rollback()  # the child goes on
            out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    assert not passfile.exists(), "the passfile is removed once the child has ended"
    return env, out + err


def test_pg_dump_and_pg_restore_get_no_password_on_argv_or_in_environment(secret_role_db: tuple[str, str],
                                                                          tmp_path: Path) -> None:
    """Issue 13.2: ``reset`` (backup) and ``restore`` on a role with a scram password; while
    pg_dump and pg_restore run, /proc shows the password in neither their argv nor their
    environment, and none of migctl's own secret-bearing variables."""
    url, admin = secret_role_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:  # migctl_*: not in the reset plan, but dumped
        conn.execute("CREATE TABLE migctl_hold (id int)")
        conn.execute("ALTER TABLE migctl_hold OWNER TO secretuser")

    _, out = _run_blocked(cfg, tmp_path, ("reset", "--confirm-reset", "--yes"), "pg_dump", url, admin)
    assert pg_scalar(admin, "SELECT to_regclass('public.alembic_version') IS NULL") is True, out
    [backup] = (tmp_path / "state" / "backups").iterdir()
    assert (backup / "relational.dump").stat().st_size > 0  # the password reached libpq: scram passed

    _run_blocked(cfg, tmp_path, ("restore", str(backup), "--yes"), "pg_restore", url, admin)
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    for secret in (DUMP_PASSWORD, quote(DUMP_PASSWORD, safe="")):
        assert secret not in out


@pytest.mark.slow
def test_embedded_servers_do_not_inherit_the_consoles_secrets(tmp_path: Path) -> None:
    """Issue 13.2: the Milvus Lite server and the embedded PostgreSQL that migctl starts outlive
    it; their environments hold none of DATABASE_URL, MILVUS_TOKEN, POSTGRES_PASSWORD, PGPASSWORD."""
    pytest.importorskip("milvus_lite")
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text(f"state_dir: {tmp_path / 'state'}\nvector: {{}}\nalembic: {{script_location: {REPO / 'alembic'}}}\n"
                   "environments:\n  dev:\n    database_url: embedded\n")
    started = run_cli("--config", str(cfg), "embedded", "start", cwd=tmp_path, env=clean_env(**LEAKS))
    try:
        assert started.code == 0, started.text
        lite_pid = int((tmp_path / "state" / ".milvus.db.server" / "pid").read_text())
        pg_pid = int((tmp_path / "state" / "pg" / "data" / "postmaster.pid").read_text().split()[0])
        for pid in (lite_pid, pg_pid):
            env = _assert_no_secret(pid, tuple(LEAKS.values()))
            assert "PATH" in env, "a child still gets what it needs"
    finally:
        stopped = run_cli("--config", str(cfg), "embedded", "stop", cwd=tmp_path)
        assert stopped.code == 0, stopped.text


# --- 3. masking -------------------------------------------------------------------------------


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("how", ["--database-url", "DATABASE_URL"])
def test_malformed_url_with_spaces_in_the_password_is_masked(tmp_path: Path, how: str) -> None:
    """Issue 13.3: ``port out of range`` echoed the URL with ``my secret pw`` in it."""
    reference_project(tmp_path)
    url = "postgresql://spaceuser:my secret pw@127.0.0.1:99999/x"
    if how == "--database-url":
        result = run_cli("--database-url", url, "status", cwd=tmp_path)
    else:
        result = run_cli("status", "--json", cwd=tmp_path, env=clean_env(DATABASE_URL=url))
        assert json.loads(result.out)["exit"] == 2
    assert result.code == 2, result.text
    assert _one_line(result.err) == ("migctl: error: malformed database URL "
                                     "'postgresql://spaceuser:***@127.0.0.1:99999/x': port out of range")
    assert "secret" not in result.text
    assert not (tmp_path / ".migctl").exists()


@pytest.mark.parametrize("args", [
    ("--database-url", "postgresql://u:" + "p" * 100_000 + "@127.0.0.1:99999/x", "status"),
    ("--database-url", "x://" * 25_000, "status"),
    ("--env", "e" * 100_000, "status"),
], ids=["password", "schemes", "env"])
def test_huge_input_is_masked_quickly_in_a_short_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Issue 13.3: a 100,000-character argument took 20 s to mask and printed a 100,000-character line."""
    reference_project(tmp_path)
    began = time.monotonic()
    result = run_cli(*args, cwd=tmp_path)
    assert time.monotonic() - began < 10
    assert result.code == 2, result.text[:500]
    assert len(_one_line(result.err)) < 500
    assert "p" * 50 not in result.text


def test_huge_target_is_refused_quickly_in_a_short_line(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.3: the 100,000-character upgrade target of the report, on a real database."""
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    began = time.monotonic()
    result = run_cli("--config", str(cfg), "upgrade", "a" * 100_000, "--yes", cwd=tmp_path)
    assert time.monotonic() - began < 10
    assert result.code == 2, result.text[:500]
    assert len(_one_line(result.err)) < 500
    assert pg_scalar(admin, "SELECT to_regclass('public.alembic_version') IS NULL") is True


def test_masking_is_linear() -> None:
    for text in ("a" * 100_000, "x://" * 25_000, "x://a:" + "b" * 100_000, "a:b@" * 25_000):
        began = time.monotonic()
        scrub(text)
        assert time.monotonic() - began < 1, text[:20]


def test_password_postgres_masks_only_its_place(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                tmp_path: Path) -> None:
    """Issue 13.3: password ``postgres`` turned ``status --json`` into ``***ql://***:***@…/***``."""
    _, admin = pg_db
    db = admin.rsplit("/", 1)[1]
    url = f"postgresql://postgres:postgres@127.0.0.1:{embedded_pg.port}/{db}"
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    result = run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path)
    assert result.code == 0, result.text
    assert json.loads(result.out)["relational"]["url"] == f"postgresql://postgres:***@127.0.0.1:{embedded_pg.port}/{db}"
    assert "***ql" not in result.text and ":postgres@" not in result.text


def test_mask_url_and_scrub_mask_places_not_words() -> None:
    remember("postgres", beside=("postgres", "db", "postgres"))
    assert mask_url("postgresql://postgres:postgres@db:5432/postgres") == "postgresql://postgres:***@db:5432/postgres"
    assert scrub("to postgresql://postgres:postgres@db/postgres: failed") == "to postgresql://postgres:***@db/postgres: failed"
    assert scrub("'postgresql://u:my secret pw@h:99999/x': port out of range") == \
        "'postgresql://u:***@h:99999/x': port out of range"
    remember("short-pw")
    assert scrub('auth failed for "short-pw"; not-short-pwx stays') == 'auth failed for "***"; not-short-pwx stays'
    remember("a-long-secret-value")
    assert scrub("xa-long-secret-valuex") == "x***x"  # a long secret is no accident anywhere
    assert mask_url("postgresql://u@h/d?password=abc&sslmode=require") == "postgresql://u@h/d?password=***&sslmode=require"


# --- 4. what reaches source files and paths ---------------------------------------------------

INJECTION = 'x"""\nimport os; os.system("touch PWNED")\n"""'


@pytest.mark.parametrize("verb", ["revision", "merge"])
def test_revision_message_cannot_inject_code(tmp_path: Path, sqlite_url: str, verb: str) -> None:
    """Issue 13.4: ``revision -m`` with ``\"\"\"`` and a newline ran the code at once."""
    ini = make_project(tmp_path, "branches" if verb == "merge" else "small")
    cfg = write_config(tmp_path, sqlite_url, ini=ini)
    versions = ini.parent / "migrations" / "versions"
    before = set(versions.glob("*.py"))
    args = ("merge", "heads") if verb == "merge" else ("revision",)
    result = run_cli("--config", str(cfg), *args, "-m", INJECTION, cwd=tmp_path)
    assert result.code == 0, result.text
    [new] = set(versions.glob("*.py")) - before
    load = ("import importlib.util, sys; s = importlib.util.spec_from_file_location('m', sys.argv[1]); "
            "m = importlib.util.module_from_spec(s); s.loader.exec_module(m); print(repr(m.__doc__))")
    doc = subprocess.run([sys.executable, "-c", load, str(new)], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert eval(doc).startswith(INJECTION + "\n\nRevision ID: ")  # noqa: S307 - repr of a str we printed
    assert not list(tmp_path.rglob("PWNED")) and not (REPO / "PWNED").exists()
    history = json.loads(run_cli("--config", str(cfg), "history", "--json", cwd=tmp_path).out)
    assert INJECTION in [r["message"] for r in history], "migctl's own history shows the message as given"


@pytest.mark.parametrize("how", ["config", "--env", "MIGCTL_ENV"])
def test_environment_name_cannot_leave_the_state_directory(tmp_path: Path, sqlite_url: str, how: str) -> None:
    """Issue 13.4: an environment named ``../../evil`` wrote its backup outside ``backups/``."""
    project = tmp_path / "project"
    project.mkdir()
    cfg = write_config(project, sqlite_url, ini=make_project(project, "small"),
                       name="../../evil" if how == "config" else "test")
    before = sorted(tmp_path.rglob("*"))
    args = ("--env", "../../evil") if how == "--env" else ()
    env = clean_env(MIGCTL_ENV="../../evil") if how == "MIGCTL_ENV" else None
    result = run_cli("--config", str(cfg), *args, "reset", "--confirm-reset", "--yes", cwd=project, env=env)
    assert result.code == 2, result.text
    where = {"config": f"config file {cfg}", "--env": "--env", "MIGCTL_ENV": "MIGCTL_ENV"}[how]
    assert _one_line(result.err).startswith(f"migctl: error: {where}: invalid environment name '../../evil'")
    assert sorted(tmp_path.rglob("*")) == before, "nothing written"


@pytest.mark.parametrize(("name", "ok"), [("prod", True), ("eu-west.1_b", True), ("9", True), ("a" * 64, True),
                                          ("../x", False), ("a..b", False), (".hidden", False), ("a/b", False),
                                          ("", False), ("a" * 65, False), ("with space", False), ("é", False)])
def test_environment_names(name: str, ok: bool) -> None:
    from migctl.core.config import check_environment_name
    from migctl.core.errors import UsageError

    if ok:
        assert check_environment_name(name, "x") == name
    else:
        with pytest.raises(UsageError, match="invalid environment name"):
            check_environment_name(name, "x")
