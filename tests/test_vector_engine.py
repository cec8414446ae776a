"""The shipped vector history on real stores: up, down, up with the live store matching the
declared state after every step; no row lost through add-field and rebuild; crash safety."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import clean_env, pg_scalar, run_cli
from tests.vector_support import VectorTarget, fill, snapshot, write_vector_config

VERSIONS = ["20250108_001", "20250115_001", "20250120_001", "20250201_001"]


@pytest.fixture(params=["pgvector", "milvus-lite", "milvus-2.3.5"])
def target(request: pytest.FixtureRequest, pg_db: tuple[str, str], tmp_path: Path) -> VectorTarget:
    url, _ = pg_db
    if request.param == "pgvector":
        return VectorTarget("pgvector", write_vector_config(tmp_path, url, "pgvector"), url, "pgvector")
    if request.param == "milvus-lite":
        uri = str(tmp_path / "milvus.db")
    else:
        server = request.getfixturevalue("milvus_235_server")
        uri = server.uri
        _drop_all(uri, server.token)
        return VectorTarget(request.param, write_vector_config(tmp_path, url, "milvus", uri, token=server.token),
                            url, "milvus", uri, server.token)
    return VectorTarget(request.param, write_vector_config(tmp_path, url, "milvus", uri), url, "milvus", uri)


def _drop_all(uri: str, token: str | None) -> None:
    """The 2.3.5 server is shared by the session: start each test from an empty store."""
    from tests.vector_support import run_with_store

    async def go(store):
        for alias in await store.list_aliases():
            await store.drop_alias(alias)
        for name in await store.list_collections():
            await store.drop_collection(name)

    run_with_store(VectorTarget("x", Path("."), "", "milvus", uri, token), go)


def _cli(target: VectorTarget, *args: str, **kw: object):
    return run_cli("--config", str(target.config), *args, cwd=target.config.parent, **kw)


def _live(target: VectorTarget) -> dict:
    result = _cli(target, "collections", "--json")
    assert result.code == 0, result.text
    return json.loads(result.out)


@pytest.mark.slow
def test_history_up_down_up_matches_declared_state_at_every_step(target: VectorTarget) -> None:
    assert _cli(target, "upgrade", "--yes").code == 0  # the relational side holds the tracking table
    for version in VERSIONS:
        result = _cli(target, "vector", "upgrade", "+1", "--yes")
        assert result.code == 0, result.text
        live = _live(target)
        assert live["live_drift"] == [], (version, live)
        status = json.loads(_cli(target, "vector", "status", "--json").out)
        assert status["current"] == version
    names = {c["name"]: c for c in _live(target)["collections"]}
    assert set(names) == {"document", "image"}
    assert names["document"]["index"] == "IVF_FLAT COSINE" and names["document"]["aliases"] == ["documents_current"]
    for expected in reversed([None, *VERSIONS[:-1]]):
        result = _cli(target, "vector", "downgrade", "-1", "--yes")
        assert result.code == 0, result.text
        assert _live(target)["live_drift"] == []
        assert json.loads(_cli(target, "vector", "status", "--json").out)["current"] == expected
    assert _live(target)["collections"] == []
    assert _cli(target, "vector", "upgrade", "--yes").code == 0
    assert _live(target)["live_drift"] == []
    history = json.loads(_cli(target, "vector", "history", "--json").out)
    assert [h["status"] for h in history] == ["applied"] * 4


@pytest.mark.slow
def test_no_row_lost_through_add_field_and_rebuild(target: VectorTarget) -> None:
    assert _cli(target, "upgrade", "--yes").code == 0
    assert _cli(target, "vector", "upgrade", "20250108_001", "--yes").code == 0
    fill(target, "document", 50_000)
    before = snapshot(target, "document")
    assert before[0] == 50_000 and len(before[1]) == 1000
    assert _cli(target, "vector", "upgrade", "--yes").code == 0
    assert snapshot(target, "document") == before
    assert _live(target)["live_drift"] == []
    assert _cli(target, "vector", "downgrade", "20250108_001", "--yes").code == 0
    assert snapshot(target, "document") == before
    assert _live(target)["live_drift"] == []


@pytest.mark.slow
@pytest.mark.parametrize("point", ["20250115_001-up-op0", "shadow-created", "copy-batch-1", "copied",
                                   "shadow-indexed", "swapped"])
def test_crash_at_any_point_then_migrate_converges(target: VectorTarget, point: str, pg_db: tuple[str, str]) -> None:
    _, admin = pg_db
    assert _cli(target, "upgrade", "--yes").code == 0
    assert _cli(target, "vector", "upgrade", "20250108_001", "--yes").code == 0
    fill(target, "document", 12_000)
    before = snapshot(target, "document", sample=200)
    crashed = _cli(target, "vector", "upgrade", "--yes", env=clean_env(MIGCTL_FAULT_POINT=point))
    assert crashed.code == -9, crashed.text
    # Issue 13.13: the name answers reads with every row right after the kill, before any re-run.
    assert snapshot(target, "document", sample=200) == before
    assert pg_scalar(admin, "SELECT status FROM vector_db_migrations ORDER BY version DESC LIMIT 1") == "running"
    resumed = _cli(target, "migrate", "--yes")
    assert resumed.code == 0, resumed.text
    assert snapshot(target, "document", sample=200) == before
    assert _live(target)["live_drift"] == []
    statuses = pg_scalar(admin, "SELECT string_agg(status, ',' ORDER BY version) FROM vector_db_migrations")
    assert statuses == "applied,applied,applied,applied"


def test_drift_edited_file_and_dropped_collection(target: VectorTarget, tmp_path: Path) -> None:
    import shutil

    from migctl.core.vector.loader import DEFAULT_DIR

    versions = tmp_path / "versions"
    shutil.copytree(DEFAULT_DIR, versions)
    target.config = write_vector_config(tmp_path, target.database_url, target.store_kind, target.uri, versions,
                                        token=target.token)
    assert _cli(target, "upgrade", "--yes").code == 0
    assert _cli(target, "vector", "upgrade", "20250115_001", "--yes").code == 0
    first = versions / "20250108_001_create_document_and_image.yaml"
    first.write_text(first.read_text().replace("template: image", "template: chunk"))
    status = json.loads(_cli(target, "vector", "status", "--json").out)
    assert [d["version"] for d in status["drifted"]] == ["20250108_001"]
    refused = _cli(target, "vector", "upgrade", "--yes")
    assert refused.code == 3 and "20250108_001" in refused.err and "vector repair" in refused.err
    assert json.loads(_cli(target, "vector", "status", "--json").out)["current"] == "20250115_001"
    first.write_text(first.read_text().replace("template: chunk", "template: image"))
    assert json.loads(_cli(target, "vector", "status", "--json").out)["drifted"] == []

    def drop(store):
        return store.drop_collection("image")

    from tests.vector_support import run_with_store

    run_with_store(target, drop)
    live = _live(target)
    assert "collection image is missing" in live["live_drift"]
    text = _cli(target, "vector", "status").out
    assert "live drift: collection image is missing" in text
