"""``migrate`` and ``init``: both databases to latest, relational first, under one lock.

Each step is idempotent, so ``init`` run twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.core.events import Notice
from migctl.core.ops.target import Target
from migctl.core.relational.plan import Plan
from migctl.core.vector.migrator import VectorPlan


@dataclass
class MigratePlan:
    relational: Plan
    vector: VectorPlan | None
    # init only, and done only after the confirmation:
    create_database: str | None = None  # the database does not exist yet
    create_extension: bool = False  # PostgreSQL's vector extension is missing
    vector_deferred: int = 0  # vector migrations planned once the new database exists

    @property
    def empty(self) -> bool:
        return (self.relational.empty and (self.vector is None or self.vector.empty)
                and not (self.create_database or self.create_extension or self.vector_deferred))

    def preamble(self) -> list[str]:
        """What ``init`` does before the migrations, as the confirmation shows it."""
        out = []
        if self.create_database:
            out.append(f"create database {self.create_database}")
        if self.create_extension:
            out.append("create extension vector")
        if self.vector_deferred:
            out.append(f"vector: {self.vector_deferred} migration(s), planned once the database exists")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {"relational": self.relational.as_dict(), "vector": self.vector.as_dict() if self.vector else None,
                "create_database": self.create_database, "create_extension": self.create_extension,
                "vector_deferred": self.vector_deferred}


@dataclass
class MigrateResult:
    relational_applied: list[str] = field(default_factory=list)
    vector_applied: list[str] = field(default_factory=list)
    seeded: list[str] = field(default_factory=list)
    created_database: bool = False


async def plan_migrate(api: Target, *, skip_vector: bool, with_sql: bool = False, init: bool = False) -> MigratePlan:
    """Touches nothing: for ``init`` a missing database or extension is planned, not made (and
    the vector side, whose pgvector store would make them on connecting, is planned after)."""
    deferred = 0 if skip_vector else len(api.vector.chain.migrations)
    if init and await database_missing(api):
        relational = await api.relational.plan_from_base("upgrade", "heads", with_sql=with_sql)
        return MigratePlan(relational, None, create_database=_database_name(api.url),
                           create_extension=api.vector_configured and _is_postgres(api.url),
                           vector_deferred=deferred)
    extension = init and api.vector_configured and not await _has_vector_extension(api)
    relational = await api.plan_upgrade("heads", with_sql=with_sql)
    if extension and api.vector.settings.store == "pgvector":
        return MigratePlan(relational, None, create_extension=True, vector_deferred=deferred)
    vector = None if skip_vector else await api.vector.plan("upgrade", None)
    return MigratePlan(relational, vector, create_extension=extension)


async def execute_migrate(api: Target, plan: MigratePlan, *, confirm_env: str | None,
                          seed: bool = False, action: str = "migrate", allow_broken: bool = False) -> MigrateResult:
    """After the confirmation: the database and extension ``init`` planned, then relational,
    then vector, all one guarded run (one audit row of its own, one per side within it)."""
    result = MigrateResult()
    guard = api.relational.guard
    if plan.create_database:
        guard.check_unreachable(confirm_env)  # no database yet, so only the environment's flag
        result.created_database = await ensure_database(api)
    async with guard.run(action, "heads", confirm_env, lock_timeout=api.lock_timeout) as run:
        await run.begin()
        if plan.create_extension:
            await ensure_vector_extension(api)
        if not plan.relational.empty:
            done = await api.relational.execute(plan.relational, strict=False, confirm_env=confirm_env, within=run,
                                                allow_broken=allow_broken)
            result.relational_applied = [r for r, _, _ in done.applied]
        if seed:
            result.seeded = await run_seed_sql(api)
        vector = plan.vector
        if vector is None and plan.vector_deferred:
            vector = await api.vector.plan("upgrade", None)
        if vector is not None:
            result.vector_applied = await api.vector.execute(vector, confirm_env=confirm_env, within=run,
                                                             allow_broken=allow_broken)
    return result


def _is_postgres(url: str) -> bool:
    from migctl.core.db import dialect_of

    return dialect_of(url) == "postgresql"


def _database_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database or ""


async def database_missing(api: Target) -> bool:
    """PostgreSQL only: whether the configured database does not exist yet (reads nothing else)."""
    from migctl.core.errors import ConnectionFailed
    from migctl.core.guard import database_missing as missing

    if not _is_postgres(api.url):
        return False
    try:
        async with api.relational.connection():
            return False
    except ConnectionFailed as exc:
        if not missing(exc, api.url):
            raise
    return True


async def _has_vector_extension(api: Target) -> bool:
    from sqlalchemy import text

    if not _is_postgres(api.url):
        return True
    async with api.relational.connection() as conn:
        return (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))).first() is not None


async def ensure_database(api: Target) -> bool:
    """Create the configured PostgreSQL database when it is missing and the role may."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from migctl.core.db import connect, create_engine

    if not await database_missing(api):
        return False
    url = make_url(api.url)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    engine = create_engine(maintenance)
    try:
        conn = await connect(engine, maintenance)
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            quoted = conn.dialect.identifier_preparer.quote_identifier(url.database or "")
            await conn.execute(text(f"CREATE DATABASE {quoted}"))
        finally:
            await conn.close()
    finally:
        await engine.dispose()
    api.sink(Notice(f"created database {url.database}"))
    return True


async def ensure_vector_extension(api: Target) -> None:
    from sqlalchemy import text

    from migctl.core.db import dialect_of

    if dialect_of(api.url) != "postgresql":
        return
    async with api.relational.connection() as conn:
        exists = (await conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'vector'"))).first()
        if not exists:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))


async def run_seed_sql(api: Target, directory: Path | None = None) -> list[str]:
    """Run the environment's ``seed_sql:`` folder (``*.sql`` in name order) on PostgreSQL;
    the scripts are meant to be idempotent. Nothing when none is configured."""
    from migctl.core.db import dialect_of

    directory = directory or api.environment.seed_dir
    if directory is None or dialect_of(api.url) != "postgresql":
        return []
    files = sorted(directory.glob("*.sql")) if directory.is_dir() else []
    async with api.relational.connection() as conn:
        for path in files:
            script = path.read_text(encoding="utf-8")
            # The driver's own execute: a script of several statements, its % signs left alone.
            await conn.run_sync(lambda sync, sql=script: sync.connection.driver_connection.execute(sql))
    return [p.name for p in files]
