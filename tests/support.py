"""Helpers the tests share: real servers, fixture Alembic projects, running the real CLI."""

from __future__ import annotations

import os
import select
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "revisions"
MIGCTL = str(Path(sys.executable).with_name("migctl"))
ALEMBIC = str(Path(sys.executable).with_name("alembic"))
APP_PASSWORD = "Sup3r-Secret-pw"  # the role the tests connect as; must never be printed

# Everything every CLI run of the suite printed, for the no-secrets check.
CLI_OUTPUT: list[str] = []

_SCRUBBED_ENV = ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_PORT", "POSTGRES_USER", "POSTGRES_PASSWORD",
                 "POSTGRES_DB", "MIGCTL_ENV", "CONFIG_FILE", "MIGCTL_STATE_DIR")


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(extra)
    return env


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def run_cli(*args: str, cwd: Path | str | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 180) -> CliResult:
    proc = subprocess.run([MIGCTL, *args], cwd=cwd, env=env or clean_env(), capture_output=True, text=True,
                          input=input, timeout=timeout)
    CLI_OUTPUT.append(proc.stdout + proc.stderr)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def make_project(tmp: Path, revisions: str, template: str = "generic") -> Path:
    """A user's Alembic project as ``alembic init`` makes it, with fixture revisions copied in.

    Returns the path of its ``alembic.ini``; env.py is left exactly as Alembic wrote it.
    """
    proj = tmp / f"proj_{template}_{revisions}"
    proj.mkdir(parents=True, exist_ok=True)
    subprocess.run([ALEMBIC, "init", "-t", template, "migrations"], cwd=proj, check=True, capture_output=True)
    for f in sorted((FIXTURES / revisions).glob("*.py")):
        shutil.copy(f, proj / "migrations" / "versions" / f.name)
    return proj / "alembic.ini"


# The bundled reference project, named the way a user's migctl.yaml would name it.
REFERENCE_SECTIONS = [f"alembic: {{script_location: {REPO / 'alembic'}}}",
                      f"vector: {{migrations_dir: {REPO / 'vector_migrations' / 'versions'}, "
                      f"templates: {REPO / 'vector_migrations' / 'templates.yaml'}}}",
                      f"seed_sql: {REPO / 'sql' / 'common'}"]


def write_config(tmp: Path, url: str, ini: Path | None = None, name: str = "test", protected: bool = False,
                 script_location: Path | None = None) -> Path:
    """A migctl.yaml in ``tmp`` for ``url``: the Alembic project of ``ini`` or ``script_location``
    (relational only), else the bundled reference project with its vector side."""
    lines = [f"default_environment: {name}", f"state_dir: {tmp / 'state'}"]
    if ini is None and script_location is None:
        lines += REFERENCE_SECTIONS
    lines += ["environments:", f"  {name}:", f"    database_url: \"{url}\""]
    if protected:
        lines.append("    protected: true")
    if ini is not None:
        lines += ["    alembic:", f"      ini: {ini}"]
    elif script_location is not None:
        lines += ["    alembic:", f"      script_location: {script_location}"]
    path = tmp / "migctl.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def reference_project(tmp: Path, name: str = "embedded") -> Path:
    """``tmp/migctl.yaml`` naming the bundled reference project, its one environment on the
    embedded PostgreSQL (``--database-url`` overrides it), for tests run in ``tmp``."""
    path = tmp / "migctl.yaml"
    path.write_text("\n".join([f"default_environment: {name}", *REFERENCE_SECTIONS, "environments:",
                               f"  {name}:", "    database_url: embedded"]) + "\n")
    return path


def pg_scalar(url: str, sql: str) -> object:
    """One value from PostgreSQL (psycopg, autocommit)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


LOCK_HOLDER_SCRIPT = """\
import asyncio, sys
from migctl.core.lock import MigrationLock

async def main():
    lock = MigrationLock(sys.argv[1], sys.argv[3])
    await lock.acquire()
    if len(sys.argv) > 4:  # and Milvus Lite open by path, as a migration running on it has
        from migctl.core.vector.stores.milvus import MilvusStore

        await MilvusStore(sys.argv[4]).connect()
    print("locked", flush=True)
    await asyncio.sleep(float(sys.argv[2]))

asyncio.run(main())
"""


def reap(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.kill()
        try:
            p.communicate(timeout=10)
        except (subprocess.TimeoutExpired, ValueError, OSError):
            pass


def spawn_lock_holder(url: str, seconds: float = 20, operation: str = "test-holder",
                      lite_path: Path | None = None) -> subprocess.Popen[str]:
    """A process holding the migration lock of ``url`` as ``operation`` (and, given
    ``lite_path``, that Milvus Lite data directory open) for ``seconds``."""
    argv = [url, str(seconds), operation, *([str(lite_path)] if lite_path else [])]
    proc = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER_SCRIPT, *argv], cwd=REPO,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            if line.strip() == "locked":
                return proc
            if not line:
                break
        if proc.poll() is not None:
            break
    reap([proc])
    pytest.fail(f"lock holder never said 'locked' (exit {proc.returncode}): {proc.stderr.read() if proc.stderr else ''}")


REVISION_FILE = '''"""{message}

Revision ID: {rev}
Revises: {down_doc}
"""
import sqlalchemy as sa

from alembic import op

revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def make_chain_project(tmp: Path, revisions: list[tuple[str, str, str, str]], name: str = "chain") -> Path:
    """An ``alembic init`` project whose revisions form one chain, written from
    (id, message, upgrade body, downgrade body) in order (bodies: statements, one per line).
    Returns the path of its ``alembic.ini``."""
    proj = tmp / name
    proj.mkdir(parents=True, exist_ok=True)
    subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=proj, check=True, capture_output=True)
    down: str | None = None
    for i, (rev, message, up, back) in enumerate(revisions, 1):
        def body(code: str) -> str:
            return "\n".join("    " + line for line in code.strip().splitlines())

        (proj / "migrations" / "versions" / f"{i:04d}_{rev}.py").write_text(REVISION_FILE.format(
            message=message, rev=rev, down_doc=down or "", down=f'"{down}"' if down else "None",
            upgrade=body(up), downgrade=body(back)))
        down = rev
    return proj / "alembic.ini"


def revision_file(ini: Path, rev: str) -> Path:
    """The file of revision ``rev`` in a project made by :func:`make_chain_project`."""
    return next((ini.parent / "migrations" / "versions").glob(f"*_{rev}.py"))
