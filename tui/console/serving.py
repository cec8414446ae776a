"""``migctl serve``: textual-serve's server, with the page's URLs taken from the request and
every session process ended with its connection.

textual-serve writes ``http://HOST:PORT/...`` and ``ws://HOST:PORT/ws`` of its own listening
address into the page, so through an SSH tunnel on any other local port the browser loads
nothing: here they come from the Host header the browser sent. And it ends a session by
asking the app to quit and waiting for it for ever: an app still starting up when the
browser dropped never read the request and kept running, past the server's own end. Here
each session runs in a process group of its own, which is terminated, then killed, when the
request is not answered in time, and when the server exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

QUIT_GRACE_S = 1.5  # for the app to quit when asked, as the browser's close button asks
TERM_GRACE_S = 3.0  # then for its process group to end on SIGTERM, before SIGKILL


class SessionService(AppService):
    """One browser session's console process, in a process group of its own."""

    def __init__(self, command: str, *, sessions: set[SessionService], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._sessions = sessions

    async def _open_app_process(self, width: int = 80, height: int = 24) -> asyncio.subprocess.Process:
        environment = self._build_environment(width=width, height=height)
        self._process = process = await asyncio.create_subprocess_shell(
            self.command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment, start_new_session=True)
        assert process.stdin is not None
        self._stdin = process.stdin
        self._sessions.add(self)
        return process

    async def stop(self) -> None:
        """Ask the app to quit; end its process group when it does not in time."""
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(super().stop(), QUIT_GRACE_S)
        finally:
            await self.end_process()

    async def end_process(self) -> None:
        """SIGTERM to the session's process group, SIGKILL after a grace period; idempotent.
        The whole group: the shell textual-serve starts the console with may be gone while
        the console itself still runs."""
        process = self._process
        self._sessions.discard(self)
        if process is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not _group_alive(process.pid):
                break
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            deadline = asyncio.get_running_loop().time() + TERM_GRACE_S
            while _group_alive(process.pid) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def kill_now(self) -> None:
        """SIGKILL the group at once (the server's loop is gone)."""
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._process.pid, signal.SIGKILL)


def _same_origin(request: web.Request) -> bool:
    """No Origin (not a browser), or one naming the host and port the request came to."""
    from urllib.parse import urlsplit

    origin = request.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == request.host


def _group_alive(pgid: int) -> bool:
    """Whether process group ``pgid`` still has a member (its number stays taken until then)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ConsoleServer(Server):
    """textual-serve's ``Server`` for the console (see the module's docstring)."""

    def __init__(self, command: str, **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self.sessions: set[SessionService] = set()

    def serve(self, debug: bool = False) -> None:
        # The sessions have process groups of their own, so the terminal's hang-up no longer
        # reaches them: the server takes it as it takes SIGTERM, and ends them.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            asyncio.get_event_loop().add_signal_handler(signal.SIGHUP, self.request_exit)
        try:
            super().serve(debug)
        finally:  # whatever ended the server, no session outlives it
            for session in list(self.sessions):
                session.kill_now()

    async def on_shutdown(self, app: web.Application) -> None:
        await asyncio.gather(*(session.end_process() for session in list(self.sessions)))

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """The page, its URLs on the host and port the browser asked for."""
        secure = request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
        host = request.host  # the Host header: what the browser (or the tunnel's end) sees
        static = request.app.router["static"].url_for(filename="/")
        websocket = request.app.router["websocket"].url_for()
        return {
            "font_size": to_int(request.query.get("fontsize", "16"), 16),
            "app_websocket_url": f"{'wss' if secure else 'ws'}://{host}{websocket}",
            # relative to the page: the browser resolves it against the address it used
            "config": {"static": {"url": str(static).rstrip("/") + "/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """As textual-serve's, with :class:`SessionService` for the session's process."""
        if not _same_origin(request):
            # Any page the operator visits could otherwise open this socket and type into
            # the console (browsers send Origin on every websocket; scripts need not).
            raise web.HTTPForbidden(text="migctl serve: websocket from another origin refused")
        websocket = web.WebSocketResponse(heartbeat=15)
        width = to_int(request.query.get("width", "80"), 80)
        height = to_int(request.query.get("height", "24"), 24)
        service: SessionService | None = None
        try:
            await websocket.prepare(request)
            service = SessionService(self.command, sessions=self.sessions, write_bytes=websocket.send_bytes,
                                     write_str=websocket.send_str, close=websocket.close,
                                     download_manager=self.download_manager, debug=self.debug)
            await service.start(width, height)
            await self._process_messages(websocket, service)
        except asyncio.CancelledError:
            await websocket.close()
        except Exception as error:  # a session's failure is the server log's business
            import logging

            logging.getLogger("textual-serve").exception(error)
        finally:
            if service is not None:
                await service.stop()
        return websocket
