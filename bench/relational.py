"""Compare wall-clock time of plain Alembic and migctl on a user's linear Alembic project.

For each size N (default 300 and 1000) the script makes an ``alembic init -t generic`` project
with N linear revisions (each creates one table) and times whole subprocesses, median of
``--repeat`` runs, for these pairs:

* ``alembic history``      vs ``migctl history``
* ``alembic upgrade head`` vs ``migctl upgrade head --yes`` (a fresh database every run)
* ``alembic current``      vs ``migctl status`` (a relational-only project: no vector side configured; on a database at head)

It runs against its own embedded PostgreSQL 18 (``core.embedded``) in a temporary directory,
stopped at the end.

Run from the repository root with the project's virtualenv::

    python bench/relational.py [--sizes 300 1000] [--repeat 5] [--allow-pycache]

It prints the medians (the figure compared) and, beside them, the minimums and the median CPU
time (user + system) of the command's own process: wall-clock time on this machine swings with
its disk, CPU time much less, and it is the part each tool's own code decides.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

import psycopg

from migctl.core.embedded import EmbeddedPostgres  # the project is installed (editable) in the venv

BIN = Path(sys.executable).parent
ALEMBIC = str(BIN / "alembic")
MIGCTL = str(BIN / "migctl")
_SCRUBBED_ENV = ("DATABASE_URL", "CONFIG_FILE", "MIGCTL_ENV", "MIGCTL_STATE_DIR")

REVISION_TEMPLATE = '''"""create t_{i}

Revision ID: {rev}
Revises: {down_doc}
Create Date: 2025-01-01 00:00:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE t_{i} (id integer primary key)")


def downgrade() -> None:
    op.execute("DROP TABLE t_{i}")
