"""The front door: every verb the shells (and applications) use.

``Migctl.open(...)`` resolves the environment (starting the embedded server when it is the
target); its methods are async and return plain dataclasses and dicts. The module-level
functions are the verbs that need no database (the revision graph, templates, the embedded
servers). Shells import this module, ``errors`` and ``events`` only (an import-linter contract
in pyproject.toml holds them to it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from migctl.core.config import Environment, ensure_state_dir, load_environment
from migctl.core.events import EventSink, ignore
from migctl.core.guard import Protection
from migctl.core.ops.check import CheckResult, Finding
from migctl.core.relational.assessment import Verdict
from migctl.core.relational.graph import RevisionGraph, RevisionNode
from migctl.core.relational.plan import Plan
from migctl.core.relational.service import ExecutionResult, RelationalService
from migctl.core.secrets import mask_url, scrub

if TYPE_CHECKING:
    from migctl.core.embedded import EmbeddedPostgres
    from migctl.core.ops.overview import EnvironmentRow
    from migctl.core.ops.reset import ResetPlan
    from migctl.core.ops.unified import MigratePlan, MigrateResult
    from migctl.core.relational.verify import VerifyResult
    from migctl.core.scaffold import ScaffoldResult
    from migctl.core.vector.lite_server import LiteServer
    from migctl.core.vector.service import VectorService
    from migctl.core.vector.templates import CollectionSpec, TemplateSet
    from migctl.core.vector.verify import VectorVerifyResult

# The types of plans and results, for annotations in applications; imported when first asked
# for, so that a command reaches none of these modules it does not use.
_RESULT_TYPES = {
    "MigratePlan": "migctl.core.ops.unified", "MigrateResult": "migctl.core.ops.unified",
    "ResetPlan": "migctl.core.ops.reset", "ScaffoldResult": "migctl.core.scaffold",
    "VectorPlan": "migctl.core.vector.migrator", "VectorService": "migctl.core.vector.service",
    "TemplateSet": "migctl.core.vector.templates", "CollectionSpec": "migctl.core.vector.templates",
    "EmbeddedPostgres": "migctl.core.embedded", "LiteServer": "migctl.core.vector.lite_server",
    "EnvironmentRow": "migctl.core.ops.overview", "VerifyResult": "migctl.core.relational.verify",
    "VectorVerifyResult": "migctl.core.vector.verify",
}


def __getattr__(name: str) -> Any:
    module = _RESULT_TYPES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "CheckResult", "Environment", "ExecutionResult", "Finding", "Migctl", "Plan", "Protection", "RevisionGraph",
    "RevisionNode", "describe_lint", "embedded_postgres", "ensure_state_dir", "environment_rows", "environments_overview",
    "load_environment", "load_templates", "mask_url",
    "milvus_lite_server",
    "render_collection", "revision_graph", "run_migrations_on_startup", "scrub", "init_project",
    "vector_not_configured", "vector_templates_path", *_RESULT_TYPES,
]


class Migctl:
    """An environment plus the services that act on it."""

    def __init__(self, environment: Environment, url: str, sink: EventSink = ignore,
                 lock_timeout: float = 0.0, vector_store_type: str | None = None) -> None:
        self.environment = environment
        self.url = url
        self.lock_timeout = lock_timeout
        self.vector_store_type = vector_store_type
        self.relational = RelationalService(environment, url, sink)
        self.relational.vector_schema = self._pgvector_schema
        self._vector: VectorService | None = None

    @classmethod
    def open(cls, config_file: str | None = None, env: str | None = None, database_url: str | None = None,
             sink: EventSink = ignore, lock_timeout: float = 0.0,
             environment: Environment | None = None, vector_store_type: str | None = None,
             offline: bool = False) -> Migctl:
        """Resolve configuration (or take a resolved ``environment``); with ``database_url:
        embedded``, start the embedded PostgreSQL; with no URL anywhere, learn it from the
        project's env.py. ``offline``: reach no database at all (for :meth:`check` with
        ``offline=True``; methods that need one then fail)."""
        if environment is None:
            environment = load_environment(config_file=config_file, env=env, database_url=database_url,
                                           vector_store_type=vector_store_type)
        url = environment.database_url
        if offline:
            url = url or ""
        elif url is None and environment.embedded:
            from migctl.core.embedded import EmbeddedPostgres

            url = EmbeddedPostgres(ensure_state_dir(environment.state_dir)).ensure_running().url
        elif url is None:  # nothing named a URL: the project's env.py may configure one
            environment = replace(environment, database_url=_url_from_env_py(environment))
            url = environment.database_url
        return cls(environment, url, sink, lock_timeout, vector_store_type)

    @property
    def vector_configured(self) -> bool:
        """Whether this environment has a vector side at all (see ``Environment.vector_configured``)."""
        return self.environment.vector_configured or self.vector_store_type is not None

    def _pgvector_schema(self) -> str | None:
        """The pgvector store's schema when it lives in this database (its collections are the
        vector side's, not relational drift); ``None`` otherwise."""
        if not self.vector_configured:
            return None
        from migctl.core.errors import MigctlError
        from migctl.core.vector.settings import vector_settings

        try:
            settings = vector_settings(self.environment, self.vector_store_type)
        except MigctlError:
            return None  # the vector side reports its own configuration errors
        return settings.schema if settings.store == "pgvector" else None

    @property
    def sink(self) -> EventSink:
        return self.relational.sink

    @sink.setter
    def sink(self, value: EventSink) -> None:
        self.relational.sink = value
        if self._vector is not None:
            self._vector.sink = value

    @property
    def vector(self) -> VectorService:
        """The vector side, created on first use so a relational command never imports a
        vector client. A :class:`UsageError` when the environment configures no vector store."""
        if self._vector is None:
            from migctl.core.vector.service import VectorService
            from migctl.core.vector.settings import vector_settings

            settings = vector_settings(self.environment, self.vector_store_type)
            self._vector = VectorService(self.environment, settings, self.relational, self.relational.sink,
                                         self.lock_timeout)
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

    async def verdicts(self) -> dict[str, Verdict]:
        """Verify verdicts by revision, for the revision files as they are now."""
        return await self.relational.verdicts()

    async def status(self, vector: bool = False, drift: bool = False) -> dict[str, Any]:
        """Both sides' state. The relational schema is compared with the one expected at the
        current revisions when that is cached (``relational.schema_drift``); ``drift`` builds
        it on a throwaway database when it is not."""
        rel = await self.relational.status(drift=drift)
        lock = rel.pop("lock")
        protection = await self.protection()
        out = {
            "environment": self.environment.name,
            "protected": protection.protected,
            "protected_as": protection.name,
            "embedded": self.environment.embedded,
            "url_source": self.environment.source,
            "relational": rel,
            "lock": lock,
            "vector_configured": self.vector_configured,
        }
        if vector and self.vector_configured:
            # Milvus Lite held by a running migration: {"busy": who} rather than a failure.
            out["vector"] = await self.vector.status_or_busy()
        return out

    async def check(self, *, vector: bool = True, offline: bool = False, drift: bool = False) -> CheckResult:
        """What a CI pipeline gates on (``migctl check``): no finding means at the heads, one head
        (or ``check.max_heads``), no applied file edited, no schema drift, no vector drift.
        ``offline`` reads only the files: every revision loads, the heads, no fork in the vector
        chain. The live schema is compared when the expected one is cached, or built for it with
        ``drift`` (or ``verify: required`` in the config)."""
        from migctl.core.ops.check import run_check

        state = "skipped"
        if vector and not self.vector_configured:
            vector, state = False, "not configured"
        return await run_check(self.environment, self.relational, self.vector if vector else None,
                               offline=offline, vector_state=state, drift=drift)

    async def verify(self, *, revision_range: str | None = None, force: bool = False) -> VerifyResult:
        """``migctl verify``: each revision (in ``revision_range``, ``A:B`` both included; default
        all) upgraded, downgraded and upgraded again on a throwaway database, one verdict each.
        The environment's database is only read (its extensions). Verdicts are kept in the state
        dir by file digest: only revisions without one for their current bytes are verified
        again, unless ``force``. Progress arrives as ``VerifyProgress`` events."""
        from migctl.core.relational.verify import verify

        return await verify(self.environment, self.url, self.relational.project, self.sink,
                            revision_range=revision_range, force=force)

    async def verify_vector(self, *, force: bool = False) -> VectorVerifyResult:
        """``migctl verify``'s vector side: each vector migration applied, rolled back and applied
        again on a throwaway store of the environment's kind (Milvus Lite in a temporary
        directory; pgvector: a scratch database), compared with the declared state after each
        step. The environment's store is never opened. Verdicts are cached as ``vector:<version>``
        by the YAML file's digest. A :class:`UsageError` when no vector store is configured."""
        from migctl.core.vector.verify import verify_vector

        service = self.vector
        return await verify_vector(self.environment, service.settings, self.url, service.chain, self.sink,
                                   force=force)

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
                      allow_drift: bool = False, allow_broken: bool = False) -> ExecutionResult:
        """Run ``plan``. ``allow_broken``: run it even through a step ``migctl verify`` found
        broken in its direction (``plan.broken_steps``); without it such a plan is refused."""
        return await self.relational.execute(plan, lock_timeout=self.lock_timeout, strict=strict,
                                             confirm_env=confirm_env, allow_drift=allow_drift,
                                             allow_broken=allow_broken)

    async def record_refusal(self, action: str, target: str | None, reason: str) -> None:
        await self.relational.record_refusal(action, target, reason)

    async def merge(self, revisions: Sequence[str], message: str | None = None) -> str:
        return await self.relational.merge(list(revisions), message)

    async def revision(self, message: str, *, autogenerate: bool = False, empty: bool = False) -> list[str]:
        return await self.relational.revision(message, autogenerate=autogenerate, empty=empty)

    # Both sides: migrate / init, reset / restore
    async def plan_migrate(self, *, skip_vector: bool, with_sql: bool = False, init: bool = False) -> MigratePlan:
        """Relational upgrade to heads plus the pending vector migrations; touches nothing.
        ``init``: a missing database or ``vector`` extension is planned, made on execution."""
        from migctl.core.ops.unified import plan_migrate

        return await plan_migrate(self, skip_vector=skip_vector, with_sql=with_sql, init=init)

    async def execute_migrate(self, plan: MigratePlan, *, confirm_env: str | None, seed: bool = False,
                              action: str = "migrate", allow_broken: bool = False) -> MigrateResult:
        from migctl.core.ops.unified import execute_migrate

        return await execute_migrate(self, plan, confirm_env=confirm_env, seed=seed, action=action,
                                     allow_broken=allow_broken)

    # Protection: bound to the database (see core/guard.py)
    async def protection(self) -> Protection:
        """The name an operator must confirm to change this database (``.name`` is ``None``
        when it is not protected); the database's own mark wins over the environment's flag."""
        return await self.relational.guard.protection()

    async def protect(self, *, confirm_env: str | None = None) -> Protection:
        """Record this environment's name as the database's protection."""
        return await self.relational.guard.set_mark(True, confirm_env)

    async def unprotect(self, *, confirm_env: str | None) -> Protection:
        """Remove the database's mark; needs the protected name confirmed."""
        return await self.relational.guard.set_mark(False, confirm_env)

    async def plan_reset(self, *, skip_vector: bool, backup: bool = True,
                         skip_relational: bool = False) -> ResetPlan:
        """Everything a reset drops, with row counts; touches nothing."""
        from migctl.core.ops.reset import plan_reset

        return await plan_reset(self, skip_vector=skip_vector, backup=backup, skip_relational=skip_relational)

    async def execute_reset(self, plan: ResetPlan, *, confirm_env: str | None) -> Path | None:
        """Back up (unless the plan says not to) and drop; returns the backup folder."""
        from migctl.core.ops.reset import execute_reset

        return await execute_reset(self, plan, confirm_env=confirm_env)

    async def restore(self, folder: Path, *, confirm_env: str | None) -> dict[str, Any]:
        from migctl.core.ops.reset import restore

        return await restore(self, folder, confirm_env=confirm_env)


