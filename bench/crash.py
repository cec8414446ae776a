"""kill -9 campaign: migctl killed at random moments, then run once more; does it converge?

Three kinds of run are killed (``--kills`` in all, spread evenly):

1. **relational**: ``migctl upgrade`` of a generated Alembic chain whose revisions insert rows
   (``--chain`` revisions of ``--rel-rows`` rows each into one ``ledger`` table); every other
   trial's chain has an ``autocommit_block`` revision, so both a one-transaction run and a
   transaction per revision are killed;
2. **pgvector rebuild** and 3. **Milvus Lite rebuild**: ``migctl vector upgrade`` of the
   shipped history's last migration (``rebuild`` of ``document`` with another index) over
   ``--rows`` 768-dimensional rows.

Each trial starts on a fresh database (and Lite file), times nothing but the killed run: it is
killed after a random delay drawn from 0.2 s to 95 % of a clean run's duration (measured once
per kind first; a run that ends before its kill is drawn again and not counted). Right after
the kill the collection's name is read (a count and a first page); then the **first** re-run
(``--lock-timeout 30``) must exit 0 at the target. Afterwards: rows lost or duplicated (every
id read back), relational checksums lost (applied revisions without a checksum row), vector
migrations not ``applied``, live drift. Databases get ``client_connection_check_interval =
0``, PostgreSQL's default: a killed client's statement then runs on, as on most servers.

Runs against its own embedded PostgreSQL 18 + pgvector in a temporary directory (or
``--admin-url`` of a server whose superuser may create databases); figures go to stdout,
``--json`` prints them as one JSON object. Run from the repository root::

    python bench/crash.py [--kills 30] [--rows 20000] [--seed N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from psycopg import sql

from migctl.core.embedded import EmbeddedPostgres  # the project is installed (editable) in the venv

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MIGCTL, ALEMBIC = str(BIN / "migctl"), str(BIN / "alembic")
KINDS = ("relational", "pgvector", "milvus-lite")
BEFORE_REBUILD, TARGET = "20250120_001", "20250201_001"
DIM = 768
_SCRUBBED_ENV = ("DATABASE_URL", "CONFIG_FILE", "MIGCTL_ENV", "MIGCTL_STATE_DIR", "MIGCTL_FAULT_POINT")


def child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


@dataclass
class Trial:
    kind: str
    delay: float
    killed_after: str = ""  # the killed run's last progress line
    converged: bool = False
    rerun_code: int | None = None
    rerun_seconds: float = 0.0
    name_readable: bool | None = None  # vector kinds only
    rows_lost: int = 0
    rows_duplicated: int = 0
    checksums_lost: int = 0
    terminated_notice: bool = False  # the re-run ended a dead holder's sessions
    problem: str = ""


@dataclass
class Campaign:
    tmp: Path
    admin_url: str
    rows: int
    chain: int
    rel_rows: int
    rng: random.Random
    durations: dict[str, float] = field(default_factory=dict)

    # -- databases and projects -------------------------------------------------------------
    def new_database(self) -> tuple[str, str]:
        """(URL for migctl, URL for inspection) of a fresh database."""
        name = f"crash_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            conn.execute(sql.SQL("ALTER DATABASE {} SET client_connection_check_interval = 0")
                         .format(sql.Identifier(name)))
        url = self.admin_url.rsplit("/", 1)[0] + f"/{name}"
        return url, url

    def chain_project(self, autocommit: bool) -> Path:
        """An Alembic project (``alembic init``) of ``chain`` revisions that insert rows."""
        proj = self.tmp / f"chain_{'per_revision' if autocommit else 'one_transaction'}"
        if proj.exists():
            return proj / "alembic.ini"
        proj.mkdir()
        subprocess.run([ALEMBIC, "init", "-t", "generic", "migrations"], cwd=proj, check=True, capture_output=True)
        for i in range(1, self.chain + 1):
            rev, down = f"c{i:03d}{'a' * 9}", f"'c{i - 1:03d}{'a' * 9}'" if i > 1 else "None"
            if i == 1:
                body = 'op.execute("CREATE TABLE ledger (rev text NOT NULL, n integer NOT NULL)")'
            elif autocommit and i == self.chain // 2:
                body = ("with op.get_context().autocommit_block():\n"
                        '        op.execute("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_ledger_rev ON ledger (rev)")')
            else:
                body = (f"op.execute(\"INSERT INTO ledger SELECT '{rev}', g FROM generate_series(1, {self.rel_rows}) g\")\n"
                        f'    op.execute("CREATE TABLE t_{rev} (id integer PRIMARY KEY)")\n'
                        '    op.execute("SELECT pg_sleep(0.05)")')
            (proj / "migrations" / "versions" / f"{i:03d}_{rev}.py").write_text(
                f'"""step {i}"""\nfrom alembic import op\n\nrevision = "{rev}"\ndown_revision = {down}\n'
                f"branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    {body}\n\n\n"
                "def downgrade() -> None:\n    pass\n")
        return proj / "alembic.ini"

    def config(self, trial_dir: Path, url: str, kind: str, ini: Path | None = None) -> Path:
        lines = ["default_environment: t", f"state_dir: {trial_dir / 'state'}"]
        if ini is None:
            lines += [f"alembic: {{script_location: {REPO / 'alembic'}}}"]
        lines += ["environments:", "  t:", f'    database_url: "{url}"']
        if ini is not None:
            lines += ["    alembic:", f"      ini: {ini}"]
        else:
            store = "pgvector" if kind == "pgvector" else "milvus"
            lines += ["    vector:", f"      store: {store}",
                      f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}",
                      f"      migrations_dir: {REPO / 'vector_migrations' / 'versions'}"]
            if store == "milvus":
                lines.append(f'      uri: "{trial_dir / "milvus.db"}"')
        path = trial_dir / "migctl.yaml"
        path.write_text("\n".join(lines) + "\n")
        return path

    # -- running migctl -----------------------------------------------------------------------
    def cli(self, cfg: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([MIGCTL, "--config", str(cfg), *args], cwd=cfg.parent, env=child_env(),
                              capture_output=True, text=True, timeout=timeout)

    def must(self, cfg: Path, *args: str) -> subprocess.CompletedProcess[str]:
        done = self.cli(cfg, *args)
        if done.returncode != 0:
            raise RuntimeError(f"migctl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
        return done

    def killed_run(self, cfg: Path, args: list[str], delay: float) -> tuple[bool, str]:
        """Run migctl, ``kill -9`` it after ``delay`` seconds; (killed, its last stderr line)."""
        proc = subprocess.Popen([MIGCTL, "--config", str(cfg), *args], cwd=cfg.parent, env=child_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        last = next((ln.strip() for ln in reversed(err.splitlines()) if ln.strip()), "")
        return proc.returncode == -signal.SIGKILL, last[:100]

    # -- one kind -------------------------------------------------------------------------------
    def prepare(self, kind: str, autocommit: bool) -> tuple[Path, str, Path]:
        """A trial's fresh database (and Lite file), ready for the run to be killed."""
        trial_dir = Path(tempfile.mkdtemp(dir=self.tmp, prefix=f"{kind}_"))
        url, inspect = self.new_database()
        if kind == "relational":
            return self.config(trial_dir, url, kind, self.chain_project(autocommit)), inspect, trial_dir
        cfg = self.config(trial_dir, url, kind)
        self.must(cfg, "upgrade", "--yes")
        self.must(cfg, "vector", "upgrade", BEFORE_REBUILD, "--yes")
        asyncio.run(_fill(self.store(kind, url, trial_dir), self.rows))
        return cfg, inspect, trial_dir

    def store(self, kind: str, url: str, trial_dir: Path) -> Any:
        if kind == "pgvector":
            from migctl.core.vector.stores.pgvector import PgVectorStore

            return PgVectorStore(url, schema="vectors")
        from migctl.core.vector.stores.milvus import MilvusStore

        return MilvusStore(str(trial_dir / "milvus.db"))

    def run_args(self, kind: str) -> list[str]:
        return ["upgrade", "--yes"] if kind == "relational" else ["vector", "upgrade", "--yes"]

    def calibrate(self, kind: str) -> float:
        cfg, _, _ = self.prepare(kind, autocommit=False)
        started = time.monotonic()
        self.must(cfg, *self.run_args(kind))
        self.durations[kind] = time.monotonic() - started
        return self.durations[kind]

    def trial(self, kind: str, number: int) -> Trial:
        autocommit = number % 2 == 1
        while True:
            cfg, inspect, trial_dir = self.prepare(kind, autocommit)
            delay = self.rng.uniform(0.2, max(0.3, 0.95 * self.durations[kind]))
            killed, last = self.killed_run(cfg, self.run_args(kind), delay)
            if killed:
                break
            log(f"  {kind}: the run ended before its kill at {delay:.1f}s; drawing again")
        t = Trial(kind, round(delay, 2), last)
        if kind != "relational":
            t.name_readable = asyncio.run(_readable(self.store(kind, inspect, trial_dir), self.rows))
        started = time.monotonic()
        rerun = self.cli(cfg, *self.run_args(kind), "--lock-timeout", "30")
        t.rerun_seconds = round(time.monotonic() - started, 1)
        t.rerun_code = rerun.returncode
        t.terminated_notice = "left running by a killed migctl" in rerun.stderr
        if rerun.returncode != 0:
            t.problem = rerun.stderr.strip().splitlines()[-1][:200] if rerun.stderr.strip() else "no output"
        status = json.loads(self.must(cfg, "status", "--json").stdout)
        rel = status["relational"]
        at_target = rel["pending"] == 0
        with psycopg.connect(inspect, autocommit=True) as conn:
            recorded = conn.execute("SELECT count(*) FROM migctl_revision_checksums").fetchone()[0]  # type: ignore[index]
            t.checksums_lost = max(rel["revisions"] - rel["pending"] - int(recorded), 0)
            if kind == "relational":
                total, distinct = conn.execute("SELECT count(*), count(DISTINCT (rev, n)) FROM ledger").fetchone()  # type: ignore[misc]
                expected = (self.chain - 1 - (1 if autocommit else 0)) * self.rel_rows
                t.rows_duplicated = total - distinct
                t.rows_lost = max(expected - distinct, 0)
            else:
                states = [r[0] for r in conn.execute("SELECT status FROM vector_db_migrations")]
                at_target = at_target and status["vector"]["current"] == TARGET and set(states) == {"applied"}
                live = json.loads(self.must(cfg, "collections", "--json").stdout)
                at_target = at_target and live["live_drift"] == []
                t.rows_lost, t.rows_duplicated = asyncio.run(_ids(self.store(kind, inspect, trial_dir), self.rows))
        t.converged = rerun.returncode == 0 and bool(at_target)
        if rerun.returncode == 0 and not at_target:
            t.problem = "exit 0 but not at the target"
        return t


