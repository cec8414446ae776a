"""The core's own event loop, in a thread of its own.

Everything the console asks of ``core.api`` runs here: database drivers, Alembic (which
``core`` already moves to worker threads), the vector store's client and the row copies.
The UI loop only awaits futures, so keys and redraws never wait behind a query.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class CoreThread:
    """A private asyncio loop in a daemon thread; :meth:`call` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="migctl-core", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def call(self, make: Callable[[], Awaitable[T]]) -> T:
        """Await ``make()`` on the core loop from the UI loop."""

        async def run() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return await asyncio.wrap_future(future)

    def stop(self, close: Callable[[], Awaitable[object]] | None = None, timeout: float = 10.0) -> None:
        """Run ``close`` (if given) on the core loop, then stop the loop and the thread."""
        if not self.loop.is_running():
            return
        if close is not None:
            try:
                asyncio.run_coroutine_threadsafe(close(), self.loop).result(timeout)
            except Exception:  # closing connections at exit: nothing left to report to
                pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
