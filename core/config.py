"""Environments from ``migctl.yaml`` with precedence flags > environment > config file >
``./alembic.ini``, found the way ``alembic`` finds its ini: in the current directory.

The result is a plain :class:`Environment`; nothing here connects to anything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from migctl.core.errors import ConfigError, UsageError
from migctl.core.secrets import clip, encode_password, mask_url, remember, url_password


def _reference_project() -> Path:
    """Where the bundled reference RAG project lives: package data of ``migctl``."""
    from importlib.resources import files

    return Path(str(files("migctl")))


# The reference project (alembic/, vector_migrations/, sql/common/): an example and test fixture,
# used only when a config file names it.
PROJECT_ROOT = _reference_project()
DEFAULT_CONFIG_NAME = "migctl.yaml"
ALEMBIC_ENV_NAME = "default"  # the one environment of a project found through ./alembic.ini
NO_PROJECT = "no migctl.yaml or alembic.ini here: run 'migctl init-project', or pass --config"
# What `alembic init` writes into sqlalchemy.url: a placeholder, not a URL.
ALEMBIC_PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"
VECTOR_ENV_VARS = ("VECTOR_STORE_TYPE", "MILVUS_URI", "MILVUS_HOST")
SUPPORTED_DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")

_VAR = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}")


@dataclass(frozen=True)
class AlembicLocation:
    """Where an environment's Alembic project lives and how it keeps its version table."""

    script_location: Path
    ini_path: Path | None = None
    version_table: str = "alembic_version"
    version_table_schema: str | None = None


@dataclass(frozen=True)
class Environment:
    """One resolved target: a database, its Alembic project and how carefully to treat it."""

    name: str
    database_url: str | None
    protected: bool
    alembic: AlembicLocation
    state_dir: Path
    log_file: Path
    config_file: Path | None = None
    # Where the URL came from: "--database-url", "DATABASE_URL", "POSTGRES_* variables", the
    # config file's path, "alembic.ini <path>", "embedded", or "env.py" (nothing gave one).
    source: str = "embedded"
    vector: Mapping[str, Any] = field(default_factory=dict)
    # A `vector:` section, VECTOR_STORE_TYPE / MILVUS_URI / MILVUS_HOST, or --vector-store-type.
    vector_configured: bool = False
    # The directory relative paths resolve against: the config file's, else the current one.
    base_dir: Path = field(default_factory=Path.cwd)
    seed_dir: Path | None = None  # SQL scripts `init` runs after the schema (seed_sql:)

    @property
    def embedded(self) -> bool:
        return self.source == "embedded"

    @property
    def masked_url(self) -> str:
        if self.database_url:
            return mask_url(self.database_url)
        return "(embedded PostgreSQL)" if self.embedded else "(no database URL)"


