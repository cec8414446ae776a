"""Shared helpers for vector engine tests: a migctl config per store, rows in and out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tests.support import REFERENCE_SECTIONS, REPO

DIM = 768


@dataclass
class VectorTarget:
    """A relational database plus one vector store, as a migctl config file sees them."""

    name: str  # "pgvector", "milvus-lite", "milvus-2.3.5"
    config: Path
    database_url: str
    store_kind: str
    uri: str | None = None
    token: str | None = None

    def store(self) -> Any:
        if self.store_kind == "pgvector":
            from migctl.core.vector.stores.pgvector import PgVectorStore

            return PgVectorStore(self.database_url, schema="vectors")
        from migctl.core.vector.stores.milvus import MilvusStore

        return MilvusStore(self.uri or "", token=self.token)


def write_vector_config(tmp: Path, database_url: str, store: str, uri: str | None = None,
                        migrations_dir: Path | None = None, token: str | None = None) -> Path:
    lines = ["default_environment: t", f"state_dir: {tmp / 'state'}", *REFERENCE_SECTIONS, "environments:", "  t:",
             f'    database_url: "{database_url}"', "    vector:", f"      store: {store}",
             f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}",
             f"      migrations_dir: {migrations_dir or REPO / 'vector_migrations' / 'versions'}"]
    if uri:
        lines.append(f'      uri: "{uri}"')
    if token:
        lines.append(f'      token: "{token}"')
    path = tmp / "migctl.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def make_rows(start: int, count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed + start)
    vectors = rng.random((count, DIM), dtype=np.float32)
    return [{"id": start + i, "embedding": vectors[i].tolist(), "text": f"doc {start + i}",
             "metadata": {"n": start + i}, "created_at": 1_700_000_000 + i, "updated_at": 1_700_000_000 + i}
            for i in range(count)]


async def _with_store(target: VectorTarget, fn: Any) -> Any:
    store = target.store()
    await store.connect()
    try:
        return await fn(store)
    finally:
        await store.close()


def run_with_store(target: VectorTarget, fn: Any) -> Any:
    return asyncio.run(_with_store(target, fn))


def fill(target: VectorTarget, collection: str, total: int, batch: int = 5000,
         extra: dict[str, Any] | None = None) -> None:
    """Load rows fast: on pgvector the index is dropped during the load and built once after
    (HNSW inserts row by row are the slow part, not the data)."""

    async def go(store: Any) -> None:
        live = await store.describe(collection)
        index = live.index if store.kind == "pgvector" else None
        if index is not None:
            await store.drop_index(collection, index.field)
        for start in range(0, total, batch):
            rows = make_rows(start, min(batch, total - start))
            if extra:
                rows = [{**row, **extra} for row in rows]
            await store.write_batch(collection, rows)
        if index is not None:
            await store.create_index(collection, index)

    run_with_store(target, go)


def snapshot(target: VectorTarget, collection: str, sample: int = 1000, total: int | None = None) -> tuple[int, dict[int, list[float]]]:
    """(row count, {id: vector}) for ``sample`` ids spread over the key range."""

    async def go(store: Any) -> tuple[int, dict[int, list[float]]]:
        count = await store.count(collection)
        n = total or count
        wanted = {int(i) for i in np.linspace(0, max(n - 1, 0), num=min(sample, n)).astype(int)}
        found: dict[int, list[float]] = {}
        after = None
        while True:
            rows = await store.read_batch(collection, after, 5000, ["id", "embedding"])
            if not rows:
                break
            for r in rows:
                if r["id"] in wanted:
                    found[r["id"]] = [round(float(x), 5) for x in r["embedding"]]
            after = rows[-1]["id"]
        return count, found

    return run_with_store(target, go)
