"""Collection templates: reusable fields, indexes and collections for the vector stores.

``vector_migrations/templates.yaml`` describes collections once, independent of the store; this
module turns it into frozen :class:`CollectionSpec` values, checks them against what Milvus and
pgvector accept, and renders what each store would build. Nothing here touches a database.

Every problem is a :class:`TemplateError` whose one-line message names the file, the line and
the key path (``templates.yaml line 42: collection_templates.document.fields[3]: ...``), so an
operator can fix the file without reading a traceback. Names are checked to be plain
identifiers before anything is rendered, and every renderer checks again, because a spec can
also be built by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from migctl.core.config import PROJECT_ROOT
from migctl.core.vector.yaml_source import (
    IDENTIFIER,
    Origin,
    Parts,
    TemplateError,
    _Map,
    _path,
    display_path,
    read_yaml,
)

FIELD_TYPES = ("int64", "int32", "float", "double", "bool", "varchar", "json", "float_vector")
INDEX_TYPES = ("HNSW", "IVF_FLAT", "FLAT", "AUTOINDEX")
METRICS = ("COSINE", "L2", "IP")
CONSISTENCY_LEVELS = ("Strong", "Bounded", "Session", "Eventually")
STORES = ("milvus", "pgvector")
SECTIONS = ("base_configs", "field_templates", "index_templates", "collection_templates")
MAX_NAME = 63  # PostgreSQL truncates longer identifiers silently
# The reference project's templates (tests and `init-project --example`); never a default.
DEFAULT_TEMPLATES = PROJECT_ROOT / "vector_migrations" / "templates.yaml"

# Build parameters per index type: name -> (min, max, default). Defaults are filled in when a
# template leaves them out, so two specs that build the same index compare (and hash) equal.
INDEX_PARAMS: dict[str, dict[str, tuple[int, int, int]]] = {
    "HNSW": {"M": (2, 100, 16), "efConstruction": (1, 4096, 64)},  # pgvector's default
    "IVF_FLAT": {"nlist": (1, 65536, 128)},
    "FLAT": {},
    "AUTOINDEX": {},
}
MILVUS_TYPES = {t: t.upper() for t in FIELD_TYPES}
MILVUS_MAX_DIM, MILVUS_MAX_VARCHAR = 32768, 65535
PG_MAX_DIM, PG_MAX_INDEXED_DIM, PG_MAX_VARCHAR, PG_MAX_LISTS = 16000, 2000, 10485760, 32768
_PG_TYPES = {"int64": "bigint", "int32": "integer", "float": "real", "double": "double precision",
             "bool": "boolean", "json": "jsonb"}
_PG_OPCLASSES = {"COSINE": "vector_cosine_ops", "L2": "vector_l2_ops", "IP": "vector_ip_ops"}
_PG_METHODS = {"HNSW": "hnsw", "IVF_FLAT": "ivfflat"}
_PG_PARAMS = {"M": "m", "efConstruction": "ef_construction", "nlist": "lists"}

_FIELD_KEYS = ("name", "type", "primary", "max_length", "dim", "nullable", "description")
_INDEX_KEYS = ("index_type", "metric", "params")
_BASE_KEYS = ("consistency_level", "description")
_COLLECTION_KEYS = ("name", "base", "description", "consistency_level", "fields", "index",
                    "index_field")

Problem = tuple[Parts, str]


# --- the specs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One field of a collection (a column on pgvector)."""

    name: str
    type: str
    primary: bool = False
    max_length: int | None = None
    dim: int | None = None
    nullable: bool = False
    description: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Canonical form; defaults are left out so a new optional attribute keeps old hashes."""
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        for key in ("primary", "max_length", "dim", "nullable", "description"):
            if (value := getattr(self, key)) not in (None, False, ""):
                out[key] = value
        return out


@dataclass(frozen=True)
class IndexSpec:
    """The vector index: type, metric and build parameters (sorted pairs, so it hashes)."""

    field: str
    index_type: str
    metric: str
    params: tuple[tuple[str, object], ...] = ()

    @property
    def params_dict(self) -> dict[str, object]:
        return dict(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "index_type": self.index_type, "metric": self.metric,
                "params": self.params_dict}


@dataclass(frozen=True)
class CollectionSpec:
    """A whole collection, independent of the store; ``origin`` only serves error messages."""

    name: str
    fields: tuple[FieldSpec, ...]
    index: IndexSpec
    description: str = ""
    consistency_level: str = "Strong"
    origin: Origin | None = field(default=None, compare=False, repr=False)

    @property
    def primary(self) -> FieldSpec:
        keys = [f for f in self.fields if f.primary]
        if len(keys) != 1:
            raise TemplateError(f"collection {self.name!r}: expected exactly one primary key, found {len(keys)}")
        return keys[0]

    @property
    def vector_field(self) -> FieldSpec:
        for f in self.fields:
            if f.name == self.index.field:
                return f
        raise TemplateError(f"collection {self.name!r}: index on unknown field {self.index.field!r}")

    @property
    def dim(self) -> int:
        return int(self.vector_field.dim or 0)

    def as_dict(self) -> dict[str, Any]:
        """Canonical, JSON-able form; what migration checksums and drift checks hash."""
        out: dict[str, Any] = {"name": self.name, "consistency_level": self.consistency_level,
                               "fields": [f.as_dict() for f in self.fields], "index": self.index.as_dict()}
        if self.description:
            out["description"] = self.description
        return out

    def renamed(self, name: str) -> CollectionSpec:
        """The same schema under another name (a versioned or shadow collection)."""
        if problem := _name_problem(name):
            raise TemplateError(f"collection {problem}")
        return replace(self, name=name)


@dataclass(frozen=True)
class TemplateSet:
    """One templates file: its resolved collections, and the raw sections that inline schemas
    in migration files may reference (pass ``sections`` to :func:`parse_collection`)."""

    path: Path
    collections: dict[str, CollectionSpec]
    sections: dict[str, dict[str, Any]]

    def collection(self, name: str) -> CollectionSpec:
        if name not in self.collections:
            raise TemplateError(f"{display_path(self.path)}: unknown collection template {name!r}{_known(self.collections)}")
        return self.collections[name]


# --- rules: each returns what is wrong, or None ---------------------------------------------


def _known(names: Mapping[str, Any]) -> str:
    return f" (known: {', '.join(map(str, names))})" if names else " (none defined)"


def _unknown_key(key: Any, allowed: tuple[str, ...]) -> str:
    return f"unknown key {key!r} (expected {', '.join(allowed)})"


def _name_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        return f"name {value!r} is not a plain identifier (letters, digits and _, not starting with a digit)"
    if len(value) > MAX_NAME:
        return f"name {value!r} is {len(value)} characters long (at most {MAX_NAME})"
    return None


def _int_problem(value: Any, low: int, high: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return f"expected an integer from {low} to {high}, got {value!r}"
    return None


def _normalize(key: str, value: Any) -> Any:
    """Accept any case for enumerations; specs always hold the canonical spelling."""
    if not isinstance(value, str):
        return value
    if key == "type":
        return value.lower()
    if key in ("index_type", "metric"):
        return value.upper()
    if key == "consistency_level":
        return {level.lower(): level for level in CONSISTENCY_LEVELS}.get(value.lower(), value)
    return value


def _value_problem(key: str, value: Any) -> str | None:
    """What is wrong with one key's value on its own; rules across keys come later."""
    if key in ("name", "field", "index_field"):
        return _name_problem(value)
    choices = {"type": FIELD_TYPES, "index_type": INDEX_TYPES, "metric": METRICS,
               "consistency_level": CONSISTENCY_LEVELS}.get(key)
    if choices is not None and value not in choices:
        label = {"type": "field type", "index_type": "index type"}.get(key, key.replace("_", " "))
        return f"unknown {label} {value!r} (expected {', '.join(choices)})"
    if key in ("primary", "nullable") and not isinstance(value, bool):
        return f"expected true or false, got {value!r}"
    if key == "dim":
        return _int_problem(value, 1, MILVUS_MAX_DIM)
    if key == "max_length":
        return _int_problem(value, 1, PG_MAX_VARCHAR)
    if key == "description" and (not isinstance(value, str) or "\x00" in value):
        return f"expected a string, got {value!r}"
    if key == "params" and (not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value)):
        return "expected a mapping of parameter names to values"
    return None


