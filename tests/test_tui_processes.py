"""The console leaves no process behind.

``migctl tui`` runs for real in tmux with Milvus Lite by path: its ``milvus-lite server``
child (found by its parent pid in /proc) must end after ``q``, when the terminal hangs up
(tmux closes the pane, as sshd does when the connection drops) and on SIGTERM, while a
server it did not start is left running. ``migctl serve`` must end a session's process with
its websocket, and its page must work through a port forwarded from another one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from migctl.core.embedded import free_port
from migctl.core.vector.lite_server import LiteServer
from tests.support import MIGCTL, clean_env
from tests.tui_support import Tmux, console_config, tmux_session

pytestmark = pytest.mark.slow

GONE_WITHIN_S = 20.0


# -- processes, read from /proc ---------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of ``pid``, None when it does not exist."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


def _children(pid: int) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == pid and stat[0] != "Z":
                out.append(int(entry))
    return out


def _descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for child in _children(todo.pop()):
            found.append(child)
            todo.append(child)
    return found


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"{what} (after {timeout:.0f} s)")


def _lite_child(console: int, data_dir: Path) -> int | None:
    for pid in _children(console):
        cmd = _cmdline(pid)
        if "milvus_lite" in cmd and str(data_dir) in cmd:
            return pid
    return None


# -- the console in tmux ------------------------------------------------------------------------
tmux = pytest.fixture(tmux_session)


def _start_console(tmux: Tmux, tmp_path: Path, app_url: str) -> tuple[int, Path]:
    """The console on Milvus Lite by path; (its pid, the Lite data directory)."""
    config = console_config(tmp_path, app_url, store="milvus")
    env = clean_env(TERM="xterm-256color")
    # exec: the pane's process is the console itself, as under sshd
    tmux("new-session", "-d", "-x", "100", "-y", "30", "-s", "console", "-c", str(tmp_path),
         *[a for k, v in env.items() for a in ("-e", f"{k}={v}")],
         f"exec {MIGCTL} tui --no-mouse --config {config}")
    console = int(tmux("display-message", "-p", "-t", "console", "#{pane_pid}").strip())
    return console, (tmp_path / "state" / "milvus.db").resolve()


def _wait_vector_connected(tmux: Tmux) -> None:
    _wait(lambda: re.search(r"vector: (milvus )?connected", tmux.capture()), 120,
          f"the console never connected to Milvus Lite; screen:\n{tmux.capture()}")


@pytest.mark.parametrize("how", ["q", "SIGHUP", "SIGTERM"])
def test_console_stops_the_lite_server_it_started(pg_db: tuple[str, str], tmp_path: Path, tmux: Tmux,
                                                  how: str) -> None:
    app_url, _ = pg_db
    console, data_dir = _start_console(tmux, tmp_path, app_url)
    lite = _wait(lambda: _lite_child(console, data_dir), 120,
                 f"no milvus-lite child of the console; screen:\n{tmux.capture()}")
    _wait_vector_connected(tmux)
    assert _alive(lite)
    if how == "q":
        tmux("send-keys", "-t", "console", "q")
    elif how == "SIGHUP":  # the terminal goes away: tmux closes the pane's pty and hangs it up
        tmux("kill-session", "-t", "console")
    else:
        os.kill(console, signal.SIGTERM)
    _wait(lambda: not _alive(console), GONE_WITHIN_S, f"the console did not exit after {how}")
    _wait(lambda: not _alive(lite), GONE_WITHIN_S, f"milvus-lite {lite} still runs after {how}: "
          f"{_cmdline(lite)}")
    assert LiteServer(data_dir).running_uri() is None


def test_console_leaves_a_lite_server_it_did_not_start(pg_db: tuple[str, str], tmp_path: Path,
                                                       tmux: Tmux) -> None:
    """``migctl embedded start`` (here: the same LiteServer) started it: it outlives the console."""
    app_url, _ = pg_db
    data_dir = (tmp_path / "state" / "milvus.db").resolve()
    server = LiteServer(data_dir)
    server.ensure_running()
    try:
        console, _ = _start_console(tmux, tmp_path, app_url)
        _wait_vector_connected(tmux)
        assert _lite_child(console, data_dir) is None
        tmux("send-keys", "-t", "console", "q")
        _wait(lambda: not _alive(console), GONE_WITHIN_S, "the console did not exit after q")
        assert server.pid is not None and _alive(server.pid), "the console stopped a server it did not start"
    finally:
        server.stop()


def test_console_leaves_its_lite_server_to_a_client_still_connected(pg_db: tuple[str, str], tmp_path: Path,
                                                                    tmux: Tmux) -> None:
    """A migration in another terminal uses the server by URI: quitting must not cut it off."""
    import socket

    app_url, _ = pg_db
    console, data_dir = _start_console(tmux, tmp_path, app_url)
    lite = _wait(lambda: _lite_child(console, data_dir), 120, "no milvus-lite child of the console")
    _wait_vector_connected(tmux)
    port = int((LiteServer(data_dir).home / "port").read_text())
    try:
        with socket.create_connection(("127.0.0.1", port)):  # the other terminal's client
            tmux("send-keys", "-t", "console", "q")
            _wait(lambda: not _alive(console), GONE_WITHIN_S, "the console did not exit after q")
            assert _alive(lite), "the console stopped a Lite server another client was using"
    finally:
        LiteServer(data_dir).stop()


# -- migctl serve ----------------------------------------------------------------------------------
@pytest.fixture()
def served(pg_db: tuple[str, str], tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``migctl serve`` on a free port, its page answering; (the process, the port)."""
    app_url, _ = pg_db
    config = console_config(tmp_path, app_url)
    port = free_port()
    proc = subprocess.Popen([MIGCTL, "serve", "--port", str(port), "--config", str(config)], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
    try:
        _wait(lambda: _port_open(port) or proc.poll() is not None, 60, "migctl serve never listened")
        assert proc.poll() is None, "migctl serve exited"
        yield proc, port
    finally:
        sessions = _descendants(proc.pid)
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(20)
        if proc.poll() is None:
            proc.kill()
        for pid in sessions:  # never leave one behind, even when the test failed
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _port_open(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


async def test_serve_ends_sessions_whose_browser_dropped_during_start_up(served) -> None:
    """Browsers that go away at different moments of the console's start-up, one closing its
    websocket, the others dropping the connection without a word (as a dead tunnel does)."""
    proc, port = served

    async def browser(delay: float, abort: bool) -> None:
        async with aiohttp.ClientSession() as http:
            ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24")
            await asyncio.sleep(delay)
            if abort:
                ws._response.connection.transport.abort()
            else:
                await ws.close()

    await asyncio.gather(browser(0.0, False), browser(0.0, True), browser(0.7, True), browser(1.5, False))
    session = _descendants(proc.pid)
    started = time.monotonic()
    await asyncio.to_thread(_wait, lambda: not _descendants(proc.pid), 5.0,
                            f"session processes {session} outlived their websocket")
    print(f"\nsessions {session} gone {time.monotonic() - started:.1f} s after the last disconnect")
    assert proc.poll() is None


async def test_serve_ends_a_session_that_does_not_answer(served) -> None:
    """A console that never reads the request to quit (stopped here; spinning in a render
    loop in the field) is ended all the same, its whole process group with it."""
    proc, port = served
    async with aiohttp.ClientSession() as http:
        ws = await http.ws_connect(f"http://127.0.0.1:{port}/ws?width=80&height=24")
        await ws.receive(timeout=60)  # it started and drew
        session = _descendants(proc.pid)
        console = [pid for pid in session if "migctl.tui.cli" in _cmdline(pid) and "/bin/sh" not in _cmdline(pid)]
        assert console, [_cmdline(pid) for pid in session]
        os.kill(console[0], signal.SIGSTOP)
        await ws.close()
    await asyncio.to_thread(_wait, lambda: not any(_alive(pid) for pid in session), 10.0,
                            f"session processes {session} outlived their websocket")
    assert proc.poll() is None


async def test_serve_page_works_through_a_forwarded_port(served) -> None:
    proc, port = served
    forwarder = _Forwarder(port)
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{forwarder.port}/") as resp:
                assert resp.status == 200
                page = await resp.text()
            assert f":{port}" not in page, "the page names the server's own port"
            ws_url = re.search(r'data-session-websocket-url="([^"]+)"', page).group(1)
            assert ws_url == f"ws://127.0.0.1:{forwarder.port}/ws", ws_url
            static = re.search(r'<script src="([^"]+)"', page).group(1)
            async with http.get(f"http://127.0.0.1:{forwarder.port}{static}") as resp:
                assert resp.status == 200, static
            # A page of another origin (any site the operator visits) may not drive the console.
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(ws_url, headers={"Origin": "http://evil.example"})
            assert refused.value.status == 403
            ws = await http.ws_connect(ws_url + "?width=80&height=24",
                                       headers={"Origin": f"http://127.0.0.1:{forwarder.port}"})
            output = b""
            deadline = time.monotonic() + 90
            while b"Alembic" not in output and time.monotonic() < deadline:
                msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
                if msg.type == aiohttp.WSMsgType.BINARY:
                    output += msg.data
                elif msg.type != aiohttp.WSMsgType.TEXT:
                    break
            assert b"Alembic" in output, output[-500:]
            session = _descendants(proc.pid)
            assert session
            # the server ends while the browser is connected: its session ends with it
            proc.terminate()
            await asyncio.to_thread(proc.wait, 20)
            await ws.close()
        await asyncio.to_thread(_wait, lambda: not any(_alive(pid) for pid in session), 10.0,
                                f"session processes {session} outlived migctl serve")
    finally:
        forwarder.close()


class _Forwarder:
    """127.0.0.1:<free port> -> 127.0.0.1:``target``, as ``ssh -L`` would, in a thread."""

    def __init__(self, target: int) -> None:
        self.port = free_port()
        self.target = target
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(asyncio.start_server(self._pipe, "127.0.0.1", self.port))
        ready.set()
        self.loop.run_forever()
        server.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            with contextlib.suppress(OSError):
                dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
