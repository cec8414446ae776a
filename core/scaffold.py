"""``migctl init-project``: a new project's files, as ``alembic init`` writes Alembic's.

Three shapes: a new project (``migctl.yaml``, ``alembic.ini``, ``alembic/``, and with a vector
store ``vector_migrations/``); the bundled reference project (``example``); or only a
``migctl.yaml`` adopting an existing ``alembic.ini``. Every target is checked before anything
is written: an existing file stops the whole run, so nothing is ever overwritten or half made.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from migctl.core.config import PROJECT_ROOT
from migctl.core.errors import UsageError

VECTOR_STORES = ("milvus", "pgvector", "none")


@dataclass(frozen=True)
class ScaffoldResult:
    directory: Path
    written: tuple[Path, ...]  # files, in the order written
    directories: tuple[Path, ...]  # empty folders made (versions/)


def init_project(directory: str | os.PathLike[str] = ".", *, vector_store: str = "none", example: bool = False,
                 alembic_ini: str | os.PathLike[str] | None = None) -> ScaffoldResult:
    """Write a project into ``directory`` (made when missing). A :class:`UsageError`, with
    nothing written, when a file it would write exists or the options do not fit together."""
    if vector_store not in VECTOR_STORES:
        raise UsageError(f"unknown vector store {vector_store!r}: use milvus, pgvector or none")
    if example and alembic_ini is not None:
        raise UsageError("--example and --alembic-ini cannot be combined")
    root = Path(directory)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{root} exists and is not a directory")
    files: dict[Path, str | Path] = {}  # relative target -> text, or a file to copy
    folders: list[Path] = []
    if alembic_ini is not None:
        if vector_store != "none":
            raise UsageError("--alembic-ini adopts an existing project and writes only migctl.yaml: "
                             "add a vector: section to it yourself, or leave out --vector-store")
        ini = Path(alembic_ini)
        ini = ini if ini.is_absolute() else Path.cwd() / ini
        if not ini.is_file():
            raise UsageError(f"--alembic-ini: file not found: {alembic_ini}")
        files[Path("migctl.yaml")] = adopt_config(_relative(ini.resolve(), root.resolve()))
    elif example:
        for folder in ("alembic", "vector_migrations", "sql/common"):
            for source in sorted((PROJECT_ROOT / folder).rglob("*")):
                if source.is_file() and "__pycache__" not in source.parts and source.suffix != ".pyc":
                    files[source.relative_to(PROJECT_ROOT)] = source
        files[Path("migctl.yaml")] = EXAMPLE_CONFIG
    else:
        files[Path("migctl.yaml")] = new_config(vector_store)
        files[Path("alembic.ini")] = ALEMBIC_INI
        files[Path("alembic/env.py")] = ENV_PY
        files[Path("alembic/script.py.mako")] = _alembic_template("script.py.mako")
        files[Path("alembic/README")] = ALEMBIC_README
        folders.append(Path("alembic/versions"))
        if vector_store != "none":
            files[Path("vector_migrations/templates.yaml")] = TEMPLATES_YAML
            from datetime import date

            version = date.today().strftime("%Y%m%d") + "_001"
            files[Path(f"vector_migrations/versions/{version}_create_document.yaml")] = (
                FIRST_VECTOR_MIGRATION.replace("VERSION", version))
    for rel in files:
        target = root / rel
        if target.exists() or target.is_symlink():
            raise UsageError(f"{target} exists: init-project never overwrites a file; nothing was written")
        for parent in (root / rel).parents:
            if parent == root or root not in parent.parents:
                break
            if parent.exists() and not parent.is_dir():
                raise UsageError(f"{parent} exists and is not a directory; nothing was written")
    written: list[Path] = []
    made: list[Path] = []
    root.mkdir(parents=True, exist_ok=True)
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copyfile(content, target)
        else:
            with target.open("x", encoding="utf-8") as fh:  # "x": never replace a file
                fh.write(content)
        written.append(target)
    for rel in folders:
        if not (root / rel).is_dir():
            (root / rel).mkdir(parents=True)
            made.append(root / rel)
    return ScaffoldResult(root, tuple(written), tuple(made))


def _relative(path: Path, start: Path) -> str:
    """``path`` relative to ``start`` when they share a root (the config stays movable with
    the project), else absolute."""
    try:
        return Path(os.path.relpath(path, start)).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)


def _alembic_template(name: str) -> str:
    """A file of Alembic's own ``generic`` template, so new revisions look as Alembic makes them."""
    import alembic

    return (Path(alembic.__file__).parent / "templates" / "generic" / name).read_text(encoding="utf-8")


