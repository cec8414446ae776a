"""What each store would build for a collection: pgvector DDL and a readable Milvus schema.

Every renderer validates again (a spec can be built by hand) and quotes every identifier, so
nothing reaches SQL or Milvus unvalidated.
"""

from __future__ import annotations

import hashlib
from typing import Any

from migctl.core.vector.templates import (
    _PG_METHODS,
    _PG_OPCLASSES,
    _PG_PARAMS,
    _PG_TYPES,
    INDEX_PARAMS,
    MAX_NAME,
    METRICS,
    MILVUS_TYPES,
    CollectionSpec,
    FieldSpec,
    IndexSpec,
    _field_problem,
    _index_problem,
    _name_problem,
    _pg_params_problem,
    validate_for_store,
)
from migctl.core.vector.yaml_source import TemplateError, _path


def _quote(name: str) -> str:
    if _name_problem(name):  # unreachable after validation; the last line of defence
        raise TemplateError(f"refusing to render identifier {name!r}")
    return f'"{name}"'


def _literal(text: str) -> str:
    """A SQL string literal that is safe whatever ``standard_conforming_strings`` says."""
    if "\\" in text:
        return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
    return "'" + text.replace("'", "''") + "'"


def pgvector_column_type(f: FieldSpec) -> str:
    """The PostgreSQL column type of a field (``vector(768)``, ``varchar(512)``, ``jsonb``...)."""
    if problem := _field_problem(f):
        raise TemplateError(f"field {_path('', f.name, *problem[0])}: {problem[1]}")
    if f.type == "float_vector":
        return f"vector({f.dim})"
    if f.type == "varchar":
        return f"varchar({f.max_length})"
    return _PG_TYPES[f.type]


def pgvector_opclass(metric: str) -> str:
    """The operator class that makes a pgvector index answer queries with ``metric``."""
    if metric not in _PG_OPCLASSES:
        raise TemplateError(f"unknown metric {metric!r} (expected {', '.join(METRICS)})")
    return _PG_OPCLASSES[metric]


def pgvector_index_name(table: str, column: str) -> str:
    """``<table>_<column>_idx``, shortened with a hash when PostgreSQL would truncate it."""
    name = f"{table}_{column}_idx"
    if len(name) > MAX_NAME:
        name = f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"
    return name


def pgvector_index_sql(table: str, index: IndexSpec, *, concurrently: bool = False) -> str:
    """``CREATE INDEX`` for the vector index; a comment for FLAT, which pgvector does by scanning.

    Big indexes should be built ``concurrently`` (inside an autocommit block) by the caller.
    """
    if problem := _name_problem(table):
        raise TemplateError(f"table {problem}")
    problem = _index_problem(index)
    if problem is None and (pg := _pg_params_problem(index)):
        problem = ("params", pg[0]), pg[1]
    if problem:
        raise TemplateError(f"index {_path(table, *problem[0])}: {problem[1]}")
    column = _quote(index.field)
    if index.index_type == "FLAT":
        return f"-- FLAT on {_quote(table)}.{column}: pgvector searches by exact scan; no index is built"
    if index.index_type not in _PG_METHODS:
        raise TemplateError(f"pgvector does not support index type {index.index_type} (use HNSW, IVF_FLAT or FLAT)")
    params = index.params_dict
    order = INDEX_PARAMS[index.index_type]
    with_ = ", ".join(f"{_PG_PARAMS[k]} = {params[k]}" for k in order if k in params)
    return (f"CREATE INDEX{' CONCURRENTLY' if concurrently else ''} {_quote(pgvector_index_name(table, index.field))} "
            f"ON {_quote(table)} USING {_PG_METHODS[index.index_type]} ({column} {pgvector_opclass(index.metric)})"
            + (f" WITH ({with_})" if with_ else "") + ";")


def render_pgvector_ddl(spec: CollectionSpec) -> str:
    """The table and index pgvector would hold for ``spec`` (the extension itself is the store's job)."""
    validate_for_store(spec, "pgvector")
    table = _quote(spec.name)
    columns = []
    for f in spec.fields:
        constraint = " PRIMARY KEY" if f.primary else "" if f.nullable else " NOT NULL"
        columns.append(f"    {_quote(f.name)} {pgvector_column_type(f)}{constraint}")
    statements = [f"CREATE TABLE {table} (\n" + ",\n".join(columns) + "\n);", pgvector_index_sql(spec.name, spec.index)]
    if spec.description:
        statements.append(f"COMMENT ON TABLE {table} IS {_literal(spec.description)};")
    statements += [f"COMMENT ON COLUMN {table}.{_quote(f.name)} IS {_literal(f.description)};"
                   for f in spec.fields if f.description]
    return "\n".join(statements) + "\n"


def milvus_index_params(index: IndexSpec) -> dict[str, Any]:
    """The keyword arguments of pymilvus ``IndexParams.add_index`` for this index."""
    return {"field_name": index.field, "index_type": index.index_type, "metric_type": index.metric,
            "params": index.params_dict}


def render_milvus(spec: CollectionSpec) -> str:
    """A human-readable Milvus schema: what a plan shows before the collection is created."""
    validate_for_store(spec, "milvus")
    width = max(len(f.name) for f in spec.fields)
    lines = [f"collection {spec.name} (consistency {spec.consistency_level})"]
    if spec.description:
        lines.append(f"  description: {spec.description}")
    lines.append("  fields:")
    for f in spec.fields:
        attrs = ["primary key" if f.primary else "", f"dim={f.dim}" if f.dim else "",
                 f"max_length={f.max_length}" if f.max_length else "", "nullable" if f.nullable else "",
                 f"# {f.description}" if f.description else ""]
        lines.append(f"    {f.name:<{width}}  {MILVUS_TYPES[f.type]:<12}  {' '.join(a for a in attrs if a)}".rstrip())
    idx = spec.index
    params = ", ".join(f"{k}={v}" for k, v in idx.params) or "none"
    lines.append(f"  index on {idx.field}: {idx.index_type}, metric {idx.metric}, params {params}")
    return "\n".join(lines) + "\n"
