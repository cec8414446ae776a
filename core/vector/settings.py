"""Which vector store an environment uses, and where its migration files and templates live.

Precedence as everywhere: flags > environment (``VECTOR_STORE_TYPE``, ``MILVUS_URI`` or
``MILVUS_HOST``/``MILVUS_PORT``, ``MILVUS_TOKEN``) > the environment's ``vector:`` section in
``migctl.yaml`` > Milvus Lite in ``<state_dir>/milvus.db``. The vector side exists only when
one of these configures it (``Environment.vector_configured``); migration files and templates
default to ``vector_migrations/`` next to the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migctl.core.config import VECTOR_STORES, Environment, check_milvus_uri, ensure_state_dir
from migctl.core.errors import ConfigError, UsageError
from migctl.core.secrets import mask_url, remember

STORE_TYPES = VECTOR_STORES


def not_configured_message(environment: Environment) -> str:
    return (f"vector store not configured for environment {environment.name}: add a 'vector:' section to it "
            "in migctl.yaml, set VECTOR_STORE_TYPE or MILVUS_URI, or pass --vector-store-type")


@dataclass(frozen=True)
class VectorSettings:
    store: str
    uri: str | None  # Milvus URI or Lite path; None for pgvector (uses the relational database)
    token: str | None
    migrations_dir: Path
    templates: Path
    embedded: bool

    schema: str = "vectors"

    @property
    def address(self) -> str:
        if self.store == "pgvector":
            return f"schema {self.schema} of the relational database"
        return mask_url(self.uri) if self.uri else ""


def vector_settings(environment: Environment, store_type: str | None = None,
                    environ: Mapping[str, str] | None = None) -> VectorSettings:
    """The vector side of ``environment``; a :class:`UsageError` when nothing configures one."""
    environ = os.environ if environ is None else environ
    if not environment.vector_configured and store_type is None:
        raise UsageError(not_configured_message(environment))
    section = dict(environment.vector or {})
    base = environment.base_dir
    store = store_type or environ.get("VECTOR_STORE_TYPE") or section.get("store") or "milvus"
    if store not in STORE_TYPES:
        raise ConfigError(f"unknown vector store type {store!r}: use milvus or pgvector")
    uri = environ.get("MILVUS_URI")
    if not uri and environ.get("MILVUS_HOST"):
        uri = f"http://{environ['MILVUS_HOST']}:{environ.get('MILVUS_PORT', '19530')}"
    source = "MILVUS_URI" if environ.get("MILVUS_URI") else "MILVUS_HOST" if uri else "vector.uri"
    uri = uri or section.get("uri")
    if uri and store == "milvus":
        check_milvus_uri(uri, source)
    token = environ.get("MILVUS_TOKEN") or section.get("token")
    remember(token)
    embedded = store == "milvus" and not uri
    if embedded:
        uri = str(environment.state_dir / "milvus.db")
    migrations = Path(section.get("migrations_dir") or "vector_migrations/versions")
    templates = Path(section.get("templates") or "vector_migrations/templates.yaml")
    schema = str(section.get("schema") or "vectors")
    return VectorSettings(store, uri if store == "milvus" else None, token,
                          migrations if migrations.is_absolute() else base / migrations,
                          templates if templates.is_absolute() else base / templates, embedded, schema)


def open_store(settings: VectorSettings, relational_url: str):  # -> VectorStore
    """The store object (not yet connected)."""
    from migctl.core.extras import require

    if settings.store == "pgvector":
        require("pgvector", "pgvector", "the pgvector store")
        require("asyncpg", "pgvector", "the pgvector store")
        from migctl.core.vector.stores.pgvector import PgVectorStore

        return PgVectorStore(relational_url, schema=settings.schema)
    from migctl.core.vector.lite_server import LiteServer, is_local_path

    require("pymilvus", "milvus", "the Milvus store")
    from migctl.core.vector.stores.milvus import MilvusStore

    if is_local_path(settings.uri):
        require("milvus_lite", "milvus", "Milvus Lite")
        ensure_state_dir(Path(settings.uri or "").parent)
        served = LiteServer(settings.uri or "").running_uri()
        if served:  # the console or `migctl embedded start` runs Milvus Lite as a process
            return MilvusStore(served, token=settings.token)
    return MilvusStore(settings.uri or "", token=settings.token)
