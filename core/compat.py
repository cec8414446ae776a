"""The Python names of the system migctl replaces, kept so its callers work unchanged.

``VectorDBMigrator("milvus"|"pgvector")`` with ``create_migration`` and ``apply_migration``, and
``DatabaseInitializer().initialize_all(...)``: blocking wrappers over :mod:`core.api`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from migctl.core.api import Migctl


class VectorDBMigrator:
    """Versioned vector migrations for one store type."""

    def __init__(self, vector_store_type: str = "milvus", config_file: str | None = None,
                 env: str | None = None, confirm_env: str | None = None) -> None:
        """``confirm_env``: the protected name, when the caller means to change a protected
        database (as ``--confirm-env`` does); without it a protected database is refused."""
        self.vector_store_type = vector_store_type
        self.config_file = config_file
        self.env = env
        self.confirm_env = confirm_env

    def _run(self, fn: Any) -> Any:
        async def go() -> Any:
            async with Migctl.open(self.config_file, self.env, vector_store_type=self.vector_store_type,
                                   lock_timeout=60) as api:
                return await fn(api)

        return asyncio.run(go())

    def create_migration(self, description: str, collections_to_create: list[str] | None = None) -> str:
        """Write the next numbered migration file; returns its path."""

        async def fn(api: Migctl) -> str:
            return api.vector.create_migration(description, list(collections_to_create or []))

        return self._run(fn)

    def apply_migration(self, version: str | None = None) -> list[str]:
        """Apply pending migrations up to ``version`` (default: all); returns the versions applied."""

        async def fn(api: Migctl) -> list[str]:
            plan = await api.vector.plan("upgrade", version)
            return await api.vector.execute(plan, confirm_env=self.confirm_env, lock_timeout=api.lock_timeout)

        return self._run(fn)

    def get_status(self) -> dict[str, Any]:
        return self._run(lambda api: api.vector.status())


class DatabaseInitializer:
    """Both databases to latest; ``force_recreate`` resets (with a backup) first."""

    def __init__(self, config_file: str | None = None, env: str | None = None,
                 confirm_env: str | None = None) -> None:
        """``confirm_env``: as for :class:`VectorDBMigrator`; a protected database is refused without it."""
        self.config_file = config_file
        self.env = env
        self.confirm_env = confirm_env

    def initialize_all(self, force_recreate: bool = False, skip_vector_db: bool = False,
                       vector_store_type: str | None = None) -> dict[str, Any]:
        """``vector_store_type``: overrides the environment's store; ``None`` keeps its own (a
        relational-only environment stays relational-only)."""

        async def go() -> dict[str, Any]:
            async with Migctl.open(self.config_file, self.env, lock_timeout=60,
                                   vector_store_type=vector_store_type) as api:
                skip_vector = skip_vector_db or not api.vector_configured
                backup = None
                if force_recreate:
                    plan = await api.plan_reset(skip_vector=skip_vector)
                    backup = await api.execute_reset(plan, confirm_env=self.confirm_env)
                plan = await api.plan_migrate(skip_vector=skip_vector, init=True)
                result = await api.execute_migrate(plan, confirm_env=self.confirm_env, seed=True, action="init")
                return {"created_database": result.created_database, "backup": str(backup) if backup else None,
                        "relational_applied": result.relational_applied, "vector_applied": result.vector_applied,
                        "seeded": result.seeded}

        return asyncio.run(go())
