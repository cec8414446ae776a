"""Collection templates: the shipped file, rendering for each store, and bad templates that must
be refused with file, line and key path. Pure: no server needed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from migctl.core.config import PROJECT_ROOT
from migctl.core.errors import UsageError
from migctl.core.vector.render import (
    pgvector_column_type,
    pgvector_index_name,
    pgvector_index_sql,
    pgvector_opclass,
    render_milvus,
    render_pgvector_ddl,
)
from migctl.core.vector.templates import (
    DEFAULT_TEMPLATES,
    CollectionSpec,
    FieldSpec,
    IndexSpec,
    TemplateSet,
    load_templates,
    parse_collection,
    validate_for_store,
)
from migctl.core.vector.yaml_source import TemplateError, read_yaml

MARK = "# <-"  # the line a case's error must point at
INJECTION = 'x"; DROP TABLE y; --'

PRELUDE = """\
base_configs:
  default: {consistency_level: Strong}
field_templates:
  pk: {type: int64, primary: true}
  text: {type: varchar, max_length: 1000}
  vec: {type: float_vector, dim: 8}
index_templates:
  hnsw: {index_type: HNSW, metric: COSINE, params: {M: 16, efConstruction: 200}}
  auto: {index_type: AUTOINDEX, metric: COSINE}
