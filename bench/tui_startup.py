"""Console start-up against ``alembic history`` on the same revision chain, in one run.

For each size N (default 300 and 1000) the script makes an ``alembic init -t generic`` project
with N linear revisions, then measures, median of ``--repeat`` runs:

* ``alembic history``: from process start until the newest revision id appears on stdout
  (Alembic prints newest first, after it has loaded every revision file);
* ``migctl tui``: from process start until the newest revision id appears on the terminal,
  read from a pseudo-terminal of 100x30 (the history pane draws it); then it is sent ``q``.
  Twice: as an operator meets it (the parsed revision headers cached in ``.migctl/cache`` by
  the previous start) and cold (that cache deleted before each run).

The console's database is a SQLite file (the history pane needs none, and connecting happens
in the background anyway); the vector side is off (``--skip-vector-db``).

Run from the repository root with the project's virtualenv::

    python bench/tui_startup.py [--sizes 300 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import pty
import re
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from importlib.metadata import version
from pathlib import Path

BIN = Path(sys.executable).parent
ALEMBIC = str(BIN / "alembic")
MIGCTL = str(BIN / "migctl")
_ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]")

sys.path.insert(0, str(Path(__file__).parent))
from relational import REVISION_TEMPLATE as REVISION  # noqa: E402  (the same chain as bench/relational.py)


def clean_env() -> dict[str, str]:
    drop = ("DATABASE_URL", "CONFIG_FILE", "MIGCTL_ENV", "MIGCTL_STATE_DIR", "NO_COLOR")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("POSTGRES_")}


def make_project(work: Path, size: int) -> tuple[Path, str]:
    """An ``alembic init`` project with ``size`` linear revisions and a migctl.yaml; returns
    (config file, newest revision id)."""
    work.mkdir(parents=True)
    subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=work, env=clean_env(),
                   check=True, capture_output=True)
    ini = work / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", f"sqlite:///{work}/app.db"))
    versions = work / "migrations" / "versions"
    prev: str | None = None
    for i in range(1, size + 1):
        rev = f"{i:012x}"
        (versions / f"{i:05d}_{rev}_create_t_{i}.py").write_text(REVISION.format(
            i=i, rev=rev, down=repr(prev), down_doc=prev or ""))
        prev = rev
    config = work / "migctl.yaml"
    config.write_text(f"default_environment: bench\nstate_dir: {work / 'state'}\nenvironments:\n  bench:\n"
                      f"    database_url: sqlite:///{work}/app.db\n    alembic:\n      ini: {ini}\n")
    return config, str(prev)


def time_alembic_history(work: Path, newest: str) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen([ALEMBIC, "history"], cwd=work, env=clean_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout is not None
    seen = b""
    while newest.encode() not in seen:
        chunk = proc.stdout.read1(65536)
        if not chunk:
            raise RuntimeError(f"alembic history ended without printing {newest}: {proc.stderr.read()!r}")
        seen += chunk
    elapsed = time.perf_counter() - start
    proc.communicate()
    return elapsed


def time_console(work: Path, config: Path, newest: str, timeout: float = 60) -> float:
    """Seconds until ``newest`` is on the console's screen (read through a pty)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = clean_env() | {"TERM": "xterm-256color", "COLORTERM": "truecolor"}
    start = time.perf_counter()
    proc = subprocess.Popen([MIGCTL, "tui", "--skip-vector-db", "--config", str(config)], cwd=work, env=env,
                            stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    screen = b""
    try:
        while True:
            if time.perf_counter() - start > timeout:
                raise RuntimeError(f"{newest} never appeared; last output: {_ANSI.sub(b'', screen[-2000:])!r}")
            ready, _, _ = select.select([master], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:
                raise RuntimeError(f"the console exited early: {_ANSI.sub(b'', screen[-2000:])!r}") from None
            screen += chunk
            if newest.encode() in _ANSI.sub(b"", screen):
                elapsed = time.perf_counter() - start
                break
        os.write(master, b"q")
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"# console start-up vs alembic history: python {platform.python_version()}, "
          f"textual {version('textual')}, alembic {version('alembic')}, {os.cpu_count()} CPUs; "
          f"median of {args.repeat} runs, seconds until the newest revision id is shown")
    print(f"{'revisions':>9}  {'alembic history':>15}  {'migctl tui':>10}  {'ratio':>6}  "
          f"{'tui, cold cache':>15}  {'ratio':>6}")
    with tempfile.TemporaryDirectory(prefix="migctl-bench-tui-") as tmp:
        for size in args.sizes:
            work = Path(tmp) / f"size_{size}"
            config, newest = make_project(work, size)
            time_alembic_history(work, newest)  # warm the file cache and compiled bytecode for both
            time_console(work, config, newest)
            alembic_runs, console_runs, cold_runs = [], [], []
            for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
                alembic_runs.append(time_alembic_history(work, newest))
                console_runs.append(time_console(work, config, newest))
                shutil.rmtree(work / "state" / "cache", ignore_errors=True)
                cold_runs.append(time_console(work, config, newest))
            a, c, k = (statistics.median(r) for r in (alembic_runs, console_runs, cold_runs))
            print(f"{size:>9}  {a:>15.3f}  {c:>10.3f}  {c / a:>5.2f}x  {k:>15.3f}  {k / a:>5.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
