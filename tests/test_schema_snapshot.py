"""Catalog snapshots of a relational schema and their comparison (issue 15): the base of
``migctl verify`` (before/after each step on a throwaway database) and of live drift."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from migctl.core.relational.runner import MIGCTL_TABLES
from migctl.core.relational.schema import Schema, SchemaDiff, capture, compare, default_exclusions

# ---------------------------------------------------------------------------------------------
# No server: comparison, its lines and summary, the JSON round trips.

BEFORE = Schema("postgresql", "PostgreSQL 18.1", {
    "table": {"public.documents": "table", "public.chunks": "table"},
    "column": {"public.documents.id": "integer not null default nextval(<owned sequence>)",
               "public.documents.title": "character varying(200)",
               "public.chunks.id": "bigint not null", "public.chunks.doc_id": "integer"},
    "index": {"public.ix_docs_title": "CREATE INDEX ON public.documents USING btree (title)"},
    "constraint": {"public.chunks.chunks_pkey": "PRIMARY KEY (id)"},
    "enum": {"public.mood": "('sad', 'ok')"},
    "view": {},
})


def _after(**changes: dict[str, str | None]) -> Schema:
    objects = {kind: dict(names) for kind, names in BEFORE.objects.items()}
    for kind, names in changes.items():
        for name, definition in names.items():
            if definition is None:
                objects.setdefault(kind, {}).pop(name, None)
            else:
                objects.setdefault(kind, {})[name] = definition
    return Schema(BEFORE.dialect, BEFORE.server, objects)


def test_equal_snapshots_compare_empty() -> None:
    diff = compare(BEFORE, _after())
    assert diff.empty and not diff
    assert diff.lines() == [] and diff.summary() == ""
    # An empty kind is no kind: equal whichever way a snapshot was built.
    assert Schema("postgresql", "PostgreSQL 18.1", {"view": {}, **BEFORE.objects}) == BEFORE


def test_compare_names_missing_extra_and_changed() -> None:
    actual = _after(index={"public.ix_docs_title": None}, column={"public.documents.note": "text",
                    "public.documents.title": "integer"}, enum={"public.mood": "('sad', 'ok', 'happy')"})
    diff = compare(BEFORE, actual)
    assert not diff.empty
    assert diff.missing == (("index", "public.ix_docs_title"),)
    assert diff.extra == (("column", "public.documents.note"),)
    assert diff.changed == (("enum", "public.mood", "('sad', 'ok')", "('sad', 'ok', 'happy')"),
                            ("column", "public.documents.title", "character varying(200)", "integer"))
    assert diff.lines() == [
        "missing index public.ix_docs_title",
        "extra column public.documents.note",
        "enum public.mood: ('sad', 'ok') -> ('sad', 'ok', 'happy')",
        "column public.documents.title: character varying(200) -> integer",
    ]
    assert diff.summary() == ("index public.ix_docs_title missing; column public.documents.note extra; "
                              "enum public.mood: ('sad', 'ok') -> ('sad', 'ok', 'happy') (+1 more)")
    assert diff.summary(limit=1) == "index public.ix_docs_title missing (+3 more)"
    assert diff.summary(limit=10).endswith("column public.documents.title: character varying(200) -> integer")


def test_summary_shortens_long_definitions() -> None:
    long_view = "SELECT " + ", ".join(f"c{i}" for i in range(30)) + " FROM t"
    diff = compare(_after(view={"public.v": long_view}), _after(view={"public.v": long_view + " WHERE x"}))
    assert diff.summary() == "view public.v changed"
    assert diff.lines() == [f"view public.v: {long_view} -> {long_view} WHERE x"]


def test_summary_of_a_function_whose_definitions_hold_arrows() -> None:
    before = _after(function={"public.f(a integer)": "(a integer) -> integer sql body:0123456789ab"})
    after = _after(function={"public.f(a integer)": "(a integer) -> bigint sql body:0123456789ab"})
    diff = compare(before, after)
    assert diff.summary() == "function public.f(a integer) changed"
    assert diff.lines() == ["function public.f(a integer): (a integer) -> integer sql body:0123456789ab -> "
                            "(a integer) -> bigint sql body:0123456789ab"]


def test_a_missing_table_stands_for_its_columns_and_constraints() -> None:
    actual = _after(table={"public.chunks": None},
                    column={"public.chunks.id": None, "public.chunks.doc_id": None},
                    constraint={"public.chunks.chunks_pkey": None})
    diff = compare(BEFORE, actual)
    assert len(diff.missing) == 4  # the tuples keep every object
    assert diff.lines() == ["missing table public.chunks (with 2 columns, 1 constraint)"]
    assert diff.summary() == "table public.chunks (with 2 columns, 1 constraint) missing"
    # The other way round it is extra.
    assert compare(actual, BEFORE).lines() == ["extra table public.chunks (with 2 columns, 1 constraint)"]


def test_snapshot_and_diff_survive_json() -> None:
    restored = Schema.from_dict(json.loads(json.dumps(BEFORE.as_dict())))
    assert restored == BEFORE and compare(BEFORE, restored).empty
    assert restored.as_dict()["format"] == 1 and restored.server == "PostgreSQL 18.1"
    diff = compare(BEFORE, _after(index={"public.ix_docs_title": None}, column={"public.documents.title": "text"},
                                  table={"public.extra": "table"}))
    data = json.loads(json.dumps(diff.as_dict()))
    assert data == {"missing": [{"kind": "index", "name": "public.ix_docs_title"}],
                    "extra": [{"kind": "table", "name": "public.extra"}],
                    "changed": [{"kind": "column", "name": "public.documents.title",
                                 "expected": "character varying(200)", "actual": "text"}]}
    assert SchemaDiff.from_dict(data) == diff


@pytest.mark.parametrize("bad", [{}, {"format": 99, "objects": {}}, {"format": 1, "objects": {"table": ["t"]}},
                                 {"format": 1, "objects": {"table": {"t": 1}}}, []])
def test_a_snapshot_of_another_shape_is_refused(bad: object) -> None:
    with pytest.raises(ValueError):
        Schema.from_dict(bad)  # type: ignore[arg-type]


def test_default_exclusions_are_migctls_tables_and_the_version_table() -> None:
    assert default_exclusions("my_versions") == (*MIGCTL_TABLES, "my_versions")
    assert "migctl_audit" in default_exclusions("alembic_version")


# ---------------------------------------------------------------------------------------------
# PostgreSQL (the suite's embedded 18 + pgvector).

PG_SCHEMA = """
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE documents (
    id serial PRIMARY KEY,
    title varchar(200) NOT NULL DEFAULT 'untitled',
    m mood,
    created timestamptz DEFAULT now(),
    embedding vector(3),
    CONSTRAINT ck_title CHECK (length(title) > 0)
);
CREATE TABLE chunks (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    doc_id int NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    n int,
    UNIQUE (doc_id, n)
);
CREATE INDEX ix_docs_title ON documents (title) WHERE title <> '';
CREATE VIEW happy_docs AS SELECT d.id, d.title FROM documents d WHERE d.m = 'happy';
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.created := now(); RETURN NEW; END $$;
CREATE TRIGGER trg_touch BEFORE UPDATE ON documents FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SEQUENCE ticket_seq;
CREATE SCHEMA reporting;
CREATE TABLE reporting.daily (day date PRIMARY KEY, docs int NOT NULL DEFAULT 0);
CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY);
CREATE TABLE migctl_audit (id serial PRIMARY KEY, at timestamptz NOT NULL);
CREATE INDEX ix_audit_at ON migctl_audit (at);
"""


@pytest.fixture()
def pg_engine(pg_db: tuple[str, str]) -> Iterator[sa.Engine]:
    url, _admin = pg_db
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.exec_driver_sql(PG_SCHEMA)
    yield engine
    engine.dispose()


def _pg_capture(engine: sa.Engine, **options: object) -> Schema:
    with engine.connect() as conn:
        return capture(conn, exclude_tables=default_exclusions("alembic_version"), **options)  # type: ignore[arg-type]


def test_postgresql_snapshot_reads_every_kind(pg_engine: sa.Engine) -> None:
    snap = _pg_capture(pg_engine)
    assert snap.dialect == "postgresql" and snap.server.startswith("PostgreSQL 18.")
    o = snap.objects
    assert o["schema"] == {"public": "", "reporting": ""}
    assert o["extension"] == {"vector": ""}  # name only: versions differ between servers
    assert o["enum"] == {"public.mood": "('sad', 'ok', 'happy')"}
    assert o["sequence"] == {"public.ticket_seq": ""}  # serial and identity sequences belong to their column
    assert o["table"] == {"public.chunks": "table", "public.documents": "table", "reporting.daily": "table"}
    assert o["column"]["public.documents.id"] == "integer not null default nextval(<owned sequence>)"
    assert o["column"]["public.documents.title"] == (
        "character varying(200) not null default 'untitled'::character varying")
    assert o["column"]["public.documents.m"] == "public.mood"
    assert o["column"]["public.documents.embedding"] == "public.vector(3)"
    assert o["column"]["public.chunks.id"] == "bigint not null generated always as identity"
    assert o["index"] == {
        "public.ix_docs_title": "CREATE INDEX ON public.documents USING btree (title) WHERE ((title)::text <> ''::text)"}
    assert o["constraint"]["public.chunks.chunks_doc_id_fkey"] == (
        "FOREIGN KEY (doc_id) REFERENCES public.documents(id) ON DELETE CASCADE")
    assert o["constraint"]["public.chunks.chunks_doc_id_n_key"] == "UNIQUE (doc_id, n)"
    assert o["constraint"]["public.documents.ck_title"] == "CHECK ((length((title)::text) > 0))"
    assert not any(name.endswith("_not_null") for name in o["constraint"])  # PostgreSQL 18's own rows
    assert o["view"] == {"public.happy_docs": "SELECT id, title FROM public.documents d WHERE m = 'happy'::public.mood;"}
    assert set(o["function"]) == {"public.touch()"}  # pgvector's own functions are the extension's
    assert o["function"]["public.touch()"].startswith("() -> trigger plpgsql body:")
    assert o["trigger"] == {"public.documents.trg_touch":
                            "CREATE TRIGGER BEFORE UPDATE ON public.documents FOR EACH ROW EXECUTE FUNCTION public.touch()"}
    every_name = [name for names in o.values() for name in names]
    assert not [n for n in every_name if "alembic_version" in n or "migctl_audit" in n or "ix_audit_at" in n]


def test_postgresql_snapshot_is_stable(pg_engine: sa.Engine) -> None:
    first = _pg_capture(pg_engine)
    assert _pg_capture(pg_engine) == first
    with pg_engine.connect() as conn:
        # The session's search_path does not show in the snapshot, and is given back.
        conn.exec_driver_sql("SET search_path = reporting, public")
        assert capture(conn, exclude_tables=default_exclusions("alembic_version")) == first
        assert conn.exec_driver_sql("SHOW search_path").scalar() == "reporting, public"
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        assert capture(conn, exclude_tables=default_exclusions("alembic_version")) == first
    # A serial's sequence under another name (a renamed table keeps its old one): same schema.
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("ALTER SEQUENCE documents_id_seq RENAME TO legacy_docs_seq")
    assert compare(first, _pg_capture(pg_engine)).empty
    assert Schema.from_dict(json.loads(json.dumps(first.as_dict()))) == first


def test_postgresql_compare_names_exactly_the_changes(pg_engine: sa.Engine) -> None:
    before = _pg_capture(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_docs_title")
        conn.exec_driver_sql("ALTER TABLE documents ADD COLUMN note text")
        conn.exec_driver_sql("ALTER TABLE chunks ALTER COLUMN n TYPE bigint")
        conn.exec_driver_sql("ALTER TABLE migctl_audit ADD COLUMN ignored int")  # excluded: not seen
    diff = compare(before, _pg_capture(pg_engine))
    assert diff.lines() == [
        "missing index public.ix_docs_title",
        "extra column public.documents.note",
        "column public.chunks.n: integer -> bigint",
    ]
    assert diff.summary(limit=2) == "index public.ix_docs_title missing; column public.documents.note extra (+1 more)"


def test_postgresql_invalid_index_left_by_a_failed_concurrent_build(pg_engine: sa.Engine) -> None:
    """What an ``autocommit_block`` half-commits: the index exists but is not valid."""
    before = _pg_capture(pg_engine)
    with pg_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("INSERT INTO reporting.daily VALUES ('2025-01-01', 1), ('2025-01-02', 1)")
        with pytest.raises(sa.exc.IntegrityError):
            conn.exec_driver_sql("CREATE UNIQUE INDEX CONCURRENTLY ux_daily_docs ON reporting.daily (docs)")
    assert compare(before, _pg_capture(pg_engine)).lines() == ["extra index reporting.ux_daily_docs"]
    assert _pg_capture(pg_engine).objects["index"]["reporting.ux_daily_docs"] == (
        "CREATE UNIQUE INDEX ON reporting.daily USING btree (docs) INVALID")


def test_postgresql_snapshot_of_named_schemas(pg_engine: sa.Engine) -> None:
    snap = _pg_capture(pg_engine, schemas=["reporting"])
    assert snap.objects == {
        "schema": {"reporting": ""},
        "table": {"reporting.daily": "table"},
        "column": {"reporting.daily.day": "date not null", "reporting.daily.docs": "integer not null default 0"},
        "constraint": {"reporting.daily.daily_pkey": "PRIMARY KEY (day)"},
    }
    # A qualified exclusion names one table in one schema.
    with pg_engine.connect() as conn:
        assert "table" not in capture(conn, schemas=["reporting"], exclude_tables=["reporting.daily"]).objects
        assert "public.documents" in capture(conn, exclude_tables=["reporting.daily"]).objects["table"]


def test_postgresql_dropped_table_is_one_line(pg_engine: sa.Engine) -> None:
    before = _pg_capture(pg_engine)
    with pg_engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE chunks")
    assert compare(before, _pg_capture(pg_engine)).lines() == [
        "missing table public.chunks (with 3 columns, 3 constraints)"]


# ---------------------------------------------------------------------------------------------
# SQLite.

SQLITE_SCHEMA = [
    "CREATE TABLE documents (id INTEGER PRIMARY KEY, title VARCHAR(200) NOT NULL DEFAULT 'untitled', "
    "created TIMESTAMP, CONSTRAINT ck_title CHECK (length(title) > 0))",
    "CREATE TABLE chunks (id INTEGER NOT NULL, doc_id INTEGER REFERENCES documents (id) ON DELETE CASCADE, "
    "n INTEGER, PRIMARY KEY (id), UNIQUE (doc_id, n))",
    "CREATE TABLE tags (name VARCHAR(50) NOT NULL, weight INTEGER CHECK (weight >= 0))",
    "CREATE INDEX ix_docs_title ON documents (title) WHERE title <> ''",
    "CREATE VIEW long_docs AS SELECT id, title\n   FROM documents WHERE length(title) > 50",
    "CREATE TRIGGER trg_touch AFTER UPDATE ON documents BEGIN UPDATE documents SET created = CURRENT_TIMESTAMP "
    "WHERE id = NEW.id; END",
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, PRIMARY KEY (version_num))",
    "CREATE INDEX ix_version ON alembic_version (version_num)",
]


@pytest.fixture()
def sqlite_engine(sqlite_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(sqlite_url)
    with engine.begin() as conn:
        for statement in SQLITE_SCHEMA:
            conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def _sqlite_capture(engine: sa.Engine) -> Schema:
    with engine.connect() as conn:
        return capture(conn, exclude_tables=default_exclusions("alembic_version"))


def test_sqlite_snapshot_reads_every_kind(sqlite_engine: sa.Engine) -> None:
    snap = _sqlite_capture(sqlite_engine)
    assert snap.dialect == "sqlite" and snap.server.startswith("SQLite 3.")
    assert snap.objects == {
        "table": {"chunks": "table", "documents": "table", "tags": "table"},
        "column": {
            "chunks.doc_id": "integer", "chunks.id": "integer not null", "chunks.n": "integer",
            "documents.created": "timestamp", "documents.id": "integer",
            "documents.title": "varchar(200) not null default 'untitled'",
            "tags.name": "varchar(50) not null", "tags.weight": "integer",
        },
        "index": {"ix_docs_title": "CREATE INDEX ON documents (title) WHERE title <> ''"},
        "constraint": {
            "chunks.FOREIGN KEY (doc_id) REFERENCES documents": (
                "FOREIGN KEY (doc_id) REFERENCES documents (id) ON DELETE CASCADE ON UPDATE NO ACTION"),
            "chunks.PRIMARY KEY": "PRIMARY KEY (id)",
            "chunks.UNIQUE (doc_id, n)": "UNIQUE (doc_id, n)",
            "documents.PRIMARY KEY": "PRIMARY KEY (id)",
            "documents.ck_title": "CHECK (length(title) > 0)",
            "tags.CHECK (weight >= 0)": "CHECK (weight >= 0)",
        },
        "view": {"long_docs": "SELECT id, title FROM documents WHERE length(title) > 50"},
        "trigger": {"documents.trg_touch": (
            "AFTER UPDATE ON documents BEGIN UPDATE documents SET created = CURRENT_TIMESTAMP WHERE id = NEW.id; END")},
    }
    assert _sqlite_capture(sqlite_engine) == snap
    assert Schema.from_dict(json.loads(json.dumps(snap.as_dict()))) == snap


def test_sqlite_compare_names_exactly_the_changes(sqlite_engine: sa.Engine) -> None:
    before = _sqlite_capture(sqlite_engine)
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_docs_title")
        conn.exec_driver_sql("ALTER TABLE documents ADD COLUMN note TEXT")
        # A type change in SQLite is a table rebuilt, as Alembic's batch mode does it (in capitals).
        conn.exec_driver_sql("CREATE TABLE _tags_new (name VARCHAR(50) NOT NULL, weight BIGINT CHECK (weight >= 0))")
        conn.exec_driver_sql("INSERT INTO _tags_new SELECT * FROM tags")
        conn.exec_driver_sql("DROP TABLE tags")
        conn.exec_driver_sql("ALTER TABLE _tags_new RENAME TO tags")
        conn.exec_driver_sql("ALTER TABLE alembic_version ADD COLUMN ignored INTEGER")
    assert compare(before, _sqlite_capture(sqlite_engine)).lines() == [
        "missing index ix_docs_title",
        "extra column documents.note",
        "column tags.weight: integer -> bigint",
    ]


# ---------------------------------------------------------------------------------------------
# MariaDB / MySQL (when the machine has one).

MARIADB_SCHEMA = [
    "CREATE TABLE documents (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(200) NOT NULL DEFAULT 'untitled', "
    "mood ENUM('sad', 'ok', 'happy'), created TIMESTAMP NULL DEFAULT NULL, CONSTRAINT ck_title CHECK (length(title) > 0))",
    "CREATE TABLE chunks (id BIGINT NOT NULL PRIMARY KEY, doc_id INT NOT NULL, n INT, "
    "CONSTRAINT uq_chunk UNIQUE (doc_id, n), "
    "CONSTRAINT fk_chunk_doc FOREIGN KEY (doc_id) REFERENCES documents (id) ON DELETE CASCADE)",
    "CREATE INDEX ix_docs_title ON documents (title)",
    "CREATE VIEW happy_docs AS SELECT id, title FROM documents WHERE mood = 'happy'",
    "CREATE FUNCTION add_one(x INT) RETURNS INT DETERMINISTIC RETURN x + 1",
    "CREATE TRIGGER trg_touch BEFORE UPDATE ON documents FOR EACH ROW SET NEW.created = NOW()",
    "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
    "CREATE TABLE migctl_lock (id INT PRIMARY KEY)",
]


@pytest.fixture()
def mariadb_engine(mariadb_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(mariadb_url.replace("mysql://", "mysql+pymysql://", 1))
    with engine.begin() as conn:
        for statement in MARIADB_SCHEMA:
            conn.exec_driver_sql(statement)
    yield engine
    engine.dispose()


def _mariadb_capture(engine: sa.Engine) -> Schema:
    with engine.connect() as conn:
        return capture(conn, exclude_tables=default_exclusions("alembic_version"))


def test_mariadb_snapshot_reads_every_kind(mariadb_engine: sa.Engine) -> None:
    snap = _mariadb_capture(mariadb_engine)
    o = snap.objects
    assert snap.dialect == "mysql" and snap.server.split()[0] in ("MariaDB", "MySQL")
    assert set(o) == {"table", "column", "index", "constraint", "view", "function", "trigger"}
    assert o["table"] == {"chunks": "table", "documents": "table"}  # the database's name is not in them
    assert o["column"]["documents.id"].startswith("int") and o["column"]["documents.id"].endswith(
        "not null auto_increment")
    assert o["column"]["documents.title"] == "varchar(200) not null default 'untitled'"
    assert o["column"]["documents.mood"] == "enum('sad','ok','happy')"
    # Keys backing PRIMARY KEY / UNIQUE are constraints; uq_chunk serves the foreign key too.
    assert o["index"] == {"documents.ix_docs_title": "CREATE INDEX ON `documents` USING BTREE (`title`)"}
    assert o["constraint"]["chunks.fk_chunk_doc"] == (
        "FOREIGN KEY (`doc_id`) REFERENCES `documents` (`id`) ON DELETE CASCADE ON UPDATE RESTRICT")
    assert o["constraint"]["chunks.uq_chunk"] == "UNIQUE (`doc_id`, `n`)"
    assert o["constraint"]["chunks.PRIMARY"] == "PRIMARY KEY (`id`)"
    assert o["constraint"]["documents.ck_title"] == "CHECK (octet_length(`title`) > 0)"
    assert o["view"]["happy_docs"].startswith("select `documents`.`id` AS `id`")
    assert "`happy_docs`" not in o["view"]["happy_docs"] and mariadb_engine.url.database not in o["view"]["happy_docs"]
    assert o["function"]["add_one"].startswith("function (IN x int(11)) -> int(11) deterministic") or \
        o["function"]["add_one"].startswith("function (IN x int) -> int deterministic")
    assert o["trigger"] == {"documents.trg_touch": "BEFORE UPDATE ON `documents` FOR EACH ROW SET NEW.created = NOW()"}
    every_name = [name for names in o.values() for name in names]
    assert not [n for n in every_name if n.startswith(("alembic_version", "migctl_lock"))]
    assert _mariadb_capture(mariadb_engine) == snap
    assert Schema.from_dict(json.loads(json.dumps(snap.as_dict()))) == snap


def test_mariadb_compare_names_exactly_the_changes(mariadb_engine: sa.Engine) -> None:
    before = _mariadb_capture(mariadb_engine)
    with mariadb_engine.begin() as conn:
        conn.exec_driver_sql("DROP INDEX ix_docs_title ON documents")
        conn.exec_driver_sql("ALTER TABLE documents ADD COLUMN note TEXT")
        conn.exec_driver_sql("ALTER TABLE chunks MODIFY n BIGINT")
        conn.exec_driver_sql("ALTER TABLE migctl_lock ADD COLUMN ignored INT")
    lines = compare(before, _mariadb_capture(mariadb_engine)).lines()
    assert lines[:2] == ["missing index documents.ix_docs_title", "extra column documents.note"]
    assert lines[2] in ("column chunks.n: int(11) -> bigint(20)", "column chunks.n: int -> bigint")
    assert len(lines) == 3