_URL_COMMENT = """\
    # Where the database is. Left unset here, migctl takes (first found) --database-url,
    # DATABASE_URL, the POSTGRES_HOST/PORT/USER/PASSWORD/DB variables, then sqlalchemy.url in
    # alembic.ini. Uncomment one to fix it for this environment (${VAR} and ${VAR:-default} are
    # read from the process environment):
    # database_url: postgresql://app:${DB_PASSWORD}@localhost:5432/app
    # database_url: embedded     # a PostgreSQL 18 migctl runs under .migctl/ (extra: embedded)
"""


def new_config(vector_store: str) -> str:
    if vector_store == "milvus":
        vector = """\
    vector:                      # the vector side; without this section migctl leaves it alone
      store: milvus
      # uri: http://localhost:19530    # a Milvus server; unset: Milvus Lite in .migctl/milvus.db
      # token: ${MILVUS_TOKEN}
      migrations_dir: vector_migrations/versions
      templates: vector_migrations/templates.yaml
"""
    elif vector_store == "pgvector":
        vector = """\
    vector:                      # the vector side; without this section migctl leaves it alone
      store: pgvector            # collections are tables in the relational database
      schema: vectors            # the schema holding them
      migrations_dir: vector_migrations/versions
      templates: vector_migrations/templates.yaml
"""
    else:
        vector = """\
    # No vector: section, so migctl manages only the relational schema. To add a vector store,
    # run `migctl init-project --vector-store milvus` (or pgvector) in an empty folder and copy
    # its vector: section and vector_migrations/ here.
"""
    return f"""\
# migctl configuration (written by `migctl init-project`). migctl finds it in the current
# directory, or through --config / CONFIG_FILE. Relative paths resolve against this file's
# directory, so the project can be moved or checked out anywhere.
#
# Precedence, highest first: command-line flags; environment variables (DATABASE_URL,
# POSTGRES_*, MIGCTL_ENV, VECTOR_STORE_TYPE, MILVUS_URI); this file; alembic.ini.

default_environment: dev         # or MIGCTL_ENV / --env
# state_dir: .migctl             # migctl's own files: log, backups, embedded data

environments:
  dev:
{_URL_COMMENT}    alembic:
      ini: alembic.ini           # plain `alembic` uses the same file
      # version_table: alembic_version
{vector}
  # prod:
  #   protected: true            # changes need the name typed, or --confirm-env prod
  #   database_url: postgresql://app:${{PROD_DB_PASSWORD}}@db.internal:5432/app
  #   alembic:
  #     ini: alembic.ini
"""


def adopt_config(ini: str) -> str:
    return f"""\
# migctl configuration adopting an existing Alembic project (written by `migctl init-project
# --alembic-ini`). Relative paths resolve against this file's directory.
#
# Precedence of the database URL, highest first: --database-url; DATABASE_URL; the
# POSTGRES_HOST/PORT/USER/PASSWORD/DB variables; database_url below; sqlalchemy.url in the
# alembic.ini. The vector side stays off until an environment has a vector: section.

default_environment: dev         # or MIGCTL_ENV / --env

environments:
  dev:
{_URL_COMMENT}    alembic:
      ini: {ini}
      # version_table: alembic_version      # if env.py passes a different one
"""


EXAMPLE_CONFIG = """\
# migctl configuration of the RAG reference project (written by `migctl init-project
# --example`): the Alembic schema in alembic/, vector migrations and templates in
# vector_migrations/, seed SQL in sql/common/. Relative paths resolve against this file's
# directory.
#
# Precedence, highest first: command-line flags; environment variables (DATABASE_URL,
# POSTGRES_*, MIGCTL_ENV, VECTOR_STORE_TYPE, MILVUS_URI); this file.

default_environment: dev

alembic:                         # for every environment below unless it has its own
  script_location: alembic
vector:
  store: milvus                  # no uri: Milvus Lite in .migctl/milvus.db; or store: pgvector
  migrations_dir: vector_migrations/versions
  templates: vector_migrations/templates.yaml
seed_sql: sql/common             # run by `migctl init` after the schema (idempotent scripts)

environments:
  dev:
    # The database: --database-url or DATABASE_URL win over this line.
    database_url: embedded       # a PostgreSQL 18 + pgvector migctl runs under .migctl/
  # prod:
  #   protected: true
  #   database_url: postgresql://app:${PROD_DB_PASSWORD}@db.internal:5432/rag
"""


ALEMBIC_INI = """\
# Alembic configuration (written by `migctl init-project`). Plain `alembic` and migctl both
# read it. sqlalchemy.url is left empty: alembic/env.py then takes the URL from
# `-x database_url=...`, DATABASE_URL, or migctl.yaml (through migctl, when installed).

[alembic]
script_location = %(here)s/alembic
# file_template = %%(rev)s_%%(slug)s
prepend_sys_path = .
path_separator = os
# sqlalchemy.url = postgresql+psycopg://app:secret@localhost:5432/app

[post_write_hooks]

[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
datefmt = %H:%M:%S
"""


