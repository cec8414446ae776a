"""``reset`` and ``restore``: drop everything migctl manages, after a backup; bring it back.

The plan lists every table and collection with its row count before anything happens. The
backup is ``pg_dump -Fc`` of the relational database (which holds pgvector collections too)
plus, for Milvus, each collection's schema and rows as JSON Lines. migctl's own audit table
survives a reset, so the reset itself stays on record.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from migctl.core.errors import OperationFailed, UsageError
from migctl.core.events import Notice
from migctl.core.ops.target import Target
from migctl.core.secrets import libpq_child

KEEP_PREFIX = "migctl_"


@dataclass
class ResetPlan:
    environment: str
    tables: list[tuple[str, int]] = field(default_factory=list)  # "schema.table", rows
    views: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    collections: list[tuple[str, int]] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    vector_store: str | None = None
    backup: bool = True
    scope: str = "both"  # "both", "relational" or "vector"
    # (schema, name) of each table and view, by the "schema.name" shown above: names are
    # quoted from these parts, never from the shown text (a name may hold a dot or a quote).
    relations: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "tables": [{"name": n, "rows": r} for n, r in self.tables],
                "views": self.views, "functions": self.functions, "vector_store": self.vector_store,
                "collections": [{"name": n, "rows": r} for n, r in self.collections], "aliases": self.aliases,
                "backup": self.backup, "scope": self.scope}

    def lines(self) -> list[str]:
        scope = {"both": "", "relational": " (relational side only)", "vector": " (vector side only)"}[self.scope]
        out = [f"Reset plan for {self.environment}{scope}: everything below is dropped"]
        out += [f"  table      {n:<40} {r:>10} {_rows(r)}" for n, r in self.tables]
        out += [f"  view       {v}" for v in self.views]
        out += [f"  function   {f}" for f in self.functions]
        if self.vector_store:
            out += [f"  collection {n:<40} {r:>10} {_rows(r)} ({self.vector_store})" for n, r in self.collections]
            out += [f"  alias      {a}" for a in self.aliases]
        out.append("  backup first: " + ("yes (.migctl/backups/...)" if self.backup else "NO (--no-backup)"))
        return out


def _rows(count: object) -> str:
    return "row" if count == 1 else "rows"


def quote_relation(*parts: str) -> str:
    """``"schema"."name"`` quoted by SQLAlchemy's PostgreSQL dialect (quotes doubled), for names
    read from the catalog or the config."""
    from sqlalchemy.dialects.postgresql import dialect

    preparer = dialect().identifier_preparer
    return ".".join(preparer.quote_identifier(part) for part in parts)


async def plan_reset(api: Target, *, skip_vector: bool, backup: bool = True,
                     skip_relational: bool = False) -> ResetPlan:
    """What a reset drops, with row counts; touches nothing.

    ``skip_relational`` keeps the Alembic side and drops only the vector side: the Milvus
    collections or pgvector's collection schema, and the ``vector_db_migrations`` tracking.
    """
    from sqlalchemy import text

    from migctl.core.errors import UsageError

    if skip_vector and skip_relational:
        raise UsageError("nothing to reset: both sides skipped")
    scope = "relational" if skip_vector else "vector" if skip_relational else "both"
    plan = ResetPlan(api.environment.name, backup=backup, scope=scope)
    pg_schema = api.vector.settings.schema if not skip_vector and api.vector.settings.store == "pgvector" else None
    async with api.relational.connection() as conn:
        rows = (await conn.execute(text(
            "SELECT n.nspname, c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
            "AND d.deptype = 'e') ORDER BY 1, 2"))).all()
        for schema, name, kind in rows:
            if name.startswith(KEEP_PREFIX):
                continue
            if skip_relational and schema != pg_schema and name != "vector_db_migrations":
                continue
            qualified = f"{schema}.{name}"
            plan.relations[qualified] = (schema, name)
            if kind in ("v", "m"):
                plan.views.append(qualified)
            else:
                count = (await conn.execute(text(f"SELECT count(*) FROM {quote_relation(schema, name)}"))).scalar()
                plan.tables.append((qualified, int(count or 0)))
        if not skip_relational:
            plan.functions = [r[0] for r in (await conn.execute(text(
                "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid "
                "AND d.deptype = 'e') ORDER BY 1"))).all()]
    if not skip_vector and api.vector.settings.store == "milvus":
        store = await api.vector.store()
        plan.vector_store = f"milvus {api.vector.settings.address}"
        for name in await store.list_collections():
            plan.collections.append((name, await store.count(name)))
        plan.aliases = sorted(await store.list_aliases())
    return plan


def _pg_tool(name: str) -> str:
    from migctl.core.embedded import bin_dir

    return str(bin_dir(f"the backup before a reset ({name})") / name)


async def backup(api: Target, plan: ResetPlan, root: Path) -> Path:
    """``pg_dump -Fc`` plus Milvus collections as JSON Lines, in a new timestamped folder."""
    import asyncio

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = root / f"{api.environment.name}-{stamp}"
    folder.mkdir(parents=True, exist_ok=False)
    dump = folder / "relational.dump"
    with libpq_child(api.url) as (url, env):  # the password in neither argv nor environment
        proc = await asyncio.to_thread(subprocess.run, [_pg_tool("pg_dump"), "-Fc", "--exclude-table=migctl_audit*",
                                                        "--exclude-table=migctl_lock",
                                                        "--exclude-table=migctl_protection", "-f", str(dump), url],
                                       env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise OperationFailed(f"pg_dump failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
    manifest: dict[str, Any] = {"environment": api.environment.name, "created": stamp, "relational": dump.name,
                                "tables": dict(plan.tables), "collections": {}, "aliases": {}}
    if plan.vector_store:
        store = await api.vector.store()
        manifest["aliases"] = await store.list_aliases()
        for name, _rows in plan.collections:
            live = await store.describe(name)
            path = folder / f"collection-{name}.jsonl"
            count = 0
            with path.open("w", encoding="utf-8") as fh:
                after = None
                pk = live.primary.name if live and live.primary else "id"
                while True:
                    batch = await store.read_batch(name, after, 2000)
                    if not batch:
                        break
                    for row in batch:
                        fh.write(json.dumps(row, default=float) + "\n")
                    count += len(batch)
                    after = batch[-1][pk]
            manifest["collections"][name] = {
                "file": path.name, "rows": count,
                "fields": [f.__dict__ for f in live.fields] if live else [],
                "index": live.index.as_dict() if live and live.index else None}
            api.sink(Notice(f"backed up {name}: {count} rows"))
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return folder


def _scope_target(plan: ResetPlan) -> str:
    return "all" if plan.scope == "both" else plan.scope


def _same_objects(a: ResetPlan, b: ResetPlan) -> bool:
    """Whether two plans drop the same objects (row counts may move; names may not)."""
    def names(p: ResetPlan) -> tuple[Any, ...]:
        return ([n for n, _ in p.tables], p.views, p.functions, [n for n, _ in p.collections], p.aliases)

    return names(a) == names(b)


async def execute_reset(api: Target, plan: ResetPlan, *, confirm_env: str | None) -> Path | None:
    """Back up (unless told not to), then drop every planned object, through the guard.

    The plan is made again under the lock: objects created or dropped since it was shown
    refuse the reset (exit 3), so a stale plan never leaves half a schema behind."""
    from sqlalchemy import text

    folder = None
    async with api.relational.guard.run("reset", _scope_target(plan), confirm_env,
                                        lock_timeout=api.lock_timeout) as run:
        fresh = await plan_reset(api, skip_vector=plan.scope == "relational", backup=plan.backup,
                                 skip_relational=plan.scope == "vector")
        if not _same_objects(plan, fresh):
            await run.refuse("the database changed since the reset plan was made; plan again")
        plan = fresh
        await run.begin()
        try:
            if plan.backup:
                folder = await backup(api, plan, api.environment.state_dir / "backups")
            async with api.relational.connection() as conn:
                for view in plan.views:
                    await conn.execute(text(f"DROP VIEW IF EXISTS {quote_relation(*plan.relations[view])} CASCADE"))
                for table, _rows in plan.tables:
                    await conn.execute(text(f"DROP TABLE IF EXISTS {quote_relation(*plan.relations[table])} CASCADE"))
                for function in plan.functions:
                    await conn.execute(text(f"DROP FUNCTION IF EXISTS {function} CASCADE"))
                if plan.scope != "vector":
                    await conn.execute(text("DROP EXTENSION IF EXISTS vector CASCADE"))
                schema = (api.vector.settings.schema if plan.scope != "relational"
                          and api.vector.settings.store == "pgvector" else None)
                if schema and schema != "public":
                    await conn.execute(text(f"DROP SCHEMA IF EXISTS {quote_relation(schema)} CASCADE"))
                if plan.scope != "vector":
                    await conn.execute(text("DELETE FROM migctl_revision_checksums"))
            if plan.vector_store:
                store = await api.vector.store()
                for alias in await store.list_aliases():
                    await store.drop_alias(alias)
                for name in await store.list_collections():
                    await store.drop_collection(name)
        except Exception as exc:
            from migctl.core.db import first_line

            if isinstance(exc, OperationFailed):
                raise
            raise OperationFailed(f"reset failed: {first_line(exc)}"
                                  + (f"; the backup is in {folder}" if folder else "")) from None
        run.after = ()
    return folder


def read_manifest(folder: Path) -> dict[str, Any]:
    """A backup's ``manifest.json``, checked before anything runs: garbage, a list or a file
    name pointing outside the folder is a usage error naming the manifest, not an exception
    half-way through a restore."""
    path = folder / "manifest.json"
    if not path.is_file():
        raise UsageError(f"not a migctl backup (no manifest.json): {folder}")

    def bad(why: str) -> UsageError:
        return UsageError(f"{path}: not a migctl backup manifest: {why}")

    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise bad(f"invalid JSON ({str(exc).splitlines()[0][:80]})") from None
    except OSError as exc:
        raise bad(exc.strerror or str(exc)) from None

    def member(value: Any, key: str) -> None:  # a file of this folder, by plain name
        if not isinstance(value, str) or Path(value).name != value or not (folder / value).is_file():
            raise bad(f"{key} must name a file in {folder}")

    if not isinstance(manifest, dict):
        raise bad("expected a JSON object")
    member(manifest.get("relational"), "relational")
    for key in ("tables", "collections", "aliases"):
        if not isinstance(manifest.get(key, {}), dict):
            raise bad(f"{key} must be an object")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in manifest.get("aliases", {}).items()):
        raise bad("aliases must map names to collection names")
    for name, info in manifest.get("collections", {}).items():
        if not isinstance(info, dict) or not isinstance(info.get("fields"), list) or not all(
                isinstance(f, dict) for f in info["fields"]):
            raise bad(f"collections.{name} needs a list of fields")
        member(info.get("file"), f"collections.{name}.file")
        index = info.get("index")
        if index is None:  # a collection without an index is backed up so
            continue
        if not isinstance(index, dict) or not isinstance(index.get("params", {}), dict) or not all(
                isinstance(index.get(k), str) for k in ("field", "index_type", "metric")):
            raise bad(f"collections.{name}.index needs field, index_type, metric and params")
    return manifest


async def restore(api: Target, folder: Path, *, confirm_env: str | None) -> dict[str, Any]:
    """Load a backup made by ``reset`` through the guard, audited either way."""
    manifest = read_manifest(folder)
    async with api.relational.guard.run("restore", str(folder), confirm_env,
                                        lock_timeout=api.lock_timeout) as run:
        await run.begin()
        from migctl.core import audit

        try:
            restored = await _load_backup(api, folder, manifest)
        finally:
            # A backup of an older migctl may carry the audit's id sequence, now set back.
            await audit.ensure_tables(run.conn)
            await audit.resync_ids(run.conn)
    return restored


async def _load_backup(api: Target, folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """The relational dump through pg_restore, then each collection's rows and the aliases."""
    import asyncio

    from migctl.core.vector.templates import CollectionSpec, FieldSpec, IndexSpec

    restored: dict[str, Any] = {"tables": 0, "collections": {}}
    with libpq_child(api.url) as (url, env):
        proc = await asyncio.to_thread(subprocess.run, [
            _pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--exclude-schema=pg_catalog",
            "-d", url, str(folder / manifest["relational"])], env=env, capture_output=True, text=True)
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln and "migctl_audit" not in ln]
    if proc.returncode != 0 and errors:
        raise OperationFailed(f"pg_restore failed: {errors[-1]}")
    restored["tables"] = len(manifest.get("tables", {}))
    if manifest.get("collections"):
        store = await api.vector.store()
        for name, info in manifest["collections"].items():
            fields = tuple(FieldSpec(**f) for f in info["fields"])
            ix = info["index"]
            index = IndexSpec(ix["field"], ix["index_type"], ix["metric"], tuple(sorted(ix["params"].items())))
            await store.create_collection(CollectionSpec(name, fields, index))
            batch: list[dict[str, Any]] = []
            with (folder / info["file"]).open(encoding="utf-8") as fh:
                for line in fh:
                    batch.append(json.loads(line))
                    if len(batch) == 2000:
                        await store.write_batch(name, batch)
                        batch = []
            if batch:
                await store.write_batch(name, batch)
            restored["collections"][name] = await store.count(name)
        for alias, collection in manifest.get("aliases", {}).items():
            if alias not in await store.list_aliases():
                await store.create_alias(alias, collection)
    return restored