# Verbs that need no database.
def describe_lint(finding: Any) -> str:
    """A plan step's lint finding as one line: ``rule — what it does to the table (its live
    size) under LOCK: statement``, with ``(accepted)`` after the rule when the config accepts it."""
    from migctl.core.relational.lint import describe

    return describe(finding)


def revision_graph(environment: Environment, *, cached: bool = True) -> RevisionGraph:
    """The environment's revision graph read from its files (``cached``: headers kept in the
    state dir between runs)."""
    from migctl.core.relational.project import AlembicProject

    return AlembicProject(environment.alembic).graph(environment.state_dir / "cache" if cached else None)


def load_templates(path: Path) -> TemplateSet:
    """Collection templates from ``path`` (a templates.yaml)."""
    from migctl.core.vector.templates import load_templates as load

    return load(path)


def render_collection(spec: CollectionSpec, store: str, *, validate: bool = True) -> str:
    """What a template creates on ``store`` (``milvus`` or ``pgvector``); a template the store
    cannot hold is a usage error (unless ``validate`` is off: the console shows both renderings
    side by side)."""
    from migctl.core.vector.render import render_milvus, render_pgvector_ddl
    from migctl.core.vector.templates import validate_for_store

    if validate:
        validate_for_store(spec, store)
    return render_milvus(spec) if store == "milvus" else render_pgvector_ddl(spec)


