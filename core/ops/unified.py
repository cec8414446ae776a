"""``migrate`` and ``init``: both databases to latest, relational first, under one lock.

Each step is idempotent, so ``init`` run twice changes nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.core.events import Notice
from migctl.core.lock import MigrationLock
from migctl.core.ops.target import Target
from migctl.core.relational.plan import Plan
from migctl.core.vector.migrator import VectorPlan


@dataclass
class MigratePlan:
    relational: Plan
    vector: VectorPlan | None

    @property
    def empty(self) -> bool:
        return self.relational.empty and (self.vector is None or self.vector.empty)

    def as_dict(self) -> dict[str, Any]:
        return {"relational": self.relational.as_dict(), "vector": self.vector.as_dict() if self.vector else None}


@dataclass
class MigrateResult:
    relational_applied: list[str] = field(default_factory=list)
    vector_applied: list[str] = field(default_factory=list)
    seeded: list[str] = field(default_factory=list)
    created_database: bool = False


async def plan_migrate(api: Target, *, skip_vector: bool, with_sql: bool = False) -> MigratePlan:
    relational = await api.plan_upgrade("heads", with_sql=with_sql)
    vector = None if skip_vector else await api.vector.plan("upgrade", None)
    return MigratePlan(relational, vector)


async def execute_migrate(api: Target, plan: MigratePlan, *, confirm_env: str | None,
                          seed: bool = False, action: str = "migrate") -> MigrateResult:
    """Relational first, then vector, holding one migration lock for both."""
    result = MigrateResult()
    lock = MigrationLock(api.url, action, api.lock_timeout, api.sink)
    await lock.acquire_audited(lambda reason: api.record_refusal(action, "heads", reason))
    try:
        if not plan.relational.empty:
            done = await api.relational.execute(plan.relational, strict=False, confirm_env=confirm_env,
                                                lock_held=True)
            result.relational_applied = [r for r, _, _ in done.applied]
        elif api.environment.protected and confirm_env != api.environment.name:
            await api.relational.execute(plan.relational, confirm_env=confirm_env, lock_held=True)
        if seed:
            result.seeded = await run_seed_sql(api)
        if plan.vector is not None:
            result.vector_applied = await api.vector.execute(plan.vector, confirm_env=confirm_env, lock_held=True)
    finally:
        await lock.release()
    return result


async def ensure_database(api: Target) -> bool:
    """Create the configured PostgreSQL database when it is missing and the role may."""
    from sqlalchemy.engine import make_url

    from migctl.core.db import connect, create_engine, dialect_of
    from migctl.core.errors import ConnectionFailed

    if dialect_of(api.url) != "postgresql":
        return False
    try:
        async with api.relational.connection():
            return False
    except ConnectionFailed as exc:
        if "does not exist" not in str(exc):
            raise
    url = make_url(api.url)
    maintenance = url.set(database="postgres").render_as_string(hide_password=False)
    engine = create_engine(maintenance)
    try:
        conn = await connect(engine, maintenance)
        try:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            from sqlalchemy import text

            name = url.database or ""
            await conn.execute(text('CREATE DATABASE "' + name.replace('"', '""') + '"'))
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
