"""Measure migctl's vector copy path against each store's raw bulk ingest, and its memory.

One run prints, side by side:

1. **pgvector**: rows/s of migctl's rebuild copy (``OperationExecutor.copy`` from a filled
   ``document`` collection, 768-dim, into a FLAT-indexed copy, ``--batch`` rows per batch)
   next to the store's raw bulk path for the same rows: one asyncpg binary ``COPY``
   (``copy_records_to_table``, numpy vectors generated beforehand) into an empty table with
   the same columns and no index at all, not even a primary key. Target: copy/raw >= 0.8.
2. **Milvus Lite** (a ``.db`` path in the temporary directory): rows/s of the same executor
   copy next to raw ``MilvusClient.insert`` of the same rows, 5,000 per call, into an empty
   collection with the same schema (that collection is then the copy's source). At 100,000
   rows this part takes about 2.5 minutes on 2 cores; ``--milvus-rows`` measures fewer.
   Then the same on the real **Milvus 2.3.5** server of the ``milvus`` wheel, when installed,
   started on free ports in the temporary directory (about 30 s at 100,000 rows).
3. **Peak RSS growth** of a pgvector ``Rebuild`` (copy into a shadow, IVF_FLAT index built,
   swap) at each ``--rss-rows`` size, run in a child process so its memory is its own. The
   child resets its high-water mark (``/proc/self/clear_refs``) after imports and connecting,
   then reports VmRSS before and VmHWM after the rebuild. Target: growth <= 100 MB.

With ``--rounds N`` each store is measured N times (raw, then copy, on fresh collections each
round) and the median of the rounds' ratios is compared with the target; every round's ratio is
printed beside it.

Sources are filled fast: no vector index, binary COPY of numpy vectors in chunks of 10,000
(the same values as ``tests/vector_support.make_rows``). The rebuilt collection is declared
with a FLAT index, as it lives (building HNSW on it first would only add minutes). Everything
runs against its own embedded PostgreSQL 18 + pgvector (``core.embedded``) in a temporary
directory, stopped at the end. Progress goes to stderr, results to stdout.

Run from the repository root with the project's virtualenv::

    python bench/vector.py [--rows 100000] [--milvus-rows N] [--rss-rows 100000 400000]
                           [--batch 2000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
from pgvector.asyncpg import register_vector

from migctl.core.embedded import EmbeddedPostgres  # the project is installed (editable) in the venv
from migctl.core.events import CopyProgress, Event
from migctl.core.vector.executor import OperationExecutor, flat
from migctl.core.vector.model import DeclaredState, Rebuild
from migctl.core.vector.stores.milvus import MilvusStore
from migctl.core.vector.stores.pgvector import PgVectorStore
from migctl.core.vector.stores.pgvector_catalog import asyncpg_dsn
from migctl.core.vector.templates import (
    DEFAULT_TEMPLATES,
    CollectionSpec,
    IndexSpec,
    load_templates,
)

DIM = 768
SCHEMA = "bench"
FILL_CHUNK = 10_000
MILVUS_INSERT_BATCH = 5_000
COPY_TARGET = 0.8
RSS_TARGET_MB = 100.0
SEED = 7
EPOCH = 1_700_000_000
COLUMNS = ("id", "embedding", "text", "metadata", "created_at", "updated_at")


def progress(msg: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {msg}\n")
    sys.stderr.flush()


def sig3(x: float) -> str:
    """``x`` to 3 significant digits, thousands separated (12345 -> 12,300; 0.4567 -> 0.457)."""
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    decimals = 2 - math.floor(math.log10(abs(x)))
    rounded = round(x, decimals)
    return f"{rounded:,.{decimals}f}" if decimals > 0 else f"{int(rounded):,}"


def document_spec(name: str) -> CollectionSpec:
    spec = load_templates(DEFAULT_TEMPLATES).collection("document").renamed(name)
    if spec.dim != DIM or tuple(f.name for f in spec.fields) != COLUMNS:
        raise SystemExit(f"the document template changed ({spec.dim} dims, fields "
                         f"{[f.name for f in spec.fields]}); update bench/vector.py")
    return spec


def ivf_flat(spec: CollectionSpec) -> CollectionSpec:
    return replace(spec, index=IndexSpec(spec.index.field, "IVF_FLAT", spec.index.metric, (("nlist", 128),)))


def vectors(start: int, count: int) -> np.ndarray:
    """Rows ``start..start+count`` as float32, the values ``make_rows(start, count)`` gives."""
    return np.random.default_rng(SEED + start).random((count, DIM), dtype=np.float32)


def chunks(total: int, size: int = FILL_CHUNK) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, total, size):
        yield start, vectors(start, min(size, total - start))


def pg_records(start: int, vecs: np.ndarray) -> list[tuple[Any, ...]]:
    return [(start + i, vecs[i], f"doc {start + i}", {"n": start + i}, EPOCH + start + i, EPOCH + start + i)
            for i in range(len(vecs))]


def milvus_rows(start: int, vecs: np.ndarray) -> list[dict[str, Any]]:
    return [{"id": start + i, "embedding": vecs[i], "text": f"doc {start + i}", "metadata": {"n": start + i},
             "created_at": EPOCH + start + i, "updated_at": EPOCH + start + i} for i in range(len(vecs))]


def copy_sink(label: str) -> Any:
    """An event sink printing copy progress every 10% or so."""
    shown = [-1]

    def sink(event: Event) -> None:
        if isinstance(event, CopyProgress) and event.total:
            tenth = event.done * 10 // event.total
            if tenth > shown[0]:
                shown[0] = tenth
                progress(f"  {label}: {event.done:,}/{event.total:,} rows, {event.rows_per_s:,.0f} rows/s")
    return sink


# --- pgvector -----------------------------------------------------------------------------------


async def raw_connection(url: str) -> asyncpg.Connection:
    """A plain asyncpg connection with the store's codecs (binary vector and jsonb)."""
    dsn, kwargs = asyncpg_dsn(url)
    conn = await asyncpg.connect(dsn, command_timeout=None, **kwargs)
    ext_schema = await conn.fetchval("SELECT n.nspname FROM pg_extension e JOIN pg_namespace n "
                                     "ON n.oid = e.extnamespace WHERE e.extname = 'vector'")
    await register_vector(conn, schema=ext_schema)
    await conn.set_type_codec("jsonb", schema="pg_catalog", format="binary",
                              encoder=lambda v: b"\x01" + json.dumps(v).encode(),
                              decoder=lambda b: json.loads(bytes(b[1:])))
    return conn