def _rows(start: int, count: int) -> list[dict[str, Any]]:
    vectors = np.random.default_rng(start).random((count, DIM), dtype=np.float32)
    return [{"id": start + i, "embedding": vectors[i], "text": f"doc {start + i}", "metadata": {"n": start + i},
             "created_at": 1_700_000_000 + i, "updated_at": 1_700_000_000 + i, "source": "bench"}
            for i in range(count)]


async def _with(store: Any, fn: Any) -> Any:
    await store.connect()
    try:
        return await fn(store)
    finally:
        await store.close()


async def _fill(store: Any, total: int) -> None:
    async def go(s: Any) -> None:
        live = await s.describe("document")
        names = {f.name for f in live.fields}
        index = live.index if s.kind == "pgvector" else None
        if index is not None:
            await s.drop_index("document", index.field)
        for start in range(0, total, 5000):
            rows = [{k: v for k, v in r.items() if k in names} for r in _rows(start, min(5000, total - start))]
            await s.write_batch("document", rows)
        if index is not None:
            await s.create_index("document", index)
        await s.flush("document")

    await _with(store, go)


async def _readable(store: Any, total: int) -> bool:
    """The name answers: counts every row and gives a first page."""
    async def go(s: Any) -> bool:
        try:
            return await s.count("document") == total and len(await s.read_batch("document", None, 10, ["id"])) == 10
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            log(f"  name not readable: {exc}")
            return False

    return await _with(store, go)


