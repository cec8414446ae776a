"""The one facade both shells (and applications) call.

``Migctl.open(...)`` resolves the environment (starting the embedded server when it is the
target); its methods are async and return plain dataclasses and dicts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from migctl.core.config import Environment, load_environment
from migctl.core.events import EventSink, ignore
from migctl.core.relational.graph import RevisionGraph
from migctl.core.relational.plan import Plan
from migctl.core.relational.service import ExecutionResult, RelationalService

__all__ = ["Migctl", "Plan", "RevisionGraph", "ExecutionResult", "run_migrations_on_startup"]


class Migctl:
    """An environment plus the services that act on it."""

    def __init__(self, environment: Environment, url: str, sink: EventSink = ignore,
                 lock_timeout: float = 0.0, vector_store_type: str | None = None) -> None:
        self.environment = environment
        self.url = url
        self.lock_timeout = lock_timeout
        self.vector_store_type = vector_store_type
        self.relational = RelationalService(environment, url, sink)
        self._vector: Any = None

    @classmethod
    def open(cls, config_file: str | None = None, env: str | None = None, database_url: str | None = None,
             sink: EventSink = ignore, lock_timeout: float = 0.0,
             environment: Environment | None = None, vector_store_type: str | None = None) -> Migctl:
        """Resolve configuration (or take a resolved ``environment``); with ``database_url:
        embedded``, start the embedded PostgreSQL."""
        if environment is None:
            environment = load_environment(config_file=config_file, env=env, database_url=database_url,
                                           vector_store_type=vector_store_type)
        url = environment.database_url
        if url is None and environment.embedded:
            from migctl.core.embedded import EmbeddedPostgres

            url = EmbeddedPostgres(environment.state_dir).ensure_running().url
        elif url is None:
            from migctl.core.config import no_url_message
            from migctl.core.errors import UsageError

            raise UsageError(no_url_message(environment))
        return cls(environment, url, sink, lock_timeout, vector_store_type)

    @property
    def vector_configured(self) -> bool:
        """Whether this environment has a vector side at all (see ``Environment.vector_configured``)."""
        return self.environment.vector_configured or self.vector_store_type is not None

    @property
    def sink(self) -> EventSink:
        return self.relational.sink

    @sink.setter
    def sink(self, value: EventSink) -> None:
        self.relational.sink = value
        if self._vector is not None:
            self._vector.sink = value

    @property
    def vector(self) -> Any:
        """The vector side (``core.vector.service.VectorService``), created on first use so a
        relational command never imports a vector client. A :class:`UsageError` when the
        environment configures no vector store."""
        if self._vector is None:
            from migctl.core.vector.service import VectorService
            from migctl.core.vector.settings import vector_settings

            settings = vector_settings(self.environment, self.vector_store_type)
            self._vector = VectorService(self.environment, settings, self.relational, self.relational.sink)
        return self._vector

    async def close(self) -> None:
        """Close the connections migctl keeps open between calls."""
        if self._vector is not None:
            await self._vector.close()
        await self.relational.close()

    async def __aenter__(self) -> Migctl:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # Reading
    async def history(self) -> RevisionGraph:
        return await self.relational.history()

    async def current(self) -> tuple[str, ...]:
        return await self.relational.current()

    async def status(self, vector: bool = False) -> dict[str, Any]:
        rel = await self.relational.status()
        lock = rel.pop("lock")
        out = {
            "environment": self.environment.name,
            "protected": self.environment.protected,
            "embedded": self.environment.embedded,
            "url_source": self.environment.source,
            "relational": rel,
            "lock": lock,
            "vector_configured": self.vector_configured,
        }
        if vector and self.vector_configured:
            out["vector"] = await self.vector.status()
        return out

    async def audit(self, limit: int = 20) -> list[dict[str, Any]]:
        return await self.relational.audit_log(limit)

    # Planning
    async def plan_upgrade(self, target: str = "heads", with_sql: bool = True) -> Plan:
        return await self.relational.plan("upgrade", target, with_sql=with_sql)

    async def plan_downgrade(self, target: str, with_sql: bool = True) -> Plan:
        return await self.relational.plan("downgrade", target, with_sql=with_sql)

    async def plan_stamp(self, target: str, purge: bool = False, with_sql: bool = True) -> Plan:
        return await self.relational.plan("stamp", target, purge=purge, with_sql=with_sql)

    async def rows_at_risk(self, plan: Plan) -> list[tuple[str, str, int | None]]:
        """(table, drop / truncate / drop column of, rows now) for the plan's destructive SQL."""
        return await self.relational.rows_at_risk(plan)

    async def offline_sql(self, action: str, target: str, start: str | None = None) -> str:
        return await self.relational.offline_sql(action, target, start)

    # Changing
    async def execute(self, plan: Plan, *, strict: bool = True, confirm_env: str | None = None,
                      allow_drift: bool = False) -> ExecutionResult:
        return await self.relational.execute(plan, lock_timeout=self.lock_timeout, strict=strict,
                                             confirm_env=confirm_env, allow_drift=allow_drift)

    async def record_refusal(self, action: str, target: str | None, reason: str) -> None:
        await self.relational.record_refusal(action, target, reason)

    async def merge(self, revisions: Sequence[str], message: str | None = None) -> str:
        return await self.relational.merge(list(revisions), message)

    async def revision(self, message: str, *, autogenerate: bool = False, empty: bool = False) -> list[str]:
        return await self.relational.revision(message, autogenerate=autogenerate, empty=empty)


def run_migrations_on_startup(config_file: str | None = None, env: str | None = None,
                              target: str = "heads", lock_timeout: float = 60.0) -> ExecutionResult:
    """Bring the database to ``target`` when an application starts (blocking).

    Waits up to ``lock_timeout`` seconds for another instance that is migrating, then finds
    nothing left to do. Protected environments are upgraded too: start-up is the operator's
    explicit choice to deploy.
    """

    async def run() -> ExecutionResult:
        async with Migctl.open(config_file=config_file, env=env, lock_timeout=lock_timeout) as api:
            plan = await api.plan_upgrade(target, with_sql=False)
            return await api.execute(plan, strict=False, confirm_env=api.environment.name)

    return asyncio.run(run())
