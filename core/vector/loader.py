"""Reading vector migration files: ``vector_migrations/versions/YYYYMMDD_NNN_slug.yaml``.

Files form one chain through ``depends_on``; two files on the same parent are a fork and an
error, as are duplicate versions, unknown parents and a version that does not match its file
name. Operations are parsed against the declared state of the chain so far, so a migration
that names a missing collection is refused when it is read, not half-way through a run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from migctl.core.config import PROJECT_ROOT
from migctl.core.vector.model import (
    OPERATIONS,
    AddField,
    AlterAlias,
    CreateAlias,
    CreateCollection,
    CreateIndex,
    CreatePartition,
    DeclaredState,
    DropAlias,
    DropCollection,
    DropField,
    DropIndex,
    DropPartition,
    MigrationError,
    Operation,
    Rebuild,
    RenameCollection,
    VectorMigration,
)
from migctl.core.vector.templates import (
    TemplateSet,
    _name_problem,
    parse_collection,
    parse_field,
    parse_index,
)
from migctl.core.vector.yaml_source import TemplateError, display_path, read_yaml

# The reference project's migrations (tests and `init-project --example`); never a default.
DEFAULT_DIR = PROJECT_ROOT / "vector_migrations" / "versions"
VERSION = re.compile(r"^\d{8}_\d{3}$")
FILE_NAME = re.compile(r"^(?P<version>\d{8}_\d{3})_(?P<slug>[a-z0-9][a-z0-9_]*)\.ya?ml$")
_TOP_KEYS = ("version", "description", "depends_on", "operations", "downgrade", "irreversible")


@dataclass(frozen=True)
class MigrationChain:
    """The migrations in order, with the declared state after each."""

    migrations: tuple[VectorMigration, ...]
    states: tuple[DeclaredState, ...]  # states[i] = after migrations[i]; before the first: empty

    @property
    def versions(self) -> list[str]:
        return [m.version for m in self.migrations]

    def index(self, version: str) -> int:
        for i, m in enumerate(self.migrations):
            if m.version == version:
                return i
        raise MigrationError(f"unknown vector migration version {version!r}"
                             + (f" (known: {', '.join(self.versions[-5:])}...)" if self.migrations else " (no migrations)"))

    def state_after(self, version: str | None) -> DeclaredState:
        return DeclaredState() if version is None else self.states[self.index(version)]

    @property
    def latest(self) -> str | None:
        return self.migrations[-1].version if self.migrations else None


def _require(entry: Any, keys: tuple[str, ...], optional: tuple[str, ...], where: str) -> Mapping[str, Any]:
    if not isinstance(entry, Mapping):
        raise MigrationError(f"{where}: expected a mapping with {', '.join(keys)}")
    for key in entry:
        if key not in keys + optional:
            raise MigrationError(f"{where}: unknown key {key!r} (expected {', '.join(keys + optional)})")
    for key in keys:
        if key not in entry:
            raise MigrationError(f"{where}: missing {key!r}")
    return entry


def _name(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or (problem := _name_problem(value)):
        raise MigrationError(f"{where}: {what} {problem if isinstance(value, str) else f'{value!r} is not a name'}")
    return value


def parse_operation(raw: Any, state: DeclaredState, templates: TemplateSet, file: str, where: str) -> Operation:
    """One operation, read against the declared state before it (which it does not change)."""
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise MigrationError(f"{where}: expected one operation like {{create_collection: {{...}}}}")
    kind, args = next(iter(raw.items()))
    if kind not in OPERATIONS:
        raise MigrationError(f"{where}: unknown operation {kind!r} (expected one of {', '.join(OPERATIONS)})")
    here = f"{where}.{kind}"
    sections = templates.sections
    try:
        if kind == "create_collection":
            a = _require(args, ("name",), ("template", "schema"), here)
            name = _name(a["name"], "collection", here)
            if ("template" in a) == ("schema" in a):
                raise MigrationError(f"{here}: give exactly one of 'template' or 'schema'")
            if "template" in a:
                spec = templates.collection(str(a["template"])).renamed(name)
            else:
                spec = parse_collection(a["schema"], sections=sections, file=file, where=f"{here}.schema", name=name)
            return CreateCollection(spec)
        if kind == "drop_collection":
            return DropCollection(_name(_require(args, ("name",), (), here)["name"], "collection", here))
        if kind == "create_index":
            a = _require(args, ("collection", "index"), (), here)
            spec = state.spec(_name(a["collection"], "collection", here), here)
            return CreateIndex(spec.name, parse_index(a["index"], spec.fields, sections=sections, file=file, where=here))
        if kind == "drop_index":
            a = _require(args, ("collection",), ("field",), here)
            spec = state.spec(_name(a["collection"], "collection", here), here)
            return DropIndex(spec.name, _name(a.get("field", spec.index.field), "field", here))
        if kind == "add_field":
            a = _require(args, ("collection", "field", "default"), (), here)
            coll = _name(a["collection"], "collection", here)
            field_spec = parse_field(a["field"], sections=sections, file=file, where=f"{here}.field")
            if field_spec.primary or field_spec.type == "float_vector":
                raise MigrationError(f"{here}: add_field adds scalar fields only (not a primary key or vector)")
            return AddField(coll, field_spec, a["default"])
        if kind == "drop_field":
            a = _require(args, ("collection", "field"), (), here)
            return DropField(_name(a["collection"], "collection", here), _name(a["field"], "field", here))
        if kind == "rename_collection":
            a = _require(args, ("from", "to"), (), here)
            return RenameCollection(_name(a["from"], "collection", here), _name(a["to"], "collection", here))
        if kind in ("create_alias", "alter_alias"):
            a = _require(args, ("alias", "collection"), (), here)
            cls = CreateAlias if kind == "create_alias" else AlterAlias
            return cls(_name(a["alias"], "alias", here), _name(a["collection"], "collection", here))
        if kind == "drop_alias":
            return DropAlias(_name(_require(args, ("alias",), (), here)["alias"], "alias", here))
        if kind in ("create_partition", "drop_partition"):
            a = _require(args, ("collection", "partition"), (), here)
            cls = CreatePartition if kind == "create_partition" else DropPartition
            return cls(_name(a["collection"], "collection", here), _name(a["partition"], "partition", here))
        # rebuild: the current schema with a new index and/or added fields
        a = _require(args, ("collection",), ("index", "add_fields"), here)
        spec = state.spec(_name(a["collection"], "collection", here), here)
        fields = list(spec.fields)
        defaults: list[tuple[str, Any]] = []
        for i, entry in enumerate(a.get("add_fields") or []):
            e = _require(entry, ("field", "default"), (), f"{here}.add_fields[{i}]")
            f = parse_field(e["field"], sections=sections, file=file, where=f"{here}.add_fields[{i}].field")
            fields.append(f)
            defaults.append((f.name, e["default"]))
        index = spec.index
        if "index" in a:
            index = parse_index(a["index"], tuple(fields), sections=sections, file=file, where=here)
        if index == spec.index and not defaults:
            raise MigrationError(f"{here}: nothing to rebuild (give a new 'index' or 'add_fields')")
        from dataclasses import replace

        target = replace(spec, fields=tuple(fields), index=index)
        from migctl.core.vector.templates import _collection_problem

        if problem := _collection_problem(target):
            raise MigrationError(f"{here}: {problem[1]}")
        return Rebuild(spec.name, target, tuple(defaults))
    except TemplateError as exc:
        raise MigrationError(str(exc)) from None


def _read_file(path: Path) -> Mapping[str, Any]:
    file = display_path(path)
    try:
        data = read_yaml(path, file=file)
    except TemplateError as exc:
        raise MigrationError(str(exc)) from None
    if not isinstance(data, Mapping):
        raise MigrationError(f"{file}: expected a mapping with version, description, depends_on, operations")
    for key in data:
        if key not in _TOP_KEYS:
            raise MigrationError(f"{file}: unknown key {key!r} (expected {', '.join(_TOP_KEYS)})")
    m = FILE_NAME.match(path.name)
    for key in ("version", "depends_on"):
        if isinstance(data.get(key), int):
            raise MigrationError(f"{file}: {key} must be quoted (YAML reads 20250108_001 as a number): "
                                 f"{key}: \"YYYYMMDD_NNN\"")
    version = str(data.get("version", ""))
    if not VERSION.match(version):
        raise MigrationError(f"{file}: version {version!r} is not YYYYMMDD_NNN")
    if m is None or m["version"] != version:
        raise MigrationError(f"{file}: file name must be {version}_<slug>.yaml (lower-case slug)")
    if not isinstance(data.get("operations"), list):
        raise MigrationError(f"{file}: 'operations' must be a list")
    return data


def load_chain(directory: Path, templates: TemplateSet) -> MigrationChain:
    """Every migration file of ``directory`` as one validated chain."""
    files = sorted(p for p in directory.glob("*.y*ml")) if directory.is_dir() else []
    raw: dict[str, tuple[Path, Mapping[str, Any]]] = {}
    for path in files:
        data = _read_file(path)
        version = str(data["version"])
        if version in raw:
            raise MigrationError(f"{display_path(path)}: duplicate version {version} (also {display_path(raw[version][0])})")
        raw[version] = (path, data)
    children: dict[str | None, list[str]] = {}
    for version, (path, data) in raw.items():
        parent = data.get("depends_on")
        parent = None if parent in (None, "", "null") else str(parent)
        if parent is not None and parent not in raw:
            raise MigrationError(f"{display_path(path)}: depends_on {parent!r} is not a known version")
        children.setdefault(parent, []).append(version)
    for parent, kids in children.items():
        if len(kids) > 1:
            names = ", ".join(display_path(raw[k][0]) for k in sorted(kids))
            raise MigrationError(f"fork: {names} all depend on {parent or 'nothing (two first migrations)'}; "
                                 "make one depend on the other")
    migrations: list[VectorMigration] = []
    states: list[DeclaredState] = []
    state = DeclaredState()
    current = children.get(None, [None])[0]
    while current is not None:
        path, data = raw[current]
        file = display_path(path)
        running = state.copy()
        ops = _parse_operations(data["operations"], running, templates, file, "operations")
        down = None
        if data.get("downgrade") is not None:
            if not isinstance(data["downgrade"], list):
                raise MigrationError(f"{file}: 'downgrade' must be a list of operations")
            down = _parse_operations(data["downgrade"], running.copy(), templates, file, "downgrade")
        irreversible = data.get("irreversible", False)
        if not isinstance(irreversible, bool):
            raise MigrationError(f"{file}: 'irreversible' must be true or false, not {irreversible!r}")
        migration = VectorMigration(current, str(data.get("description") or ""), data.get("depends_on"), ops, down,
                                    irreversible, file)
        if down is None and not irreversible:
            # Refused now, while nothing has run: found only at downgrade time, the data is already gone.
            migration.downgrade(state)
        state = migration.apply(state)
        migrations.append(migration)
        states.append(state)
        nxt = children.get(current, [])
        current = nxt[0] if nxt else None
    if len(migrations) != len(raw):
        raise MigrationError("vector migrations do not form one chain (a cycle in depends_on?)")
    return MigrationChain(tuple(migrations), tuple(states))


def _parse_operations(raw_ops: list[Any], state: DeclaredState, templates: TemplateSet, file: str,
                      key: str) -> tuple[Operation, ...]:
    """Parse a list of operations, each against the state the ones before it leave (``state``
    is updated in place)."""
    parsed: list[Operation] = []
    for i, raw_op in enumerate(raw_ops):
        where = f"{file}: {key}[{i}]"
        op = parse_operation(raw_op, state, templates, file, where)
        op.apply(state, where)
        parsed.append(op)
    return tuple(parsed)


def slugify(description: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", description.lower()).strip("_")
    return (slug or "migration")[:48].rstrip("_")


def next_version(chain: MigrationChain, today: date | None = None) -> str:
    day = (today or date.today()).strftime("%Y%m%d")
    numbers = [int(v.split("_")[1]) for v in chain.versions if v.startswith(day + "_")]
    later = [v for v in chain.versions if v[:8] > day]
    if later:
        raise MigrationError(f"latest migration {later[-1]} is dated after today ({day}); check the clock")
    return f"{day}_{(max(numbers) + 1) if numbers else 1:03d}"


def write_migration(directory: Path, chain: MigrationChain, templates: TemplateSet, description: str,
                    collections: list[str], today: date | None = None) -> Path:
    """Write the next numbered file; it creates ``collections`` from their templates."""
    if not description.strip():
        raise MigrationError("a migration needs a --description")
    for name in collections:
        templates.collection(name)
        if name in chain.state_after(chain.latest).collections:
            raise MigrationError(f"collection {name!r} already exists in the declared state")
    version = next_version(chain, today)
    ops = [{"create_collection": {"name": n, "template": n}} for n in collections]
    body = {"version": version, "description": description.strip(), "depends_on": chain.latest, "operations": ops}
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{version}_{slugify(description)}.yaml"
    text = yaml.safe_dump(body, sort_keys=False)
    if not ops:
        text += ("# Add operations, e.g.:\n#   - add_field: {collection: document, field: {name: lang, type: varchar,"
                 " max_length: 8}, default: en}\n#   - create_alias: {alias: documents, collection: document}\n")
    path.write_text(text, encoding="utf-8")
    return path
