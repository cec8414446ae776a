"""Test hook for the crash tests: ``MIGCTL_FAULT_POINT=name`` kills the process at that point."""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    """``kill -9`` this process right here when ``MIGCTL_FAULT_POINT`` is ``name``."""
    if os.environ.get("MIGCTL_FAULT_POINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
