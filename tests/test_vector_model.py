"""Vector migration files: the shipped chain, inverses, hashes, and every way a file can be wrong."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import yaml

from migctl.core.vector.loader import DEFAULT_DIR, load_chain, next_version, write_migration
from migctl.core.vector.model import MigrationError
from migctl.core.vector.templates import DEFAULT_TEMPLATES, load_templates


def test_shipped_chain() -> None:
    chain = load_chain(DEFAULT_DIR, load_templates(DEFAULT_TEMPLATES))
    assert chain.versions == ["20250108_001", "20250115_001", "20250120_001", "20250201_001"]
    final = chain.states[-1]
    assert sorted(final.collections) == ["document", "image"]
    assert final.aliases == {"documents_current": "document"}
    document = final.collections["document"]
    assert [f.name for f in document.fields][-1] == "source"
    assert (document.index.index_type, document.index.metric, document.index.params_dict) == ("IVF_FLAT", "COSINE", {"nlist": 256})
    assert chain.states[0].collections["document"].index.index_type == "HNSW"
    first = chain.migrations[0]
    assert [op.kind for op in first.downgrade(chain.state_after(None))] == ["drop_collection", "drop_collection"]
    rebuild = chain.migrations[3]
    undo = rebuild.downgrade(chain.state_after("20250120_001"))
    assert undo[0].kind == "rebuild" and undo[0].target.index.index_type == "HNSW"


def test_hash_is_stable_and_changes_with_the_operations(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_DIR, tmp_path / "v")
    before = {m.version: m.operations_hash for m in load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)).migrations}
    assert before == {m.version: m.operations_hash for m in load_chain(DEFAULT_DIR, load_templates(DEFAULT_TEMPLATES)).migrations}
    f = tmp_path / "v" / "20250201_001_rebuild_document_ivf.yaml"
    f.write_text(f.read_text().replace("description: Rebuild", "description: Re-build"))
    assert load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)).migrations[3].operations_hash == before["20250201_001"], "description is not hashed"
    f.write_text(f.read_text().replace("nlist: 256", "nlist: 512"))
    assert load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)).migrations[3].operations_hash != before["20250201_001"]


def _write(directory: Path, name: str, body: dict | str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False))
    return path


FIRST = {"version": "20250101_001", "description": "first", "depends_on": None,
         "operations": [{"create_collection": {"name": "docs", "template": "document"}}]}


@pytest.mark.parametrize(("files", "message"), [
    ({"20250101_001_a.yaml": "version: '20250101_001'\noperations: [\n"}, "line 3, column 1"),
    ({"20250101_001_a.yaml": "version: 20250101_001\ndepends_on: null\noperations: []\n"}, "must be quoted"),
    ({"20250101_001_a.yaml": {**FIRST, "version": "2025-01-01"}}, "is not YYYYMMDD_NNN"),
    ({"20250101_002_a.yaml": FIRST}, "file name must be 20250101_001_<slug>.yaml"),
    ({"20250101_001_a.yaml": FIRST, "20250101_001_b.yaml": FIRST}, "duplicate version 20250101_001"),
    ({"20250101_001_a.yaml": FIRST, "20250102_001_b.yaml": {**FIRST, "version": "20250102_001"}}, "fork:"),
    ({"20250101_001_a.yaml": {**FIRST, "depends_on": "20240101_001"}}, "is not a known version"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [{"explode": {"name": "docs"}}]}}, "unknown operation 'explode'"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [{"create_collection": {"name": "docs", "template": "nope"}}]}},
     "unknown collection template 'nope'"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [{"create_collection": {"name": 'x"; DROP TABLE y; --',
                                                                             "template": "document"}}]}},
     "collection"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [{"drop_collection": {"name": "ghost"}}]}},
     "collection 'ghost' does not exist"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [
        {"create_collection": {"name": "docs", "template": "document"}},
        {"create_collection": {"name": "docs", "template": "image"}}]}}, "already exists"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [
        {"create_collection": {"name": "docs", "schema": {"fields": [{"name": "id", "type": "int64", "primary": True},
                                                                     {"name": "v", "type": "float_vector"}],
                                                          "index": "hnsw_cosine"}}}]}}, "dim"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [
        {"create_collection": {"name": "docs", "template": "document"}},
        {"add_field": {"collection": "docs", "field": {"name": "lang", "type": "varchar", "max_length": 8}}}]}},
     "missing 'default'"),
    ({"20250101_001_a.yaml": {**FIRST, "operations": [
        {"create_collection": {"name": "docs", "template": "document"}},
        {"rebuild": {"collection": "docs"}}]}}, "nothing to rebuild"),
    ({"20250101_001_a.yaml": {**FIRST, "surprise": 1}}, "unknown key 'surprise'"),
])
def test_bad_migration_files(tmp_path: Path, files: dict, message: str) -> None:
    for name, body in files.items():
        _write(tmp_path / "v", name, body)
    with pytest.raises(MigrationError, match=message.replace("(", r"\(")) as info:
        load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    assert "\n" not in str(info.value)


def test_dropping_data_needs_a_downgrade_block(tmp_path: Path) -> None:
    _write(tmp_path / "v", "20250101_001_a.yaml", FIRST)
    _write(tmp_path / "v", "20250102_001_b.yaml", {"version": "20250102_001", "description": "drop",
                                                   "depends_on": "20250101_001",
                                                   "operations": [{"drop_collection": {"name": "docs"}}]})
    # Refused when the file loads (issue 13.18), not at downgrade time when the data is gone.
    with pytest.raises(MigrationError, match=r"20250102_001_b.yaml: operations\[0\] drop_collection has no safe inverse"):
        load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    _write(tmp_path / "v", "20250102_001_b.yaml", {"version": "20250102_001", "description": "drop",
                                                   "depends_on": "20250101_001", "irreversible": True,
                                                   "operations": [{"drop_collection": {"name": "docs"}}]})
    chain = load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    with pytest.raises(MigrationError, match="marked irreversible"):
        chain.migrations[1].downgrade(chain.state_after("20250101_001"))
    _write(tmp_path / "v", "20250102_001_b.yaml", {
        "version": "20250102_001", "description": "drop", "depends_on": "20250101_001",
        "operations": [{"drop_collection": {"name": "docs"}}],
        "downgrade": [{"create_collection": {"name": "docs", "template": "document"}}]})
    chain = load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    assert [op.kind for op in chain.migrations[1].downgrade(chain.state_after("20250101_001"))] == ["create_collection"]


def test_create_migration_writes_the_next_numbered_file(tmp_path: Path) -> None:
    shutil.copytree(DEFAULT_DIR, tmp_path / "v")
    chain = load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    assert next_version(chain, date(2025, 3, 1)) == "20250301_001"
    templates = load_templates(DEFAULT_TEMPLATES)
    path = write_migration(tmp_path / "v", chain, templates, "Add chunks!", ["chunk"], date(2025, 3, 1))
    assert path.name == "20250301_001_add_chunks.yaml"
    chain = load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES))
    assert chain.latest == "20250301_001" and "chunk" in chain.states[-1].collections
    assert next_version(chain, date(2025, 3, 1)) == "20250301_002"
    empty = write_migration(tmp_path / "v", chain, templates, "tweak", [], date(2025, 3, 1))
    assert load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)).latest == "20250301_002" and empty.is_file()
    with pytest.raises(MigrationError, match="already exists"):
        write_migration(tmp_path / "v", load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)), templates, "again", ["chunk"], date(2025, 3, 2))
    with pytest.raises(MigrationError, match="dated after today"):
        next_version(load_chain(tmp_path / "v", load_templates(DEFAULT_TEMPLATES)), date(2025, 1, 1))
