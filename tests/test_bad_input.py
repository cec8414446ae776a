"""Bad input, table-driven: every case runs the real CLI against one project and one database
(at revision 3 of 10 on the relational side, 2 of 4 on the vector side, so an input that
slipped through would move them) and asserts the exit code, exactly one line on stderr naming
the problem, no traceback, no password, and the database and the project folder unchanged.

A case is an input (a target, a URL, a migctl.yaml, a vector migration or template file, a
flag or an environment variable) plus the words its one line must hold. The few bad inputs
that need a project of their own, or a server that fails, are the tests after the table.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import (
    APP_PASSWORD,
    REPO,
    clean_env,
    make_project,
    pg_scalar,
    reap,
    reference_project,
    run_cli,
    spawn_lock_holder,
    write_config,
)

VERSIONS = REPO / "vector_migrations" / "versions"
TEMPLATES = REPO / "vector_migrations" / "templates.yaml"
REL_AT = "c41d7e9a2f58"  # revision 3 of 10 of the reference schema
VEC_AT = "20250115_001"  # vector migration 2 of 4
FIRST = "20250108_001_create_document_and_image.yaml"
INJECTION = 'x"; DROP TABLE y; --'
BACKUP = "backups/t-20250101T000000Z"


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    message: str  # words the one stderr line holds (case-insensitive)
    code: int = 2
    files: dict[str, str | bytes] = field(default_factory=dict)  # written into the project first
    edits: tuple[tuple[str, str, str], ...] = ()  # (file, old, new) applied to the project first
    env: dict[str, str] = field(default_factory=dict)


CASES: dict[str, Case] = {}


def case(name: str, *args: str, message: str, code: int = 2, files: dict[str, str | bytes] | None = None,
         edits: tuple[tuple[str, str, str], ...] = (), env: dict[str, str] | None = None) -> None:
    assert name not in CASES, name
    CASES[name] = Case(tuple(args), message, code, files or {}, edits, env or {})


# -- targets: revision ids, prefixes, relative steps, ranges, empty, garbage -------------------
for verb in ("upgrade", "downgrade", "stamp"):
    case(f"{verb} unknown revision", verb, "deadbeef0000", "--yes", message="deadbeef0000")
    case(f"{verb} 2-character prefix", verb, "c4", "--yes", message="at least 4 characters")
    case(f"{verb} empty target", verb, "", "--yes", message="needs a target revision")
    case(f"{verb} blank target", verb, "   ", "--yes", message="needs a target revision")
    case(f"{verb} injection", verb, "'; DROP TABLE workspaces; --", "--yes", message="DROP TABLE")
case("upgrade 1-character prefix", "upgrade", "c", "--yes", message="at least 4 characters")
case("upgrade 3-character prefix", "upgrade", "5e7", "--yes", message="at least 4 characters")
case("upgrade -N", "upgrade", "-1", "--yes", message="upgrade takes +N")
case("upgrade +0", "upgrade", "+0", "--yes", message="+0")
case("upgrade +letters", "upgrade", "+abc", "--yes", message="+abc")
case("upgrade ++1", "upgrade", "++1", "--yes", message="++1")
case("upgrade bare @", "upgrade", "@", "--yes", message="'@'")
case("upgrade empty branch", "upgrade", "x@", "--yes", message="x@")
case("upgrade range", "upgrade", "3f9a1c2b7d40:f07c3a5e9b18", "--yes", message="3f9a1c2b7d40:f07c3a5e9b18")
case("upgrade open range", "upgrade", ":f07c3a5e9b18", "--yes", message=":f07c3a5e9b18")
case("upgrade unknown branch label", "upgrade", "nobranch@head", "--yes", message="nobranch")
case("upgrade upper-case HEAD", "upgrade", "HEAD", "--yes", message="HEAD")
case("upgrade path", "upgrade", "../../etc/passwd", "--yes", message="passwd")
case("upgrade 5000 characters", "upgrade", "f" * 5000, "--yes", message="ffff")
case("upgrade non-ascii", "upgrade", "hëad", "--yes", message="hëad")
case("upgrade short prefix --sql", "upgrade", "c4", "--sql", message="at least 4 characters")
case("upgrade unknown --dry-run", "upgrade", "deadbeef0000", "--dry-run", message="deadbeef0000")
case("downgrade +N", "downgrade", "+1", "--yes", message="downgrade takes -N")
case("downgrade -letters", "downgrade", "-abc", "--yes", message="TARGET")
case("downgrade past base", "downgrade", "-99", "--yes", message="-99")
case("downgrade to a later revision", "downgrade", "f07c3a5e9b18", "--yes", message="f07c3a5e9b18")
case("downgrade 3-character prefix", "downgrade", "8b2", "--yes", message="at least 4 characters")
case("stamp +letters", "stamp", "+x", "--yes", message="+x")
case("vector upgrade unknown version", "vector", "upgrade", "20990101_001", "--yes",
     message="unknown vector migration")
case("vector upgrade garbage", "vector", "upgrade", "garbage", "--yes", message="garbage")
case("vector upgrade empty", "vector", "upgrade", "", "--yes", message="needs a target")
case("vector stamp empty", "vector", "stamp", "", "--yes", message="needs a target")
case("vector downgrade blank", "vector", "downgrade", " ", "--yes", message="needs a target")
case("vector downgrade +N", "vector", "downgrade", "+1", "--yes", message="takes -N")
case("vector downgrade unknown", "vector", "downgrade", "20990101_001", "--yes", message="unknown vector migration")
case("vector repair never applied", "vector", "repair", "20250201_001", "--yes", message="never applied")
case("vector repair garbage", "vector", "repair", "x", "--yes", message="'x'")

# -- URLs -------------------------------------------------------------------------------------
for name, url, message in [
    ("no //", "postgresql//nohost", "malformed database URL"),
    ("no host", "postgresql://app@/db", "no host"),
    ("oracle", "oracle://u:p@h/db", "unsupported database 'oracle'"),
    ("mssql", "mssql+pyodbc://u:p@h/db", "unsupported database 'mssql'"),
    ("http", "http://h/db", "unsupported database 'http'"),
    ("port too big", "postgresql://u@h:70000/db", "port out of range"),
    ("port zero", "postgresql://u@h:0/db", "port out of range"),
    ("port letters", "postgresql://u@h:abc/db", "malformed database URL"),
    ("port negative", "mysql://u@h:-1/db", "malformed database URL"),
    ("no database name", "postgresql://u@h:5432", "no database name"),
    ("not a URL", "not a url", "malformed database URL"),
    ("empty scheme", "://h/db", "malformed database URL"),
    ("scheme only", "postgresql://", "no host"),
    ("spaces in password", "postgresql://spaceuser:my secret pw@h:99999/db", "port out of range"),
    ("100,000 characters", "postgresql://u:" + "p" * 100_000 + "@h:1x/db", "malformed database URL"),
]:
    case(f"url {name}", "--database-url", url, "status", "--skip-vector-db", message=message)
case("url in DATABASE_URL", "status", "--skip-vector-db", message="malformed database URL",
     env={"DATABASE_URL": "garbage"})
case("url POSTGRES_PORT letters", "status", "--skip-vector-db", message="malformed database URL",
     env={"POSTGRES_HOST": "127.0.0.1", "POSTGRES_PORT": "abc", "POSTGRES_DB": "x"})
case("url in the config file", "status", "--skip-vector-db", message="unsupported database 'oracle'",
     edits=(("migctl.yaml", "database_url: ", "database_url: oracle://u@h/db #"),))

# -- migctl.yaml ------------------------------------------------------------------------------
# Each case is this file with one defect; none gets as far as connecting to its URL.
CONFIG = f"""default_environment: t
state_dir: state
alembic: {{script_location: {REPO / 'alembic'}}}
environments:
  t:
    database_url: "postgresql://app@127.0.0.1:1/none"
    vector:
      store: pgvector
      templates: templates.yaml
      migrations_dir: versions
