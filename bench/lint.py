"""What lint adds to a ``--dry-run``: the same plan with and without it, side by side.

On a linear chain of N revisions (default 300; each creates one table, ``bench/relational.py``'s
generator) it times whole ``migctl`` subprocesses, median of ``--repeat`` runs, interleaved:

* ``upgrade head --dry-run`` on an empty database (squawk over 300 steps; no table exists yet)
* ``downgrade base --dry-run`` on a database at head (a ``ban-drop-table`` finding per step, and
  300 live tables to size: never analysed and small, so each is counted)

"without lint" is the same config with ``lint: {enabled: false}``. The target: lint adds at most
20% to a dry-run. Run from the repository root with the project's virtualenv::

    python bench/lint.py [--size 300] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

from relational import (  # bench/relational.py, beside this file
    MIGCTL,
    Bench,
    Timing,
    progress,
    run_timed,
)

from migctl.core.embedded import EmbeddedPostgres


def configs(work: Path, ini: Path, url: str) -> tuple[Path, Path]:
    """(with lint, without lint) configs for the same environment."""
    base = ("default_environment: bench\n"
            f"state_dir: {work / 'state'}\n"
            "environments:\n"
            "  bench:\n"
            f'    database_url: "{url}"\n'
            "    alembic:\n"
            f"      ini: {ini}\n")
    on, off = work / "lint-on.yaml", work / "lint-off.yaml"
    on.write_text(base, encoding="utf-8")
    off.write_text(base + "lint: {enabled: false}\n", encoding="utf-8")
    return on, off


def findings(config: Path, work: Path, args: list[str]) -> int:
    import json

    out = subprocess.run([MIGCTL, "--config", str(config), *args, "--json"], cwd=work, capture_output=True,
                         text=True, check=True).stdout
    return sum(len(s["lint"]) for s in json.loads(out)["steps"])


def compare(label: str, repeat: int, work: Path, on: Path, off: Path, args: list[str]) -> tuple[float, float]:
    times: dict[Path, list[Timing]] = {on: [], off: []}
    for k in range(repeat):
        progress(f"  {label} run {k + 1}/{repeat}")
        for config in ((on, off) if k % 2 == 0 else (off, on)):
            times[config].append(run_timed([MIGCTL, "--config", str(config), *args], work))
    return statistics.median(t.wall for t in times[on]), statistics.median(t.wall for t in times[off])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, squawk-cli {version('squawk-cli')}, alembic {version('alembic')}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="migctl-bench-lint-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # as root the server runs as another user and must reach its data
        progress("starting embedded PostgreSQL")
        server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
        try:
            bench = Bench(tmp, server.url)
            work, ini = bench.make_project(args.size)
            empty = bench.create_db(args.size)
            on, off = configs(work, ini, bench.url(empty))
            plan = ["upgrade", "head", "--dry-run"]
            rows.append((f"upgrade head --dry-run ({args.size} steps, empty database)",
                         findings(on, work, plan), *compare("upgrade", args.repeat, work, on, off, plan)))
            full = bench.create_db(args.size)
            bench.set_ini_url(ini, full)
            subprocess.run([sys.executable, "-m", "alembic", "-c", str(ini), "upgrade", "head"], cwd=work,
                           check=True, capture_output=True)
            on, off = configs(work, ini, bench.url(full))
            plan = ["downgrade", "base", "--dry-run"]
            rows.append((f"downgrade base --dry-run ({args.size} steps, {args.size} tables)",
                         findings(on, work, plan), *compare("downgrade", args.repeat, work, on, off, plan)))
        finally:
            progress("stopping embedded PostgreSQL")
            server.stop()
    print()
    print(f"{'plan':<52} {'findings':>8} {'with lint s':>12} {'without s':>10} {'added':>7}")
    for label, count, with_lint, without in rows:
        added = with_lint / without - 1
        print(f"{label:<52} {count:>8} {with_lint:>12.3f} {without:>10.3f} {added:>+7.1%}"
              f"  {'ok' if added <= 0.20 else 'OVER 20%'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
