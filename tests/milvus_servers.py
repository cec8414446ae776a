"""Milvus servers for the suite: Milvus Lite by path, Milvus Lite as a process of its own, and
the real Milvus 2.3.5 standalone server shipped in the ``milvus`` wheel.

Every server binds only ports this module chose free, keeps its data in a temporary directory
and is stopped (terminate, then kill) when the session ends. Milvus 2.3.5 runs with
authentication on, so the suite can check that a wrong token fails cleanly.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import port_open

MILVUS_235_TOKEN = "root:Milvus"  # the default root credentials of a fresh Milvus 2.3
START_TIMEOUT = 90.0
STOP_TIMEOUT = 10.0
# Every port the 2.3.5 config template asks for (see ``milvus/data/config.yaml.template``).
_MILVUS_235_PORTS = ("etcd_port", "root_coord_port", "proxy_port", "proxy_internal_port",
                     "query_coord_port", "query_node_port", "index_coord_port", "index_node_port",
                     "data_coord_port", "data_node_port")


PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Run in the child before exec: the kernel sends it SIGKILL when the process that started
    it dies, so an interrupted or killed test run leaves no server behind (its data is
    temporary). Servers are started from the main thread, whose end is the process's."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class MilvusProcess:
    """A Milvus server the suite started: where it answers, and how long it took to come up."""

    uri: str
    token: str | None
    process: subprocess.Popen[bytes]
    log: Path
    started_in_s: float
    stop_signal: signal.Signals = signal.SIGTERM
    stop_timeout: float = STOP_TIMEOUT

    def stop(self) -> None:
        stop_process(self.process, self.stop_signal, self.stop_timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes], first: signal.Signals = signal.SIGTERM,
                 timeout: float = STOP_TIMEOUT) -> None:
    """Ask politely, then kill after ``timeout``; always reap the process."""
    if proc.poll() is not None:
        return
    proc.send_signal(first)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def _wait_until(ready: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{what} exited with code {proc.returncode} while starting:\n{tail}")
        if time.monotonic() > deadline:
            stop_process(proc)
            raise RuntimeError(f"{what} did not start within {START_TIMEOUT:.0f} s (log: {log})")
        time.sleep(0.1)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return b"OK" in resp.read()
    except OSError:
        return False


def start_milvus_lite_server(data_dir: Path) -> MilvusProcess:
    """``milvus-lite server`` in its own process on a free port of 127.0.0.1."""
    port = free_port()
    log = data_dir.parent / f"{data_dir.name}.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
             "--host", "127.0.0.1", "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent)
    _wait_until(lambda: port_open("127.0.0.1", port), proc, log, "milvus-lite server")
    # SIGINT lets it close its data directory (KeyboardInterrupt)
    return MilvusProcess(f"http://127.0.0.1:{port}", None, proc, log, time.monotonic() - started,
                         signal.SIGINT)


def start_milvus_235(base: Path) -> MilvusProcess:
    """The standalone Milvus 2.3.5 of the ``milvus`` wheel, every port chosen here.

    The wheel's own ``MilvusServer.start`` would leave embedded etcd on its default ports
    2379/2380 and searches upwards from fixed ports; so this writes the wheel's config with
    explicit ports, points embedded etcd at a config of its own (``ETCD_CONFIG_PATH``) and
    runs the binary directly.
    """
    import milvus  # the wheel; the caller skips when it is missing

    ports = {key: free_port() for key in _MILVUS_235_PORTS}
    peer, metrics = free_port(), free_port()
    config = milvus.MilvusServerConfig(data_dir=str(base), **ports)
    config.set("authorization_enabled", True)
    config.resolve()  # writes configs/milvus.yaml; raises if a chosen port was taken meanwhile
    milvus._initialize_data_files(str(base))  # unpacks bin/milvus and its libraries
    etcd = base / "configs" / "embedEtcd.yaml"
    etcd.write_text(f"listen-client-urls: http://127.0.0.1:{ports['etcd_port']}\n"
                    f"advertise-client-urls: http://127.0.0.1:{ports['etcd_port']}\n"
                    f"listen-peer-urls: http://127.0.0.1:{peer}\n"
                    f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
                    f"initial-cluster: default=http://127.0.0.1:{peer}\n")
    bin_dir = base / "bin"
    env = dict(os.environ, DEPLOY_MODE="STANDALONE", METRICS_PORT=str(metrics),
               MILVUS_RUN_DIR=str(base / "run"), ETCD_CONFIG_PATH=str(etcd),
               LD_LIBRARY_PATH=os.pathsep.join(filter(None, (str(bin_dir), os.environ.get("LD_LIBRARY_PATH")))))
    log = base / "logs" / "milvus.log"
    started = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(bin_dir / "milvus"), "run", "standalone"], cwd=base, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_die_with_parent)
    proxy = ports["proxy_port"]
    _wait_until(lambda: _healthy(f"http://127.0.0.1:{metrics}/healthz") and port_open("127.0.0.1", proxy),
                proc, log, "Milvus 2.3.5")
    # its graceful shutdown hangs while a collection is loaded; the data is thrown away anyway
    return MilvusProcess(f"http://127.0.0.1:{proxy}", MILVUS_235_TOKEN, proc, log,
                         time.monotonic() - started, stop_timeout=3.0)


@pytest.fixture()
def milvus_lite_uri(tmp_path: Path) -> str:
    """A fresh Milvus Lite database path; the server runs inside the test process."""
    return str(tmp_path / "milvus.db")


@pytest.fixture(scope="session")
def milvus_lite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a ``milvus-lite server`` process for the whole session."""
    server = start_milvus_lite_server(tmp_path_factory.mktemp("milvus_lite") / "data")
    yield server.uri
    server.stop()


@pytest.fixture(scope="session")
def milvus_235_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusProcess]:
    """The real Milvus 2.3.5 for the whole session (token :data:`MILVUS_235_TOKEN`)."""
    try:
        import milvus  # noqa: F401
    except ImportError:
        pytest.skip("Milvus 2.3.5 not installed: pip install --no-deps milvus==2.3.5")
    server = start_milvus_235(tmp_path_factory.mktemp("milvus_235"))
    print(f"\nMilvus 2.3.5 started in {server.started_in_s:.1f} s at {server.uri}")
    yield server
    server.stop()
    shutil.rmtree(server.log.parent.parent / "bin", ignore_errors=True)  # 250 MB of binaries
