"""PgVectorStore against the embedded PostgreSQL 18 + pgvector: schema round trips, aliases as
views, batch copies, concurrent index builds, and refusals (bad names, bad servers)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import numpy as np
import psycopg
import pytest

from migctl.core.vector.render import pgvector_index_name
from migctl.core.vector.stores.base import StoreError, StoreUnreachable, VectorStore
from migctl.core.vector.stores.pgvector import PgVectorStore
from migctl.core.vector.stores.pgvector_catalog import asyncpg_dsn
from migctl.core.vector.templates import (
    DEFAULT_TEMPLATES,
    CollectionSpec,
    FieldSpec,
    IndexSpec,
    load_templates,
)
from migctl.core.vector.yaml_source import TemplateError
from tests.support import APP_PASSWORD

TEMPLATES = load_templates(DEFAULT_TEMPLATES).collections


def small(name: str = "items", dim: int = 8, index: str = "HNSW") -> CollectionSpec:
    params = {"HNSW": (("M", 16), ("efConstruction", 64)), "IVF_FLAT": (("nlist", 4),), "FLAT": ()}[index]
    return CollectionSpec(name, (FieldSpec("id", "int64", primary=True), FieldSpec("embedding", "float_vector", dim=dim),
                                 FieldSpec("title", "varchar", max_length=64, nullable=True),
                                 FieldSpec("meta", "json", nullable=True)),
                          IndexSpec("embedding", index, "L2", params))


def plain(fields: tuple[FieldSpec, ...]) -> tuple[FieldSpec, ...]:
    return tuple(replace(f, description="") for f in fields)


def rows_for(ids: range, dim: int = 8, seed: int = 0) -> list[dict]:
    vectors = np.random.default_rng(seed).random((len(ids), dim), dtype=np.float32)
    return [{"id": i, "embedding": v, "title": f"t{i}", "meta": {"n": i, "tags": ["a"]}} for i, v in zip(ids, vectors, strict=True)]


def relations(admin: str) -> list[tuple[str, str]]:
    with psycopg.connect(admin, autocommit=True) as conn:
        return conn.execute("SELECT relname, relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "WHERE nspname = 'public' ORDER BY 1").fetchall()


@pytest.fixture()
async def store(pg_db: tuple[str, str]) -> AsyncIterator[PgVectorStore]:
    async with PgVectorStore(pg_db[0]) as s:
        yield s


async def test_implements_the_protocol_and_reports_versions(store: PgVectorStore) -> None:
    assert isinstance(store, VectorStore)
    assert store.capabilities.max_dim == 16000 and not store.capabilities.partitions
    info = await store.info()
    assert info.kind == "pgvector" and "PostgreSQL 18" in (info.version or "") and "pgvector" in (info.version or "")
    assert APP_PASSWORD not in info.address and "***" in info.address


@pytest.mark.parametrize("template", sorted(TEMPLATES))
async def test_describe_reads_back_what_each_template_creates(store: PgVectorStore, template: str) -> None:
    spec = TEMPLATES[template]
    await store.create_collection(spec)
    live = await store.describe(spec.name)
    assert live is not None
    assert plain(live.fields) == plain(spec.fields)
    assert live.index == spec.index
    assert live.vector_field is not None and live.vector_field.dim == spec.dim
    assert live.rows == 0 and live.aliases == () and live.partitions == ()
    assert await store.list_collections() == [spec.name]
    await store.create_collection(spec)  # idempotent
    assert await store.describe(spec.name) == live


async def test_flat_builds_no_index_and_describes_as_none(store: PgVectorStore) -> None:
    await store.create_collection(small(index="FLAT"))
    live = await store.describe("items")
    assert live is not None and live.index is None


async def test_a_hand_built_index_without_params_reads_back_as_pgvector_built_it(store: PgVectorStore) -> None:
    spec = replace(small(), index=IndexSpec("embedding", "IVF_FLAT", "IP", ()))
    await store.create_collection(spec)
    await store.create_collection(spec)  # pgvector's own defaults count as the same index
    live = await store.describe("items")
    assert live is not None and live.index == IndexSpec("embedding", "IVF_FLAT", "IP", (("nlist", 100),))


async def test_a_different_schema_is_refused_naming_the_difference(store: PgVectorStore) -> None:
    await store.create_collection(small())
    with pytest.raises(StoreError, match=r"column embedding: live float_vector\(8\), wanted float_vector\(16\)"):
        await store.create_collection(small(dim=16))
    with pytest.raises(StoreError, match="index .* already, built differently"):
        await store.create_collection(replace(small(), index=IndexSpec("embedding", "HNSW", "COSINE", (("M", 16), ("efConstruction", 64)))))


async def test_add_and_drop_field_keep_rows_and_aliases(store: PgVectorStore) -> None:
    await store.create_collection(small())
    await store.write_batch("items", rows_for(range(1, 11)))
    await store.create_alias("live_items", "items")
    score = FieldSpec("score", "double")
    await store.add_field("items", score, default=0.5)
    await store.add_field("items", score, default=0.5)  # idempotent
    live = await store.describe("items")
    assert live is not None and live.fields[-1] == score and live.aliases == ("live_items",) and live.rows == 10
    assert {r["score"] for r in await store.read_batch("live_items", None, 100)} == {0.5}
    await store.add_field("items", FieldSpec("labels", "json", nullable=True), default={"k": "it's"})
    assert (await store.read_batch("items", None, 1, ["labels"]))[0] == {"labels": {"k": "it's"}}
    await store.drop_field("items", "score")
    await store.drop_field("items", "score")  # no-op
    live = await store.describe("items")
    assert live is not None and "score" not in [f.name for f in live.fields] and live.aliases == ("live_items",)
    with pytest.raises(StoreError, match="primary key"):
        await store.drop_field("items", "id")


async def test_rename_keeps_rows_index_and_frees_the_old_name(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    spec = small()
    await store.create_collection(spec)
    await store.write_batch("items", rows_for(range(1, 51)))
    await store.rename_collection("items", "items_v1")
    await store.rename_collection("items", "items_v1")  # done already: no-op
    live = await store.describe("items_v1")
    assert live is not None and live.rows == 50 and live.index == spec.index
    names = [name for name, _ in relations(pg_db[1])]
    assert pgvector_index_name("items_v1", "embedding") in names and "items_v1_pkey" in names
    await store.create_collection(spec)  # the old name, its index and pkey names are free again
    assert sorted(await store.list_collections()) == ["items", "items_v1"]


async def test_replace_collection_swaps_the_shadow_in_at_once(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    """Issue 13.13: the rebuilt shadow takes the name (and its aliases) in one transaction, so
    the name never goes missing; swapping again once done is a no-op."""
    await store.create_collection(small())
    await store.write_batch("items", rows_for(range(1, 11)))
    await store.create_alias("current", "items")
    await store.create_collection(small("items__migctl_shadow", index="IVF_FLAT"))
    await store.write_batch("items__migctl_shadow", rows_for(range(1, 31)))
    with psycopg.connect(pg_db[1], autocommit=True) as watcher:
        watcher.execute("BEGIN")
        assert watcher.execute('SELECT count(*) FROM "items"').fetchone() == (10,)
        swap = asyncio.ensure_future(store.replace_collection("items", "items__migctl_shadow"))
        await asyncio.sleep(0.5)
        assert not swap.done(), "the swap did not wait for a reader of the old table"
        watcher.execute("COMMIT")
        await swap
        assert watcher.execute('SELECT count(*) FROM "items"').fetchone() == (30,)
    await store.replace_collection("items", "items__migctl_shadow")  # done already
    live = await store.describe("items")
    assert live is not None and live.rows == 30 and live.index == small(index="IVF_FLAT").index
    assert await store.list_aliases() == {"current": "items"}
    assert await store.list_collections() == ["items"]
    names = [name for name, _ in relations(pg_db[1])]
    assert pgvector_index_name("items", "embedding") in names and "items_pkey" in names


async def test_aliases_are_views_created_altered_listed_dropped(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    await store.create_collection(small("a"))
    await store.create_collection(small("b"))
    await store.write_batch("b", rows_for(range(1, 4)))
    with psycopg.connect(pg_db[1], autocommit=True) as conn:
        conn.execute('CREATE VIEW "theirs" AS SELECT * FROM "a"')  # not an alias: never touched
    await store.create_alias("current", "a")
    await store.create_alias("current", "a")  # idempotent
    assert await store.list_aliases() == {"current": "a"}
    with pytest.raises(StoreError, match="points at a already"):
        await store.create_alias("current", "b")
    with pytest.raises(StoreError, match="still has aliases current"):
        await store.drop_collection("a")
    await store.alter_alias("current", "b")
    assert await store.list_aliases() == {"current": "b"}
    assert await store.count("b") == 3 and len(await store.read_batch("current", None, 10)) == 3
    with pytest.raises(StoreError, match="other objects depend on it"):
        await store.drop_collection("a")  # a view that is not ours still depends on it
    with pytest.raises(StoreError, match="not a migctl alias"):
        await store.drop_alias("theirs")
    await store.drop_alias("current")
    await store.drop_alias("current")  # no-op
    assert await store.list_aliases() == {}
    with pytest.raises(StoreError, match="no alias"):
        await store.alter_alias("current", "b")


async def test_batches_copy_in_pk_order_and_resend_adds_nothing(store: PgVectorStore) -> None:
    await store.create_collection(small(dim=32))
    sent = rows_for(range(1, 5001), dim=32, seed=1)
    assert await store.write_batch("items", sent[:2500]) == 2500
    assert await store.write_batch("items", sent) == 5000  # overlaps the first half: idempotent
    assert await store.count("items") == 5000 and await store.max_pk("items") == 5000
    got, after = [], None
    while page := await store.read_batch("items", after, 777):
        got += page
        after = page[-1]["id"]
    assert [r["id"] for r in got] == list(range(1, 5001))
    assert isinstance(got[0]["embedding"], list) and got[0]["meta"] == {"n": 1, "tags": ["a"]}
    np.testing.assert_allclose(np.array([r["embedding"] for r in got]), np.array([r["embedding"] for r in sent]), rtol=1e-6)
    assert await store.write_batch("items", sent) == 5000
    assert await store.count("items") == 5000
    assert await store.read_batch("items", 4999, 10, ["id"]) == [{"id": 5000}]
    with pytest.raises(StoreError, match="no field nope"):
        await store.write_batch("items", [{"id": 9, "nope": 1}])
    with pytest.raises(StoreError, match="expected 32 dimensions"):
        await store.write_batch("items", [{"id": 6000, "embedding": [1.0, 2.0]}])
    assert await store.count("items") == 5000  # the failed batch left nothing


async def test_copy_rows_pages_in_key_order_fills_new_fields_and_never_half_writes(store: PgVectorStore) -> None:
    await store.create_collection(small(dim=16))
    sent = rows_for(range(1, 2001), dim=16, seed=3)
    await store.write_batch("items", sent)
    await store.create_alias("items_now", "items")  # a copy reads through an alias too
    wider = replace(small("wider", dim=16, index="FLAT"),
                    fields=(*small(dim=16).fields, FieldSpec("lang", "varchar", max_length=8)))
    await store.create_collection(wider)
    fields = ["id", "embedding", "title", "meta"]
    pages, after = [], None
    while True:
        count, last = await store.copy_rows("items_now", "wider", after, 700, fields, {"lang": "en"})
        if not count:
            assert last is None
            break
        pages.append((count, last))
        after = last
    assert pages == [(700, 700), (700, 1400), (600, 2000)]
    got = await store.read_batch("wider", None, 5000)
    assert [r["id"] for r in got] == list(range(1, 2001)) and {r["lang"] for r in got} == {"en"}
    assert got[5]["title"] == "t6" and got[5]["meta"] == {"n": 6, "tags": ["a"]}
    np.testing.assert_allclose(np.array([r["embedding"] for r in got]), np.array([r["embedding"] for r in sent]), rtol=1e-6)

    # a row above the resume point that another writer put there fails its batch, which rolls back whole
    await store.create_collection(small("partial", dim=16, index="FLAT"))
    await store.write_batch("partial", [sent[999]])  # id 1000
    with pytest.raises(StoreError, match="cannot copy items into partial"):
        await store.copy_rows("items", "partial", 500, 700, fields, {})
    assert [r["id"] for r in await store.read_batch("partial", None, 10, ["id"])] == [1000]


async def test_create_index_concurrently_on_rows_and_rebuild_an_invalid_one(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    spec = small(index="IVF_FLAT")
    await store.create_collection(spec)
    await store.drop_index("items", "embedding")
    await store.write_batch("items", rows_for(range(1, 1001), seed=2))
    live = await store.describe("items")
    assert live is not None and live.index is None
    await store.create_index("items", spec.index)
    live = await store.describe("items")
    assert live is not None and live.index == spec.index and live.rows == 1000
    name = pgvector_index_name("items", "embedding")
    with psycopg.connect(pg_db[1], autocommit=True) as conn:  # a build that crashed half-way
        conn.execute("UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (name,))
    live = await store.describe("items")
    assert live is not None and live.index is None
    await store.create_index("items", spec.index)
    await store.create_index("items", spec.index)  # idempotent
    live = await store.describe("items")
    assert live is not None and live.index == spec.index
    with psycopg.connect(pg_db[1], autocommit=True) as conn:
        assert conn.execute("SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass", (name,)).fetchone() == (True,)


BAD = 'x"; DROP TABLE y; --'


async def test_injection_names_are_refused_before_any_sql(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    with psycopg.connect(pg_db[1], autocommit=True) as conn:
        conn.execute("CREATE TABLE y (id int)")
    await store.create_collection(small())
    before = relations(pg_db[1])
    with pytest.raises(TemplateError, match="not a plain identifier"):
        await store.create_collection(replace(small(), name=BAD))
    calls = [store.describe(BAD), store.drop_collection(BAD), store.count(BAD), store.create_alias(BAD, "items"),
             store.create_alias("al", BAD), store.drop_alias(BAD), store.rename_collection("items", BAD),
             store.drop_field("items", BAD), store.read_batch("items", None, 10, [BAD]),
             store.write_batch("items", [{"id": 1, BAD: 1}]), store.add_field("items", FieldSpec(BAD, "int64"))]
    for call in calls:
        with pytest.raises((StoreError, TemplateError), match="plain identifier|no field"):
            await call
    with pytest.raises(StoreError, match="refused schema"):
        PgVectorStore(pg_db[0], schema=BAD)
    assert relations(pg_db[1]) == before


async def test_unreachable_and_refused_credentials_are_one_masked_line(pg_db: tuple[str, str]) -> None:
    host = pg_db[0].split("@", 1)[1]
    for url in (f"postgresql+asyncpg://app:{APP_PASSWORD}@127.0.0.1:1/nodb?sslmode=disable",
                f"postgresql://app:wrong-{APP_PASSWORD}@{host}"):
        with pytest.raises(StoreUnreachable) as caught:
            await PgVectorStore(url).connect()
        message = str(caught.value)
        assert "\n" not in message and APP_PASSWORD not in message and "app:***@" in message


def test_sqlalchemy_urls_become_asyncpg_dsns() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/db?sslmode=require&x=1") == ("postgresql://u:p@h:5/db?x=1", {"ssl": "require"})
    assert asyncpg_dsn("postgresql://u@h/db") == ("postgresql://u@h/db", {})


async def test_partitions_are_refused(store: PgVectorStore) -> None:
    await store.create_collection(small())
    for call in (store.list_partitions("items"), store.create_partition("items", "p"), store.drop_partition("items", "p")):
        with pytest.raises(StoreError, match="pgvector has no partitions"):
            await call


async def test_a_named_schema_holds_its_own_collections(pg_db: tuple[str, str]) -> None:
    async with PgVectorStore(pg_db[0], schema="vectors") as other, PgVectorStore(pg_db[0]) as public:
        await other.create_collection(small())
        await other.write_batch("items", rows_for(range(1, 4)))
        assert await other.list_collections() == ["items"] and await public.list_collections() == []
        live = await other.describe("items")
        assert live is not None and live.rows == 3 and live.index == small().index


async def test_connection_names_this_process(store: PgVectorStore, pg_db: tuple[str, str]) -> None:
    """Issue 13.11: a killed migctl's statement is found (and ended) by the pid in its name."""
    import os

    from migctl.core.identity import current_actor

    with psycopg.connect(pg_db[1], autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT application_name FROM pg_stat_activity "
                                            "WHERE datname = current_database() AND pid <> pg_backend_pid()")]
    assert names == [f"migctl vector {current_actor().label} pid={os.getpid()}"]
