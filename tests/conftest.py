"""Real servers for the suite: an embedded PostgreSQL 18 + pgvector of its own, and the
machine's PostgreSQL (127.0.0.1:5432) and MariaDB (127.0.0.1:3306) when they answer."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migctl.core.embedded import EmbeddedPostgres, bin_dir
from tests.support import APP_PASSWORD, port_open, unique_name


@dataclass
class PgServer:
    """A PostgreSQL server the tests may create databases on."""

    admin_url: str  # superuser, for setup and inspection
    host: str
    port: int

    def create_database(self) -> tuple[str, str]:
        """A fresh database owned by role ``app``; returns (app URL with password, admin URL)."""
        import psycopg

        name = unique_name("db")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER app')
        app = f"postgresql://app:{APP_PASSWORD}@{self.host}:{self.port}/{name}"
        return app, self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    has_vector: bool = True
    socket_dir: str | None = None  # where the server's Unix socket is, when it has one


def _ensure_app_role(admin_url: str, superuser: bool) -> None:
    import psycopg

    power = "SUPERUSER" if superuser else "CREATEDB"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'app'").fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(f"{verb} ROLE app LOGIN PASSWORD '{APP_PASSWORD}' {power}")


@pytest.fixture(scope="session")
def embedded_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgServer]:
    """A private PostgreSQL 18 + pgvector on TCP and a Unix socket: role ``app`` must give its
    password (scram) on both."""
    state = tmp_path_factory.mktemp("embedded") / ".migctl"
    server = EmbeddedPostgres(state).ensure_running()
    hba = server.data_dir / "pg_hba.conf"
    hba.write_text(
        "host all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
        "local all postgres trust\n"
        "local all all scram-sha-256\n"
    )
    # A Unix socket besides TCP, for the socket-URL tests (a restart: it is a start-up setting).
    socket_dir = server.home / "socket"
    socket_dir.mkdir()
    if server.run_as:
        import pwd

        entry = pwd.getpwnam(server.run_as)
        os.chown(socket_dir, entry.pw_uid, entry.pw_gid)
    with open(server.data_dir / "migctl.conf", "a", encoding="utf-8") as fh:
        fh.write(f"unix_socket_directories = '{socket_dir}'\n")
    server._run(["pg_ctl", "-D", str(server.data_dir), "-l", str(server.log_file), "-m", "fast", "-w", "restart"])
    admin = server.url.rsplit("/", 1)[0] + "/postgres"
    _ensure_app_role(admin, superuser=True)  # the reference schema creates and drops pgvector
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    yield PgServer(admin, "127.0.0.1", port, socket_dir=str(socket_dir))
    server.stop()


@pytest.fixture(scope="session")
def machine_pg() -> PgServer:
    if not port_open("127.0.0.1", 5432):
        pytest.skip("no PostgreSQL on 127.0.0.1:5432 on this machine")
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        _ensure_app_role(admin, superuser=False)
    except Exception as exc:  # noqa: BLE001 - any failure means we cannot use it
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 not usable as postgres: {exc}")
    server = PgServer(admin, "127.0.0.1", 5432)
    server.has_vector = False
    return server


@pytest.fixture()
def mariadb_url() -> Iterator[str]:
    if not port_open("127.0.0.1", 3306):
        pytest.skip("no MariaDB/MySQL on 127.0.0.1:3306 on this machine")
    import pymysql

    name = unique_name("db")
    try:
        conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    except pymysql.err.MySQLError as exc:
        pytest.skip(f"MariaDB on 127.0.0.1:3306 not usable as root: {exc}")
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield f"mysql://root@127.0.0.1:3306/{name}"
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    conn.close()


def pg_dump_schema(admin_url: str, exclude: tuple[str, ...] = ("migctl_*",)) -> str:
    """``pg_dump --schema-only`` with pg_dump 18's random ``\\restrict`` lines removed."""
    args = [str(bin_dir() / "pg_dump"), "--schema-only", "--no-owner", "--no-privileges"]
    for pattern in exclude:
        args += ["--exclude-table", pattern]
    out = subprocess.run([*args, admin_url], capture_output=True, text=True, check=True).stdout
    return "\n".join(ln for ln in out.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict")))


@pytest.fixture()
def pg_db(embedded_pg: PgServer) -> tuple[str, str]:
    """(app URL, admin URL) of a fresh database on the embedded server."""
    return embedded_pg.create_database()


@pytest.fixture()
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'app.db'}"


# Milvus servers (Milvus Lite by path, Milvus Lite as a process, the real Milvus 2.3.5),
# registered here so that a session-scoped server starts once for every module.
from tests.milvus_servers import milvus_235_server, milvus_lite_server, milvus_lite_uri  # noqa: E402, F401

# The fast layer (`make test-fast`) is every test that starts no server: a test is marked
# `server` when it asks for one of these fixtures, directly or through another fixture.
SERVER_FIXTURES = {"embedded_pg", "machine_pg", "mariadb_url", "pg_db", "milvus_lite_uri", "milvus_lite_server",
                   "milvus_235_server", "embedded_home", "backend_url", "tmux",
                   "store", "target"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.server)
