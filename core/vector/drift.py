"""Comparing what a collection should be with what the store holds (pure functions)."""

from __future__ import annotations

from migctl.core.vector.stores.base import LiveCollection
from migctl.core.vector.templates import CollectionSpec, FieldSpec, IndexSpec


def _field_key(f: FieldSpec) -> tuple[object, ...]:
    return (f.type, f.dim, f.max_length if f.type == "varchar" else None, f.primary)


def _index_key(index: IndexSpec | None) -> tuple[object, ...] | None:
    if index is None or index.index_type == "FLAT":
        return None  # pgvector records FLAT as "no index"; Milvus FLAT compares by type below
    return (index.field, index.index_type, index.metric, tuple(sorted(index.params)))


def differences(spec: CollectionSpec, live: LiveCollection | None, *, store: str) -> list[str]:
    """What differs between the declared ``spec`` and the ``live`` collection, one line each."""
    if live is None:
        return [f"collection {spec.name} is missing"]
    out: list[str] = []
    declared = {f.name: f for f in spec.fields}
    actual = {f.name: f for f in live.fields}
    for name in declared.keys() - actual.keys():
        out.append(f"{spec.name}.{name}: field missing")
    for name in actual.keys() - declared.keys():
        out.append(f"{spec.name}.{name}: field not declared")
    for name in declared.keys() & actual.keys():
        d, a = declared[name], actual[name]
        if _field_key(d) != _field_key(a):
            if d.dim != a.dim:
                out.append(f"{spec.name}.{name}: dimension {a.dim}, declared {d.dim}")
            else:
                out.append(f"{spec.name}.{name}: {a.type}{f'({a.max_length})' if a.max_length else ''}"
                           f"{' primary' if a.primary else ''}, declared {d.type}"
                           f"{f'({d.max_length})' if d.max_length else ''}{' primary' if d.primary else ''}")
    want = spec.index
    have = live.index
    if store == "milvus" and want is not None and want.index_type == "FLAT":
        if have is None or have.index_type != "FLAT" or have.metric != want.metric:
            out.append(f"{spec.name}: index {_describe(have)}, declared {_describe(want)}")
    elif _index_key(want) != _index_key(have):
        out.append(f"{spec.name}: index {_describe(have)}, declared {_describe(want)}")
    return sorted(out)


def _describe(index: IndexSpec | None) -> str:
    if index is None:
        return "none"
    params = ",".join(f"{k}={v}" for k, v in index.params)
    return f"{index.index_type} {index.metric}{f' ({params})' if params else ''} on {index.field}"


def matches(spec: CollectionSpec, live: LiveCollection | None, *, store: str) -> bool:
    return not differences(spec, live, store=store)