def interpolate(value: Any, where: str, environ: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in strings, recursively."""
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m["name"], m["default"]
            value = environ[name] if name in environ else default
            if value is not None:
                if where.endswith("database_url") and len(value) >= 4 and "PASSWORD" in name.upper():
                    remember(value)  # an unencoded "@" or space would defeat URL masking
                return value
            raise ConfigError(f"{where}: variable {name} is not set (use ${{{name}:-default}} for a default)")

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: interpolate(v, f"{where}.{k}", environ) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, f"{where}[{i}]", environ) for i, v in enumerate(value)]
    return value


# SQLAlchemy's own URL grammar (sqlalchemy.engine.url._parse_url), so that reading the
# configuration does not import SQLAlchemy: the console draws its first screen without it.
_URL = re.compile(
    r"""
    (?P<name>[\w\+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/\?]+)\] | (?P<ipv4host>[^/:\?]+))?(?::(?P<port>[^/\?]*))?)?
    (?:/(?P<database>[^\?]*))?
    (?:\?(?P<query>.*))?
    """,
    re.X,
)


def _socket_in_query(dialect: str, query: str | None) -> bool:
    """A host in the query instead: libpq's ``host=/socket/dir`` (or ``host=name``), MySQL's ``unix_socket=``."""
    from urllib.parse import parse_qsl

    keys = {"postgresql": ("host",), "mysql": ("unix_socket",), "mariadb": ("unix_socket",)}[dialect]
    return any(k in keys and v.strip() for k, v in parse_qsl(query or "", keep_blank_values=True))


def validate_url(url: str) -> str:
    """Parse a database URL; a malformed or unsupported one is a usage error. Returns it with
    an unencoded "@" in the password percent-encoded, as drivers need it."""
    url = encode_password(url)
    m = _URL.match(url)
    # Known before any error below echoes the URL; the echo is masked and cut to a sane length.
    remember(url_password(url), beside=(m["username"], m["ipv4host"] or m["ipv6host"], m["database"]) if m else ())
    shown = clip(mask_url(url), 200)
    if m is None:
        raise UsageError(f"malformed database URL {shown!r}: expected dialect://user:password@host:port/dbname")
    dialect = m["name"].split("+", 1)[0]
    if dialect not in SUPPORTED_DIALECTS:
        raise UsageError(f"unsupported database {clip(dialect, 40)!r} in URL {shown!r}: "
                         "use postgresql, mysql/mariadb or sqlite")
    host = m["ipv4host"] or m["ipv6host"]
    if dialect != "sqlite" and not host and not _socket_in_query(dialect, m["query"]):
        socket = "host=/run/postgresql" if dialect == "postgresql" else "unix_socket=/run/mysqld/mysqld.sock"
        raise UsageError(f"malformed database URL {shown!r}: no host (for a Unix socket: "
                         f"{dialect}://user@/dbname?{socket})")
    if dialect != "sqlite" and not m["database"]:
        raise UsageError(f"malformed database URL {shown!r}: no database name")
    if m["port"]:
        try:
            port = int(m["port"])
        except ValueError:
            raise UsageError(f"malformed database URL {shown!r}: expected dialect://user:password@host:port/dbname") from None
        if not 0 < port < 65536:
            raise UsageError(f"malformed database URL {shown!r}: port out of range")
    return url


def _read_file(path: Path) -> dict[str, Any]:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from exc
    if path.suffix == ".toml":
        data = _tool_migctl(path, text)
        if data is None:
            raise ConfigError(f"config file {path}: no [tool.migctl] table")
        return _check_shape(path, data)
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {path}{where}: {problem}") from exc
    return _check_shape(path, data)


def _tool_migctl(path: Path, text: str) -> Any:
    """``[tool.migctl]`` of a pyproject.toml (same schema as migctl.yaml), or None."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    return (data.get("tool") or {}).get("migctl")


# Every key a config file may hold: anything else is a typo that would otherwise be ignored
# silently (a misspelt `vector:` leaves the vector side off).
TOP_KEYS = ("default_environment", "state_dir", "log_file", "environments", "alembic", "vector", "seed_sql",
            "check")
ENVIRONMENT_KEYS = ("database_url", "protected", "alembic", "vector", "seed_sql", "log_file", "check")
SECTION_KEYS = {
    "alembic": ("script_location", "ini", "version_table", "version_table_schema"),
    "vector": ("store", "uri", "token", "migrations_dir", "templates", "schema"),
    "check": ("max_heads",),
}


def _known_keys(path: Path, where: str, mapping: Mapping[str, Any], known: tuple[str, ...]) -> None:
    import difflib

    for key in mapping:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
            raise ConfigError(f"config file {path}: unknown key {where}{key!r}{hint}")
    for section, keys in SECTION_KEYS.items():
        value = mapping.get(section)
        if isinstance(value, dict) and section in known:
            _known_keys(path, f"{where}{section}.", value, keys)


