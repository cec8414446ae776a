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
VECTOR_STORES = ("milvus", "pgvector")

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
    # `lint: {ignore: {<revision>: [rule, ...]}}`: findings accepted per revision (shown as such)
    lint_ignore: Mapping[str, frozenset[str]] = field(default_factory=dict)
    lint_enabled: bool = True  # `lint: {enabled: false}` leaves plans unlinted

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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path}: not a text file (byte {exc.start} is not UTF-8)") from None
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from exc
    if path.suffix == ".toml":
        data = _tool_migctl(path, text)
        if data is None:
            raise ConfigError(f"config file {path}: no [tool.migctl] table")
        return _check_shape(path, data, {})
    data, lines = _load_yaml(path, text)
    return _check_shape(path, data if data is not None else {}, lines)


# A YAML file whose aliases expand to more values than this is refused: every consumer walks the
# expanded tree (interpolation copies it), and a "billion laughs" file of a few lines never ends.
MAX_YAML_VALUES = 100_000


def yaml_expanded_size(node: Any, where: str, limit: int = MAX_YAML_VALUES) -> int:
    """How many values ``node`` (a composed YAML node) holds with its aliases expanded; a
    :class:`ConfigError` naming ``where`` past ``limit`` or on a self-referencing alias.
    Each node is sized once, so a bomb is found in time proportional to its text."""
    sizes: dict[int, int] = {}

    def size(n: Any, depth: int) -> int:
        known = sizes.get(id(n))
        if known is not None:
            return known
        if depth > 100:
            raise ConfigError(f"{where} line {n.start_mark.line + 1}: YAML nested more than 100 levels deep")
        sizes[id(n)] = limit + 1  # seen again while being sized: the alias refers to itself
        children = n.value if isinstance(n.value, list) else []
        total = 1
        for child in children:
            for part in child if isinstance(child, tuple) else (child,):
                total += size(part, depth + 1)
                if total > limit:
                    raise ConfigError(f"{where} line {n.start_mark.line + 1}: YAML aliases expand to more "
                                     f"than {limit:,} values (or refer to themselves): refused")
        sizes[id(n)] = total
        return total

    return size(node, 0)


