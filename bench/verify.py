"""``migctl verify`` beside the same walk done with plain Alembic.

The plain walk is what a CI job does without migctl, in one process: for each revision R in
graph order, ``pg_dump --schema-only`` (S0, the previous revision's last dump), then
``command.upgrade(R)``, ``pg_dump`` (S1), ``command.downgrade(R-1)``, ``pg_dump`` compared with
S0, ``command.upgrade(R)``, ``pg_dump`` compared with S1. ``migctl verify --force`` does the
same walk with catalog snapshots inside one env.py run. Target: migctl <= 0.5x of the plain walk.

Projects: the bundled reference project (``alembic/``, pgvector, an async env.py) and linear
chains of N revisions (``alembic init -t generic``, one table each; bench/relational.py's
generator). Both sides run on the same embedded PostgreSQL 18 (migctl with ``verify: {on:
server}``), each whole process timed, median of ``--repeat`` runs, interleaved.

    python bench/verify.py [--sizes 300] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from migctl.core.embedded import EmbeddedPostgres, bin_dir

sys.path.insert(0, str(Path(__file__).resolve().parent))
from relational import ALEMBIC, MIGCTL, REVISION_TEMPLATE, clean_env, progress  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def plain_alembic_walk(script_location: str, ini: str | None, url: str) -> int:
    """The walk with Alembic's command API and pg_dump (run in a process of its own)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from alembic import command

    config = Config(ini) if ini else Config()
    config.set_main_option("script_location", script_location)
    config.set_main_option("sqlalchemy.url", url)
    script = ScriptDirectory.from_config(config)
    order = [s.revision for s in reversed(list(script.walk_revisions()))]
    plain = url.replace("+psycopg", "").replace("+asyncpg", "")

    def dump() -> str:
        out = subprocess.run([str(bin_dir() / "pg_dump"), "--schema-only", "--exclude-table=alembic_version", plain],
                             capture_output=True, text=True, check=True).stdout
        return "\n".join(ln for ln in out.splitlines() if not ln.startswith(("\\restrict", "\\unrestrict")))

    broken = 0
    before = dump()
    for rev in order:
        command.upgrade(config, rev)
        after = dump()
        parents = script.get_revision(rev)._versioned_down_revisions
        # A merge's "R-1" is ambiguous: downgrading to one of its parents undoes just R.
        command.downgrade(config, "base" if not parents else f"{rev}-1" if len(parents) == 1 else parents[0])
        if dump() != before:
            broken += 1
        command.upgrade(config, rev)
        again = dump()
        if again != after:
            broken += 1
        before = again
    return broken


def make_chain(work: Path, size: int) -> Path:
    """An ``alembic init`` project with ``size`` linear revisions; returns its alembic.ini."""
    subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=work, env=clean_env(), check=True,
                   capture_output=True)
    prev: str | None = None
    for i in range(1, size + 1):
        rev = f"{i:012x}"
        text = REVISION_TEMPLATE.format(i=i, rev=rev, down=repr(prev).replace("'", '"'), down_doc=prev or "")
        (work / "migrations" / "versions" / f"{rev}_create_t_{i}.py").write_text(text, encoding="utf-8")
        prev = rev
    return work / "alembic.ini"


class Bench:
    def __init__(self, tmp: Path, server_url: str) -> None:
        self.tmp = tmp
        self.base = server_url.rsplit("/", 1)[0]
        self.counter = 0

    def admin(self, sql: str) -> None:
        with psycopg.connect(f"{self.base}/postgres", autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh_db(self) -> str:
        self.counter += 1
        name = f"bench_verify_{self.counter}"
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.admin(f'CREATE DATABASE "{name}"')
        self.admin("CHECKPOINT")
        return name

    def time(self, argv: list[str], cwd: Path) -> float:
        start = time.perf_counter()
        proc = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, text=True)
        took = time.perf_counter() - start
        if proc.returncode not in (0,):
            sys.stderr.write(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stdout}\n{proc.stderr}\n")
            raise SystemExit(1)
        return took

    def project(self, label: str, work: Path, location: str, ini: str | None, repeat: int) -> tuple[str, float, float]:
        target = self.fresh_db()
        config = work / "migctl.yaml"
        section = f"      ini: {ini}\n" if ini else f"      script_location: {location}\n"
        config.write_text(f"default_environment: bench\nstate_dir: {work / 'state'}\nverify:\n  on: server\n"
                          f"environments:\n  bench:\n    database_url: \"{self.base}/{target}\"\n    alembic:\n{section}",
                          encoding="utf-8")
        alembic_times: list[float] = []
        migctl_times: list[float] = []

        def plain() -> None:
            db = self.fresh_db()
            alembic_times.append(self.time([sys.executable, __file__, "--plain-walk", location, ini or "",
                                            f"{self.base.replace('postgresql://', 'postgresql+psycopg://')}/{db}"],
                                           work))
            self.admin(f'DROP DATABASE "{db}" WITH (FORCE)')

        def migctl() -> None:
            migctl_times.append(self.time([MIGCTL, "--config", str(config), "verify", "--force"], work))

        for k in range(repeat):
            progress(f"  {label} run {k + 1}/{repeat}")
            for fn in ((plain, migctl) if k % 2 == 0 else (migctl, plain)):
                fn()
        return label, statistics.median(alembic_times), statistics.median(migctl_times)


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["--plain-walk"]:
        _, location, ini, url = args_list
        broken = plain_alembic_walk(location, ini or None, url)
        print(f"{broken} difference(s)")
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[300])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(args_list)
    rows = []
    with tempfile.TemporaryDirectory(prefix="migctl-bench-verify-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # as root the server runs as another user and must reach its data
        progress("starting embedded PostgreSQL")
        server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
        try:
            bench = Bench(tmp, server.url)
            ref = tmp / "reference"
            ref.mkdir()
            rows.append(bench.project("reference project (10 revisions)", ref, str(REPO / "alembic"), None,
                                      args.repeat))
            for size in args.sizes:
                work = tmp / f"chain_{size}"
                work.mkdir()
                ini = make_chain(work, size)
                rows.append(bench.project(f"chain of {size}", work, str(work / "migrations"), str(ini), args.repeat))
        finally:
            progress("stopping embedded PostgreSQL")
            server.stop()
    print(f"embedded PostgreSQL, median of {args.repeat} runs (whole processes)")
    for label, plain, mine in rows:
        ratio = mine / plain
        print(f"{label}: plain Alembic + pg_dump {plain:.2f} s, migctl verify {mine:.2f} s, ratio {ratio:.3f} "
              f"({'<=' if ratio <= 0.5 else '>'} 0.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