"""
URL_LINE = '    database_url: "postgresql://app@127.0.0.1:1/none"\n'


def config(old: str, new: str) -> dict[str, str | bytes]:
    assert old in CONFIG, old
    return {"migctl.yaml": CONFIG.replace(old, new, 1)}


def setting(text: str) -> dict[str, str | bytes]:  # a line before database_url (line 6)
    return config(URL_LINE, f"    {text}\n{URL_LINE}")


def top(key: str, text: str) -> dict[str, str | bytes]:  # replaces the top-level line of `key`
    line = next(ln for ln in CONFIG.splitlines() if ln.startswith(f"{key}:") or key == "+")
    return config(line + "\n", f"{text}\n") if key != "+" else config("environments:\n", f"{text}\nenvironments:\n")


BOMB = "\n".join(["x: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                 + [f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)])
for name, files, message in [
    ("protectd typo", setting("protectd: true"), "line 6: unknown key environments.t.'protectd' (did you mean 'protected'?)"),
    ("protected string false", setting('protected: "false"'), "line 6: environments.t.protected: expected true or false, not a string 'false'"),
    ("protected number", setting("protected: 1"), "environments.t.protected: expected true or false, not a number"),
    ("protected empty", setting("protected:"), "protected: expected true or false, not nothing"),
    ("protected list", setting("protected: [true]"), "not a list"),
    ("protected twice", setting("protected: true\n    protected: false"), "line 7: duplicate key 'protected' (first on line 6)"),
    ("databse_url typo", config("database_url:", "databse_url:"), "line 6: unknown key environments.t.'databse_url' (did you mean 'database_url'?)"),
    ("database_url number", config(URL_LINE, "    database_url: 5432\n"), "line 6: environments.t.database_url: expected a string, not a number 5432"),
    ("database_url variable unset", config(URL_LINE, "    database_url: ${NOT_SET_ANYWHERE}\n"),
     "variable NOT_SET_ANYWHERE is not set"),
    ("environment setting unknown", setting("colour: blue"), "unknown key environments.t.'colour'"),
    ("vecotr typo at the top", top("+", "vecotr: {store: milvus}"), "line 4: unknown key 'vecotr' (did you mean 'vector'?)"),
    ("vector a string", top("+", "vector: milvus"), "line 4: vector: expected a mapping, not a string 'milvus'"),
    ("vector a list", top("+", "vector: [milvus]"), "vector: expected a mapping, not a list"),
    ("vector store unknown", config("store: pgvector", "store: weaviate"), "unknown vector store type 'weaviate'"),
    ("vector stroe typo", config("store: pgvector", "stroe: pgvector"), "line 8: unknown key environments.t.vector.'stroe' (did you mean 'store'?)"),
    ("vector uri garbage", config("store: pgvector", 'store: milvus\n      uri: "garbage://x:y"'),
     "vector.uri 'garbage://x:y'"),
    ("vector uri number", config("store: pgvector", "store: pgvector\n      uri: 19530"),
     "line 9: environments.t.vector.uri: expected a string, not a number"),
    ("alembic a string", top("alembic", "alembic: alembic"), "line 3: alembic: expected a mapping, not a string"),
    ("alembic key typo", top("alembic", "alembic: {script_locaton: alembic}"), "line 3: unknown key alembic.'script_locaton' (did you mean 'script_location'?)"),
    ("alembic version_table number", top("alembic", "alembic: {script_location: x, version_table: 5}"),
     "alembic.version_table: expected a string, not a number"),
    ("alembic ini missing", top("alembic", "alembic: {ini: nowhere.ini}"), "file not found"),
    ("check max_heads string", top("+", 'check: {max_heads: "2"}'), "check.max_heads: expected a whole number, not a string"),
    ("check max_heads boolean", top("+", "check: {max_heads: true}"), "expected a whole number, not a boolean"),
    ("check key typo", top("+", "check: {max_head: 2}"), "'max_head' (did you mean 'max_heads'?)"),
    ("state_dir number", top("state_dir", "state_dir: 5"), "line 2: state_dir: expected a string, not a number"),
    ("log_file mapping", top("+", "log_file: {a: b}"), "log_file: expected a string, not a mapping"),
    ("seed_sql boolean", top("+", "seed_sql: true"), "seed_sql: expected a string, not a boolean"),
    ("default_environment list", top("default_environment", "default_environment: [t]"),
     "line 1: default_environment: expected a string, not a list"),
    ("default_environment unknown", top("default_environment", "default_environment: prod"),
     "unknown environment 'prod'"),
    ("environments a list", config("environments:\n  t:\n", "environments: [t]\nx:\n  t:\n"),
     "environments: expected a mapping, not a list"),
    ("environment a number", config("  t:\n", "  u: 5\n  t:\n"), "line 5: environments.u: expected a mapping"),
    ("environment name a number", config("  t:\n", "  5: {}\n  t:\n"), "environment names are strings"),
    ("unclosed flow", top("alembic", "alembic: {script_location: [unclosed"), "line 4"),
    ("tab indentation", config("  t:\n", "  t:\n\t\n"), "line 6"),
    ("alias bomb", top("+", BOMB), "YAML aliases expand to more than 100,000 values"),
    ("self-referencing alias", top("+", "x: &loop [*loop]"), "refer to themselves"),
    ("NUL byte", config("t:\n", "t:\x00\n"), "line 5: control characters are not allowed"),
]:
    case(f"config {name}", "status", message=message, files=files)
case("config alembic missing folder", "upgrade", "--yes", message="missing alembic directory",
     edits=(("migctl.yaml", f"script_location: {REPO / 'alembic'}", "script_location: nowhere"),))
for name, text, message in [
    ("binary", b"\x00\x01\xff\xfe\x89PNG\r\n", "not a text file"),
    ("top-level list", "- a\n- b\n", "expected a mapping at the top level"),
    ("top-level scalar", "hello\n", "expected a mapping at the top level"),
    ("only a comment", "# nothing\n", "no alembic section"),
]:
    case(f"config {name}", "status", message=message, files={"migctl.yaml": text})
case("config toml protected string", "--config", "pyproject.toml", "status", message="expected true or false",
     files={"pyproject.toml": '[tool.migctl.environments.t]\nprotected = "false"\n'})
case("config toml invalid", "--config", "pyproject.toml", "status", message="pyproject.toml",
     files={"pyproject.toml": "[tool.migctl\n"})
case("config missing file", "--config", "nowhere.yaml", "status", message="config file not found")
case("config a directory", "--config", "versions", "status", message="versions")
case("config CONFIG_FILE missing", "status", message="config file not found", env={"CONFIG_FILE": "/nonexistent/m.yaml"})
case("config --env unknown", "--env", "staging", "status", message="unknown environment 'staging'")
case("config MIGCTL_ENV unknown", "status", message="unknown environment 'staging'", env={"MIGCTL_ENV": "staging"})

# -- vector migration files -------------------------------------------------------------------
NEXT = 'version: "20250301_001"\ndescription: next\ndepends_on: "20250201_001"\noperations:\n'
INLINE = ("  - create_collection:\n      name: extra\n      schema:\n        fields:\n"
          "          - {name: id, type: int64, primary: true}\n")
ADD = "versions/20250301_001_x.yaml"


def first(old: str, new: str, name: str = FIRST) -> tuple[tuple[str, str, str], ...]:
    return ((f"versions/{name}", old, new),)


for name, files, edits, message in [
    ("malformed yaml", {"versions/20250301_001_bad.yaml": NEXT + "  - create_alias: {alias: a\n"}, (), "line"),
    ("unknown template", {}, first("template: image", "template: imagee"), "unknown collection template 'imagee'"),
    ("missing dimension", {ADD: NEXT + INLINE + "          - {name: v, type: float_vector}\n        index: hnsw_cosine\n"},
     (), "dim"),
    ("injection collection", {}, first("{name: image,", "{name: 'x\"; DROP TABLE y; --',"), "identifier"),
    ("injection alias", {}, first("alias: documents_current", "alias: 'a; DROP TABLE b'", "20250120_001_documents_alias.yaml"),
     "identifier"),
    ("autoindex on pgvector", {ADD: NEXT + INLINE + "          - {name: v, type: float_vector, dim: 8}\n"
                                      "        index: {index_type: AUTOINDEX, metric: COSINE}\n"}, (), "AUTOINDEX"),
    ("dimension too big to index", {ADD: NEXT + INLINE + "          - {name: v, type: float_vector, dim: 4096}\n"
                                           "        index: hnsw_cosine\n"}, (), "2000"),
    ("varchar without max_length", {ADD: NEXT + INLINE + "          - {name: t, type: varchar}\n"
                                           "          - {name: v, type: float_vector, dim: 8}\n"
                                           "        index: hnsw_cosine\n"}, (), "max_length"),
    ("two primary keys", {ADD: NEXT + INLINE + "          - {name: k, type: int64, primary: true}\n"
                                 "          - {name: v, type: float_vector, dim: 8}\n        index: hnsw_cosine\n"}, (),
     "primary"),
    ("unknown index template", {ADD: NEXT + INLINE + "          - {name: v, type: float_vector, dim: 8}\n"
                                       "        index: hnsw_cosinus\n"}, (), "hnsw_cosinus"),
    ("duplicate version", {"versions/20250108_001_again.yaml": (VERSIONS / FIRST).read_text()}, (), "duplicate version"),
    ("fork", {"versions/20250301_001_fork.yaml": NEXT.replace("20250201_001", "20250120_001")
              + "  - create_alias: {alias: b, collection: image}\n"}, (), "fork"),
    ("unquoted version", {ADD: NEXT.replace('"20250301_001"', "20250301_001")
                          + "  - create_alias: {alias: b, collection: image}\n"}, (), "must be quoted"),
    ("unknown parent", {ADD: NEXT.replace("20250201_001", "20240101_001")
                        + "  - create_alias: {alias: b, collection: image}\n"}, (), "not a known version"),
    ("unknown operation", {ADD: NEXT + "  - explode: {name: image}\n"}, (), "unknown operation"),
    ("add_field without default", {ADD: NEXT + "  - add_field: {collection: image, field: "
                                          "{name: lang, type: varchar, max_length: 8}}\n"}, (), "missing 'default'"),
    ("drop missing collection", {ADD: NEXT + "  - drop_collection: {name: ghost}\n"}, (), "does not exist"),
    ("drop without downgrade", {ADD: NEXT + "  - drop_collection: {name: image}\n"}, (),
     "drop_collection has no safe inverse (it deletes data); add a 'downgrade:' block or 'irreversible: true'"),
    ("irreversible a string", {ADD: NEXT.replace("operations:", 'irreversible: "yes"\noperations:')
                               + "  - drop_collection: {name: image}\n"}, (), "'irreversible' must be true or false"),
    ("downgrade not a list", {ADD: NEXT.replace("operations:", "downgrade: 5\noperations:")
                              + "  - create_alias: {alias: b, collection: image}\n"}, (), "'downgrade' must be a list"),
    ("rebuild changes dimension", {ADD: NEXT + "  - rebuild:\n      collection: image\n      add_fields:\n"
                                   "        - field: {name: embedding, type: float_vector, dim: 16}\n"
                                   "          default: []\n"}, (), "embedding"),
    ("file name mismatch", {"versions/20250301_002_x.yaml": NEXT + "  - create_alias: {alias: b, collection: image}\n"},
     (), "file name must be"),
    ("unknown top key", {ADD: NEXT + "  - create_alias: {alias: b, collection: image}\nsurprise: 1\n"}, (),
     "unknown key 'surprise'"),
    ("operations a mapping", {ADD: NEXT + "  create_alias: {alias: b, collection: image}\n"}, (),
     "'operations' must be a list"),
    ("top-level list", {ADD: "- version: x\n"}, (), "expected a mapping"),
    ("binary", {ADD: b"\xff\xfe\x00garbage"}, (), "cannot read"),
    ("alias bomb", {ADD: NEXT + "  - create_alias: {alias: b, collection: image}\n"
                    + "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10 if i else ["lol"] * 10) + "]\n"
                              for i in range(7))}, (), "YAML aliases expand"),
    ("version not a date", {"versions/2025_x.yaml": 'version: "2025"\ndepends_on: null\noperations: []\n'}, (),
     "is not YYYYMMDD_NNN"),
]:
    case(f"vector file {name}", "vector", "upgrade", "--yes", message=message, files=files, edits=edits)

# -- templates --------------------------------------------------------------------------------
for name, edit, message in [
    ("unknown field type", ("{type: json}", "{type: jsonb}"), "jsonb"),
    ("vector without dim", ("embedding_768: {type: float_vector, dim: 768}", "embedding_768: {type: float_vector}"),
     "dim"),
    ("unknown metric", ("metric: COSINE, params: {M: 16, efConstruction: 64}}",
                        "metric: COSINUS, params: {M: 16, efConstruction: 64}}"), "COSINUS"),
    ("unknown index type", ("flat_ip: {index_type: FLAT", "flat_ip: {index_type: FLOT"), "FLOT"),
    ("unknown section", ("base_configs:\n", "base_config:\n"), "base_config"),
    ("unknown field reference", ("- ref: metadata", "- ref: metadatum"), "metadatum"),
    ("unknown base", ("    base: default\n", "    base: defualt\n"), "defualt"),
    ("max_length a string", ("{type: varchar, max_length: 512}", "{type: varchar, max_length: lots}"), "max_length"),
]:
    case(f"templates {name}", "templates", "list", message=message, edits=(("templates.yaml", *edit),))
case("templates top-level list", "templates", "list", message="templates.yaml", files={"templates.yaml": "- a\n"})
case("templates binary", "templates", "list", message="cannot read", files={"templates.yaml": b"\xff\xfe\x00"})
case("templates alias bomb", "templates", "list", message="YAML aliases expand",
     files={"templates.yaml": "".join(f"x{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10 if i else ["lol"] * 10) + "]\n"
                                      for i in range(7))})
case("templates show unknown", "templates", "show", "nope", message="unknown collection template 'nope'")
case("templates --file missing", "templates", "list", "--file", "nowhere.yaml", message="file not found")
case("create-migration unknown template", "create-migration", "-d", "x", "--create-collections", "nope",
     message="unknown collection template 'nope'")
case("create-migration blank description", "create-migration", "-d", " ", message="needs a --description")

# -- flags and environment variables ----------------------------------------------------------
for value in ("-5", "nan", "inf", "abc", ""):
    case(f"--lock-timeout {value!r}", "upgrade", "--yes", "--lock-timeout", value, message="--lock-timeout")
for value in ("0", "-1", "abc", "1.5", "100000000000000000000"):
    case(f"audit --limit {value}", "audit", "--limit", value, message="--limit")
for name, args, message in [
    ("unknown command", ("frobnicate",), "invalid choice"),
    ("unknown flag", ("upgrade", "--frobnicate"), "unrecognized arguments"),
    ("downgrade without target", ("downgrade",), "TARGET"),
    ("revision without message", ("revision",), "-m/--message"),
    ("--env without value", ("status", "--env"), "expected one argument"),
    ("--log-level unknown", ("--log-level", "loud", "status"), "invalid choice"),
    ("--vector-store-type unknown", ("--vector-store-type", "weaviate", "status"), "invalid choice"),
    ("templates --store unknown", ("templates", "show", "document", "--store", "weaviate"), "invalid choice"),
    ("embedded action unknown", ("embedded", "explode"), "invalid choice"),
    ("completion shell unknown", ("completion", "tcsh"), "invalid choice"),
    ("reset with skips", ("reset", "--skip-vector-db", "--skip-relational"), "both sides skipped"),
    ("restore missing folder", ("restore", "nowhere", "--yes"), "no manifest.json"),
]:
    case(f"flag {name}", *args, message=message)
for name, text, message in [
    ("garbage", "{not json", "invalid JSON"),
    ("a list", "[1, 2]", "expected a JSON object"),
    ("dump outside the folder", '{"relational": "../../migctl.yaml"}', "relational must name a file"),
    ("no dump", '{"tables": {}}', "relational must name a file"),
    ("collections a list", '{"relational": "relational.dump", "collections": []}', "collections must be an object"),
    ("collection without fields", '{"relational": "relational.dump", "collections": {"c": {"file": "c.jsonl"}}}',
     "collections.c needs a list of fields"),
]:
    case(f"restore manifest {name}", "restore", BACKUP, "--yes", message=message,
         files={f"{BACKUP}/manifest.json": text, f"{BACKUP}/relational.dump": "x", f"{BACKUP}/c.jsonl": ""})
for name, env, message in [
    ("MILVUS_URI garbage", {"MILVUS_URI": "garbage://x:y", "VECTOR_STORE_TYPE": "milvus"}, "MILVUS_URI 'garbage://x:y'"),
    ("MILVUS_URI port", {"MILVUS_URI": "http://127.0.0.1:99999", "VECTOR_STORE_TYPE": "milvus"}, "Port out of range"),
    ("MILVUS_URI text file", {"MILVUS_URI": "/tmp/milvus.txt", "VECTOR_STORE_TYPE": "milvus"}, "ending in .db"),
    ("MILVUS_URI no host", {"MILVUS_URI": "http://", "VECTOR_STORE_TYPE": "milvus"}, "no host"),
    ("MILVUS_HOST port", {"MILVUS_HOST": "h", "MILVUS_PORT": "x", "VECTOR_STORE_TYPE": "milvus"}, "MILVUS_HOST"),
    ("VECTOR_STORE_TYPE unknown", {"VECTOR_STORE_TYPE": "weaviate"}, "unknown vector store type 'weaviate'"),
    ("read-only state dir", {"MIGCTL_STATE_DIR": "/proc/migctl-state", "VECTOR_STORE_TYPE": "milvus"},
     "state directory /proc/migctl-state cannot be created"),
    ("state dir under a file", {"MIGCTL_STATE_DIR": "migctl.yaml/state", "VECTOR_STORE_TYPE": "milvus"},
     "cannot be created: Not a directory"),
]:
    case(f"env {name}", "vector", "status", message=message, env=env)


# -- running the table ------------------------------------------------------------------------
@dataclass
class World:
    url: str
    admin: str
    template: Path  # the project every case starts from a copy of
    root: Path


@pytest.fixture(scope="module")
def world(embedded_pg, tmp_path_factory: pytest.TempPathFactory) -> World:
    url, admin = embedded_pg.create_database()
    root = tmp_path_factory.mktemp("bad_input")
    project = root / "template"
    shutil.copytree(VERSIONS, project / "versions")
    shutil.copy(TEMPLATES, project / "templates.yaml")
    (project / "migctl.yaml").write_text("\n".join([
        "default_environment: t", f"state_dir: {root / 'state'}", f"alembic: {{script_location: {REPO / 'alembic'}}}",
        "environments:", "  t:", f'    database_url: "{url}"', "    vector:", "      store: pgvector",
        "      templates: templates.yaml", "      migrations_dir: versions"]) + "\n")
    for args in (("upgrade", REL_AT, "--yes"), ("vector", "upgrade", VEC_AT, "--yes")):
        result = run_cli(*args, cwd=project)
        assert result.code == 0, result.text
    return World(url, admin, project, root)


def snapshot(admin: str) -> dict[str, object]:
    """What a bad input must not change: every column, index and view, both version tables,
    migctl's audit rows and the lock's row."""
    import psycopg

    queries = [  # columns, indexes, alembic_version, vector_db_migrations, audit rows, rows
        "SELECT string_agg(table_schema || '.' || table_name || '.' || column_name || ' ' || data_type, ','"
        " ORDER BY table_schema, table_name, column_name) FROM information_schema.columns"
        " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
        "SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes WHERE schemaname NOT LIKE 'pg_%'",
        "SELECT string_agg(version_num, ',') FROM alembic_version",
        "SELECT string_agg(version || ':' || status, ',' ORDER BY version) FROM vector_db_migrations",
        "SELECT count(*) FROM migctl_audit",
        "SELECT count(*) FROM vectors.document",
    ]
    with psycopg.connect(admin, autocommit=True) as conn:
        return {q.split(" FROM ")[-1].split()[0]: conn.execute(q).fetchone()[0] for q in queries}


def folder_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def prepare(world: World, name: str, spec: Case) -> Path:
    folder = world.root / hashlib.sha1(name.encode()).hexdigest()[:12]
    shutil.copytree(world.template, folder)
    for rel, content in spec.files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            (folder / rel).write_bytes(content)
        else:
            (folder / rel).write_text(content)
    for rel, old, new in spec.edits:
        text = (folder / rel).read_text()
        assert old in text, (rel, old)
        (folder / rel).write_text(text.replace(old, new, 1))
    return folder


def one_line(result, code: int) -> str:
    """The single stderr line: the exit code's kind, no traceback, nothing else."""
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1, result.text
    assert "Traceback" not in result.text and "unexpected" not in lines[0], result.text
    assert lines[0].startswith("migctl: refused: " if code == 3 else "migctl: error: "), result.text
    assert len(lines[0]) < 1200, lines[0][:300]
    return lines[0]


