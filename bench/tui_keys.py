"""Key-to-screen latency of the console while its core thread copies 50,000 vector rows.

The session is the responsiveness test's (``tests/test_tui_responsive.py``), driven here for
its figures: a Milvus Lite store (opened by path, the embedded default) holds ``--rows`` rows
that the next two vector versions copy (add_field as a shadow copy, then a rebuild); the
console is started headless at 120x40 through Textual's Pilot, the upgrade is confirmed, and
while the copy runs the script switches panes with ``1``-``5`` and moves the revision cursor
with Down, timing each key from the press until the widget it changes shows the change (pane
in front and laid out, cursor row moved). Printed: the number of keys, median, 90th
percentile and worst latency, and the slowest key, per ``--rounds`` round.

The relational side is its own embedded PostgreSQL 18 in a temporary directory, stopped at
the end. Run from the repository root with the project's virtualenv::

    python bench/tui_keys.py [--rows 50000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the session is the test's: tests.* helpers

from migctl.core.embedded import EmbeddedPostgres  # noqa: E402  (the project is installed in the venv)
from tests.test_tui_responsive import ROWS, keys_during_copy, median_and_worst, prepare_copy  # noqa: E402


def progress(text: str) -> None:
    print(f"... {text}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    os.chdir(ROOT)
    print(f"# key-to-screen latency during a {args.rows:,}-row vector copy (Milvus Lite): python "
          f"{platform.python_version()}, textual {version('textual')}, {os.cpu_count()} CPUs")
    print(f"{'round':>5}  {'keys':>4}  {'median ms':>9}  {'p90 ms':>6}  {'worst ms':>8}  slowest key")
    with tempfile.TemporaryDirectory(prefix="migctl-bench-keys-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # as root the server runs as another user and must reach its data
        progress("starting embedded PostgreSQL")
        server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
        try:
            for n in range(1, args.rounds + 1):
                work = tmp / f"round_{n}"
                work.mkdir()
                progress(f"round {n}: filling {args.rows:,} rows")
                config, lite = prepare_copy(work, _database(server.url, n), args.rows)
                progress(f"round {n}: keys during the copy")
                latencies = asyncio.run(keys_during_copy(config, lite))
                median, worst = median_and_worst(latencies)
                times = sorted(t for _, t in latencies)
                p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
                print(f"{n:>5}  {len(latencies):>4}  {median * 1000:>9.0f}  {p90 * 1000:>6.0f}  "
                      f"{worst[1] * 1000:>8.0f}  {worst[0]}", flush=True)
        finally:
            progress("stopping embedded PostgreSQL")
            server.stop()
    return 0


def _database(server_url: str, n: int) -> str:
    """A fresh database per round on the embedded server (its URL names database ``migctl``)."""
    import psycopg

    name = f"keys_{n}"
    admin = server_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


if __name__ == "__main__":
    sys.exit(main())