def _field_problem(f: FieldSpec) -> Problem | None:
    for key in _FIELD_KEYS:
        value = getattr(f, key)
        if not (value is None and key in ("dim", "max_length")) and (problem := _value_problem(key, value)):
            return (key,), problem
    if f.type == "float_vector" and f.dim is None:
        return (), f"float_vector field {f.name!r} needs 'dim'"
    if f.type == "varchar" and f.max_length is None:
        return (), f"varchar field {f.name!r} needs 'max_length'"
    if f.dim is not None and f.type != "float_vector":
        return ("dim",), f"'dim' only applies to float_vector fields, not {f.type}"
    if f.max_length is not None and f.type != "varchar":
        return ("max_length",), f"'max_length' only applies to varchar fields, not {f.type}"
    if f.primary and f.type not in ("int64", "int32", "varchar"):
        return ("primary",), f"a primary key must be int64, int32 or varchar, not {f.type}"
    if f.nullable and (f.primary or f.type == "float_vector"):
        return ("nullable",), "primary keys and vector fields cannot be nullable"
    return None


def _params_problem(index_type: str, params: Mapping[str, Any]) -> tuple[str, str] | None:
    rules = INDEX_PARAMS[index_type]
    for key, value in params.items():
        if key not in rules:
            return key, f"unknown parameter {key!r} for {index_type} (expected {', '.join(rules) or 'none'})"
        if problem := _int_problem(value, *rules[key][:2]):
            return key, problem
    return None


