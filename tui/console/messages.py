"""Messages the core thread posts to the console (``post_message`` is thread-safe)."""

from __future__ import annotations

from typing import Any

from textual.message import Message


class CoreEvent(Message):
    """An event from ``core.events`` (step started/finished/failed, notices, lock waits)."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class CopyProgressed(Message):
    """Rows copied so far; a newer one replaces an older one still in the queue, so a fast
    copy never floods the console."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, CopyProgressed) and message.event.target == self.event.target