def test_the_table_has_at_least_120_distinct_inputs() -> None:
    assert len(CASES) >= 120, len(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_changes_nothing(world: World, name: str) -> None:
    spec = CASES[name]
    folder = prepare(world, name, spec)
    before, files = snapshot(world.admin), folder_hash(folder)
    result = run_cli(*spec.args, cwd=folder, env=clean_env(**spec.env))
    assert result.code == spec.code, result.text
    line = one_line(result, spec.code)
    assert spec.message.lower() in line.lower(), line
    assert APP_PASSWORD not in result.text and INJECTION not in result.out
    assert snapshot(world.admin) == before
    assert folder_hash(folder) == files
    shutil.rmtree(folder)


# -- bad input that needs a project or a server of its own ------------------------------------
TABLES = "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"


def test_ambiguous_prefix(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_project(tmp_path, "branches")
    versions = ini.parent / "migrations" / "versions"
    twin = next(versions.glob("0008_*")).read_text().replace("f1f1f1f1f1f1", "a1a1ffffffff").replace("('side',)", "None")
    (versions / "0009_a1a1ffffffff_twin.py").write_text(twin)
    cfg = write_config(tmp_path, url, ini=ini)
    result = run_cli("--config", str(cfg), "upgrade", "a1a1", "--yes", cwd=tmp_path)
    assert result.code == 2
    assert "Multiple revisions start with 'a1a1'" in one_line(result, 2)
    assert pg_scalar(admin, TABLES) == 0


def test_unreachable_host(tmp_path: Path) -> None:
    reference_project(tmp_path)
    result = run_cli("--database-url", "postgresql://app:pw-unreachable@127.0.0.1:1/rag", "upgrade", "--yes",
                     cwd=tmp_path)
    assert result.code == 1
    assert "cannot connect to postgresql://app:***@127.0.0.1:1/rag" in one_line(result, 1)
    assert "pw-unreachable" not in result.text


def test_wrong_password(pg_db: tuple[str, str], tmp_path: Path) -> None:
    reference_project(tmp_path)
    url, admin = pg_db
    bad = url.replace("Sup3r-Secret-pw", "Wrong-Secret-pw")
    result = run_cli("--database-url", bad, "upgrade", "--yes", cwd=tmp_path)
    assert result.code == 1
    line = one_line(result, 1)
    assert "password authentication failed" in line and "app:***@" in line
    assert "Wrong-Secret-pw" not in result.text
    assert pg_scalar(admin, TABLES) == 0


def test_a_held_lock_is_refused_not_an_error(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.18: a held lock printed 'migctl: error:'; it is a refusal (exit 3)."""
    url, admin = pg_db
    reference_project(tmp_path)
    holder = spawn_lock_holder(url)
    try:
        result = run_cli("--database-url", url, "upgrade", "--yes", cwd=tmp_path)
    finally:
        reap([holder])
    assert result.code == 3, result.text
    assert result.err.splitlines()[-1].startswith("migctl: refused: migration lock is held by "), result.err
    assert "migctl: error" not in result.err and "Traceback" not in result.err
    assert pg_scalar(admin, "SELECT to_regclass('public.alembic_version')") is None


def test_an_unwritable_log_file_is_one_warning(tmp_path: Path) -> None:
    """Issue 13.19: a log file that cannot be written gave a traceback per record."""
    ini = make_project(tmp_path, "small")
    db = tmp_path / "app.db"
    cfg = write_config(tmp_path, f"sqlite:///{db}", ini=ini)
    for log_file, reason in (("/dev/full", "cannot write the log file /dev/full: No space left on device"),
                             ("/proc/migctl/m.log", "cannot open the log file /proc/migctl/m.log: No such file")):
        cfg.write_text(cfg.read_text().split("    log_file:")[0] + f"    log_file: {log_file}\n")
        result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
        assert result.code == 0, result.text
        assert "Traceback" not in result.text and "Logging error" not in result.text, result.text
        warnings = [ln for ln in result.err.splitlines() if ln.startswith("migctl: warning:")]
        assert len(warnings) == 1 and warnings[0].startswith(f"migctl: warning: {reason}"), result.err
        assert warnings[0].endswith("; not logging to it"), result.err
        assert run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path).code == 0


def test_json_error_object_for_bad_input(tmp_path: Path) -> None:
    reference_project(tmp_path)
    result = run_cli("--json", "--database-url", "oracle://u:p@h/db", "status", cwd=tmp_path)
    assert result.code == 2
    assert json.loads(result.out)["exit"] == 2
