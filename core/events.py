"""Typed progress events the core emits while it works; shells subscribe with a callable.

Events are plain frozen dataclasses so that a shell can render them without knowing how
the work is done (the CLI prints lines, the console updates widgets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    """Base class of everything the core reports."""


@dataclass(frozen=True)
class StepStarted(Event):
    index: int
    total: int
    revision: str
    direction: str
    message: str


@dataclass(frozen=True)
class StepFinished(Event):
    index: int
    total: int
    revision: str
    direction: str
    duration_s: float


@dataclass(frozen=True)
class StepFailed(Event):
    index: int
    total: int
    revision: str
    direction: str
    error: str


@dataclass(frozen=True)
class LockWaiting(Event):
    holder: str
    timeout_s: float


@dataclass(frozen=True)
class LockAcquired(Event):
    operation: str


@dataclass(frozen=True)
class Notice(Event):
    """A line of information for the operator (the plan changed, nothing to do, ...)."""

    text: str


EventSink = Callable[[Event], None]


@dataclass(frozen=True)
class CopyProgress(Event):
    """Rows copied so far from ``source`` to ``target`` (vector shadow copies and rebuilds)."""

    source: str
    target: str
    done: int
    total: int
    rows_per_s: float
    eta_s: float | None


@dataclass(frozen=True)
class VerifyProgress(Event):
    """``migctl verify``: revision ``index`` of ``total`` (those verified in this walk) has its
    verdict; ``state`` is one of ``core.relational.assessment.STATES``."""

    index: int
    total: int
    revision: str
    state: str
    detail: str
    seconds: float


def ignore(_: Event) -> None:
    """The sink used when nobody listens."""