def _index_problem(idx: Any) -> Problem | None:
    if not isinstance(idx, IndexSpec):
        return (), "expected an IndexSpec"
    for key in ("field", "index_type", "metric"):
        if problem := _value_problem(key, getattr(idx, key)):
            return (key,), problem
    if not isinstance(idx.params, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in idx.params):
        return ("params",), "expected a tuple of (name, value) pairs"
    if problem := _params_problem(idx.index_type, idx.params_dict):
        return ("params", problem[0]), problem[1]
    return None


def _collection_problem(spec: CollectionSpec) -> Problem | None:
    if problem := _name_problem(spec.name):
        return ("name",), f"collection {problem}"
    for key in ("description", "consistency_level"):
        if problem := _value_problem(key, getattr(spec, key)):
            return (key,), problem
    if not isinstance(spec.fields, tuple) or not spec.fields:
        return ("fields",), "expected at least one field"
    seen: dict[str, int] = {}
    for i, f in enumerate(spec.fields):
        if not isinstance(f, FieldSpec):
            return ("fields", i), "expected a FieldSpec"
        if problem := _field_problem(f):
            return ("fields", i, *problem[0]), problem[1]
        if (first := seen.setdefault(f.name.lower(), i)) != i:
            return ("fields", i, "name"), f"duplicate field name {f.name!r} (also fields[{first}])"
    keys = [f.name for f in spec.fields if f.primary]
    if len(keys) != 1:
        return ("fields",), f"expected exactly one primary key, found {len(keys)}" + (f" ({', '.join(keys)})" if keys else "")
    vectors = [f.name for f in spec.fields if f.type == "float_vector"]
    if not vectors:
        return ("fields",), "no float_vector field to index"
    if len(vectors) > 1:
        return ("fields",), f"more than one float_vector field ({', '.join(vectors)}); one per collection is supported"
    if problem := _index_problem(spec.index):
        return ("index", *problem[0]), problem[1]
    if spec.index.field != vectors[0]:
        kind = {f.name: f.type for f in spec.fields}.get(spec.index.field, "unknown")
        return ("index", "field"), f"index on non-vector field {spec.index.field!r} ({kind})"
    return None


def _pg_params_problem(idx: IndexSpec) -> tuple[str, str] | None:
    params = idx.params_dict
    if idx.index_type == "HNSW" and "efConstruction" in params:
        ef, low = params["efConstruction"], max(4, 2 * int(params.get("M", 16)))
        if not low <= ef <= 1000:
            return "efConstruction", f"pgvector needs efConstruction from {low} (4 and 2*M) to 1000, got {ef}"
    if idx.index_type == "IVF_FLAT" and int(params.get("nlist", 1)) > PG_MAX_LISTS:
        return "nlist", f"pgvector allows nlist (lists) up to {PG_MAX_LISTS}, got {params['nlist']}"
    return None


