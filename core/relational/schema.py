"""A normalised catalog snapshot of a relational schema, and the comparison of two.

``migctl verify`` snapshots a throwaway database before and after each upgrade and downgrade and
compares them; live drift compares the live database with a throwaway one at the same revision.
Both need a snapshot that is cheap (three per revision over hundreds of revisions) and that
differs only where the schema does: so it is read straight from the catalog (a handful of
queries, not ``pg_dump`` nor SQLAlchemy's per-table Inspector), and everything that differs
without the schema differing is left out or normalised: owners, privileges, column positions,
extension versions (a PostgreSQL 15 target and the embedded 18 ship different ones), the names
of sequences owned by serial columns, the database's own name on MySQL, whitespace.

A snapshot is ``kind -> name -> definition``. PostgreSQL names are schema-qualified
(``public.documents.title``); on MySQL/MariaDB and SQLite they are relative to the database
captured (``documents.title``; qualified only when several databases are captured), since a
scratch database there has a name of its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, text

FORMAT = 1

# The kind words, in the order a diff lists them (containers before what they contain).
KINDS = ("schema", "extension", "enum", "sequence", "table", "column", "index", "constraint", "view",
         "function", "trigger")
_KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
# Kinds whose names are ``<table>.<own name>``: folded under a table that is missing or extra.
_TABLE_PARTS = ("column", "constraint", "trigger")

OWNED_SEQUENCE = "<owned sequence>"


@dataclass(frozen=True)
class Schema:
    """What one database's schema is, as far as migrations are concerned."""

    dialect: str  # SQLAlchemy's dialect name: "postgresql", "mysql" / "mariadb", "sqlite"
    server: str  # "PostgreSQL 18.1", "MariaDB 10.11.19", "SQLite 3.40.1"
    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Sorted plain dicts without empty kinds: two snapshots of the same schema are equal
        # (``==``) and serialise to the same JSON however they were built.
        tidy = {kind: {name: str(defn) for name, defn in sorted(self.objects[kind].items())}
                for kind in sorted(self.objects, key=lambda k: (_KIND_ORDER.get(k, len(KINDS)), k))
                if self.objects[kind]}
        object.__setattr__(self, "objects", tidy)

    def __len__(self) -> int:
        return sum(len(names) for names in self.objects.values())

    def as_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "dialect": self.dialect, "server": self.server,
                "objects": {kind: dict(names) for kind, names in self.objects.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schema:
        if not isinstance(data, Mapping) or data.get("format") != FORMAT:
            raise ValueError("not a schema snapshot of this format")
        objects = data.get("objects")
        if not isinstance(objects, Mapping) or not all(
                isinstance(names, Mapping) and all(isinstance(n, str) and isinstance(d, str) for n, d in names.items())
                for names in objects.values()):
            raise ValueError("schema snapshot: objects must map kind -> name -> definition")
        return cls(str(data.get("dialect", "")), str(data.get("server", "")), objects)


@dataclass(frozen=True)
class SchemaDiff:
    """How ``actual`` differs from ``expected``; each tuple sorted by kind, then name."""

    missing: tuple[tuple[str, str], ...] = ()  # (kind, name) in expected, not in actual
    extra: tuple[tuple[str, str], ...] = ()  # in actual, not in expected
    changed: tuple[tuple[str, str, str, str], ...] = ()  # (kind, name, expected def, actual def)

    @property
    def empty(self) -> bool:
        return not (self.missing or self.extra or self.changed)

    def __bool__(self) -> bool:
        return not self.empty

    def _entries(self) -> list[tuple[str, str, str, str, str]]:
        """(kind, name, word, expected, actual) per difference, word being "missing", "extra"
        or "changed".

        A missing or extra table stands for its columns, constraints and triggers: one line
        instead of one per column. (Indexes stay listed: their names do not name the table.)"""
        out: list[tuple[str, str, str, str, str]] = []
        for word, pairs in (("missing", self.missing), ("extra", self.extra)):
            tables = {name for kind, name in pairs if kind == "table"}
            counts: dict[str, dict[str, int]] = {}
            kept: list[tuple[str, str]] = []
            for kind, name in pairs:
                owner = _owning_table(kind, name, tables)
                if owner is not None:
                    per = counts.setdefault(owner, {})
                    per[kind] = per.get(kind, 0) + 1
                else:
                    kept.append((kind, name))
            for kind, name in kept:
                parts = counts.get(name) if kind == "table" else None
                suffix = ""
                if parts:
                    suffix = " (with " + ", ".join(
                        _plural(n, k) for k, n in sorted(parts.items(), key=lambda kv: _KIND_ORDER[kv[0]])) + ")"
                out.append((kind, name + suffix, word, "", ""))
        out += [(kind, name, "changed", before, after) for kind, name, before, after in self.changed]
        return out

    def lines(self) -> list[str]:
        """One line per difference: ``missing index public.ix_a``, ``extra column
        public.t.c``, ``column public.t.c: character varying(200) -> integer``."""
        return [f"{kind} {name}: {before} -> {after}" if word == "changed" else f"{word} {kind} {name}"
                for kind, name, word, before, after in self._entries()]

    def summary(self, limit: int = 3) -> str:
        """One line for a verdict or an error message: the first ``limit`` differences (a
        change with its definitions when they are short, a view's body is not)."""
        entries = self._entries()
        parts = []
        for kind, name, word, before, after in entries[:max(limit, 1)]:
            if word != "changed":
                parts.append(f"{kind} {name} {word}")
            elif len(before) <= 40 and len(after) <= 40:
                parts.append(f"{kind} {name}: {before} -> {after}")
            else:
                parts.append(f"{kind} {name} changed")
        more = len(entries) - len(parts)
        return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")

    def as_dict(self) -> dict[str, Any]:
        return {"missing": [{"kind": k, "name": n} for k, n in self.missing],
                "extra": [{"kind": k, "name": n} for k, n in self.extra],
                "changed": [{"kind": k, "name": n, "expected": e, "actual": a} for k, n, e, a in self.changed]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SchemaDiff:
        return cls(tuple((d["kind"], d["name"]) for d in data.get("missing", ())),
                   tuple((d["kind"], d["name"]) for d in data.get("extra", ())),
                   tuple((d["kind"], d["name"], d["expected"], d["actual"]) for d in data.get("changed", ())))


def _plural(n: int, kind: str) -> str:
    word = {"index": "indexes"}.get(kind, kind + "s")
    return f"{n} {kind if n == 1 else word}"


def _owning_table(kind: str, name: str, tables: Collection[str]) -> str | None:
    """The table (among ``tables``) a column, constraint or trigger name belongs to: the
    longest ``<table>.`` prefix, since SQLite's constraint keys may hold dots of their own."""
    if kind not in _TABLE_PARTS:
        return None
    owners = [t for t in tables if name.startswith(t + ".")]
    return max(owners, key=len) if owners else None


def _sort_key(item: tuple[str, ...]) -> tuple[int, str, str]:
    return _KIND_ORDER.get(item[0], len(KINDS)), item[0], item[1]


def compare(expected: Schema, actual: Schema) -> SchemaDiff:
    """What ``actual`` lacks, has in addition, and has differently, relative to ``expected``."""
    missing: list[tuple[str, str]] = []
    extra: list[tuple[str, str]] = []
    changed: list[tuple[str, str, str, str]] = []
    for kind in set(expected.objects) | set(actual.objects):
        want = expected.objects.get(kind, {})
        have = actual.objects.get(kind, {})
        missing += [(kind, name) for name in want if name not in have]
        extra += [(kind, name) for name in have if name not in want]
        changed += [(kind, name, want[name], have[name]) for name in want if name in have and want[name] != have[name]]
    # Folding a missing table's columns into one line is for lines()/summary() only: the
    # tuples keep every object.
    return SchemaDiff(tuple(sorted(missing, key=_sort_key)), tuple(sorted(extra, key=_sort_key)),
                      tuple(sorted(changed, key=_sort_key)))


def default_exclusions(version_table: str) -> tuple[str, ...]:
    """The tables a snapshot leaves out: migctl's own and Alembic's version table."""
    from migctl.core.relational.runner import MIGCTL_TABLES  # runner imports much; only here

    return (*MIGCTL_TABLES, version_table)


def capture(connection: sqlalchemy.engine.Connection, *, schemas: Sequence[str] | None = None,
            exclude_tables: Collection[str] = ()) -> Schema:
    """The schema as the connection's database has it now.

    ``schemas``: PostgreSQL schemas (default every non-system one), MySQL databases (default the
    connection's), SQLite attached databases (default ``main``). ``exclude_tables``: table names,
    bare (any schema) or qualified ``schema.table``, left out with their columns, indexes,
    constraints and triggers. Reads only; on PostgreSQL the session's ``search_path`` is emptied
    while it reads (so every name comes out qualified whatever the caller's setting) and put back.
    """
    name = connection.dialect.name
    excluded = tuple(exclude_tables)
    if name == "postgresql":
        return _capture_postgresql(connection, schemas, excluded)
    if name in ("mysql", "mariadb"):
        return _capture_mysql(connection, schemas, excluded)
    if name == "sqlite":
        return _capture_sqlite(connection, schemas, excluded)
    raise ValueError(f"schema snapshots are not supported on {name}")


def _ws(value: str | None) -> str:
    return " ".join((value or "").split())


def _body_hash(body: str | None) -> str:
    return hashlib.sha256((body or "").strip().encode("utf-8", "surrogatepass")).hexdigest()[:12]


# ---------------------------------------------------------------------------------------------
# PostgreSQL: one query over pg_catalog, every kind a branch of a UNION ALL (one round trip).

_PG_NAMESPACES_ALL = ("n.nspname NOT IN ('pg_catalog', 'information_schema') "
                      "AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'")
_PG_NAMESPACES_GIVEN = "n.nspname IN :schemas"
_PG_EXCLUDE = "AND NOT (c.relname IN :excluded OR (n.nspname || '.' || c.relname) IN :excluded)"

# {ns}: the namespace filter; {exclude}: the excluded-table filter; {body}, {generated}:
# expressions that depend on the server's version. All four are fixed strings of this module.
_PG_QUERY = """
WITH ns AS (
    SELECT n.oid, n.nspname FROM pg_namespace n WHERE {ns}
), extmember AS (
    SELECT d.classid, d.objid FROM pg_depend d WHERE d.deptype = 'e'
), rel AS (
    SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relispartition, c.relpartbound, n.nspname
    FROM pg_class c JOIN ns n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
      AND NOT EXISTS (SELECT 1 FROM extmember e WHERE e.classid = 'pg_class'::regclass AND e.objid = c.oid)
      {exclude}
)
SELECT 'schema' AS kind, n.nspname AS name, '' AS def, NULL AS aux FROM ns n
UNION ALL
SELECT 'extension', x.extname, '', NULL FROM pg_extension x JOIN ns n ON n.oid = x.extnamespace
UNION ALL
SELECT 'enum', n.nspname || '.' || t.typname,
       '(' || coalesce((SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
                        FROM pg_enum e WHERE e.enumtypid = t.oid), '') || ')', NULL
FROM pg_type t JOIN ns n ON n.oid = t.typnamespace
WHERE t.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM extmember e WHERE e.classid = 'pg_type'::regclass AND e.objid = t.oid)
UNION ALL
SELECT 'sequence', r.nspname || '.' || r.relname, '', NULL FROM rel r
WHERE r.relkind = 'S'
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = r.oid
                  AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i'))
UNION ALL
SELECT 'table', r.nspname || '.' || r.relname,
       CASE WHEN r.relpersistence = 'u' THEN 'unlogged ' ELSE '' END
       || CASE r.relkind WHEN 'p' THEN 'partitioned table ' || pg_get_partkeydef(r.oid)
                         WHEN 'f' THEN 'foreign table' ELSE 'table' END
       || CASE WHEN r.relispartition THEN
              ', partition of ' || coalesce((SELECT i.inhparent::regclass::text FROM pg_inherits i
                                             WHERE i.inhrelid = r.oid LIMIT 1), '?')
              || ' ' || coalesce(pg_get_expr(r.relpartbound, r.oid), '')
          ELSE '' END, NULL
FROM rel r WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'column', r.nspname || '.' || r.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod)
       || coalesce((SELECT ' collate ' || quote_ident(co.collname) FROM pg_collation co
                    WHERE co.oid = a.attcollation AND a.attcollation <> t.typcollation), '')
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || CASE a.attidentity WHEN 'a' THEN ' generated always as identity'
                             WHEN 'd' THEN ' generated by default as identity' ELSE '' END
       || CASE WHEN {generated} <> '' THEN
                   ' generated always as (' || pg_get_expr(ad.adbin, ad.adrelid) || ')'
                   || CASE WHEN {generated} = 's' THEN ' stored' ELSE ' virtual' END
               WHEN ad.adbin IS NOT NULL THEN ' default ' || pg_get_expr(ad.adbin, ad.adrelid)
               ELSE '' END,
       (SELECT quote_literal(d.objid::regclass::text) || '::regclass' FROM pg_depend d
        WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
          AND d.refobjid = a.attrelid AND d.refobjsubid = a.attnum AND d.deptype = 'a' LIMIT 1)
FROM rel r
JOIN pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
WHERE r.relkind IN ('r', 'p', 'f')
UNION ALL
SELECT 'index', r.nspname || '.' || ic.relname,
       pg_get_indexdef(i.indexrelid) || CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END,
       quote_ident(ic.relname)
FROM rel r JOIN pg_index i ON i.indrelid = r.oid JOIN pg_class ic ON ic.oid = i.indexrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint co WHERE co.conindid = i.indexrelid AND co.conrelid = r.oid
                  AND co.contype IN ('p', 'u', 'x'))
UNION ALL
SELECT 'constraint', r.nspname || '.' || r.relname || '.' || co.conname, pg_get_constraintdef(co.oid), NULL
FROM rel r JOIN pg_constraint co ON co.conrelid = r.oid
WHERE co.contype <> 'n'
UNION ALL
SELECT 'view', r.nspname || '.' || r.relname,
       CASE WHEN r.relkind = 'm' THEN 'materialized ' ELSE '' END || pg_get_viewdef(r.oid, true), NULL
FROM rel r WHERE r.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       CASE p.prokind WHEN 'p' THEN 'procedure ' WHEN 'a' THEN 'aggregate ' WHEN 'w' THEN 'window ' ELSE '' END
       || '(' || pg_get_function_arguments(p.oid) || ')'
       || coalesce(' -> ' || pg_get_function_result(p.oid), '')
       || ' ' || l.lanname
       || CASE p.provolatile WHEN 'i' THEN ' immutable' WHEN 's' THEN ' stable' ELSE '' END
       || CASE WHEN p.prosecdef THEN ' security definer' ELSE '' END,
       {body}
FROM pg_proc p JOIN ns n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE NOT EXISTS (SELECT 1 FROM extmember e WHERE e.classid = 'pg_proc'::regclass AND e.objid = p.oid)
UNION ALL
SELECT 'trigger', r.nspname || '.' || r.relname || '.' || tg.tgname,
       pg_get_triggerdef(tg.oid) || CASE WHEN tg.tgenabled = 'D' THEN ' DISABLED' ELSE '' END,
       quote_ident(tg.tgname)
FROM rel r JOIN pg_trigger tg ON tg.tgrelid = r.oid
WHERE NOT tg.tgisinternal
"""

_PG_BODY_14 = ("CASE WHEN p.prosqlbody IS NOT NULL AND p.prokind <> 'a' "
               "THEN pg_get_function_sqlbody(p.oid) ELSE p.prosrc END")


def _pg_query(version_num: int, given: bool, excluding: bool) -> str:
    return _PG_QUERY.format(
        ns=_PG_NAMESPACES_GIVEN if given else _PG_NAMESPACES_ALL,
        exclude=_PG_EXCLUDE if excluding else "",
        body=_PG_BODY_14 if version_num >= 140000 else "p.prosrc",
        generated="a.attgenerated" if version_num >= 120000 else "''::\"char\"",
    )


def _capture_postgresql(connection: sqlalchemy.engine.Connection, schemas: Sequence[str] | None,
                        excluded: tuple[str, ...]) -> Schema:
    version, version_num, saved = connection.execute(text(
        "SELECT current_setting('server_version'), current_setting('server_version_num')::int, "
        "current_setting('search_path')")).one()
    query = text(_pg_query(version_num, schemas is not None, bool(excluded)))
    params: dict[str, Any] = {}
    if schemas is not None:
        if not schemas:
            return Schema(connection.dialect.name, f"PostgreSQL {version.split()[0]}", {})
        query = query.bindparams(bindparam("schemas", expanding=True))
        params["schemas"] = list(schemas)
    if excluded:
        query = query.bindparams(bindparam("excluded", expanding=True))
        params["excluded"] = list(excluded)
    # Empty search_path: the catalog functions qualify every name then, so the snapshot does not
    # depend on the session's setting (a live target's role may have its own). Session-level, so
    # it holds outside a transaction too; restored afterwards (a rollback would restore it anyway).
    restore = text("SELECT set_config('search_path', :saved, false)")
    connection.execute(text("SELECT set_config('search_path', '', false)"))
    try:
        rows = connection.execute(query, params).all()
    except BaseException:
        with contextlib.suppress(sqlalchemy.exc.DBAPIError):
            connection.execute(restore, {"saved": saved})
        raise
    connection.execute(restore, {"saved": saved})

    objects: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for kind, name, definition, aux in rows:
        definition = definition or ""
        if kind == "column":
            if aux and aux in definition:  # a serial's own sequence: its name is noise
                definition = definition.replace(aux, OWNED_SEQUENCE)
        elif kind == "index":
            # The name is the key already; drop it from "CREATE INDEX name ON ...".
            definition = definition.replace(f" INDEX {aux} ON ", " INDEX ON ", 1)
        elif kind == "trigger":
            definition = definition.replace(f" TRIGGER {aux} ", " TRIGGER ", 1)
        elif kind == "function":
            definition = f"{definition} body:{_body_hash(aux)}"
        objects[kind][name] = _ws(definition)
    return Schema(connection.dialect.name, f"PostgreSQL {version.split()[0]}", objects)


# ---------------------------------------------------------------------------------------------
# MySQL / MariaDB: information_schema, one query per kind.

def _mysql_server(version: str) -> str:
    number = re.match(r"[0-9.]+", version)
    plain = number.group(0).rstrip(".") if number else version
    return f"MariaDB {plain}" if "mariadb" in version.lower() else f"MySQL {plain}"


def _capture_mysql(connection: sqlalchemy.engine.Connection, schemas: Sequence[str] | None,
                   excluded: tuple[str, ...]) -> Schema:
    version, current = connection.execute(text("SELECT VERSION(), DATABASE()")).one()
    server = _mysql_server(str(version))
    if schemas is None:
        if current is None:
            raise ValueError("the connection has no current database: name the schemas to capture")
        schemas = [current]
    dialect = connection.dialect.name
    if not schemas:
        return Schema(dialect, server, {})
    multi = len(schemas) > 1
    mariadb = bool(getattr(connection.dialect, "is_mariadb", False)) or "mariadb" in str(version).lower()

    def run(sql: str) -> list[Any]:
        query = text(sql).bindparams(bindparam("schemas", expanding=True))
        return list(connection.execute(query, {"schemas": list(schemas)}).all())

    def qual(schema: str, name: str) -> str:
        return f"{schema}.{name}" if multi else name

    def is_excluded(schema: str, table: str) -> bool:
        return table in excluded or f"{schema}.{table}" in excluded

    def unqualify(sql: str | None, schema: str) -> str:
        # Views and triggers come back with `db`.`t`: the scratch database's name is noise.
        out = sql or ""
        if not multi:
            out = out.replace(f"`{schema}`.", "")
        return _ws(out)

    objects: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    if multi:
        objects["schema"] = {s: "" for s in schemas}

    tables: set[tuple[str, str]] = set()
    for schema, table, table_type in run(
            "SELECT TABLE_SCHEMA, TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA IN :schemas"):
        if table_type == "BASE TABLE" and not is_excluded(schema, table):
            tables.add((schema, table))
            objects["table"][qual(schema, table)] = "table"
        elif table_type == "SEQUENCE":
            objects["sequence"][qual(schema, table)] = ""

    for schema, table, column, ctype, nullable, default, extra, generation in run(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, "
            "GENERATION_EXPRESSION FROM information_schema.COLUMNS WHERE TABLE_SCHEMA IN :schemas"):
        if (schema, table) not in tables:
            continue  # a view's, an excluded table's
        definition = str(ctype)
        if nullable == "NO":
            definition += " not null"
        extra_words = " ".join(w for w in str(extra or "").split() if w.upper() != "DEFAULT_GENERATED").lower()
        if generation:
            definition += f" generated always as ({generation})"
        elif default is not None and not (mariadb and default == "NULL"):
            # MariaDB gives defaults as SQL expressions ('x' quoted, NULL for none); MySQL the bare
            # value. A snapshot is only ever compared with one from the same kind of server.
            definition += f" default {default}"
        if extra_words:
            definition += f" {extra_words}"
        objects["column"][qual(schema, f"{table}.{column}")] = _ws(definition)

    # Constraints: kind and rules per name, then their columns.
    constraint_rows = run(
        "SELECT tc.CONSTRAINT_SCHEMA, tc.TABLE_NAME, tc.CONSTRAINT_NAME, tc.CONSTRAINT_TYPE, "
        "rc.UPDATE_RULE, rc.DELETE_RULE "
        "FROM information_schema.TABLE_CONSTRAINTS tc "
        "LEFT JOIN information_schema.REFERENTIAL_CONSTRAINTS rc ON rc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA "
        "AND rc.TABLE_NAME = tc.TABLE_NAME AND rc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "
        "WHERE tc.CONSTRAINT_SCHEMA IN :schemas")
    key_columns: dict[tuple[str, str, str], list[tuple[str, str | None, str | None, str | None]]] = {}
    for schema, table, name, column, ref_schema, ref_table, ref_column in run(
            "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, REFERENCED_TABLE_SCHEMA, "
            "REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE "
            "WHERE CONSTRAINT_SCHEMA IN :schemas ORDER BY CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME, "
            "ORDINAL_POSITION"):
        key_columns.setdefault((schema, table, name), []).append((column, ref_schema, ref_table, ref_column))
    checks: dict[tuple[str, str, str], str] = {}
    server_version = tuple(getattr(connection.dialect, "server_version_info", None) or ())
    if mariadb or server_version >= (8, 0, 16):
        table_column = "TABLE_NAME" if mariadb else "NULL"  # MySQL's check names are per database
        for schema, table, name, clause in run(
                f"SELECT CONSTRAINT_SCHEMA, {table_column}, CONSTRAINT_NAME, CHECK_CLAUSE "
                "FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA IN :schemas"):
            checks[(schema, table or "", name)] = _ws(unqualify(clause, schema))
    key_names: set[tuple[str, str, str]] = set()  # PRIMARY KEY / UNIQUE: also in STATISTICS
    for schema, table, name, ctype, on_update, on_delete in constraint_rows:
        if (schema, table) not in tables:
            continue
        cols = key_columns.get((schema, table, name), [])
        names = ", ".join(f"`{c[0]}`" for c in cols)
        if ctype in ("PRIMARY KEY", "UNIQUE"):
            key_names.add((schema, table, name))
            definition = f"{ctype} ({names})"
        elif ctype == "FOREIGN KEY":
            ref_schema, ref_table = (cols[0][1], cols[0][2]) if cols else ("", "")
            target = f"`{ref_table}`" if ref_schema == schema and not multi else f"`{ref_schema}`.`{ref_table}`"
            refs = ", ".join(f"`{c[3]}`" for c in cols)
            definition = f"FOREIGN KEY ({names}) REFERENCES {target} ({refs}) ON DELETE {on_delete} ON UPDATE {on_update}"
        elif ctype == "CHECK":
            clause = checks.get((schema, table if mariadb else "", name), "")
            definition = f"CHECK ({clause})"
        else:
            definition = str(ctype)
        objects["constraint"][qual(schema, f"{table}.{name}")] = definition

    index_parts: dict[tuple[str, str, str], list[str]] = {}
    index_head: dict[tuple[str, str, str], str] = {}
    for schema, table, name, non_unique, column, sub_part, collation, index_type in run(
            "SELECT TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, NON_UNIQUE, COLUMN_NAME, SUB_PART, COLLATION, INDEX_TYPE "
            "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA IN :schemas "
            "ORDER BY TABLE_SCHEMA, TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX"):
        key = (schema, table, name)
        if (schema, table) not in tables or key in key_names:
            continue
        index_head[key] = f"CREATE {'' if int(non_unique) else 'UNIQUE '}INDEX ON `{table}` USING {index_type}"
        part = f"`{column}`" if column is not None else "(expression)"
        if sub_part is not None:
            part += f"({sub_part})"
        if collation == "D":
            part += " DESC"
        index_parts.setdefault(key, []).append(part)
    for key, head in index_head.items():
        schema, table, name = key
        objects["index"][qual(schema, f"{table}.{name}")] = f"{head} ({', '.join(index_parts[key])})"

    for schema, view, definition in run(
            "SELECT TABLE_SCHEMA, TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS "
            "WHERE TABLE_SCHEMA IN :schemas"):
        objects["view"][qual(schema, view)] = unqualify(definition, schema)

    params: dict[tuple[str, str], list[str]] = {}
    for schema, routine, position, mode, pname, dtd in run(
            "SELECT SPECIFIC_SCHEMA, SPECIFIC_NAME, ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, "
            "DTD_IDENTIFIER FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA IN :schemas "
            "ORDER BY SPECIFIC_SCHEMA, SPECIFIC_NAME, ORDINAL_POSITION"):
        if int(position) == 0:
            continue  # a function's return value: ROUTINES has it
        params.setdefault((schema, routine), []).append(_ws(f"{mode or ''} {pname or ''} {dtd}"))
    for schema, routine, rtype, returns, body, deterministic, access in run(
            "SELECT ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE, DTD_IDENTIFIER, ROUTINE_DEFINITION, "
            "IS_DETERMINISTIC, SQL_DATA_ACCESS FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN :schemas"):
        args = ", ".join(params.get((schema, routine), []))
        definition = f"{str(rtype).lower()} ({args})" + (f" -> {returns}" if returns else "")
        definition += f"{' deterministic' if deterministic == 'YES' else ''} {str(access).lower()}"
        objects["function"][qual(schema, routine)] = f"{definition} body:{_body_hash(unqualify(body, schema))}"

    for schema, name, table, timing, event, orientation, statement in run(
            "SELECT TRIGGER_SCHEMA, TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, EVENT_MANIPULATION, "
            "ACTION_ORIENTATION, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN :schemas"):
        if (schema, table) not in tables:
            continue
        objects["trigger"][qual(schema, f"{table}.{name}")] = (
            f"{timing} {event} ON `{table}` FOR EACH {orientation} {unqualify(statement, schema)}")
    return Schema(dialect, server, objects)


# ---------------------------------------------------------------------------------------------
# SQLite: sqlite_master and the pragma table functions (with bound arguments).

_SQLITE_VIEW_HEAD = re.compile(
    r"^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[^\s(]+)(?:\s*\.\s*(?:\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[^\s(]+))?"
    r"\s*(?:\([^)]*\)\s*)?AS\s+", re.IGNORECASE | re.DOTALL)
_SQLITE_TRIGGER_HEAD = re.compile(
    r"^\s*CREATE\s+(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?:\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[^\s(]+)(?:\s*\.\s*(?:\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|[^\s(]+))?\s+",
    re.IGNORECASE | re.DOTALL)
_SQLITE_WHERE = re.compile(r"\bWHERE\b(.*)$", re.IGNORECASE | re.DOTALL)


def _sqlite_checks(sql: str) -> list[tuple[str | None, str]]:
    """(name or None, expression) of each CHECK in a CREATE TABLE: SQLite keeps them only in
    the statement's text. Skips quoted text; balances parentheses."""
    out: list[tuple[str | None, str]] = []
    i, n = 0, len(sql)
    upper = sql.upper()
    while i < n:
        ch = sql[i]
        if ch in "'\"`[":
            close = "]" if ch == "[" else ch
            j = sql.find(close, i + 1)
            i = n if j < 0 else j + 1
            continue
        if upper.startswith("CHECK", i) and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            j = i + 5
            while j < n and sql[j].isspace():
                j += 1
            if j < n and sql[j] == "(":
                depth, k = 0, j
                while k < n:
                    if sql[k] in "'\"`":
                        end = sql.find(sql[k], k + 1)
                        k = n if end < 0 else end + 1
                        continue
                    if sql[k] == "(":
                        depth += 1
                    elif sql[k] == ")":
                        depth -= 1
                        if depth == 0:
                            break
                    k += 1
                expression = _ws(sql[j + 1:k])
                head = re.search(r"CONSTRAINT\s+(\"(?:[^\"]|\"\")*\"|`[^`]*`|\[[^\]]*\]|\w+)\s*$",
                                 sql[:i], re.IGNORECASE)
                name = head.group(1).strip("\"`[]").replace('""', '"') if head else None
                out.append((name, expression))
                i = k + 1
                continue
        i += 1
    return out


def _capture_sqlite(connection: sqlalchemy.engine.Connection, schemas: Sequence[str] | None,
                    excluded: tuple[str, ...]) -> Schema:
    version = connection.execute(text("SELECT sqlite_version()")).scalar_one()
    server = f"SQLite {version}"
    schemas = list(schemas) if schemas is not None else ["main"]
    multi = len(schemas) > 1
    preparer = connection.dialect.identifier_preparer
    objects: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    if multi:
        objects["schema"] = {s: "" for s in schemas}
    for schema in schemas:
        master = f"{preparer.quote_identifier(schema)}.sqlite_master"  # a schema name cannot be bound

        def qual(name: str, schema: str = schema) -> str:
            return f"{schema}.{name}" if multi else name

        def is_excluded(table: str, schema: str = schema) -> bool:
            return table.startswith("sqlite_") or table in excluded or f"{schema}.{table}" in excluded

        entries = connection.execute(text(f"SELECT type, name, tbl_name, sql FROM {master}")).all()
        tables = {name for type_, name, _t, _s in entries if type_ == "table" and not is_excluded(name)}
        index_sql = {name: sql for type_, name, _t, sql in entries if type_ == "index"}
        for type_, name, table, sql in entries:
            if type_ == "table" and name in tables:
                objects["table"][qual(name)] = "table"
                for check_name, expression in _sqlite_checks(sql or ""):
                    key = check_name if check_name else f"CHECK ({expression})"
                    objects["constraint"][qual(f"{name}.{key}")] = f"CHECK ({expression})"
            elif type_ == "view":
                body = _SQLITE_VIEW_HEAD.sub("", sql or "", count=1)
                objects["view"][qual(name)] = _ws(body)
            elif type_ == "trigger" and table in tables:
                objects["trigger"][qual(f"{table}.{name}")] = _ws(_SQLITE_TRIGGER_HEAD.sub("", sql or "", count=1))

        args = {"schema": schema}
        primary: dict[str, list[tuple[int, str]]] = {}
        for table, name, ctype, notnull, default, pk, hidden in connection.execute(text(
                f"SELECT m.name, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk, p.hidden FROM {master} m "
                "JOIN pragma_table_xinfo(m.name, :schema) p WHERE m.type = 'table' ORDER BY m.name, p.cid"),
                args):
            if table not in tables:
                continue
            # SQLite types are case-insensitive, and Alembic's batch mode writes them in capitals.
            definition = _ws(ctype).lower() or "(no type)"
            if notnull:
                definition += " not null"
            if hidden in (2, 3):
                definition += " generated" + (" stored" if hidden == 3 else " virtual")
            elif default is not None:
                definition += f" default {_ws(default)}"
            if pk:
                primary.setdefault(table, []).append((int(pk), name))
            objects["column"][qual(f"{table}.{name}")] = definition
        for table, cols in primary.items():
            names = ", ".join(preparer.quote(c) for _, c in sorted(cols))
            objects["constraint"][qual(f"{table}.PRIMARY KEY")] = f"PRIMARY KEY ({names})"

        fks: dict[tuple[str, int], list[Any]] = {}
        for row in connection.execute(text(
                f"SELECT m.name, f.id, f.seq, f.\"table\", f.\"from\", f.\"to\", f.on_update, f.on_delete "
                f"FROM {master} m JOIN pragma_foreign_key_list(m.name, :schema) f WHERE m.type = 'table' "
                "ORDER BY m.name, f.id, f.seq"), args):
            if row[0] in tables:
                fks.setdefault((row[0], int(row[1])), []).append(row)
        for (table, _id), rows in fks.items():
            local = ", ".join(preparer.quote(r[4]) for r in rows)
            remote = ", ".join(preparer.quote(r[5]) if r[5] is not None else "?" for r in rows)
            target = preparer.quote(rows[0][3])
            definition = f"FOREIGN KEY ({local}) REFERENCES {target} ({remote})"
            definition += f" ON DELETE {rows[0][7]} ON UPDATE {rows[0][6]}"
            # Unnamed in SQLite's catalog: keyed by what they are.
            objects["constraint"][qual(f"{table}.FOREIGN KEY ({local}) REFERENCES {target}")] = definition

        index_cols: dict[tuple[str, str], list[str]] = {}
        index_meta: dict[tuple[str, str], tuple[int, str, int]] = {}
        for table, index, unique, origin, partial, cid, cname, desc, coll in connection.execute(text(
                f"SELECT m.name, il.name, il.\"unique\", il.origin, il.partial, ix.cid, ix.name, ix.\"desc\", ix.coll "
                f"FROM {master} m JOIN pragma_index_list(m.name, :schema) il "
                "JOIN pragma_index_xinfo(il.name, :schema) ix "
                "WHERE m.type = 'table' AND ix.\"key\" = 1 ORDER BY m.name, il.name, ix.seqno"), args):
            if table not in tables:
                continue
            key = (table, index)
            index_meta[key] = (int(unique), str(origin), int(partial))
            part = preparer.quote(cname) if cname is not None else "(expression)" if cid == -2 else "rowid"
            if coll and str(coll).upper() != "BINARY":
                part += f" COLLATE {coll}"
            if desc:
                part += " DESC"
            index_cols.setdefault(key, []).append(part)
        for (table, index), (unique, origin, partial) in index_meta.items():
            cols = ", ".join(index_cols[(table, index)])
            if origin == "pk":
                continue  # the primary key, above
            if origin == "u":
                objects["constraint"][qual(f"{table}.UNIQUE ({cols})")] = f"UNIQUE ({cols})"
                continue
            definition = f"CREATE {'UNIQUE ' if unique else ''}INDEX ON {preparer.quote(table)} ({cols})"
            sql = index_sql.get(index) or ""
            if "(expression)" in cols:
                definition = _ws(sql)  # expressions: only the statement has them (WHERE too)
            elif partial:
                where = _SQLITE_WHERE.search(sql)
                definition += f" WHERE {_ws(where.group(1)) if where else '?'}"
            objects["index"][qual(index)] = definition
    return Schema(connection.dialect.name, server, objects)