async def fill_pg(store: PgVectorStore, conn: asyncpg.Connection, name: str, rows: int) -> None:
    """The ``document`` collection ``name`` with ``rows`` rows: created as declared, vector
    index dropped, binary COPY of numpy chunks, then vacuumed (hint bits, visibility map)."""
    spec = document_spec(name)
    await store.drop_collection(name)
    await store.create_collection(spec)
    await store.drop_index(name, spec.index.field)
    for start, vecs in chunks(rows):
        await conn.copy_records_to_table(name, records=pg_records(start, vecs), columns=COLUMNS,
                                         schema_name=SCHEMA)
        if (start // FILL_CHUNK) % 10 == 9:
            progress(f"  filled {name}: {start + len(vecs):,}/{rows:,}")
    await conn.execute(f'VACUUM (ANALYZE) "{SCHEMA}"."{name}"')


async def settle(conn: asyncpg.Connection) -> None:
    """Flush dirty buffers so one measurement does not pay for the previous one's writes."""
    await conn.execute("CHECKPOINT")


@dataclass
class Throughput:
    rows: int
    copy_s: float
    raw_s: float

    @property
    def copy_rate(self) -> float:
        return self.rows / self.copy_s

    @property
    def raw_rate(self) -> float:
        return self.rows / self.raw_s

    @property
    def ratio(self) -> float:
        return self.copy_rate / self.raw_rate


@dataclass
class Rounds:
    """One store's rounds (``--rounds``): each round's raw and copy meet the same conditions,
    so the figure compared is the median of the rounds' ratios."""

    runs: list[Throughput]

    @property
    def rows(self) -> int:
        return self.runs[0].rows

    def median(self, attr: str) -> float:
        return statistics.median(getattr(t, attr) for t in self.runs)


async def bench_pgvector(url: str, rows: int, batch: int) -> Throughput:
    store = PgVectorStore(url, schema=SCHEMA)
    await store.connect()
    conn = await raw_connection(url)
    try:
        progress(f"pgvector: filling doc_src with {rows:,} rows")
        await fill_pg(store, conn, "doc_src", rows)

        progress("pgvector: generating the raw COPY's rows")
        records = [r for start, vecs in chunks(rows) for r in pg_records(start, vecs)]
        await conn.execute(f'DROP TABLE IF EXISTS "{SCHEMA}"."doc_raw"')
        await conn.execute(f'CREATE TABLE "{SCHEMA}"."doc_raw" (LIKE "{SCHEMA}"."doc_src")')  # no PK, no index
        await settle(conn)
        progress(f"pgvector: raw binary COPY of {rows:,} rows")
        started = time.perf_counter()
        await conn.copy_records_to_table("doc_raw", records=records, columns=COLUMNS, schema_name=SCHEMA)
        raw_s = time.perf_counter() - started
        del records
        progress(f"  raw COPY: {rows / raw_s:,.0f} rows/s")
        await conn.execute(f'DROP TABLE "{SCHEMA}"."doc_raw"')

        spec = document_spec("doc_copy")
        await store.drop_collection("doc_copy")
        await store.create_collection(flat(spec))
        await settle(conn)
        progress(f"pgvector: executor copy doc_src -> doc_copy (batch {batch:,})")
        executor = OperationExecutor(store, sink=copy_sink("pgvector copy"), batch_size=batch)
        started = time.perf_counter()
        copied = await executor.copy("doc_src", "doc_copy", spec, {})
        copy_s = time.perf_counter() - started
        if copied != rows or await store.count("doc_copy") != rows:
            raise RuntimeError(f"pgvector copy moved {copied:,} rows, expected {rows:,}")
        for name in ("doc_copy", "doc_src"):
            await store.drop_collection(name)
        return Throughput(rows, copy_s, raw_s)
    finally:
        await conn.close()
        await store.close()


# --- Milvus Lite --------------------------------------------------------------------------------


def settle_milvus(client: Any, label: str, name: str, timeout: float = 120.0) -> None:
    """Untimed, between the raw insert and the copy: the server seals and indexes what the raw
    insert wrote (Milvus Lite flushes its memtable), so the copy's timing does not pay for the
    raw insert's work, as the pgvector part checkpoints between its runs. The copy is still
    timed with the flush of its own rows on Milvus Lite."""
    progress(f"{label}: flushing and indexing {name} before the copy (untimed)")
    client.flush(name)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = [client.describe_index(name, i) for i in client.list_indexes(name)]
        if all(not d or not d.get("pending_index_rows") for d in described):
            return
        time.sleep(0.5)


async def bench_milvus(label: str, uri: str, token: str | None, rows: int, batch: int) -> Throughput:
    from pymilvus import MilvusClient

    store = MilvusStore(uri, token)
    await store.connect()
    try:
        for name in ("doc_src", "doc_copy"):
            await store.drop_collection(name)  # the previous round's
            await store.create_collection(flat(document_spec(name)))
        client = MilvusClient(uri, token=token or "")  # Lite by path: the store's in-process server
        try:
            progress(f"{label}: generating the raw insert's rows")
            data = [r for start, vecs in chunks(rows) for r in milvus_rows(start, vecs)]
            progress(f"{label}: raw insert of {rows:,} rows, {MILVUS_INSERT_BATCH:,} per call")
            started = time.perf_counter()
            for start in range(0, rows, MILVUS_INSERT_BATCH):
                client.insert("doc_src", data[start:start + MILVUS_INSERT_BATCH])
            raw_s = time.perf_counter() - started
            del data
            progress(f"  raw insert: {rows / raw_s:,.0f} rows/s")
            settle_milvus(client, label, "doc_src")
        finally:
            client.close()
        if (have := await store.count("doc_src")) != rows:
            raise RuntimeError(f"Milvus raw insert left {have:,} rows, expected {rows:,}")
        progress(f"{label}: executor copy doc_src -> doc_copy (batch {batch:,})")
        executor = OperationExecutor(store, sink=copy_sink(f"{label} copy"), batch_size=batch)
        started = time.perf_counter()
        copied = await executor.copy("doc_src", "doc_copy", document_spec("doc_copy"), {})
        copy_s = time.perf_counter() - started
        if copied != rows or await store.count("doc_copy") != rows:
            raise RuntimeError(f"Milvus copy moved {copied:,} rows, expected {rows:,}")
        return Throughput(rows, copy_s, raw_s)
    finally:
        await store.close()


# --- peak RSS of a rebuild (child process) ------------------------------------------------------


@dataclass
class Memory:
    rows: int
    baseline_mb: float
    peak_mb: float
    seconds: float

    @property
    def growth_mb(self) -> float:
        return self.peak_mb - self.baseline_mb


def proc_status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def reset_high_water_mark() -> bool:
    """Make VmHWM the current RSS (Linux ``clear_refs`` 5); False where that is unavailable."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


async def rebuild_in_child(url: str, name: str, batch: int) -> dict[str, float]:
    store = PgVectorStore(url, schema=SCHEMA)
    await store.connect()
    try:
        declared = flat(document_spec(name))  # as it lives: filled without a vector index
        op = Rebuild(name, ivf_flat(declared))
        executor = OperationExecutor(store, sink=copy_sink(f"rebuild {name}"), batch_size=batch)
        await store.describe(name)  # warm the connection's statement cache and codecs
        exact = reset_high_water_mark()
        baseline_kb = proc_status_kb("VmRSS") if exact else None
        if baseline_kb is None:
            baseline_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        await executor.run(op, DeclaredState({name: declared}))
        seconds = time.perf_counter() - started
        peak_kb = proc_status_kb("VmHWM") if exact else None
        if peak_kb is None:
            peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        live = await store.describe(name)
        if live is None or live.index is None or live.index.index_type != "IVF_FLAT":
            raise RuntimeError(f"rebuild of {name} did not leave an IVF_FLAT index: {live}")
        return {"baseline_kb": baseline_kb, "peak_kb": peak_kb, "seconds": seconds, "rows": live.rows}
    finally:
        await store.close()


async def bench_rss(url: str, rows: int, batch: int) -> Memory:
    name = f"doc_rss_{rows}"
    store = PgVectorStore(url, schema=SCHEMA)
    await store.connect()
    conn = await raw_connection(url)
    try:
        progress(f"RSS: filling {name} with {rows:,} rows")
        await fill_pg(store, conn, name, rows)
        await settle(conn)
    finally:
        await conn.close()
        await store.close()
    progress(f"RSS: rebuilding {name} to IVF_FLAT in a child process")
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--rss-child", url, name,
                          "--batch", str(batch)], check=True, stdout=subprocess.PIPE, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    if result["rows"] != rows:
        raise RuntimeError(f"rebuild of {name} left {result['rows']:,} rows, expected {rows:,}")
    store = PgVectorStore(url, schema=SCHEMA)
    async with store:
        await store.drop_collection(name)
    return Memory(rows, result["baseline_kb"] / 1024, result["peak_kb"] / 1024, result["seconds"])


# --- report -------------------------------------------------------------------------------------


def print_table(header: tuple[str, ...], body: list[tuple[str, ...]]) -> None:
    widths = [max(len(c[i]) for c in (header, *body)) for i in range(len(header))]
    for cells in (header, tuple("-" * w for w in widths), *body):
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())


def report(copies: dict[str, Rounds], milvus_note: str, memory: list[Memory], batch: int) -> None:
    print()
    rounds = len(next(iter(copies.values())).runs)
    print(f"Copy throughput, 768-dim document rows, executor batch {batch:,}"
          + (f"; medians of {rounds} rounds" if rounds > 1 else ""))
    print_table(
        ("store", "rows", "migctl copy rows/s", "raw bulk rows/s", "copy/raw", "each round", "target", "met"),
        [(label, f"{t.rows:,}", sig3(t.median("copy_rate")), sig3(t.median("raw_rate")), sig3(t.median("ratio")),
          " ".join(sig3(r.ratio) for r in t.runs), f">= {COPY_TARGET}",
          "yes" if t.median("ratio") >= COPY_TARGET else "NO") for label, t in copies.items()])
    print("raw bulk: pgvector = one binary COPY (copy_records_to_table, numpy vectors) into a table "
          "without any index or key;")
    print(f"          Milvus = MilvusClient.insert, {MILVUS_INSERT_BATCH:,} rows per call (numpy vectors), "
          "into an empty FLAT collection")
    if milvus_note:
        print(milvus_note)
    print()
    print("Peak RSS of a pgvector rebuild to IVF_FLAT (child process)")
    print_table(
        ("rows", "baseline MB", "peak MB", "growth MB", "rebuild s", "target", "met"),
        [(f"{m.rows:,}", sig3(m.baseline_mb), sig3(m.peak_mb), sig3(m.growth_mb), sig3(m.seconds),
          f"<= {RSS_TARGET_MB:g} MB", "yes" if m.growth_mb <= RSS_TARGET_MB else "NO") for m in memory])


async def bench_milvus_235(tmp: Path, rows: int, batch: int, rounds: int) -> Rounds | None:
    """The real Milvus 2.3.5 server of the ``milvus`` wheel, when installed (``make install``
    does), started on free ports in ``tmp`` by the suite's own helper and stopped after."""
    try:
        import milvus  # noqa: F401
    except ImportError:
        progress("Milvus 2.3.5: the milvus wheel is not installed, skipped")
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository's tests/
    from tests.milvus_servers import start_milvus_235

    progress("starting Milvus 2.3.5")
    server = start_milvus_235(tmp / "milvus_235")
    try:
        return Rounds([await bench_milvus(f"Milvus 2.3.5 round {k + 1}/{rounds}", server.uri, server.token, rows, batch)
                       for k in range(rounds)])
    finally:
        server.stop()


async def run_all(args: argparse.Namespace, tmp: Path, url: str) -> None:
    n = args.rounds
    copies = {"pgvector": Rounds([await bench_pgvector(url, args.rows, args.batch) for _ in range(n)])}
    milvus_rows_ = args.milvus_rows or args.rows
    copies["Milvus Lite"] = Rounds([await bench_milvus(f"Milvus Lite round {k + 1}/{n}", str(tmp / f"milvus-{k}.db"),
                                                       None, milvus_rows_, args.batch) for k in range(n)])
    if (server := await bench_milvus_235(tmp, milvus_rows_, args.batch, n)) is not None:
        copies["Milvus 2.3.5"] = server
    note = ""
    if milvus_rows_ < args.rows:
        note = f"Milvus measured at {milvus_rows_:,} rows (--milvus-rows), not {args.rows:,}"
    memory = [await bench_rss(url, n, args.batch) for n in args.rss_rows]
    report(copies, note, memory, args.batch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="rows for the copy throughput")
    parser.add_argument("--milvus-rows", type=int, default=None,
                        help="rows for Milvus Lite and Milvus 2.3.5 (default: --rows)")
    parser.add_argument("--rss-rows", type=int, nargs="+", default=[100_000, 400_000])
    parser.add_argument("--batch", type=int, default=2000, help="executor batch size")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds per store (raw then copy, each on fresh collections); the median ratio "
                             "is compared with the target")
    parser.add_argument("--rss-child", nargs=2, metavar=("URL", "COLLECTION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.rss_child:
        url, name = args.rss_child
        print(json.dumps(asyncio.run(rebuild_in_child(url, name, args.batch))))
        return 0

    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs; asyncpg {version('asyncpg')}, "
          f"pgvector {version('pgvector')}, pymilvus {version('pymilvus')}, "
          f"milvus-lite {version('milvus-lite')}, numpy {np.__version__}")
    with tempfile.TemporaryDirectory(prefix="migctl-bench-vector-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)  # as root the server runs as another user and must reach its data
        progress("starting embedded PostgreSQL")
        server = EmbeddedPostgres(tmp / ".migctl").ensure_running()
        try:
            print(f"embedded PostgreSQL {server.version()}")
            asyncio.run(run_all(args, tmp, server.url))
        finally:
            progress("stopping embedded PostgreSQL")
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