# Environment names become file names (backups/<name>-<time>/): no separators, no "..".
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_environment_name(name: object, where: str, error: type[UsageError] = UsageError) -> str:
    """``name`` when it is a usable environment name, else ``error`` naming ``where``."""
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or ".." in name:
        raise error(f"{where}: invalid environment name {clip(str(name), 80)!r}: "
                         "use up to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def _check_shape(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    envs = data.get("environments", {})
    if not isinstance(envs, dict) or not all(isinstance(v, dict | type(None)) for v in envs.values()):
        raise ConfigError(f"config file {path}: 'environments' must map names to settings")
    _known_keys(path, "", data, TOP_KEYS)
    for name, settings in envs.items():
        check_environment_name(name, f"config file {path}", ConfigError)
        _known_keys(path, f"environments.{name}.", settings or {}, ENVIRONMENT_KEYS)
    return data


def _url_from_postgres_vars(environ: Mapping[str, str]) -> str | None:
    if not any(k in environ for k in ("POSTGRES_HOST", "POSTGRES_DB")):
        return None
    from urllib.parse import quote

    user = environ.get("POSTGRES_USER", "postgres")
    password = environ.get("POSTGRES_PASSWORD")
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host = environ.get("POSTGRES_HOST", "127.0.0.1")
    port = environ.get("POSTGRES_PORT", "5432")
    db = environ.get("POSTGRES_DB", "postgres")
    remember(password, beside=(user, host, db))
    return f"postgresql://{auth}@{host}:{port}/{db}"


def _read_ini(ini: Path) -> tuple[Path, str | None]:
    """``script_location`` (resolved against the ini's directory, as alembic's ``%(here)s``
    is) and ``sqlalchemy.url`` (None when unset or the placeholder ``alembic init`` writes)."""
    import configparser

    parser = configparser.ConfigParser(defaults={"here": str(ini.parent)})
    try:
        parser.read(ini, encoding="utf-8")
        location = parser.get("alembic", "script_location")
        url = parser.get("alembic", "sqlalchemy.url", fallback="").strip() or None
    except (configparser.Error, KeyError) as exc:
        raise ConfigError(f"{ini}: no [alembic] script_location") from exc
    if url == ALEMBIC_PLACEHOLDER_URL:
        url = None
    return (ini.parent / location).resolve(), url


def _alembic_location(settings: Mapping[str, Any], base: Path, where: str) -> AlembicLocation:
    """The ``alembic:`` section; without one, ``alembic.ini`` next to the config file, else an
    ``alembic/`` folder there (what ``migctl init-project`` writes). Never the bundled project:
    a config file that wants it names it."""
    section = settings.get("alembic") or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{where}.alembic: expected a mapping")
    version_table = section.get("version_table", "alembic_version")
    schema = section.get("version_table_schema")
    if "ini" in section:
        ini = (base / str(section["ini"])).resolve()
        if not ini.is_file():
            raise ConfigError(f"{where}.alembic.ini: file not found: {ini}")
        return AlembicLocation(_read_ini(ini)[0], ini, version_table, schema)
    if "script_location" in section:
        return AlembicLocation((base / str(section["script_location"])).resolve(), None, version_table, schema)
    if (base / "alembic.ini").is_file():
        ini = (base / "alembic.ini").resolve()
        return AlembicLocation(_read_ini(ini)[0], ini, version_table, schema)
    if (base / "alembic" / "env.py").is_file():
        return AlembicLocation((base / "alembic").resolve(), None, version_table, schema)
    raise ConfigError(f"{where}: no alembic section, and no alembic.ini or alembic/env.py in {base}: "
                      "add alembic: {ini: PATH} or alembic: {script_location: PATH}")


def find_config_file(start: Path) -> Path | None:
    """The config of the directory ``start`` (not of its parents, as alembic looks only in the
    current directory): ``migctl.yaml``, else a ``pyproject.toml`` holding ``[tool.migctl]``."""
    candidate = start / DEFAULT_CONFIG_NAME
    if candidate.is_file():
        return candidate
    pyproject = start / "pyproject.toml"
    if pyproject.is_file():
        try:
            text = pyproject.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        import tomllib

        try:
            has_table = (tomllib.loads(text).get("tool") or {}).get("migctl") is not None
        except tomllib.TOMLDecodeError:  # reported when read, if it claims to hold migctl's table
            has_table = "[tool.migctl" in text
        if has_table:
            return pyproject
    return None


def load_environment(
    config_file: str | os.PathLike[str] | None = None,
    env: str | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    vector_store_type: str | None = None,
    require_project: bool = True,
) -> Environment:
    """Resolve the environment to act on, highest precedence first: arguments, process
    environment, config file (``config_file``, ``CONFIG_FILE``, ``./migctl.yaml``,
    ``[tool.migctl]`` in ``./pyproject.toml``), ``./alembic.ini``.

    With none of these, a :class:`UsageError` (:data:`NO_PROJECT`); ``require_project=False``
    (commands that need no Alembic project, like ``embedded``) returns an environment on the
    current directory instead.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd()
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
    elif environ.get("CONFIG_FILE"):
        path = Path(environ["CONFIG_FILE"])
    else:
        path = find_config_file(cwd)
    data: dict[str, Any] = _read_file(path) if path is not None else {}
    ini: Path | None = None
    if path is None and (cwd / "alembic.ini").is_file():
        ini = (cwd / "alembic.ini").resolve()
    elif path is None and require_project:
        raise UsageError(NO_PROJECT)
    base = path.resolve().parent if path is not None else cwd
    envs: dict[str, Any] = data.get("environments") or {}
    if path is not None and not envs:  # one implicit environment, made of the top-level settings
        envs = {ALEMBIC_ENV_NAME: {}}

    if env:
        check_environment_name(env, "--env")
    elif environ.get("MIGCTL_ENV"):
        check_environment_name(environ["MIGCTL_ENV"], "MIGCTL_ENV")
    name = env or environ.get("MIGCTL_ENV") or data.get("default_environment")
    if name is None:
        name = next(iter(envs), ALEMBIC_ENV_NAME)
    if path is not None or name != ALEMBIC_ENV_NAME:
        if name not in envs:
            known = ", ".join(envs) or ("none" if path is not None else ALEMBIC_ENV_NAME)
            origin = f"in {path}" if path is not None else "(no migctl.yaml here)"
            raise UsageError(f"unknown environment {clip(str(name), 80)!r} {origin}; known: {clip(known, 120)}")
    where = f"{path}: environments.{name}" if path else name
    top = {k: v for k, v in data.items() if k != "environments"}
    top = interpolate(top, str(path), environ)
    settings = interpolate(envs.get(name) or {}, where, environ)
    if path is not None:
        alembic = _alembic_location({"alembic": top.get("alembic"), **settings}, base, where)
        ini_url = _read_ini(alembic.ini_path)[1] if alembic.ini_path is not None else None
    elif ini is not None:
        location, ini_url = _read_ini(ini)
        alembic = AlembicLocation(location, ini)
    else:
        alembic, ini_url = AlembicLocation(cwd / "alembic"), None  # not used: no project

    url, source = None, "env.py"  # nothing gave a URL: the project's env.py may configure one
    file_url = str(settings.get("database_url") or "").strip()
    if database_url:
        url, source = database_url, "--database-url"
    elif environ.get("DATABASE_URL"):
        url, source = environ["DATABASE_URL"], "DATABASE_URL"
    elif (pg := _url_from_postgres_vars(environ)) is not None:
        url, source = pg, "POSTGRES_* variables"
    elif file_url == "embedded":
        source = "embedded"
    elif file_url:
        url, source = file_url, str(path)
    elif ini_url:
        url, source = ini_url, f"alembic.ini {alembic.ini_path}"
    if url is not None:
        url = validate_url(url)

    state_dir = Path(environ.get("MIGCTL_STATE_DIR") or top.get("state_dir") or base / ".migctl")
    if not state_dir.is_absolute():
        state_dir = base / state_dir
    log_file = Path(settings.get("log_file") or top.get("log_file") or state_dir / "migrations.log")
    if not log_file.is_absolute():
        log_file = base / log_file
    # A `vector:` key, even an empty one, configures the vector side (Milvus Lite by default).
    has_vector = "vector" in settings or "vector" in top
    vector = settings["vector"] if "vector" in settings else top.get("vector")
    if vector is not None and not isinstance(vector, dict):
        raise ConfigError(f"{where}.vector: expected a mapping")
    configured = has_vector or vector_store_type is not None or any(environ.get(k) for k in VECTOR_ENV_VARS)
    seed = settings.get("seed_sql", top.get("seed_sql"))
    return Environment(
        name=name,
        database_url=url,
        protected=bool(settings.get("protected", False)),
        alembic=alembic,
        state_dir=state_dir.resolve(),
        log_file=log_file,
        config_file=path.resolve() if path else None,
        source=source,
        vector=vector or {},
        vector_configured=configured,
        base_dir=base.resolve(),
        seed_dir=(base / str(seed)).resolve() if seed else None,
    )


def no_url_message(environment: Environment) -> str:
    return (f"no database URL for environment {environment.name}: pass --database-url, set DATABASE_URL "
            "or database_url in migctl.yaml")


def resolve_database_url(config_file: str | None = None, env: str | None = None) -> str:
    """The URL of an environment, starting the embedded server when that is the target.

    Used by ``alembic/env.py`` when plain ``alembic`` runs with ``-x config_file=``.
    """
    environment = load_environment(config_file=config_file, env=env)
    if environment.database_url:
        return environment.database_url
    if not environment.embedded:
        raise UsageError(no_url_message(environment))
    from migctl.core.embedded import EmbeddedPostgres

    return EmbeddedPostgres(environment.state_dir).ensure_running().url