collection_templates:
"""
OK = ("{ref: pk, name: id}", "{ref: vec, name: embedding}")


def collection(*fields: str, index: str = "index: hnsw", extra: str = "", fields_key: str = "fields:") -> str:
    """A templates file with one collection ``doc``; ``extra`` lines go before its fields."""
    body = "\n".join(f"      - {f}" for f in fields)
    return PRELUDE + f"  doc:\n{extra}    {fields_key}\n{body}\n    {index}\n"


def marked_line(text: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if MARK in line)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "templates.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped file -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> TemplateSet:
    return load_templates(DEFAULT_TEMPLATES)


def test_shipped_templates_load(shipped: TemplateSet) -> None:
    assert DEFAULT_TEMPLATES == PROJECT_ROOT / "vector_migrations" / "templates.yaml"
    assert set(shipped.collections) == {"document", "image", "chunk"}
    assert {n: s.dim for n, s in shipped.collections.items()} == {"document": 768, "image": 512, "chunk": 768}
    for spec in shipped.collections.values():
        assert spec.primary.name == "id" and spec.primary.type == "int64"
        assert spec.vector_field.name == spec.index.field == "embedding"
        for store in ("milvus", "pgvector"):
            validate_for_store(spec, store)
    document = shipped.collection("document")
    assert [f.name for f in document.fields] == ["id", "embedding", "text", "metadata", "created_at", "updated_at"]
    assert (document.index.index_type, document.index.metric) == ("HNSW", "COSINE")
    assert document.index.params_dict == {"M": 16, "efConstruction": 64}
    chunk = shipped.collection("chunk")
    assert {f.name: f.type for f in chunk.fields}["chunk_index"] == "int32"
    assert (chunk.index.index_type, chunk.consistency_level) == ("IVF_FLAT", "Bounded")


def test_document_pgvector_ddl(shipped: TemplateSet) -> None:
    ddl = render_pgvector_ddl(shipped.collection("document"))
    assert 'CREATE TABLE "document" (' in ddl
    assert '"id" bigint PRIMARY KEY' in ddl
    assert '"embedding" vector(768)' in ddl
    assert '"text" varchar(65535) NOT NULL' in ddl and '"metadata" jsonb NOT NULL' in ddl
    assert 'USING hnsw ("embedding" vector_cosine_ops) WITH (m = 16, ef_construction = 64)' in ddl


def test_other_shipped_ddl(shipped: TemplateSet) -> None:
    image = render_pgvector_ddl(shipped.collection("image"))
    assert '"embedding" vector(512)' in image and "vector_ip_ops) WITH (m = 16, ef_construction = 64)" in image
    chunk = render_pgvector_ddl(shipped.collection("chunk"))
    assert 'USING ivfflat ("embedding" vector_l2_ops) WITH (lists = 128);' in chunk
    assert '"score" double precision NOT NULL' in chunk and '"is_active" boolean NOT NULL' in chunk


def test_render_milvus(shipped: TemplateSet) -> None:
    text = render_milvus(shipped.collection("document"))
    embedding = next(line for line in text.splitlines() if line.strip().startswith("embedding"))
    assert "FLOAT_VECTOR" in embedding and "dim=768" in embedding
    assert "primary key" in next(line for line in text.splitlines() if line.strip().startswith("id "))
    assert "index on embedding: HNSW, metric COSINE, params M=16, efConstruction=64" in text


def test_as_dict_is_canonical_and_defaults_are_filled(shipped: TemplateSet) -> None:
    document = shipped.collection("document")
    data = document.as_dict()
    assert json.loads(json.dumps(data, sort_keys=True)) == data
    inline = dict(data, index={"index_type": "hnsw", "metric": "cosine"})  # defaults, any case
    inline["fields"] = [dict(f) for f in data["fields"]]
    again = parse_collection(inline, sections=shipped.sections, file="m.yaml", where="schema")
    assert again == document and hash(again) == hash(document) and again.as_dict() == data


def test_renamed_and_lookup(shipped: TemplateSet) -> None:
    assert shipped.collection("document").renamed("document_v2").name == "document_v2"
    with pytest.raises(TemplateError, match="not a plain identifier"):
        shipped.collection("document").renamed(INJECTION)
    with pytest.raises(TemplateError, match=r"unknown collection template 'nope' \(known: document, image, chunk\)"):
        shipped.collection("nope")


# --- bad templates: file, line and key path ---------------------------------------------------

BAD = [
    pytest.param(PRELUDE.replace("collection_templates:", f"colection_templates:  {MARK}"),
                 "colection_templates", "unknown section 'colection_templates'", id="unknown-section"),
    pytest.param(collection(*OK, f"ref: txet  {MARK}"),
                 "collection_templates.doc.fields[2]", "unknown field template 'txet' (known: pk, text, vec)",
                 id="unknown-field-ref"),
    pytest.param(collection(*OK, f"name: body\n        ref: txet  {MARK}"),
                 "collection_templates.doc.fields[2]", "unknown field template 'txet'", id="unknown-field-ref-block"),
    pytest.param(collection(*OK, index=f"index: hnws  {MARK}"),
                 "collection_templates.doc.index", "unknown index template 'hnws'", id="unknown-index-ref"),
    pytest.param(collection(*OK, extra=f"    base: defualt  {MARK}\n"),
                 "collection_templates.doc.base", "unknown base config 'defualt' (known: default)", id="unknown-base"),
    pytest.param(collection(*OK, f"{{name: title, type: strnig}}  {MARK}"),
                 "collection_templates.doc.fields[2].type", "unknown field type 'strnig'", id="unknown-type"),
    pytest.param(PRELUDE.replace("  text: {type: varchar, max_length: 1000}", f"  text: {{type: txt, max_length: 1000}}  {MARK}"),
                 "field_templates.text.type", "unknown field type 'txt'", id="unknown-type-in-field-template"),
    pytest.param(collection("{ref: pk, name: id}", f"{{name: embedding, type: float_vector}}  {MARK}"),
                 "collection_templates.doc.fields[1]", "float_vector field 'embedding' needs 'dim'", id="missing-dim"),
    pytest.param(collection(*OK, f"{{name: title, type: varchar}}  {MARK}"),
                 "collection_templates.doc.fields[2]", "varchar field 'title' needs 'max_length'",
                 id="missing-max-length"),
    pytest.param(collection(*OK, "ref: text", f"{{ref: text}}  {MARK}"),
                 "collection_templates.doc.fields[3].name", "duplicate field name 'text' (also fields[2])",
                 id="duplicate-field"),
    pytest.param(collection(*OK, "{name: other_id, type: int64, primary: true}", fields_key=f"fields:  {MARK}"),
                 "collection_templates.doc.fields", "expected exactly one primary key, found 2 (id, other_id)",
                 id="two-primary-keys"),
    pytest.param(collection("{ref: vec, name: embedding}", "ref: text", fields_key=f"fields:  {MARK}"),
                 "collection_templates.doc.fields", "expected exactly one primary key, found 0", id="no-primary-key"),
    pytest.param(collection("{ref: pk, name: id}", "ref: text", fields_key=f"fields:  {MARK}"),
                 "collection_templates.doc.fields", "no float_vector field to index", id="no-vector-field"),
    pytest.param(collection(*OK, "{ref: vec, name: other}", fields_key=f"fields:  {MARK}"),
                 "collection_templates.doc.fields", "more than one float_vector field (embedding, other)",
                 id="two-vector-fields"),
    pytest.param(collection(*OK, "ref: text", extra=f"    index_field: text  {MARK}\n"),
                 "collection_templates.doc.index_field", "index on non-vector field 'text' (varchar)",
                 id="index-on-non-vector"),
    pytest.param(collection(*OK, extra=f"    index_field: embeding  {MARK}\n"),
                 "collection_templates.doc.index_field", "unknown field 'embeding' (fields: id, embedding)",
                 id="index-field-unknown"),
    pytest.param(collection(*OK, index=f"index: {{index_type: HSNW, metric: COSINE}}  {MARK}"),
                 "collection_templates.doc.index.index_type", "unknown index type 'HSNW'", id="unknown-index-type"),
    pytest.param(collection(*OK, index=f"index: {{ref: hnsw, metric: DOT}}  {MARK}"),
                 "collection_templates.doc.index.metric", "unknown metric 'DOT' (expected COSINE, L2, IP)",
                 id="unknown-metric"),
    pytest.param(PRELUDE + f"  '{INJECTION}':  {MARK}\n    fields: [{{ref: pk}}, {{ref: vec}}]\n    index: hnsw\n",
                 f"collection_templates[{INJECTION!r}]", f"collection name {INJECTION!r} is not a plain identifier",
                 id="collection-name-injection"),
    pytest.param(collection(*OK, f"{{ref: text, name: '{INJECTION}'}}  {MARK}"),
                 "collection_templates.doc.fields[2].name", f"name {INJECTION!r} is not a plain identifier",
                 id="field-name-injection"),
    pytest.param(collection(*OK, f'{{ref: text, name: "title\\n"}}  {MARK}'),
                 "collection_templates.doc.fields[2].name", "name 'title\\n' is not a plain identifier",
                 id="field-name-trailing-newline"),
    pytest.param(collection(*OK, f"{{ref: text, name: {'a' * 64}}}  {MARK}"),
                 "collection_templates.doc.fields[2].name", "is 64 characters long (at most 63)",
                 id="field-name-too-long"),
    pytest.param(PRELUDE.replace("params: {M: 16, efConstruction: 200}}", f"params: {{M: 1, efConstruction: 200}}}}  {MARK}"),
                 "index_templates.hnsw.params.M", "expected an integer from 2 to 100, got 1", id="hnsw-M-range"),
    pytest.param(collection(*OK, index=f"index: {{ref: hnsw, params: {{M: '16'}}}}  {MARK}"),
                 "collection_templates.doc.index.params.M", "expected an integer from 2 to 100, got '16'",
                 id="hnsw-M-not-int"),
    pytest.param(collection(*OK, index=f"index: {{ref: hnsw, params: {{efConstruction: 5000}}}}  {MARK}"),
                 "collection_templates.doc.index.params.efConstruction", "from 1 to 4096, got 5000",
                 id="hnsw-ef-range"),
    pytest.param(collection(*OK, index=f"index: {{index_type: IVF_FLAT, metric: L2, params: {{nlist: 0}}}}  {MARK}"),
                 "collection_templates.doc.index.params.nlist", "expected an integer from 1 to 65536, got 0",
                 id="ivf-nlist-range"),
    pytest.param(collection(*OK, index=f"index: {{ref: hnsw, index_type: IVF_FLAT}}  {MARK}"),
                 "collection_templates.doc.index",
                 "unknown parameter 'M' for IVF_FLAT (expected nlist) (from index template 'hnsw')",
                 id="template-param-wrong-for-overridden-type"),
    pytest.param(collection(*OK, f"{{name: v2, type: float_vector, dimm: 8}}  {MARK}"),
                 "collection_templates.doc.fields[2].dimm", "unknown key 'dimm'", id="unknown-field-key"),
    pytest.param(collection(*OK, f"{{name: n, type: int64, dim: 8}}  {MARK}"),
                 "collection_templates.doc.fields[2].dim", "'dim' only applies to float_vector fields, not int64",
                 id="dim-on-non-vector"),
    pytest.param(collection(*OK, extra=f"    consistency_level: Strongest  {MARK}\n"),
                 "collection_templates.doc.consistency_level", "unknown consistency level 'Strongest'",
                 id="unknown-consistency-level"),
    pytest.param(f"- just  {MARK}\n- a list\n", "", "expected a mapping with the sections", id="top-level-list"),
]


@pytest.mark.parametrize(("text", "where", "fragment"), BAD)
def test_bad_template_names_file_line_and_key(tmp_path: Path, text: str, where: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TemplateError) as info:
        load_templates(path)
    message = str(info.value)
    assert "\n" not in message
    prefix = f"{path} line {marked_line(text)}: " + (f"{where}: " if where else "")
    assert message.startswith(prefix), message
    assert fragment in message, message
    assert isinstance(info.value, UsageError) and info.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param(PRELUDE + f"  doc: {{fields: [}}  {MARK}\n", "expected", id="malformed"),
        pytest.param(PRELUDE.replace("  vec:", f"  text: {{type: json}}  {MARK}\n  vec:"),
                     "duplicate key 'text'", id="duplicate-yaml-key"),
    ],
)
def test_yaml_errors_name_line_and_column(tmp_path: Path, text: str, fragment: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(TemplateError, match=rf"^{path} line {marked_line(text)}, column \d+: .*{fragment}"):
        load_templates(path)


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    text = PRELUDE.replace("  default: {consistency_level: Strong}",
                           "  default: &d {consistency_level: Strong, description: shared}\n"
                           "  quick: {<<: *d, consistency_level: Eventually}")
    path = write(tmp_path, text + "  doc: {base: quick, fields: [{ref: pk}, {ref: vec}], index: hnsw}\n")
    spec = load_templates(path).collection("doc")
    assert (spec.consistency_level, spec.description) == ("Eventually", "shared")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match=r"nope\.yaml: file not found"):
        load_templates(tmp_path / "nope.yaml")


# --- inline schemas (migration files) ---------------------------------------------------------


def test_inline_schema_without_line_numbers(shipped: TemplateSet) -> None:
    data = {"name": "notes", "fields": [{"ref": "int64_pk", "name": "id"}, {"ref": "nope"}], "index": "hnsw_cosine"}
    with pytest.raises(TemplateError) as info:
        parse_collection(data, sections=shipped.sections, file="vector_migrations/0001_notes.yaml", where="create")
    assert str(info.value) == (
        "vector_migrations/0001_notes.yaml: create.fields[1]: unknown field template 'nope' "
        f"(known: {', '.join(shipped.sections['field_templates'])})"
    )


def test_inline_schema_read_with_line_numbers(tmp_path: Path, shipped: TemplateSet) -> None:
    text = (
        "operations:\n"
        "  - create_collection:\n"
        "      name: notes\n"
        "      fields:\n"
        "        - {ref: int64_pk, name: id}\n"
        "        - {ref: embedding_384, name: embedding}\n"
        f"        - {{name: body, type: varchar, max_length: 0}}  {MARK}\n"
        "      index: hnsw_cosine\n"
    )
    path = tmp_path / "0002_notes.yaml"
    path.write_text(text)
    schema = read_yaml(path)["operations"][0]["create_collection"]
    with pytest.raises(TemplateError) as info:
        parse_collection(schema, sections=shipped.sections, file="0002_notes.yaml", where="operations[0].create_collection")
    assert str(info.value) == (
        f"0002_notes.yaml line {marked_line(text)}: operations[0].create_collection.fields[2].max_length: "
        "expected an integer from 1 to 10485760, got 0"
    )
    fixed = dict(schema, fields=schema["fields"][:2])
    assert parse_collection(fixed, sections=shipped.sections, file="x", where="y").dim == 384


# --- store limits -----------------------------------------------------------------------------

STORE_LIMITS = [
    pytest.param(collection(*OK, index=f"index: auto  {MARK}"), "pgvector",
                 "collection_templates.doc.index.index_type", "pgvector does not support index type AUTOINDEX",
                 id="pgvector-autoindex"),
    pytest.param(collection("{ref: pk, name: id}", f"{{ref: vec, name: embedding, dim: 4096}}  {MARK}"), "pgvector",
                 "collection_templates.doc.fields[1].dim", "pgvector indexes (HNSW) at most 2000 dimensions, got 4096",
                 id="pgvector-indexed-dim"),
    pytest.param(collection("{ref: pk, name: id}", f"{{ref: vec, name: embedding, dim: 20000}}  {MARK}",
                            index="index: {index_type: FLAT, metric: L2}"), "pgvector",
                 "collection_templates.doc.fields[1].dim", "pgvector vectors have at most 16000 dimensions",
                 id="pgvector-dim"),
    pytest.param(collection(*OK, index=f"index: {{ref: hnsw, params: {{efConstruction: 31}}}}  {MARK}"), "pgvector",
                 "collection_templates.doc.index.params.efConstruction", "pgvector needs efConstruction from 32",
                 id="pgvector-ef-below-2M"),
    pytest.param(collection(*OK, index=f"index: {{index_type: IVF_FLAT, metric: IP, params: {{nlist: 40000}}}}  {MARK}"),
                 "pgvector", "collection_templates.doc.index.params.nlist", "pgvector allows nlist (lists) up to 32768",
                 id="pgvector-lists"),
    pytest.param(collection(f"{{name: id, type: int32, primary: true}}  {MARK}", "{ref: vec, name: embedding}"),
                 "milvus", "collection_templates.doc.fields[0].type", "milvus needs an int64 or varchar primary key",
                 id="milvus-int32-pk"),
    pytest.param(collection(*OK, f"{{ref: text, max_length: 70000}}  {MARK}"), "milvus",
                 "collection_templates.doc.fields[2].max_length", "milvus allows max_length up to 65535, got 70000",
                 id="milvus-varchar"),
]


@pytest.mark.parametrize(("text", "store", "where", "fragment"), STORE_LIMITS)
def test_store_limits_name_store_file_line_and_key(tmp_path: Path, text: str, store: str, where: str, fragment: str) -> None:
    path = write(tmp_path, text)
    spec = load_templates(path).collection("doc")  # fine for the other store
    validate_for_store(spec, "milvus" if store == "pgvector" else "pgvector")
    with pytest.raises(TemplateError) as info:
        validate_for_store(spec, store)
    message = str(info.value)
    assert message.startswith(f"{path} line {marked_line(text)}: {where}: "), message
    assert fragment in message
    renderer = render_pgvector_ddl if store == "pgvector" else render_milvus
    with pytest.raises(TemplateError):
        renderer(spec)


def test_flat_on_pgvector_is_an_exact_scan(tmp_path: Path) -> None:
    path = write(tmp_path, collection("{ref: pk, name: id}", "{ref: vec, name: embedding, dim: 4096}",
                                      index="index: {index_type: FLAT, metric: IP}"))
    ddl = render_pgvector_ddl(load_templates(path).collection("doc"))
    assert '"embedding" vector(4096) NOT NULL' in ddl
    assert "CREATE INDEX" not in ddl and "exact scan" in ddl


def test_unknown_store(shipped: TemplateSet) -> None:
    with pytest.raises(TemplateError, match="unknown vector store 'qdrant'"):
        validate_for_store(shipped.collection("document"), "qdrant")


# --- rendering never happens with an invalid name ---------------------------------------------

FIELDS = (FieldSpec("id", "int64", primary=True), FieldSpec("embedding", "float_vector", dim=8))
INDEX = IndexSpec("embedding", "HNSW", "COSINE", (("M", 16), ("efConstruction", 200)))
GOOD = CollectionSpec("docs", FIELDS, INDEX)
HAND_BUILT_BAD = [
    pytest.param(replace(GOOD, name=INJECTION), "name", id="collection-name"),
    pytest.param(replace(GOOD, fields=(FIELDS[0], replace(FIELDS[1], name=INJECTION))), "fields[1].name", id="field-name"),
    pytest.param(replace(GOOD, index=replace(INDEX, field=INJECTION)), "index.field", id="index-field"),
    pytest.param(replace(GOOD, name="a" * 64), "name", id="long-name"),
    pytest.param(replace(GOOD, fields=(replace(FIELDS[0], type="text"), FIELDS[1])), "fields[0].type", id="field-type"),
    pytest.param(replace(GOOD, index=replace(INDEX, params=(("M", 0),))), "index.params.M", id="params"),
]


@pytest.mark.parametrize("renderer", [render_pgvector_ddl, render_milvus])
@pytest.mark.parametrize(("spec", "key"), HAND_BUILT_BAD)
def test_renderers_refuse_hand_built_bad_specs(renderer: Callable[[CollectionSpec], str], spec: CollectionSpec, key: str) -> None:
    with pytest.raises(TemplateError, match=rf"^collection .*: {re.escape(key)}: "):
        renderer(spec)


def test_pgvector_pieces_refuse_bad_input() -> None:
    with pytest.raises(TemplateError, match="table name"):
        pgvector_index_sql(INJECTION, INDEX)
    with pytest.raises(TemplateError, match="does not support index type AUTOINDEX"):
        pgvector_index_sql("docs", replace(INDEX, index_type="AUTOINDEX", params=()))
    with pytest.raises(TemplateError, match="needs 'max_length'"):
        pgvector_column_type(FieldSpec("title", "varchar"))
    with pytest.raises(TemplateError, match="unknown metric 'DOT'"):
        pgvector_opclass("DOT")


def test_pgvector_pieces() -> None:
    assert [pgvector_opclass(m) for m in ("COSINE", "L2", "IP")] == ["vector_cosine_ops", "vector_l2_ops", "vector_ip_ops"]
    assert pgvector_column_type(FieldSpec("t", "varchar", max_length=12)) == "varchar(12)"
    assert pgvector_column_type(FieldSpec("x", "float")) == "real"
    assert pgvector_index_sql("docs", INDEX, concurrently=True) == (
        'CREATE INDEX CONCURRENTLY "docs_embedding_idx" ON "docs" USING hnsw ("embedding" vector_cosine_ops) '
        "WITH (m = 16, ef_construction = 200);"
    )
    long = pgvector_index_name("t" * 63, "embedding")
    assert len(long) == 63 and long == pgvector_index_name("t" * 63, "embedding") != pgvector_index_name("u" * 63, "embedding")


def test_descriptions_are_sql_literals() -> None:
    spec = replace(GOOD, description="it's \\ fine", fields=(replace(FIELDS[0], description="o'k"), FIELDS[1]))
    ddl = render_pgvector_ddl(spec)
    assert "COMMENT ON TABLE \"docs\" IS E'it''s \\\\ fine';" in ddl
    assert "COMMENT ON COLUMN \"docs\".\"id\" IS 'o''k';" in ddl


def test_templates_module_imports_no_ui() -> None:
    code = "import sys, migctl.core.vector.templates; assert not {'textual', 'migctl.tui'} & set(sys.modules)"
    subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, check=True)
