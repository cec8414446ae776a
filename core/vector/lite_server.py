"""Milvus Lite in a process of its own, for a data directory such as ``.migctl/milvus.db``.

Opened by path, Milvus Lite runs its (pure Python) gRPC server inside the caller's process:
fine for a short CLI command, but it shares the GIL with the console and holds the data
directory's lock, so no second migctl can open it meanwhile. The console and
``migctl embedded start`` therefore start ``milvus-lite server`` on the same directory; every
migctl command connects to it by URI while it runs and falls back to the path otherwise.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from migctl.core.errors import ConnectionFailed
from migctl.core.extras import require
from migctl.core.secrets import child_env


def is_local_path(uri: str | None) -> bool:
    """A Milvus Lite data directory rather than a server address."""
    return bool(uri) and "://" not in str(uri)


def data_dir_in_use(data_dir: str | Path) -> bool:
    """Whether some process holds Milvus Lite's lock on ``data_dir`` (the ``LOCK`` file it
    flocks while the directory is open). Asks with a shared lock, let go at once."""
    try:
        fd = os.open(Path(data_dir) / "LOCK", os.O_RDONLY)
    except OSError:  # no lock file (never opened) or not a directory: nobody holds it
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing the descriptor drops the shared lock
    return False


class LiteServer:
    """The server process for one data directory; its pid and port live beside it."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.home = self.data_dir.parent / f".{self.data_dir.name}.server"
        self.log_file = self.home / "server.log"
        # The server this object started, if any: whoever started it may stop it, and only
        # that one (not a server ``migctl embedded start`` or another console left running).
        self.started_pid: int | None = None

    # -- reading ------------------------------------------------------------------------------
    def running_uri(self) -> str | None:
        """``http://127.0.0.1:PORT`` of a live server for this directory, else ``None``."""
        try:
            pid = int((self.home / "pid").read_text())
            port = int((self.home / "port").read_text())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return f"http://127.0.0.1:{port}" if _port_open(port) else None

    def held_elsewhere(self) -> bool:
        """The data directory is open in another process that is not its server (a CLI
        command running a migration on it by path): no one else can open it meanwhile."""
        return self.running_uri() is None and data_dir_in_use(self.data_dir)

    @property
    def pid(self) -> int | None:
        try:
            return int((self.home / "pid").read_text()) if self.running_uri() else None
        except (FileNotFoundError, ValueError):
            return None

    # -- changing -------------------------------------------------------------------------------
    def ensure_running(self, timeout: float = 60.0) -> str:
        """Start the server unless one runs; returns its URI."""
        uri = self.running_uri()
        if uri:
            return uri
        require("milvus_lite", "milvus", "Milvus Lite")
        self.home.mkdir(parents=True, exist_ok=True)
        with self._file_lock():
            uri = self.running_uri()
            if uri:
                return uri
            port = _free_port()
            with self.log_file.open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-c", _SERVER_BOOT, "server", "--data-dir", str(self.data_dir),
                     "--host", "127.0.0.1", "--port", str(port)],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                    env=child_env())  # it may outlive its starter: none of the starter's secrets
            deadline = time.monotonic() + timeout
            while not _port_open(port):
                if proc.poll() is not None or time.monotonic() > deadline:
                    if proc.poll() is None:
                        proc.kill()
                    last = self.log_file.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                    raise ConnectionFailed(f"Milvus Lite server for {self.data_dir} did not start: {last[0]}")
                time.sleep(0.05)
            (self.home / "pid").write_text(str(proc.pid))
            (self.home / "port").write_text(str(port))
            self.started_pid = proc.pid
            return f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 20.0) -> bool:
        """Stop the server (SIGINT lets it close its data directory); False when none ran."""
        pid = self.pid
        if pid is None:
            return False
        os.kill(pid, signal.SIGINT)
        if not _wait_gone(pid, timeout):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 10.0)  # its lock on the data directory goes with it
        for name in ("pid", "port"):
            (self.home / name).unlink(missing_ok=True)
        return True

    def stop_if_started(self, timeout: float = 20.0) -> bool:
        """Stop the server this object started, if it still runs as that process and no other
        process is connected to it (a migration run from another terminal uses it by URI and
        must not lose it half-way). A server someone else (re)started is left alone."""
        if self.started_pid is None or self.pid != self.started_pid:
            return False
        port = self._port()
        if port is not None and _clients_elsewhere(port):
            return False
        self.started_pid = None
        return self.stop(timeout)

    def _port(self) -> int | None:
        try:
            return int((self.home / "port").read_text())
        except (FileNotFoundError, ValueError):
            return None

    @contextlib.contextmanager
    def _file_lock(self):
        with open(self.home / "start.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


# ``python -m milvus_lite`` with SIGINT's default handler back: a process started from a
# script's background job inherits SIGINT ignored, and Python keeps it ignored, so ``stop``
# could not ask the server to close its data directory.
_SERVER_BOOT = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                "runpy.run_module('milvus_lite', run_name='__main__', alter_sys=True)")


def _wait_gone(pid: int, timeout: float) -> bool:
    """Until ``pid`` has exited (reaped if it is our child); False when ``timeout`` passed first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def _clients_elsewhere(port: int) -> bool:
    """Whether a process other than this one holds an open TCP connection to 127.0.0.1:``port``
    (Linux: /proc/net/tcp; elsewhere the answer is no)."""
    own = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                own.add(os.readlink(f"/proc/self/fd/{fd}"))
    wanted = f"0100007F:{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # remote address is the server's, state 01 is ESTABLISHED; field 9 the socket's inode
            if len(fields) > 9 and fields[2].endswith(wanted) and fields[3] == "01" \
                    and f"socket:[{fields[9]}]" not in own:
                return True
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False