def vector_not_configured(environment: Environment) -> str:
    """The one line saying how to give an environment a vector side."""
    from migctl.core.vector.settings import not_configured_message

    return not_configured_message(environment)


def vector_templates_path(environment: Environment, store_type: str | None = None) -> Path:
    """The environment's collection templates file (a usage error when it has no vector side)."""
    from migctl.core.vector.settings import vector_settings

    return vector_settings(environment, store_type).templates


def init_project(directory: str | Path = ".", *, vector_store: str = "none", example: bool = False,
                 alembic_ini: str | None = None) -> ScaffoldResult:
    """``migctl init-project``: write a new project's files (never overwriting one); no database."""
    from migctl.core.scaffold import init_project as scaffold

    return scaffold(directory, vector_store=vector_store, example=example, alembic_ini=alembic_ini)


def environment_rows(config_file: str | Path | None = None) -> list[EnvironmentRow]:
    """Every environment of the config, resolved from the file but not read yet (a shell
    shows them at once, then fills each in as :func:`environments_overview` reads it)."""
    from migctl.core.ops.overview import environment_rows as rows

    return rows(str(config_file) if config_file is not None else None)


async def environments_overview(config_file: str | Path | None = None, *, timeout: float = 5.0,
                                vector: bool = True, on_row: Callable[[EnvironmentRow], None] | None = None,
                                rows: Sequence[EnvironmentRow] | None = None) -> list[EnvironmentRow]:
    """Every environment's state (protection, masked URL, current, heads, pending, drifted,
    vector current/pending, lock holder), read in parallel, each within ``timeout`` seconds:
    one that is down or silent is a row saying so. Creates nothing and starts no server (see
    ``core/ops/overview.py``). ``on_row`` hears each row as it is done; ``rows``: those of
    :func:`environment_rows` to fill in (default: read the config again)."""
    from migctl.core.ops.overview import environments_overview as overview

    return await overview(str(config_file) if config_file is not None else None, timeout=timeout, vector=vector,
                          on_row=on_row, rows=rows)


