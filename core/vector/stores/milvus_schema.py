"""How migctl's specs translate to Milvus schemas and back, and what each server version can do.

Pure functions, apart from importing pymilvus for its type names and schema builders: none needs
a live client, so :mod:`core.vector.stores.milvus` keeps the connection and the calls, and this
module keeps the translation that can be read (and tested) without a server.
"""

from __future__ import annotations

import json
import re
from typing import Any

from migctl.core.vector.render import milvus_index_params
from migctl.core.vector.stores.base import Capabilities, LiveCollection
from migctl.core.vector.templates import INDEX_PARAMS, CollectionSpec, FieldSpec, IndexSpec

UNKNOWN = Capabilities(add_field=False, drop_field=False, rename_collection=False, truncate=False,
                       partitions=False, partition_load=False)


def data_types() -> dict[str, Any]:
    from pymilvus import DataType

    return {"int64": DataType.INT64, "int32": DataType.INT32, "float": DataType.FLOAT,
            "double": DataType.DOUBLE, "bool": DataType.BOOL, "varchar": DataType.VARCHAR,
            "json": DataType.JSON, "float_vector": DataType.FLOAT_VECTOR}


def is_lite_path(uri: str) -> bool:
    """pymilvus's own rule: a ``.db`` path (not a URL) opens Milvus Lite in this process."""
    return uri.endswith(".db") and "://" not in uri


def parse_server_version(text: str, lite: bool = False) -> tuple[str, tuple[int, ...]]:
    """``("milvus-lite", (3, 2, 2))`` or ``("milvus", (2, 3, 5))`` from ``get_server_version``.

    Milvus Lite 3 answers ``milvus_lite-3.2.2``; the server of the ``milvus`` wheel answers
    ``v2.3.5-lite`` although it is a full Milvus standalone.
    """
    server = "milvus-lite" if lite or text.lower().startswith(("milvus_lite", "milvus-lite")) else "milvus"
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    return server, tuple(int(g) for g in match.groups() if g is not None) if match else ()


def capabilities_for(server: str, version: tuple[int, ...]) -> Capabilities:
    """What each server changes in place. Lite: rename and truncate yes, field changes and
    partition-level load no. Servers: add field from 2.6, truncate from 2.6, rename from 2.2."""
    if server == "milvus-lite":
        return Capabilities(add_field=False, drop_field=False, rename_collection=True, truncate=True,
                            partitions=True, partition_load=False)
    return Capabilities(add_field=version >= (2, 6), drop_field=False, rename_collection=version >= (2, 2),
                        truncate=version >= (2, 6), partitions=True, partition_load=True)


def supports_nullable(server: str, version: tuple[int, ...]) -> bool:
    """Milvus has nullable fields from 2.5 (2.3 silently ignores the flag); Lite 3 has them."""
    return server == "milvus-lite" or version >= (2, 5)


def _field_key(f: FieldSpec) -> tuple[Any, ...]:
    return f.type, f.primary, f.max_length, f.dim, f.nullable


def schema_difference(spec: CollectionSpec, live: LiveCollection) -> str | None:
    """What makes ``live`` another schema than ``spec`` (descriptions and field order aside,
    Milvus Lite keeps no descriptions); ``None`` when they are the same."""
    want, have = {f.name: f for f in spec.fields}, {f.name: f for f in live.fields}
    problems = [f"missing field {n}" for n in want if n not in have]
    problems += [f"unexpected field {n}" for n in have if n not in want]
    for name in (n for n in want if n in have):
        w, h = want[name], have[name]
        for attr, a, b in zip(("type", "primary", "max_length", "dim", "nullable"), _field_key(w), _field_key(h), strict=True):
            if a != b:
                problems.append(f"field {name} {attr} is {b!r}, expected {a!r}")
    if live.index is not None and live.index != spec.index:
        problems.append(f"index is {index_text(live.index)}, expected {index_text(spec.index)}")
    return "; ".join(problems) or None


def index_text(index: IndexSpec) -> str:
    params = ",".join(f"{k}={v}" for k, v in index.params)
    return f"{index.index_type}/{index.metric} on {index.field}" + (f" ({params})" if params else "")


def field_from_milvus(raw: dict[str, Any]) -> FieldSpec:
    by_type = {v: k for k, v in data_types().items()}
    dtype, params = raw["type"], raw.get("params") or {}
    kind = by_type.get(dtype, str(getattr(dtype, "name", dtype)).lower())
    return FieldSpec(name=raw["name"], type=kind, primary=bool(raw.get("is_primary")),
                     max_length=int(params["max_length"]) if kind == "varchar" and "max_length" in params else None,
                     dim=int(params["dim"]) if kind == "float_vector" and "dim" in params else None,
                     nullable=bool(raw.get("nullable")), description=raw.get("description") or "")


def index_from_milvus(raw: dict[str, Any]) -> IndexSpec:
    """Servers return build parameters flat as strings, or nested under ``params``; either way
    they come back as ints under the templates' names."""
    values = dict(raw)
    nested = raw.get("params")
    if isinstance(nested, str):
        nested = json.loads(nested or "{}")
    if isinstance(nested, dict):
        values.update(nested)
    names = INDEX_PARAMS.get(raw["index_type"], {})
    params = tuple(sorted((k, int(values[k])) for k in names if k in values))
    return IndexSpec(raw["field_name"], raw["index_type"], raw["metric_type"], params)


def index_params(index: IndexSpec) -> Any:
    from pymilvus import MilvusClient

    kwargs = milvus_index_params(index)
    build = kwargs.pop("params")
    params = MilvusClient.prepare_index_params()
    params.add_index(**kwargs, **({"params": {"params": build}} if build else {}))
    return params


def collection_schema(spec: CollectionSpec) -> Any:
    """The pymilvus schema of ``spec``: keys given by the caller, no dynamic fields."""
    from pymilvus import MilvusClient

    types = data_types()
    schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False, description=spec.description)
    for f in spec.fields:
        extra: dict[str, Any] = {"max_length": f.max_length} if f.type == "varchar" else {}
        extra |= {"dim": f.dim} if f.type == "float_vector" else {}
        extra |= {"nullable": True} if f.nullable else {}
        schema.add_field(f.name, types[f.type], is_primary=f.primary, description=f.description, **extra)
    return schema
