"""The processes the console starts, and how they end with it.

The console gives Milvus Lite a server process of its own (``LiteServer``, started in a new
session so that a Ctrl+C on the terminal does not tear it down mid-migration). That also
means nothing ends it when the console ends: this module stops the server the console
started itself, on ``q``, on SIGHUP (the SSH session dropped) and on SIGTERM. A server that
was already running (``migctl embedded start``, another console) is left alone.

The embedded PostgreSQL is not stopped, even when the console started it: every migctl
command starts it the same way and leaves it running for the next one; ``migctl embedded
stop`` ends it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from typing import Any

# After SIGHUP/SIGTERM the app is asked to exit; should that hang on a terminal that is gone,
# the process ends anyway once the children are stopped.
EXIT_GRACE_S = 30.0
EXIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class Children:
    """The child processes one console owns; :meth:`stop` is idempotent and thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopping = threading.Lock()  # a second stop waits for the first to finish
        self._lite: list[Any] = []  # LiteServer objects that started their server
        self._closed = False  # the console is leaving: a server started from now on stops at once
        self.exit_signal: signal.Signals | None = None  # the signal the console is leaving on

    def adopt_lite(self, lite: Any) -> None:
        """Keep ``lite`` when it started its server just now (``started_pid`` set)."""
        if getattr(lite, "started_pid", None) is None:
            return
        with self._lock:
            if not self._closed:
                self._lite.append(lite)
                return
        # Started by a worker that was still running when the console stopped its children.
        with contextlib.suppress(OSError):
            lite.stop_if_started()

    def close(self) -> None:
        """Stop every server, and any a still-running worker starts afterwards (quitting)."""
        with self._lock:
            self._closed = True
        self.stop()

    @property
    def lite_pids(self) -> list[int]:
        with self._lock:
            return [lite.started_pid for lite in self._lite if lite.started_pid is not None]

    def stop(self) -> None:
        """Stop every server this console started; returns when they have ended, also when
        another thread is stopping them (the exit path must not outrun a signal's stop)."""
        with self._stopping:
            with self._lock:
                servers, self._lite = self._lite, []
            for lite in servers:
                with contextlib.suppress(OSError):  # already gone, or its files with it
                    lite.stop_if_started()


def exit_on_signals(app: Any, children: Children) -> None:
    """On SIGHUP and SIGTERM: once the operation that runs (if any) has ended, as it cannot
    be stopped half-way, stop the children and let the app exit as on ``q``. Call from the
    app's event loop (``on_mount``)."""
    loop = asyncio.get_running_loop()
    for sig in EXIT_SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, _on_signal, app, children, sig)


def forget_signals() -> None:
    """Undo :func:`exit_on_signals` (the app has ended; its loop may outlive it in tests)."""
    with contextlib.suppress(RuntimeError):
        loop = asyncio.get_running_loop()
        for sig in EXIT_SIGNALS:
            with contextlib.suppress(NotImplementedError, ValueError):
                loop.remove_signal_handler(sig)


def _on_signal(app: Any, children: Children, sig: signal.Signals) -> None:
    if children.exit_signal is not None:
        return  # a second signal while the first one is handled
    children.exit_signal = sig

    def leave() -> None:
        if getattr(app, "running", ""):  # a migration runs on the core thread: let it end
            app.set_timer(0.2, leave)
            return
        threading.Thread(target=_stop_then_watch, args=(children,), name="migctl-exit",
                         daemon=True).start()
        app.exit(128 + int(sig))

    leave()


def _stop_then_watch(children: Children) -> None:
    children.close()
    # The app exits on its own as a rule; a dead terminal can keep its last writes from
    # returning, and the children are already stopped by now.
    threading.Event().wait(EXIT_GRACE_S)
    os._exit(1)