ALEMBIC_README = """\
Alembic migrations (written by `migctl init-project`): synchronous SQLAlchemy; env.py runs the
same under plain `alembic` and under migctl. New revision: `migctl revision -m "..."` or
`alembic revision -m "..."`.
"""


ENV_PY = '''\
"""Alembic environment (written by `migctl init-project`): synchronous SQLAlchemy, the same
under plain ``alembic`` and under migctl.

The database URL, first found: ``sqlalchemy.url`` (migctl sets it to the URL it resolved; in
alembic.ini it is empty), ``alembic -x database_url=...``, ``DATABASE_URL``, then migctl's own
resolution of the migctl.yaml next to alembic/ (``MIGCTL_ENV`` picks the environment) when
migctl is installed.
"""

from __future__ import annotations

import os
from logging.config import fileConfig
from pathlib import Path

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, make_url

from alembic import context

config = context.config

# Logging from alembic.ini, unless migctl runs us (it configures logging itself).
if config.config_file_name is not None and not config.attributes.get("migctl"):
    fileConfig(config.config_file_name)

# Your models' MetaData, for `revision --autogenerate`, e.g.:
#   from myapp.models import Base
#   target_metadata = Base.metadata
target_metadata = None


def database_url() -> URL:
    url = (config.get_main_option("sqlalchemy.url") or "").strip()
    url = url or (context.get_x_argument(as_dictionary=True).get("database_url") or "").strip()
    url = url or os.environ.get("DATABASE_URL", "").strip()
    project = Path(__file__).resolve().parent.parent / "migctl.yaml"
    if not url and project.is_file():
        try:
            from migctl.core.config import resolve_database_url
            from migctl.core.errors import MigctlError
        except ImportError:
            pass
        else:
            try:
                url = resolve_database_url(str(project), os.environ.get("MIGCTL_ENV"))
            except MigctlError as exc:
                raise SystemExit(f"alembic/env.py: {exc}") from None
    if not url:
        raise SystemExit("no database URL: set DATABASE_URL, pass -x database_url=..., "
                         "set sqlalchemy.url in alembic.ini, or run through migctl")
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        # SQLAlchemy's default PostgreSQL driver is psycopg2; migctl installs psycopg (3).
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def version_table() -> dict[str, str]:
    """``version_table`` / ``version_table_schema``: set by migctl from migctl.yaml, or in
    alembic.ini, or ``-x version_table=...``; else Alembic's ``alembic_version``."""
    x_args = context.get_x_argument(as_dictionary=True)
    found = {key: (x_args.get(key) or config.get_main_option(key) or "").strip()
             for key in ("version_table", "version_table_schema")}
    return {key: value for key, value in found.items() if value}


def run_migrations_offline() -> None:
    """``--sql``: the SQL as text, no connection."""
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, **version_table())
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")  # a caller's own connection, if handed over
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, **version_table())
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, **version_table())
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''


TEMPLATES_YAML = """\
# Collection templates for vector migrations: a migration creates a collection by naming one
# (`create_collection: {name: document, template: document}`). Four sections:
#   base_configs          shared collection settings; a collection uses one with `base: name`
#   field_templates       reusable fields; `- ref: name` (any other key overrides the template's)
#   index_templates       reusable vector indexes; `index: name`
#   collection_templates  collections a migration can create by name
# Field types: int64 int32 float double bool varchar(max_length) json float_vector(dim)
# Index types: HNSW {M, efConstruction}, IVF_FLAT {nlist}, FLAT, AUTOINDEX (Milvus only)
# Metrics: COSINE L2 IP. `migctl templates show NAME --store milvus|pgvector` renders one.

base_configs:
  default:
    consistency_level: Strong
    description: ""

field_templates:
  int64_pk: {type: int64, primary: true, description: Primary key}
  text: {type: varchar, max_length: 65535}
  metadata: {type: json}
  embedding_384: {type: float_vector, dim: 384}

index_templates:
  hnsw_cosine: {index_type: HNSW, metric: COSINE, params: {M: 16, efConstruction: 64}}

collection_templates:
  document:
    base: default
    description: Documents with one embedding each
    fields:
      - {ref: int64_pk, name: id}
      - {ref: embedding_384, name: embedding}
      - ref: text
      - ref: metadata
    index: hnsw_cosine
"""


FIRST_VECTOR_MIGRATION = """\
# A vector migration: operations run in order; `migctl create-migration -d "..."` writes the
# next one. This example creates the `document` collection of templates.yaml; edit or delete it
# before it is applied anywhere.
version: "VERSION"
description: Create the document collection from its template
depends_on: null
operations:
  - create_collection: {name: document, template: document}
"""
