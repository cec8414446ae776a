"""Typed errors with an operator-facing message; shells map them to exit codes."""

from __future__ import annotations

# Shells show errors through these, so they are offered here beside the errors themselves.
from migctl.core.secrets import clip, mask_url, scrub

__all__ = ["ConfigError", "ConnectionFailed", "LockHeld", "MigctlError", "MissingExtra", "OperationFailed",
           "Refused", "UsageError", "clip", "mask_url", "scrub"]


class MigctlError(Exception):
    """Base error. ``str(err)`` is one line meant for an operator; ``detail`` may hold more."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


class UsageError(MigctlError):
    """Bad input: unknown revision, malformed URL or config, unknown environment."""

    exit_code = 2


class ConfigError(UsageError):
    """The configuration file or environment cannot be used as given."""


class ConnectionFailed(MigctlError):
    """The database could not be reached or refused the credentials."""

    exit_code = 1


class OperationFailed(MigctlError):
    """A migration step failed; the database says why."""

    exit_code = 1


class Refused(MigctlError):
    """The operation was not started: lock held, confirmation declined, drift."""

    exit_code = 3


class LockHeld(Refused):
    """Another migctl holds the migration lock."""

    def __init__(self, message: str, *, holder: dict | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class MissingExtra(UsageError):
    """A feature needs a package of one of migctl's extras, not installed here."""

    def __init__(self, what: str, extra: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'migctl[{extra}]'")
        self.extra = extra