def embedded_postgres(environment: Environment) -> EmbeddedPostgres:
    """The environment's embedded PostgreSQL 18 (started, stopped and asked through it)."""
    from migctl.core.embedded import EmbeddedPostgres

    return EmbeddedPostgres(environment.state_dir)


def milvus_lite_server(environment: Environment, store_type: str | None = None) -> LiteServer | None:
    """The Milvus Lite server process of the environment, when its vector store is Milvus Lite
    by path (``None`` otherwise)."""
    from migctl.core.vector.lite_server import LiteServer, is_local_path
    from migctl.core.vector.settings import vector_settings

    if not environment.vector_configured and store_type is None:
        return None
    settings = vector_settings(environment, store_type)
    if settings.store != "milvus" or not is_local_path(settings.uri):
        return None
    return LiteServer(settings.uri or "")


def _url_from_env_py(environment: Environment) -> str:
    """The URL the project's env.py configures; a usage error when it names none."""
    from migctl.core.config import no_url_message, validate_url
    from migctl.core.errors import UsageError
    from migctl.core.relational.project import AlembicProject
    from migctl.core.relational.url_probe import url_from_env_py

    url = url_from_env_py(AlembicProject(environment.alembic))
    if url is None:
        raise UsageError(no_url_message(environment))
    return validate_url(url)


def run_migrations_on_startup(config_file: str | None = None, env: str | None = None,
                              target: str = "heads", lock_timeout: float = 60.0,
                              allow_protected: bool | str = False) -> ExecutionResult:
    """Bring the database to ``target`` when an application starts (blocking).

    Waits up to ``lock_timeout`` seconds for another instance that is migrating, then finds
    nothing left to do. A protected database is refused (exit 3) unless the caller opts in:
    ``allow_protected=True`` or the protected name itself. An edited, applied vector migration
    file refuses start-up (:class:`Refused`) as it refuses ``migrate``, until ``migctl vector repair``.
    """

    async def run() -> ExecutionResult:
        async with Migctl.open(config_file=config_file, env=env, lock_timeout=lock_timeout) as api:
            if api.vector_configured:  # reads the files and the tracking table, not the store
                await api.vector.check_drift()
            plan = await api.plan_upgrade(target, with_sql=False)
            confirm = plan.protected_as if allow_protected is True else (allow_protected or None)
            return await api.execute(plan, strict=False, confirm_env=confirm)

    return asyncio.run(run())
