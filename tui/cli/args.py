"""The command line's grammar: global options, every command and its arguments.

Building it is kept apart from running it (``tui.cli``): the console's start-up builds only
the ``tui``/``serve`` part.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REFUSED, EXIT_CHECK_FAILED = 0, 1, 2, 3, 4
COMPLETION_SHELLS = ("bash", "zsh", "fish")


class UsageExit(SystemExit):
    """argparse's usage error, with its one line kept for ``--json``."""

    def __init__(self, line: str) -> None:
        super().__init__(EXIT_USAGE)
        self.line = line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        line = f"{message} (see '{self.prog} --help')"
        sys.stderr.write(f"migctl: error: {line}\n")
        raise UsageExit(line)


class _Version(argparse.Action):
    """Reads the installed version only when asked (importlib.metadata is slow to import)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        import migctl

        sys.stdout.write(f"migctl {migctl.__version__}\n")
        raise SystemExit(0)


def _globals() -> argparse.ArgumentParser:
    g = argparse.ArgumentParser(add_help=False)
    s = argparse.SUPPRESS
    g.add_argument("--config", metavar="FILE", default=s, help="config file (default: $CONFIG_FILE or ./migctl.yaml)")
    g.add_argument("--env", metavar="NAME", default=s, help="environment from the config file (default: $MIGCTL_ENV)")
    g.add_argument("--database-url", metavar="URL", default=s, help="database URL; overrides env and file")
    g.add_argument("--json", action="store_true", default=s, help="machine-readable output")
    g.add_argument("--yes", "-y", action="store_true", default=s, help="do not ask for confirmation")
    g.add_argument("--confirm-env", metavar="NAME", default=s,
                   help="name of a protected environment, confirming a change to it without a prompt")
    g.add_argument("--log-level", default=s, choices=["debug", "info", "warning", "error"],
                   help="console log level (default: warning)")
    g.add_argument("--vector-store-type", choices=["milvus", "pgvector"], default=s,
                   help="vector store (default: $VECTOR_STORE_TYPE, the config file, else milvus)")
    g.add_argument("--lock-timeout", type=_seconds, metavar="SECONDS", default=s,
                   help="wait this long for the migration lock (default: 0, fail at once)")
    return g


_VALUE_OPTIONS = {"--config", "--env", "--database-url", "--confirm-env", "--log-level", "--vector-store-type",
                  "--lock-timeout"}


def command_of(argv: Sequence[str]) -> str | None:
    """The command word in ``argv`` (global options may come first), or ``None``."""
    tokens = iter(argv)
    for token in tokens:
        if token.startswith("-"):
            if token in _VALUE_OPTIONS:
                next(tokens, None)
            continue
        return token
    return None


def build_parser(only_console: bool = False) -> argparse.ArgumentParser:
    """The whole command line; ``only_console`` registers just ``tui`` and ``serve`` (building
    every subcommand costs the console's start-up a noticeable 50 ms)."""
    g = _globals()
    parser = _Parser(prog="migctl", parents=[g], description=(
        "Operate Alembic schemas (and vector collections) safely: plan, confirm, lock, audit."),
        epilog="Exit codes: 0 ok, 1 operation failed, 2 usage or bad input, 3 refused "
               "(lock held, confirmation declined, drift, a broken revision), 4 check found problems. Under --json a "
               "failure also prints {\"error\": ..., \"exit\": N} on stdout. migctl reads ./migctl.yaml "
               "(or --config, [tool.migctl] in ./pyproject.toml), else ./alembic.ini; 'migctl init-project' "
               "writes one.")
    parser.add_argument("--version", action=_Version, nargs=0, help="show migctl's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[g], help=help, description=help)

    from migctl.tui.console.launch import add_commands as add_console_commands

    add_console_commands(add)
    if only_console:
        return parser
    p = add("status", "where both databases stand: current, heads, pending, drift, lock, vector")
    p.add_argument("--skip-vector-db", action="store_true", help="relational side only")
    p.add_argument("--all-envs", action="store_true",
                   help="every environment of the config in one table, read in parallel (URLs as the config "
                        "file gives them; DATABASE_URL, POSTGRES_* and --database-url are not applied); nothing "
                        "is created and no embedded server started. Exit 0 even when some are unreachable: "
                        "their rows say so")
    p.add_argument("--timeout", type=_seconds, default=5.0, metavar="SECONDS",
                   help="with --all-envs: give each environment this long (default: 5)")
    p.add_argument("--drift", action="store_true",
                   help="compare the live schema with the one expected at the current revision, building "
                        "that on a throwaway database when it is not cached (without: cached only)")
    p = add("check", "for CI: exit 4, one line per finding, unless at the heads with one head, no applied "
                     "file edited and no vector drift")
    p.add_argument("--skip-vector-db", action="store_true", help="relational side only")
    p.add_argument("--offline", action="store_true",
                   help="no database: every revision file loads, one head, no fork in the vector chain")
    p.add_argument("--drift", action="store_true",
                   help="also compare the live schema with the one expected at the current revision, building "
                        "that on a throwaway database when it is not cached (a difference is a finding)")
    p = add("verify", "upgrade, downgrade and upgrade again each revision on a throwaway database (the embedded "
                      "PostgreSQL, or verify: {on: server}), and each vector migration on a throwaway store; one "
                      "verdict each, exit 4 unless all are ok")
    p.add_argument("--range", dest="revision_range", metavar="A:B", default=None,
                   help="only the revisions from A to B, both included (A: or :B leave a side open); default all")
    p.add_argument("--force", action="store_true", help="verify again the revisions whose verdict is cached")
    p.add_argument("--skip-vector-db", action="store_true",
                   help="Alembic revisions only (by default vector migrations are verified too, on a throwaway "
                        "store, when the environment has a vector store)")
    add("current", "the revision(s) recorded in the database")
    p = add("history", "the revision graph, newest first")
    p.add_argument("--verbose", "-v", action="store_true", help="show paths, dates, parents")
    p.add_argument("--indicate-current", "-i", action="store_true", help="mark the current revision(s)")
    add("heads", "the head revisions")
    add("branches", "the branch points")
    for verb, helptext, default in (
        ("upgrade", "apply revisions up to TARGET (default: heads)", "heads"),
        ("downgrade", "revert revisions down to TARGET (e.g. -1, base, a revision id)", None),
        ("stamp", "set the version table to TARGET without running migrations", None),
    ):
        p = add(verb, helptext)
        if default:
            p.add_argument("target", nargs="?", default=default, metavar="TARGET",
                           help="head, heads, +N, full id, unique prefix, branch@head")
        else:
            p.add_argument("target", metavar="TARGET", help="base, -N, full id, unique prefix, branch@rev")
        p.add_argument("--dry-run", action="store_true", help="show the plan and change nothing")
        p.add_argument("--sql", action="store_true", help="print the offline SQL and change nothing")
        p.add_argument("--allow-drift", action="store_true",
                       help="run even though applied revision files changed since they ran")
        if verb != "stamp":
            p.add_argument("--allow-broken", action="store_true",
                           help="run even through a revision `migctl verify` found broken in this direction")
        if verb == "stamp":
            p.add_argument("--purge", action="store_true", help="empty the version table first")
    p = add("merge", "create a merge revision of several heads")
    p.add_argument("-m", "--message", default=None)
    p.add_argument("revisions", nargs="*", metavar="REV", help="revisions to merge (default: heads)")
    p = add("revision", "create a new revision file")
    p.add_argument("-m", "--message", required=True)
    p.add_argument("--autogenerate", action="store_true", help="compare models with the database")
    p.add_argument("--empty", action="store_true", help="an empty revision (the default without --autogenerate)")
    add("protect", "record this environment's name in its database: every later change of that database, "
                   "under any environment or URL, needs the name confirmed (--confirm-env NAME)")
    add("unprotect", "remove the database's protection mark (needs its name typed, or --confirm-env NAME)")
    p = add("audit", "the audit log, newest first")
    p.add_argument("--limit", type=_positive_int, default=20, help="rows to show (default 20)")
    p = add("templates", "vector collection templates: list them, or show what a store would build")
    tsub = p.add_subparsers(dest="templates_action", metavar="ACTION", parser_class=_Parser, required=True)
    tl = tsub.add_parser("list", parents=[g], help="the collection templates")
    ts = tsub.add_parser("show", parents=[g], help="render one template for a store")
    ts.add_argument("name", metavar="NAME")
    ts.add_argument("--store", choices=["milvus", "pgvector"], default=None,
                    help="milvus schema or pgvector DDL (default: $VECTOR_STORE_TYPE or milvus)")
    for q in (tl, ts):
        q.add_argument("--file", metavar="PATH", default=None,
                       help="templates file (default: the environment's, vector_migrations/templates.yaml next to the config)")
    from migctl.tui.cli import vector as cli_vector

    cli_vector.add_commands(add, g, _Parser)
    p = add("completion", "print a shell completion script (argcomplete): eval \"$(migctl completion bash)\"")
    p.add_argument("shell", choices=COMPLETION_SHELLS)
    p = add("init-project", "write a new project here (migctl.yaml, alembic/), as `alembic init` does; "
                            "never overwrites a file")
    p.add_argument("directory", nargs="?", default=".", metavar="DIR", help="where (default: here)")
    p.add_argument("--vector-store", choices=["milvus", "pgvector", "none"], default="none",
                   help="also a vector side: vector_migrations/ and a vector: section (default: none)")
    p.add_argument("--example", action="store_true",
                   help="copy the RAG reference project (alembic/, vector_migrations/, sql/common/)")
    p.add_argument("--alembic-ini", metavar="PATH", default=None,
                   help="adopt an existing Alembic project: write only migctl.yaml, pointing at PATH")
    p = add("embedded", "the embedded PostgreSQL under .migctl/")
    p.add_argument("action", choices=["start", "stop", "status"])
    return parser


# Beyond this a --limit is a typo, and past 2**63 the database refuses the number outright.
MAX_LIMIT = 1_000_000


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LIMIT:,}: {text[:40]}")
    return value


def _seconds(text: str) -> float:
    """A wait in seconds: finite and not negative (``-5`` used to mean "fail at once" silently)."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text[:40]}")
    return value