def _store_problem(spec: CollectionSpec, store: str) -> Problem | None:
    vi = next(i for i, f in enumerate(spec.fields) if f.name == spec.index.field)
    dim, idx = int(spec.fields[vi].dim or 0), spec.index
    if store == "milvus":
        for i, f in enumerate(spec.fields):
            if f.primary and f.type not in ("int64", "varchar"):
                return ("fields", i, "type"), f"milvus needs an int64 or varchar primary key, not {f.type}"
            if f.type == "varchar" and int(f.max_length or 0) > MILVUS_MAX_VARCHAR:
                return ("fields", i, "max_length"), f"milvus allows max_length up to {MILVUS_MAX_VARCHAR}, got {f.max_length}"
        return None
    if idx.index_type not in (*_PG_METHODS, "FLAT"):
        return ("index", "index_type"), f"pgvector does not support index type {idx.index_type} (use HNSW, IVF_FLAT or FLAT)"
    if dim > PG_MAX_DIM:
        return ("fields", vi, "dim"), f"pgvector vectors have at most {PG_MAX_DIM} dimensions, got {dim}"
    if idx.index_type in _PG_METHODS and dim > PG_MAX_INDEXED_DIM:
        return ("fields", vi, "dim"), (f"pgvector indexes ({idx.index_type}) at most {PG_MAX_INDEXED_DIM} "
                                       f"dimensions, got {dim}; use FLAT or fewer dimensions")
    if problem := _pg_params_problem(idx):
        return ("index", "params", problem[0]), problem[1]
    return None


# --- parsing ----------------------------------------------------------------------------------


def load_templates(path: Path) -> TemplateSet:
    """Read and check a whole templates file (an environment's: ``VectorSettings.templates``).

    Every template is checked, used or not, so a typo fails at load rather than at the
    migration that first needs it.
    """
    path = Path(path)
    file = display_path(path)
    root = read_yaml(path, file=file)
    at = Origin(file, "", root)
    root = _Map() if root is None else root
    if not isinstance(root, Mapping):
        raise at.error(message=f"expected a mapping with the sections {', '.join(SECTIONS)}")
    for key in root:
        if key not in SECTIONS:
            raise at.error(key, message=f"unknown section {key!r} (expected {', '.join(SECTIONS)})")
    sections: dict[str, dict[str, Any]] = {}
    for section in SECTIONS:
        body = root.get(section)
        body = {} if body is None else body
        if not isinstance(body, Mapping):
            raise at.error(section, message="expected a mapping of template names to templates")
        for name, value in body.items():
            if not isinstance(name, str):
                raise at.error(section, name, message="template names must be strings (quote it)")
            if not isinstance(value, Mapping):
                raise at.error(section, name, message="expected a mapping")
        sections[section] = dict(body)
    for section, allowed in (("base_configs", _BASE_KEYS), ("field_templates", _FIELD_KEYS),
                             ("index_templates", _INDEX_KEYS)):
        for name, body in sections[section].items():
            for key, value in body.items():
                if key not in allowed:
                    raise at.error(section, name, key, message=_unknown_key(key, allowed))
                if problem := _value_problem(key, _normalize(key, value)):
                    raise at.error(section, name, key, message=problem)
            index_type = _normalize("index_type", body.get("index_type"))
            if section == "index_templates" and index_type and "params" in body:
                if problem := _params_problem(index_type, body["params"]):
                    raise at.error(section, name, "params", problem[0], message=problem[1])
    collections = {}
    for name, body in sections["collection_templates"].items():
        if problem := _name_problem(name):
            raise at.error("collection_templates", name, message=f"collection {problem}")
        collections[name] = parse_collection(body, sections=sections, file=file,
                                             where=_path("collection_templates", name), name=name)
    return TemplateSet(path, collections, sections)


