"""migctl's log: one file handler for the CLI and the console, and the events both write to it.

The console owns the terminal, so its only record of a run is this file: it logs the same
step, lock and notice lines as the CLI, and every failure it shows in a dialog.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("migctl")


class _LogFile(logging.FileHandler):
    """A log file that gives up after its first failed write, with one warning line: logging's
    default prints a traceback for every record (11 of them in one upgrade on a full disk)."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        exc = sys.exc_info()[1]
        log.removeHandler(self)
        warn(f"cannot write the log file {self.baseFilename}: {_reason(exc)}; not logging to it")
        try:
            self.close()
        except OSError:
            pass


def _reason(exc: BaseException | None) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__) if exc else "unknown error"


def warn(text: str) -> None:
    try:
        sys.stderr.write(f"migctl: warning: {text}\n")
    except (OSError, ValueError):
        pass


def add_log_file(path: Path, formatter: logging.Formatter) -> None:
    """Log INFO and above to ``path``; one warning line when it cannot be opened or written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = _LogFile(path, encoding="utf-8")
    except OSError as exc:
        warn(f"cannot open the log file {path}: {_reason(exc)}; not logging to it")
        return
    handler.setLevel(logging.INFO)
    handler.setFormatter(formatter)
    log.addHandler(handler)


def log_event(event: Any) -> None:
    """The log line of a core event (a step is logged once, when it ends)."""
    from migctl.core.events import LockWaiting, Notice, StepFailed, StepFinished, VerifyProgress

    if isinstance(event, StepFinished):
        log.info("step %d/%d %s %s finished in %.3fs", event.index + 1, event.total, event.direction,
                 event.revision, event.duration_s)
    elif isinstance(event, StepFailed):
        log.error("step %d/%d %s %s failed: %s", event.index + 1, event.total, event.direction,
                  event.revision, event.error)
    elif isinstance(event, VerifyProgress):
        log.info("verify %d/%d %s: %s%s (%.3fs)", event.index, event.total, event.revision, event.state,
                 f": {event.detail}" if event.detail else "", event.seconds)
    elif isinstance(event, LockWaiting):
        log.info("waiting up to %.0fs for the migration lock held by %s", event.timeout_s, event.holder)
    elif isinstance(event, Notice):
        log.info("%s", event.text)