'''


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float  # user + system seconds of the process and its children


@dataclass
class Row:
    """Medians (the figure compared), minimums (the least disturbed run) and median CPU time of
    one pair."""

    size: int
    operation: str
    alembic_s: float
    migctl_s: float
    alembic_min_s: float
    migctl_min_s: float
    alembic_cpu_s: float
    migctl_cpu_s: float

    @property
    def ratio(self) -> float:
        return self.migctl_s / self.alembic_s

    @property
    def min_ratio(self) -> float:
        return self.migctl_min_s / self.alembic_min_s

    @property
    def cpu_ratio(self) -> float:
        return self.migctl_cpu_s / self.alembic_cpu_s


def progress(msg: str) -> None:
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


# --allow-pycache: the commands run without PYTHONDONTWRITEBYTECODE, so alembic can keep
# compiled revision files in the project's __pycache__ as it does on most laptops.
_DROPPED_ENV: set[str] = set()


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k not in _SCRUBBED_ENV and k not in _DROPPED_ENV and not k.startswith("POSTGRES_")}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(argv: list[str], cwd: Path) -> Timing:
    """Wall-clock and CPU seconds of one whole subprocess; raises on a non-zero exit."""
    cpu = _children_cpu()
    start = time.perf_counter()
    try:
        subprocess.run(argv, cwd=cwd, env=clean_env(), check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        sys.stderr.write(f"command failed ({exc.returncode}): {' '.join(argv)}\n"
                         f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}\n")
        raise
    return Timing(time.perf_counter() - start, _children_cpu() - cpu)


class Bench:
    def __init__(self, tmp: Path, server_url: str) -> None:
        self.tmp = tmp
        # server_url is postgresql://postgres@127.0.0.1:PORT/migctl
        self.base = server_url.rsplit("/", 1)[0]
        self.counter = 0

    def url(self, db: str, driver: bool = False) -> str:
        base = self.base.replace("postgresql://", "postgresql+psycopg://", 1) if driver else self.base
        return f"{base}/{db}"

    def admin(self, sql: str) -> None:
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def create_db(self, size: int) -> str:
        """A new database, then a checkpoint: the previous run's dropped database and this
        copy of the template are flushed now, not during the timed run that follows."""
        self.counter += 1
        name = f"bench_{size}_{self.counter}"
        self.admin(f'CREATE DATABASE "{name}"')
        self.admin("CHECKPOINT")
        return name

    def drop_db(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def check_at_head(self, db: str, size: int) -> None:
        """Fail loudly unless ``db`` records the last revision (a run that did nothing is no data)."""
        with psycopg.connect(self.url(db)) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        if row is None or row[0] != f"{size:012x}":
            raise RuntimeError(f"{db} is at {row}, not at head {size:012x}")

    def make_project(self, size: int) -> tuple[Path, Path]:
        """An ``alembic init`` project with ``size`` linear revisions; returns (workdir, ini)."""
        work = self.tmp / f"size_{size}"
        work.mkdir()
        subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=work, env=clean_env(),
                       check=True, capture_output=True)
        versions = work / "migrations" / "versions"
        prev: str | None = None
        for i in range(1, size + 1):
            rev = f"{i:012x}"
            text = REVISION_TEMPLATE.format(i=i, rev=rev, down=repr(prev).replace("'", '"'),
                                            down_doc=prev or "")
            (versions / f"{rev}_create_t_{i}.py").write_text(text, encoding="utf-8")
            prev = rev
        return work, work / "alembic.ini"

    def set_ini_url(self, ini: Path, db: str) -> None:
        lines = ini.read_text(encoding="utf-8").splitlines()
        out = [f"sqlalchemy.url = {self.url(db, driver=True)}" if ln.startswith("sqlalchemy.url")
               else ln for ln in lines]
        ini.write_text("\n".join(out) + "\n", encoding="utf-8")

    def write_config(self, work: Path, ini: Path, db: str) -> Path:
        path = work / "migctl.yaml"
        path.write_text(
            "default_environment: bench\n"
            f"state_dir: {work / 'state'}\n"
            "environments:\n"
            "  bench:\n"
            f'    database_url: "{self.url(db)}"\n'
            "    alembic:\n"
            f"      ini: {ini}\n",
            encoding="utf-8",
        )
        return path

    def paired(self, label: str, repeat: int, alembic: Callable[[], Timing],
               migctl: Callable[[], Timing]) -> tuple[float, ...]:
        """Medians, minimums and median CPU of ``repeat`` runs of each side, interleaved in ABBA
        order: this machine's disk slows down and speeds up over minutes, and interleaving lets
        both sides meet the same weather instead of one side getting all the slow runs."""
        a_times: list[Timing] = []
        m_times: list[Timing] = []
        for k in range(repeat):
            progress(f"  {label} run {k + 1}/{repeat}")
            order = ((a_times, alembic), (m_times, migctl))
            for times, fn in (order if k % 2 == 0 else order[::-1]):
                times.append(fn())
        walls = [[t.wall for t in side] for side in (a_times, m_times)]
        cpus = [[t.cpu for t in side] for side in (a_times, m_times)]
        return (*map(statistics.median, walls), *map(min, walls), *map(statistics.median, cpus))

    def run_size(self, size: int, repeat: int) -> list[Row]:
        progress(f"size {size}: creating project")
        work, ini = self.make_project(size)
        head_db = self.create_db(size)
        config = self.write_config(work, ini, head_db)
        self.set_ini_url(ini, head_db)
        mig = [MIGCTL, "--config", str(config)]
        rows: list[Row] = []

        progress(f"size {size}: history")
        rows.append(Row(size, "history", *self.paired(f"size {size}: history", repeat,
                                                      lambda: run_timed([ALEMBIC, "history"], work),
                                                      lambda: run_timed([*mig, "history"], work))))

        def alembic_upgrade() -> Timing:
            db = self.create_db(size)
            try:
                self.set_ini_url(ini, db)
                seconds = run_timed([ALEMBIC, "upgrade", "head"], work)
                self.check_at_head(db, size)
                return seconds
            finally:
                self.drop_db(db)

        def migctl_upgrade() -> Timing:
            db = self.create_db(size)
            try:
                seconds = run_timed([*mig, "--database-url", self.url(db), "upgrade", "head", "--yes"],
                                    work)
                self.check_at_head(db, size)
                return seconds
            finally:
                self.drop_db(db)

        rows.append(Row(size, "upgrade head",
                        *self.paired(f"size {size}: upgrade head", repeat, alembic_upgrade, migctl_upgrade)))

        progress(f"size {size}: bringing {head_db} to head")
        self.set_ini_url(ini, head_db)
        run_timed([ALEMBIC, "upgrade", "head"], work)
        self.check_at_head(head_db, size)
        rows.append(Row(size, "current/status",
                        *self.paired(f"size {size}: current/status", repeat,
                                     lambda: run_timed([ALEMBIC, "current"], work),
                                     lambda: run_timed([*mig, "status"], work))))
        self.drop_db(head_db)
        return rows


def print_table(rows: list[Row]) -> None:
    header = ("size", "operation", "alembic median s", "migctl median s", "ratio migctl/alembic",
              "alembic min s", "migctl min s", "ratio of mins", "alembic CPU s", "migctl CPU s", "CPU ratio")
    body = [(str(r.size), r.operation, f"{r.alembic_s:.3f}", f"{r.migctl_s:.3f}", f"{r.ratio:.3f}",
             f"{r.alembic_min_s:.3f}", f"{r.migctl_min_s:.3f}", f"{r.min_ratio:.3f}",
             f"{r.alembic_cpu_s:.3f}", f"{r.migctl_cpu_s:.3f}", f"{r.cpu_ratio:.3f}") for r in rows]
    widths = [max(len(c[i]) for c in (header, *body)) for i in range(len(header))]
    for cells in (header, tuple("-" * w for w in widths), *body):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
    print()
    for r in rows:
        verdict = "yes" if r.ratio <= 1.0 else "NO"
        print(f"size {r.size} {r.operation}: ratio {r.ratio:.3f} <= 1.0: {verdict}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--repeat", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--allow-pycache", action="store_true",
                        help="run both tools without PYTHONDONTWRITEBYTECODE (alembic then reads the revision "
                             "files' __pycache__ after the first run)")
    args = parser.parse_args(argv)
    if args.allow_pycache:
        _DROPPED_ENV.add("PYTHONDONTWRITEBYTECODE")

    print(f"python {platform.python_version()} ({sys.executable})")
    print(f"alembic {version('alembic')}, sqlalchemy {version('sqlalchemy')}, "
          f"psycopg {version('psycopg')}")
    writes = "PYTHONDONTWRITEBYTECODE" not in clean_env()
    print("revision bytecode: " + ("alembic keeps it in the project's __pycache__, migctl in its state dir" if writes
                                   else "PYTHONDONTWRITEBYTECODE is set: alembic compiles every revision file on "
                                        "every run, migctl keeps the compiled files in its state dir"))
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="migctl-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # as root the server runs as another user and must reach its data
        progress("starting embedded PostgreSQL")
        server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
        try:
            print(f"embedded PostgreSQL {server.version()}")
            bench = Bench(tmp, server.url)
            for size in args.sizes:
                rows += bench.run_size(size, args.repeat)
        finally:
            progress("stopping embedded PostgreSQL")
            server.stop()
    print()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