def _no_duplicate_keys(root: Any, path: Path) -> None:
    """YAML keeps the last of two equal keys: `protected: true` and a later `protected: false`
    in the same mapping would leave it unprotected without a word. (`<<:` merges may override.)"""
    import yaml

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: dict[str, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in keys:
                        raise ConfigError(f"config file {path} line {key.start_mark.line + 1}: duplicate key "
                                          f"{key.value!r} (first on line {keys[key.value]})")
                    keys[key.value] = key.start_mark.line + 1
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _load_yaml(path: Path, text: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """The document and the 1-based line of every key path (``("environments", "dev")``)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        yaml_expanded_size(node, f"config file {path}")
        _no_duplicate_keys(node, path)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: say where it is
            line = text.count("\n", 0, exc.position) + 1
            where, problem = f" line {line}", f"{exc.reason} (character #x{exc.character:04x})"
        else:
            problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"config file {path}{where}: {problem}") from None
    finally:
        loader.dispose()
    lines: dict[tuple[str, ...], int] = {}

    def record(n: Any, prefix: tuple[str, ...]) -> None:
        if not isinstance(n, yaml.MappingNode) or len(prefix) > 4:  # deeper than any known key
            return
        for key, value in n.value:
            if isinstance(key, yaml.ScalarNode):
                lines.setdefault((*prefix, key.value), key.start_mark.line + 1)
                record(value, (*prefix, key.value))

    record(node, ())
    return data, lines


def _tool_migctl(path: Path, text: str) -> Any:
    """``[tool.migctl]`` of a pyproject.toml (same schema as migctl.yaml), or None."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path}: {exc}") from exc
    return (data.get("tool") or {}).get("migctl")


# Every key a config file may hold, with the type of its value: anything else is a typo or a
# misreading that would otherwise be ignored silently (`protectd: true` left prod unprotected;
# `protected: "false"`, a string, read as true). None (an empty value) means "not set", except
# for `protected`, which must say true or false.
# `verify: required` (a word), or a mapping of `migctl verify`'s settings; core/ops/check.py reads it.
VERIFY_TYPE = (str, dict)
TOP_TYPES: dict[str, type | tuple[type, ...]] = {
    "default_environment": str, "state_dir": str, "log_file": str, "environments": dict, "alembic": dict,
    "vector": dict, "seed_sql": str, "check": dict, "lint": dict, "verify": VERIFY_TYPE}
ENVIRONMENT_TYPES: dict[str, type | tuple[type, ...]] = {
    "database_url": str, "protected": bool, "alembic": dict, "vector": dict, "seed_sql": str, "log_file": str,
    "check": dict, "lint": dict, "verify": VERIFY_TYPE}
SECTION_TYPES: dict[str, dict[str, type]] = {
    "alembic": dict.fromkeys(("script_location", "ini", "version_table", "version_table_schema"), str),
    "vector": dict.fromkeys(("store", "uri", "token", "migrations_dir", "templates", "schema"), str),
    "check": {"max_heads": int},
    "lint": {"ignore": dict, "enabled": bool},
    # where `migctl verify` makes its scratch database; `required: true`: `check` compares the schema
    "verify": {"on": str, "extensions": list, "required": bool},
}
TOP_KEYS = tuple(TOP_TYPES)
ENVIRONMENT_KEYS = tuple(ENVIRONMENT_TYPES)
SECTION_KEYS = {name: tuple(keys) for name, keys in SECTION_TYPES.items()}
_EXPECTED = {str: "a string", bool: "true or false", dict: "a mapping", int: "a whole number", list: "a list",
             VERIFY_TYPE: "a word (required) or a mapping"}
_YAML_TYPE = {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list",
              dict: "a mapping"}


def _check_keys(path: Path, lines: Mapping[tuple[str, ...], int], parts: tuple[str, ...],
                mapping: Mapping[Any, Any], types: Mapping[str, type | tuple[type, ...]]) -> None:
    import difflib

    def fail(key_parts: tuple[str, ...], message: str) -> None:
        line = lines.get(key_parts) or lines.get(key_parts[:-1])
        raise ConfigError(f"config file {path}{f' line {line}' if line else ''}: {message}")

    known = tuple(types)
    for key, value in mapping.items():
        if key is True and "on" in types:  # YAML 1.1 reads a bare `on:` key as true
            key = "on"
        where = ".".join((*parts, "")) if parts else ""
        if key not in types:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; known: {', '.join(known)}"
            fail((*parts, str(key)), f"unknown key {where}{key!r}{hint}")
        expected = types[key]
        ok = (value is None and expected is not bool) or (
            isinstance(value, expected) and not (expected is int and isinstance(value, bool)))
        if not ok:
            got = "nothing" if value is None else _YAML_TYPE.get(type(value), type(value).__name__)
            shown = f" {value!r}" if isinstance(value, str | int | float) and len(repr(value)) <= 40 else ""
            fail((*parts, key), f"{where}{key}: expected {_EXPECTED[expected]}, not {got}{shown}")
        if key == "verify" and isinstance(value, str) and value not in ("required", "optional"):
            fail((*parts, key), f"{where}verify: expected 'required', 'optional' or a mapping, not {value[:40]!r}")
        if isinstance(value, dict) and key in SECTION_TYPES and value:
            _check_keys(path, lines, (*parts, key), value, SECTION_TYPES[key])


# Environment names become file names (backups/<name>-<time>/): no separators, no "..".
_ENV_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_environment_name(name: object, where: str, error: type[UsageError] = UsageError) -> str:
    """``name`` when it is a usable environment name, else ``error`` naming ``where``."""
    if not isinstance(name, str) or not _ENV_NAME.fullmatch(name) or ".." in name:
        raise error(f"{where}: invalid environment name {clip(str(name), 80)!r}: "
                         "use up to 64 letters, digits, '_', '.' or '-', starting with a letter or digit")
    return name


def _check_shape(path: Path, data: Any, lines: Mapping[tuple[str, ...], int]) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: expected a mapping at the top level")
    _check_keys(path, lines, (), data, TOP_TYPES)
    for name, settings in (data.get("environments") or {}).items():
        line = lines.get(("environments", str(name)))
        at = f"config file {path}{f' line {line}' if line else ''}"
        if not isinstance(name, str):
            raise ConfigError(f"{at}: environment names are strings, not {name!r}")
        check_environment_name(name, at, ConfigError)
        if settings is not None and not isinstance(settings, dict):
            raise ConfigError(f"{at}: environments.{name}: expected a mapping of settings")
        _check_keys(path, lines, ("environments", name), settings or {}, ENVIRONMENT_TYPES)
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
    version_table = section.get("version_table") or "alembic_version"
    schema = section.get("version_table_schema") or None
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


def _config_path(config_file: str | os.PathLike[str] | None, environ: Mapping[str, str], cwd: Path) -> Path | None:
    if config_file is not None:
        return Path(config_file)
    if environ.get("CONFIG_FILE"):
        return Path(environ["CONFIG_FILE"])
    return find_config_file(cwd)


def environment_names(config_file: str | os.PathLike[str] | None = None,
                      environ: Mapping[str, str] | None = None) -> list[str]:
    """Every environment of the config file, in its order (one, ``default``, for a config
    without ``environments:`` or a project found through ``./alembic.ini``)."""
    environ = os.environ if environ is None else environ
    cwd = Path.cwd()
    path = _config_path(config_file, environ, cwd)
    if path is None:
        if not (cwd / "alembic.ini").is_file():
            raise UsageError(NO_PROJECT)
        return [ALEMBIC_ENV_NAME]
    return list(_read_file(path).get("environments") or {}) or [ALEMBIC_ENV_NAME]


def load_environment(
    config_file: str | os.PathLike[str] | None = None,
    env: str | None = None,
    database_url: str | None = None,
    environ: Mapping[str, str] | None = None,
    vector_store_type: str | None = None,
    require_project: bool = True,
    url_overrides: bool = True,
) -> Environment:
    """Resolve the environment to act on, highest precedence first: arguments, process
    environment, config file (``config_file``, ``CONFIG_FILE``, ``./migctl.yaml``,
    ``[tool.migctl]`` in ``./pyproject.toml``), ``./alembic.ini``.

    With none of these, a :class:`UsageError` (:data:`NO_PROJECT`); ``require_project=False``
    (commands that need no Alembic project, like ``embedded``) returns an environment on the
    current directory instead.

    ``url_overrides=False`` takes the URL from the config file (or alembic.ini) even when
    ``DATABASE_URL`` or ``POSTGRES_*`` is set: the environments overview shows each environment
    as configured, not one overriding database under every name.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd()
    path = _config_path(config_file, environ, cwd)
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
    if database_url and url_overrides:
        url, source = database_url, "--database-url"
    elif url_overrides and environ.get("DATABASE_URL"):
        url, source = environ["DATABASE_URL"], "DATABASE_URL"
    elif url_overrides and (pg := _url_from_postgres_vars(environ)) is not None:
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
    if vector:  # checked here, before anything connects, not when the vector side is first used
        store = vector.get("store")
        if store is not None and store not in VECTOR_STORES:
            raise ConfigError(f"{where}.vector.store: unknown vector store type {store!r}: use milvus or pgvector")
        if vector.get("uri") and (store or "milvus") == "milvus":
            check_milvus_uri(str(vector["uri"]), f"{where}.vector.uri")
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
        lint_ignore=lint_ignore([(f"{path}: lint", top.get("lint")), (f"{where}.lint", settings.get("lint"))]),
        lint_enabled=next((bool(s["enabled"]) for s in (settings.get("lint"), top.get("lint"))
                           if isinstance(s, dict) and s.get("enabled") is not None), True),
    )


def lint_ignore(sections: list[tuple[str, Any]]) -> dict[str, frozenset[str]]:
    """``lint.ignore`` of the config's top level and of the environment, merged: revision id ->
    the rules accepted for it. ``sections``: (where, the ``lint`` mapping) pairs, ``where``
    naming it in errors (``migctl.yaml: lint``, ``migctl.yaml: environments.prod.lint``)."""
    out: dict[str, frozenset[str]] = {}
    for where, lint in sections:
        ignore = lint.get("ignore") if isinstance(lint, dict) else None
        if ignore is None:
            continue
        if not isinstance(ignore, dict):
            raise ConfigError(f"{where}.ignore: expected a mapping of revision ids to lists of rules")
        for rev, rules in ignore.items():
            if not isinstance(rev, str) or not rev.strip():
                raise ConfigError(f"{where}.ignore: revision {rev!r} is not a string: quote revision ids "
                                  "(YAML reads an unquoted 0006 as the number 6)")
            if not isinstance(rules, list) or not rules or not all(isinstance(r, str) and r.strip() for r in rules):
                raise ConfigError(f"{where}.ignore.{clip(rev, 40)}: expected a list of rule names "
                                  f"(e.g. [ban-drop-column]), not {clip(repr(rules), 60)}")
            out[rev] = out.get(rev, frozenset()) | {r.strip() for r in rules}
    return out


MILVUS_SCHEMES = ("http", "https", "tcp", "grpc", "grpcs")


def check_milvus_uri(uri: str, source: str) -> None:
    """A server URL with a host and a valid port, or a Milvus Lite file (``*.db``): anything else
    is a usage error here, not an exception from deep inside pymilvus."""
    from urllib.parse import urlsplit

    expected = "expected http[s]://host:port or a Milvus Lite file ending in .db"
    shown = mask_url(uri)[:200]
    if "://" not in uri:
        if not uri.endswith(".db"):
            raise ConfigError(f"{source} {shown!r}: {expected}")
        return
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises on a non-numeric or out-of-range port
    except ValueError as exc:
        raise ConfigError(f"{source} {shown!r}: {exc}; {expected}") from None
    if parts.scheme.lower() not in MILVUS_SCHEMES:
        raise ConfigError(f"{source} {shown!r}: unsupported scheme {parts.scheme!r}; {expected}")
    if not parts.hostname:
        raise ConfigError(f"{source} {shown!r}: no host; {expected}")


def ensure_state_dir(path: Path) -> Path:
    """Create migctl's state directory (or a folder in it) and check it is writable: a
    read-only or misplaced ``state_dir`` is a usage error naming it, not an OSError from
    whichever file is written first."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"state directory {path} cannot be created: {exc.strerror or exc} "
                          "(set state_dir in migctl.yaml or MIGCTL_STATE_DIR)") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ConfigError(f"state directory {path} is not writable "
                          "(set state_dir in migctl.yaml or MIGCTL_STATE_DIR)")
    return path


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
