"""Who is acting: OS user, host, SSH client address, process id."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    user: str
    host: str
    ssh_client: str | None
    pid: int

    @property
    def label(self) -> str:
        return f"{self.user}@{self.host}"


def current_actor() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    ssh = os.environ.get("SSH_CLIENT") or os.environ.get("SSH_CONNECTION")
    return Actor(user, socket.gethostname(), ssh.split()[0] if ssh else None, os.getpid())
