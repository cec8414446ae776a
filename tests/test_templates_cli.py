"""``migctl templates list | show`` through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support import reference_project, run_cli


def test_list_and_show(tmp_path: Path) -> None:
    reference_project(tmp_path)
    listed = json.loads(run_cli("templates", "list", "--json", cwd=tmp_path).out)
    assert {r["name"]: r["dim"] for r in listed} == {"document": 768, "image": 512, "chunk": 768}
    ddl = run_cli("templates", "show", "document", "--store", "pgvector", cwd=tmp_path).out
    assert '"embedding" vector(768) NOT NULL' in ddl
    assert 'USING hnsw ("embedding" vector_cosine_ops) WITH (m = 16, ef_construction = 64)' in ddl
    milvus = run_cli("templates", "show", "image", "--store", "milvus", cwd=tmp_path).out
    assert "FLOAT_VECTOR  dim=512" in milvus and "metric IP" in milvus


def test_bad_template_file_and_names(tmp_path: Path) -> None:
    reference_project(tmp_path)
    bad = tmp_path / "t.yaml"
    bad.write_text("collection_templates:\n  evil:\n    fields:\n      - {name: 'x\"; DROP TABLE y; --', type: int64, primary: true}\n")
    result = run_cli("templates", "show", "evil", "--store", "pgvector", "--file", str(bad), cwd=tmp_path)
    assert result.code == 2 and "DROP TABLE" not in result.out
    assert result.err.count("\n") == 1 and "line 4" in result.err
    unknown = run_cli("templates", "show", "nope", cwd=tmp_path)
    assert unknown.code == 2 and "unknown collection template 'nope'" in unknown.err
    autoindex = tmp_path / "a.yaml"
    autoindex.write_text(
        "collection_templates:\n  c:\n    fields:\n      - {name: id, type: int64, primary: true}\n"
        "      - {name: v, type: float_vector, dim: 8}\n    index: {index_type: AUTOINDEX, metric: COSINE}\n")
    result = run_cli("templates", "show", "c", "--store", "pgvector", "--file", str(autoindex), cwd=tmp_path)
    assert result.code == 2 and "AUTOINDEX" in result.err
    assert run_cli("templates", "show", "c", "--store", "milvus", "--file", str(autoindex), cwd=tmp_path).code == 0