async def _ids(store: Any, total: int) -> tuple[int, int]:
    """(rows lost, rows duplicated) of ``document``, every id read back."""
    async def go(s: Any) -> tuple[int, int]:
        ids: list[int] = []
        after = None
        while rows := await s.read_batch("document", after, 5000, ["id"]):
            ids += [int(r["id"]) for r in rows]
            after = rows[-1]["id"]
        return total - len(set(ids) & set(range(total))), len(ids) - len(set(ids))

    return await _with(store, go)


def table(trials: list[Trial]) -> str:
    head = ["kind", "kills", "converged 1st re-run", "rows lost", "rows duplicated", "checksums lost",
            "name readable", "dead sessions ended"]
    out = [head]
    for kind in (*KINDS, "all"):
        ts = [t for t in trials if t.kind == kind or kind == "all"]
        if not ts:
            continue
        vec = [t for t in ts if t.name_readable is not None]
        out.append([kind, str(len(ts)), f"{sum(t.converged for t in ts)}/{len(ts)}", str(sum(t.rows_lost for t in ts)),
                    str(sum(t.rows_duplicated for t in ts)), str(sum(t.checksums_lost for t in ts)),
                    f"{sum(bool(t.name_readable) for t in vec)}/{len(vec)}" if vec else "n/a",
                    str(sum(t.terminated_notice for t in ts))])
    widths = [max(len(r[i]) for r in out) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the rebuilt collection")
    parser.add_argument("--chain", type=int, default=40, help="revisions in the relational chain")
    parser.add_argument("--rel-rows", type=int, default=20_000, help="rows each relational revision inserts")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--admin-url", help="a PostgreSQL superuser URL (default: an embedded server)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    with tempfile.TemporaryDirectory(prefix="migctl-crash-") as tmp_name:
        tmp = Path(tmp_name)
        server = None
        admin = args.admin_url
        if admin is None:
            server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
            admin = server.url.rsplit("/", 1)[0] + "/postgres"
        try:
            campaign = Campaign(tmp, admin, args.rows, args.chain, args.rel_rows, random.Random(seed))
            for kind in args.kinds:
                log(f"{kind}: a clean run took {campaign.calibrate(kind):.1f}s")
            trials: list[Trial] = []
            for i in range(args.kills):
                kind = args.kinds[i % len(args.kinds)]
                t = campaign.trial(kind, i // len(args.kinds))
                trials.append(t)
                log(f"  kill {i + 1:2d} {kind:12s} at {t.delay:5.1f}s ({t.killed_after[:60]!r}): re-run exit "
                    f"{t.rerun_code} in {t.rerun_seconds}s, converged={t.converged}, readable={t.name_readable}"
                    f"{', ' + t.problem if t.problem else ''}")
        finally:
            if server is not None:
                server.stop()
    if args.json:
        print(json.dumps({"seed": seed, "durations": campaign.durations, "trials": [asdict(t) for t in trials]}))
    else:
        print(f"kill -9 campaign: seed {seed}, {args.rows} rows rebuilt, chain of {args.chain} revisions x "
              f"{args.rel_rows} rows; clean runs: " + ", ".join(f"{k} {v:.1f}s" for k, v in campaign.durations.items()))
        print(table(trials))
    return 0 if all(t.converged and not t.rows_lost and not t.rows_duplicated and not t.checksums_lost
                    and t.name_readable is not False for t in trials) else 1


if __name__ == "__main__":
    sys.exit(main())
