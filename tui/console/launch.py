"""Starting the console: ``migctl`` on a terminal, ``migctl tui`` and ``migctl serve``."""

from __future__ import annotations

import argparse
import shlex
import sys
from concurrent.futures import Future
from typing import Any


def add_commands(add: Any) -> None:
    p = add("tui", "open the operator console (the default when migctl runs on a terminal)")
    p.add_argument("--no-mouse", action="store_true",
                   help="leave the mouse to the terminal (select and copy text over SSH)")
    p.add_argument("--skip-vector-db", action="store_true", help="relational side only")
    p = add("serve", "serve the console to a browser through textual-serve")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")


def read_graph_early(environment: Any) -> Future[Any]:
    """Start reading the revision files now, while Textual is still being imported."""
    from concurrent.futures import ThreadPoolExecutor

    from migctl.core.api import revision_graph

    pool = ThreadPoolExecutor(1, thread_name_prefix="migctl-graph")
    future = pool.submit(lambda: revision_graph(environment))
    pool.shutdown(wait=False)
    return future


def run_console(args: argparse.Namespace, environment: Any) -> int:
    graph = read_graph_early(environment)
    from migctl.tui.console.app import MigctlApp

    app = MigctlApp(environment, vector_store_type=getattr(args, "vector_store_type", None),
                    lock_timeout=float(getattr(args, "lock_timeout", 0.0) or 0.0),
                    vector=not getattr(args, "skip_vector_db", False), graph=graph)
    try:
        code = app.run(mouse=not getattr(args, "no_mouse", False))
    finally:  # also when the app failed before unmounting: its Lite server ends with it
        app.child_processes.close()
    return code or 0


def serve(args: argparse.Namespace) -> int:
    import os

    from migctl.core.errors import MissingExtra

    try:
        from migctl.tui.console.serving import ConsoleServer
    except ImportError:
        raise MissingExtra("migctl serve", "serve") from None

    command = [sys.executable, "-m", "migctl.tui.cli", "tui"]
    for flag in ("config", "env", "vector_store_type"):
        value = getattr(args, flag, None)
        if value:
            command += [f"--{flag.replace('_', '-')}", str(value)]
    if getattr(args, "database_url", None):
        # through the environment: textual-serve prints the command line it serves
        os.environ["DATABASE_URL"] = args.database_url
    server = ConsoleServer(shlex.join(command), host=args.host, port=args.port, title="migctl")
    server.serve()
    return 0
