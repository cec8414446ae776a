"""What PostgreSQL's catalog says about a collection, and how migctl reads it back.

The pgvector store keeps no state of its own: a collection's fields, vector index and aliases
are whatever ``pg_catalog`` holds. This module is the read-back half of that mapping — the
catalog queries, the type/method/opclass/parameter maps from PostgreSQL's spellings to the
templates', and the pure functions turning catalog rows into :class:`FieldSpec` and
:class:`IndexSpec` and comparing them with what the templates want — together with the
identifier quoting and URL translation the store builds its SQL and connection from. Nothing
here touches a connection, so it can be read and tested without a server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from migctl.core.secrets import mask_url
from migctl.core.vector.stores.base import StoreError, StoreUnreachable
from migctl.core.vector.templates import (
    _PG_METHODS,
    _PG_OPCLASSES,
    _PG_PARAMS,
    _PG_TYPES,
    FieldSpec,
    IndexSpec,
    _name_problem,
)

ALIAS_COMMENT = "migctl alias"
# What pgvector builds when WITH (...) leaves a parameter out (not the templates' defaults).
_PG_DEFAULTS = {"HNSW": {"M": 16, "efConstruction": 64}, "IVF_FLAT": {"nlist": 100}}
_TYPES_BACK = {pg: ours for ours, pg in _PG_TYPES.items()}
_METHODS_BACK = {pg: ours for ours, pg in _PG_METHODS.items()}
_METRICS_BACK = {pg: ours for ours, pg in _PG_OPCLASSES.items()}
_PARAMS_BACK = {pg: ours for ours, pg in _PG_PARAMS.items()}
_SIZED = re.compile(r"^(?:character varying|(?:\w+\.)?vector)\((\d+)\)$")

_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS notnull,
       coalesce(a.attnum = ANY (pk.conkey), false) AS primary, pk.conname AS pk_name
FROM pg_class t
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_constraint pk ON pk.conrelid = t.oid AND pk.contype = 'p'
WHERE n.nspname = $1 AND t.relname = $2 AND t.relkind IN ('r', 'p')
ORDER BY a.attnum"""
_INDEXES = """
SELECT i.relname AS name, am.amname AS method, oc.opcname AS opclass, i.reloptions AS options,
       a.attname AS column, x.indisvalid AS valid
FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_am am ON am.oid = i.relam
JOIN pg_opclass oc ON oc.oid = x.indclass[0]
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = x.indkey[0]
WHERE n.nspname = $1 AND t.relname = $2 AND am.amname IN ('hnsw', 'ivfflat')
ORDER BY x.indisvalid DESC, i.relname"""
_COLLECTIONS = """
SELECT t.relname FROM pg_class t JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = $1 AND t.relkind IN ('r', 'p') AND NOT t.relispartition AND EXISTS (
    SELECT 1 FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
    WHERE a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped AND ty.typname = 'vector')
ORDER BY t.relname"""
_ALIASES = """
SELECT DISTINCT v.relname AS alias, t.relname AS target
FROM pg_class v
JOIN pg_namespace n ON n.oid = v.relnamespace
JOIN pg_rewrite r ON r.ev_class = v.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = r.oid
                AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid
JOIN pg_class t ON t.oid = d.refobjid AND t.relkind IN ('r', 'p') AND t.relnamespace = n.oid
WHERE n.nspname = $1 AND v.relkind = 'v' AND obj_description(v.oid, 'pg_class') = $2
ORDER BY 1"""


def _quote(name: str, what: str = "name") -> str:
    if problem := _name_problem(name):
        raise StoreError(f"refused {what}: {problem}")
    return f'"{name}"'


def asyncpg_dsn(url: str) -> tuple[str, dict[str, Any]]:
    """A SQLAlchemy-style URL as asyncpg's DSN plus keyword arguments (``sslmode`` -> ``ssl``)."""
    parts = urlsplit(url)
    if parts.scheme.split("+", 1)[0] not in ("postgresql", "postgres"):
        raise StoreUnreachable(f"not a PostgreSQL URL: {mask_url(url)}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    ssl = [v for k, v in query if k == "sslmode"]
    kwargs: dict[str, Any] = {"ssl": ssl[-1]} if ssl else {}
    rest = urlencode([(k, v) for k, v in query if k != "sslmode"])
    return urlunsplit(("postgresql", parts.netloc, parts.path, rest, parts.fragment)), kwargs


def field_from_column(name: str, pg_type: str, notnull: bool, primary: bool) -> FieldSpec:
    """A column read back as a field; an unknown type keeps PostgreSQL's spelling as ``type``."""
    size = _SIZED.match(pg_type)
    if size and pg_type.startswith("character varying"):
        return FieldSpec(name, "varchar", primary, max_length=int(size[1]), nullable=not notnull)
    if size:
        return FieldSpec(name, "float_vector", primary, dim=int(size[1]), nullable=not notnull)
    return FieldSpec(name, _TYPES_BACK.get(pg_type, pg_type), primary, nullable=not notnull)


def index_from_row(row: Any) -> IndexSpec:
    """An hnsw/ivfflat index read back as an IndexSpec with the templates' parameter names."""
    kind = _METHODS_BACK[row["method"]]
    params: dict[str, object] = dict(_PG_DEFAULTS[kind])
    for option in row["options"] or ():
        key, _, value = option.partition("=")
        if key in _PARAMS_BACK:
            params[_PARAMS_BACK[key]] = int(value) if value.isdigit() else value
    metric = _METRICS_BACK.get(row["opclass"], row["opclass"])
    return IndexSpec(row["column"], kind, metric, tuple(sorted(params.items())))


def as_built(index: IndexSpec) -> IndexSpec:
    """``index`` with the parameters it leaves out filled in as pgvector builds them."""
    params = {**_PG_DEFAULTS.get(index.index_type, {}), **index.params_dict}
    return replace(index, params=tuple(sorted(params.items())))


def field_difference(live: Sequence[FieldSpec], wanted: Sequence[FieldSpec]) -> str | None:
    """What differs between two field lists (descriptions and order ignored), or None."""
    have = {f.name: replace(f, description="") for f in live}
    want = {f.name: replace(f, description="") for f in wanted}
    problems = [f"missing columns {', '.join(n for n in want if n not in have)}"] if want.keys() - have.keys() else []
    if extra := [n for n in have if n not in want]:
        problems.append(f"extra columns {', '.join(extra)}")
    for n in (n for n in want if n in have and have[n] != want[n]):
        problems.append(f"column {n}: live {_brief(have[n])}, wanted {_brief(want[n])}")
    return "; ".join(problems) or None


def _brief(f: FieldSpec) -> str:
    size = f"({f.dim or f.max_length})" if f.dim or f.max_length else ""
    return f"{f.type}{size}{' primary' if f.primary else ''}{' nullable' if f.nullable else ''}"