def parse_collection(
    data: Mapping[str, Any],
    *,
    sections: Mapping[str, Mapping[str, Any]],
    file: str,
    where: str,
    name: str | None = None,
) -> CollectionSpec:
    """Build and check one collection, from a template or from an inline schema in a migration.

    ``data`` has the keys ``name`` (else the ``name`` argument), ``base``, ``description``,
    ``consistency_level``, ``fields`` (a list of ``{ref: template, ...overrides}``, a bare
    template name, or ``{name:, type:, ...}``), ``index`` (an index template name, or a mapping
    with ``ref``, ``index_type``, ``metric``, ``params``, ``field``) and ``index_field``.
    ``sections`` resolves references: pass :attr:`TemplateSet.sections`. ``file`` and
    ``where`` (the key path of ``data``) prefix every message; when ``data`` came from
    :func:`read_yaml` the messages carry line numbers too.
    """
    at = Origin(file, where, data)
    if not isinstance(data, Mapping):
        raise at.error(message="expected a mapping with 'fields' and 'index'")
    for key in data:
        if key not in _COLLECTION_KEYS:
            raise at.error(key, message=_unknown_key(key, _COLLECTION_KEYS))
    name = data.get("name", name)
    if name is None:
        raise at.error(message="missing 'name'")
    if problem := _name_problem(name):
        raise at.error(*(("name",) if "name" in data else ()), message=f"collection {problem}")
    settings: dict[str, Any] = {"description": "", "consistency_level": "Strong"}
    if "base" in data:
        bases = sections.get("base_configs") or {}
        base = data["base"]
        if not isinstance(base, str) or not isinstance(bases.get(base), Mapping):
            raise at.error("base", message=f"unknown base config {base!r}{_known(bases)}")
        settings.update({k: v for k, v in bases[base].items() if k in _BASE_KEYS})
    for key in _BASE_KEYS:
        value = settings[key] = _normalize(key, data.get(key, settings[key]))
        if problem := _value_problem(key, value):
            raise at.error(key if key in data else "base", message=problem)
    fields = _parse_fields(at, data, sections.get("field_templates") or {})
    index = _parse_index(at, data, fields, sections.get("index_templates") or {})
    spec = CollectionSpec(name, fields, index, settings["description"], settings["consistency_level"], at)
    if problem := _collection_problem(spec):
        raise at.error(*problem[0], message=problem[1])
    return spec


def parse_field(entry: Any, *, sections: Mapping[str, Mapping[str, Any]], file: str, where: str) -> FieldSpec:
    """One field as a migration's ``add_field`` writes it (``{ref: ...}`` or inline)."""
    holder = {"fields": [entry]}
    at = Origin(file, where, holder)
    return _parse_field(at, 0, entry, sections.get("field_templates") or {})


def parse_index(entry: Any, fields: tuple[FieldSpec, ...], *, sections: Mapping[str, Mapping[str, Any]],
                file: str, where: str) -> IndexSpec:
    """A vector index as a migration's ``create_index``/``rebuild`` writes it (name or mapping)."""
    at = Origin(file, where, {"index": entry})
    return _parse_index(at, {"index": entry}, fields, sections.get("index_templates") or {})


def _parse_fields(at: Origin, data: Mapping[str, Any], templates: Mapping[str, Any]) -> tuple[FieldSpec, ...]:
    entries = data.get("fields")
    if not isinstance(entries, list) or not entries:
        if "fields" not in data:
            raise at.error(message="missing 'fields'")
        raise at.error("fields", message="expected a non-empty list of fields")
    return tuple(_parse_field(at, i, entry, templates) for i, entry in enumerate(entries))


def _parse_field(at: Origin, i: int, entry: Any, templates: Mapping[str, Any]) -> FieldSpec:
    here: Parts = ("fields", i)
    if isinstance(entry, str):
        entry = {"ref": entry}
    if not isinstance(entry, Mapping):
        raise at.error(*here, message="expected {ref: template, ...} or {name: ..., type: ...}")
    values: dict[str, Any] = {}
    if "ref" in entry:
        ref = entry["ref"]
        template = templates.get(ref) if isinstance(ref, str) else None
        if not isinstance(template, Mapping):
            raise at.error(*here, message=f"unknown field template {ref!r}{_known(templates)}", line_of=(*here, "ref"))
        values = {"name": ref, **{k: _normalize(k, v) for k, v in template.items() if k in _FIELD_KEYS}}
    own: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "ref":
            continue
        if key not in _FIELD_KEYS:
            raise at.error(*here, key, message=_unknown_key(key, ("ref", *_FIELD_KEYS)))
        own[key] = _normalize(key, value)
        if problem := _value_problem(key, own[key]):
            raise at.error(*here, key, message=problem)
    values.update(own)
    if "name" not in values:
        raise at.error(*here, message="missing 'name'")
    if "type" not in values:
        raise at.error(*here, message=f"field {values['name']!r} has no 'type'")
    spec = FieldSpec(**values)
    if problem := _field_problem(spec):
        parts, message = problem
        raise at.error(*here, *(parts if parts and parts[0] in own else ()), message=message)
    return spec


