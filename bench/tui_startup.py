"""Console start-up against ``alembic history`` on the same revision histories, in one run.

For each size N (default 300 and 1000) the script makes an ``alembic init -t generic`` project
with N linear revisions, and one merge-heavy project (``--merge-heavy``, default 1000
revisions: 100 branch points whose side branches, several open at once, merge back into the
main line; every message two lines long). On each it measures, median of ``--repeat`` runs:

* ``alembic history``: from process start until the newest revision id appears on stdout
  (Alembic prints newest first, after it has loaded every revision file);
* ``migctl tui``: from process start until the newest revision id appears on the terminal,
  read from a pseudo-terminal of 100x30 (the history pane draws it); then it is sent ``q``.
  Twice: as an operator meets it (the parsed revision headers cached in ``.migctl/cache`` by
  the previous start) and cold (that cache deleted before each run).

The console's database is a SQLite file (the history pane needs none, and connecting happens
in the background anyway); the vector side is off (``--skip-vector-db``).

Run from the repository root with the project's virtualenv::

    python bench/tui_startup.py [--sizes 300 1000] [--merge-heavy 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import platform
import pty
import random
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

# A history like a long-lived project's: side branches of 2-6 revisions, each merged back into
# the main line 3-30 main revisions after it left, so several are open at once (lanes).
BRANCHES = 100


def clean_env() -> dict[str, str]:
    drop = ("DATABASE_URL", "CONFIG_FILE", "MIGCTL_ENV", "MIGCTL_STATE_DIR", "NO_COLOR")
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("POSTGRES_")}


def make_project(work: Path, size: int, merge_heavy: bool = False) -> tuple[Path, str]:
    """An ``alembic init`` project with ``size`` revisions (a linear chain, or merge-heavy) and a
    migctl.yaml; returns (config file, newest revision id)."""
    work.mkdir(parents=True)
    subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=work, env=clean_env(),
                   check=True, capture_output=True)
    ini = work / "alembic.ini"
    ini.write_text(ini.read_text().replace("driver://user:pass@localhost/dbname", f"sqlite:///{work}/app.db"))
    versions = work / "migrations" / "versions"
    parents = merge_heavy_parents(size) if merge_heavy else [[i - 1] if i > 1 else [] for i in range(1, size + 1)]
    for i, downs in enumerate(parents, 1):
        rev = f"{i:012x}"
        ids = [f"{d:012x}" for d in downs]
        down = repr(ids[0]) if len(ids) == 1 else repr(tuple(ids)) if ids else "None"
        text = REVISION.format(i=i, rev=rev, down=down, down_doc=", ".join(ids))
        if merge_heavy:  # a message of two lines: the first paragraph of the docstring
            text = text.replace(f'"""create t_{i}\n', f'"""create t_{i}\nand its indexes, part {i % 7}\n', 1)
        (versions / f"{i:05d}_{rev}_create_t_{i}.py").write_text(text)
    config = work / "migctl.yaml"
    config.write_text(f"default_environment: bench\nstate_dir: {work / 'state'}\nenvironments:\n  bench:\n"
                      f"    database_url: sqlite:///{work}/app.db\n    alembic:\n      ini: {ini}\n")
    return config, f"{size:012x}"


def merge_heavy_parents(size: int, branches: int = BRANCHES) -> list[list[int]]:
    """Parents (1-based revision numbers) of ``size`` revisions numbered in creation order: a
    main line from which ``branches`` side branches leave (each at its own branch point) and
    to which each returns through a merge revision; the newest revision is the only head."""
    rng = random.Random(14)
    lengths = [rng.randint(2, 6) for _ in range(branches)]
    main = size - sum(lengths)  # main-line revisions, merges included
    assert main > 2 * branches + 2, "too many branches for the size"
    # branch k leaves main revision start[k] and merges at main revision end[k] (main indexes)
    starts = sorted(rng.sample(range(1, main - 40), branches))
    ends: list[int] = []
    taken: set[int] = set(starts)
    for start in starts:
        end = start + rng.randint(3, 30)
        while end in taken or end >= main - 1:
            end = end + 1 if end < main - 2 else start + 1
        taken.add(end)
        ends.append(end)
    # creation order: walk the main line; a side branch's revisions are written just after its
    # branch point, so every parent is older than its child
    parents: list[list[int]] = []
    number_of_main: dict[int, int] = {}
    tip_of_branch: dict[int, int] = {}
    merge_at = {end: k for k, end in enumerate(ends)}
    for m in range(main):
        downs = [number_of_main[m - 1]] if m else []
        if m in merge_at:
            downs.append(tip_of_branch[merge_at[m]])
        parents.append(downs)
        number_of_main[m] = len(parents)
        for k in (k for k, start in enumerate(starts) if start == m):
            tip = number_of_main[m]
            for _ in range(lengths[k]):
                parents.append([tip])
                tip = len(parents)
            tip_of_branch[k] = tip
    assert len(parents) == size, (len(parents), size)
    return parents

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
    parser.add_argument("--merge-heavy", type=int, nargs="*", default=[1000],
                        help="sizes of merge-heavy histories (none: skip them)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"# console start-up vs alembic history: python {platform.python_version()}, "
          f"textual {version('textual')}, alembic {version('alembic')}, {os.cpu_count()} CPUs; "
          f"median of {args.repeat} runs, seconds until the newest revision id is shown")
    print(f"{'history':<26}  {'alembic history':>15}  {'migctl tui':>10}  {'ratio':>6}  "
          f"{'tui, cold cache':>15}  {'ratio':>6}")
    shapes = [(f"linear {size}", size, False) for size in args.sizes]
    shapes += [(f"merge-heavy {size} ({BRANCHES} br.)", size, True) for size in args.merge_heavy]
    with tempfile.TemporaryDirectory(prefix="migctl-bench-tui-") as tmp:
        for n, (name, size, merge_heavy) in enumerate(shapes):
            work = Path(tmp) / f"shape_{n}"
            config, newest = make_project(work, size, merge_heavy)
            time_alembic_history(work, newest)  # warm the file cache and compiled bytecode for both
            time_console(work, config, newest)
            alembic_runs, console_runs, cold_runs = [], [], []
            for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
                alembic_runs.append(time_alembic_history(work, newest))
                console_runs.append(time_console(work, config, newest))
                shutil.rmtree(work / "state" / "cache", ignore_errors=True)
                cold_runs.append(time_console(work, config, newest))
            a, c, k = (statistics.median(r) for r in (alembic_runs, console_runs, cold_runs))
            print(f"{name:<26}  {a:>15.3f}  {c:>10.3f}  {c / a:>5.2f}x  {k:>15.3f}  {k / a:>5.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