def _parse_index(at: Origin, data: Mapping[str, Any], fields: tuple[FieldSpec, ...],
                 templates: Mapping[str, Any]) -> IndexSpec:
    raw = data.get("index")
    if raw is None:
        raise at.error(*(("index",) if "index" in data else ()),
                       message="missing 'index' (an index template name or {index_type: ..., metric: ...})")
    if isinstance(raw, str):
        raw = {"ref": raw}
    if not isinstance(raw, Mapping):
        raise at.error("index", message="expected an index template name or a mapping")
    values: dict[str, Any] = {}
    params: dict[str, Any] = {}
    source = ""
    if "ref" in raw:
        ref = raw["ref"]
        template = templates.get(ref) if isinstance(ref, str) else None
        if not isinstance(template, Mapping):
            raise at.error("index", message=f"unknown index template {ref!r}{_known(templates)}", line_of=("index", "ref"))
        values = {k: _normalize(k, template[k]) for k in ("index_type", "metric") if k in template}
        params, source = dict(template.get("params") or {}), f" (from index template {ref!r})"
    own_params: Mapping[str, Any] = {}
    for key, value in raw.items():
        if key == "ref":
            continue
        if key not in (*_INDEX_KEYS, "field"):
            raise at.error("index", key, message=_unknown_key(key, ("ref", "field", *_INDEX_KEYS)))
        value = _normalize(key, value)
        if problem := _value_problem(key, value):
            raise at.error("index", key, message=problem)
        if key == "params":
            own_params = value
            params.update(value)
        elif key != "field":
            values[key] = value
    for key in ("index_type", "metric"):
        if key not in values:
            raise at.error("index", message=f"index has no '{key}'")
    if problem := _params_problem(values["index_type"], params):
        key, message = problem
        if key in own_params:
            raise at.error("index", "params", key, message=message)
        raise at.error("index", message=message + source)
    defaults = {k: rule[2] for k, rule in INDEX_PARAMS[values["index_type"]].items()}
    field_name = _index_field(at, data, raw, fields)
    return IndexSpec(field_name, values["index_type"], values["metric"], tuple(sorted({**defaults, **params}.items())))


def _index_field(at: Origin, data: Mapping[str, Any], raw: Mapping[str, Any], fields: tuple[FieldSpec, ...]) -> str:
    """The indexed field: ``index_field``, the inline index's ``field``, or the only vector field."""
    chosen: list[tuple[Parts, Any]] = []
    if "index_field" in data:
        chosen.append((("index_field",), data["index_field"]))
    if "field" in raw:
        chosen.append((("index", "field"), raw["field"]))
    if len(chosen) == 2 and chosen[0][1] != chosen[1][1]:
        raise at.error("index", "field", message=f"{chosen[1][1]!r} conflicts with index_field {chosen[0][1]!r}")
    if chosen:
        parts, name = chosen[-1]
        if problem := _value_problem("field", name):
            raise at.error(*parts, message=problem)
        types = {f.name: f.type for f in fields}
        if name not in types:
            raise at.error(*parts, message=f"unknown field {name!r} (fields: {', '.join(types)})")
        if types[name] != "float_vector":
            raise at.error(*parts, message=f"index on non-vector field {name!r} ({types[name]})")
        return str(name)
    vectors = [f.name for f in fields if f.type == "float_vector"]
    if len(vectors) == 1:
        return vectors[0]
    if not vectors:
        raise at.error("fields", message="no float_vector field to index")
    raise at.error("fields", message=f"more than one float_vector field ({', '.join(vectors)}); one per collection is supported")


# --- stores -----------------------------------------------------------------------------------


def validate_for_store(spec: CollectionSpec, store: str) -> None:
    """Check a spec (again, it may be hand-built) and the limits of ``store``; raise if unusable."""
    if store not in STORES:
        raise TemplateError(f"unknown vector store {store!r} (expected {' or '.join(STORES)})")
    problem = _collection_problem(spec) or _store_problem(spec, store)
    if problem:
        origin = spec.origin if isinstance(spec.origin, Origin) else Origin(f"collection {spec.name!r}", "")
        raise origin.error(*problem[0], message=problem[1])
