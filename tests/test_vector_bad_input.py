"""Bad vector input through the real CLI: one clear line, non-zero exit, nothing changed."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from migctl.core.vector.loader import DEFAULT_DIR
from tests.support import clean_env, pg_scalar, run_cli
from tests.vector_support import write_vector_config

FIRST = "20250108_001_create_document_and_image.yaml"
INJECTION = 'x"; DROP TABLE y; --'


def _replace(old: str, new: str, name: str = FIRST) -> Callable[[Path], None]:
    def change(versions: Path) -> None:
        path = versions / name
        text = path.read_text()
        assert old in text, old
        path.write_text(text.replace(old, new))
    return change


def _add(name: str, body: str) -> Callable[[Path], None]:
    def change(versions: Path) -> None:
        (versions / name).write_text(body)
    return change


NEXT = 'version: "20250301_001"\ndescription: next\ndepends_on: "20250201_001"\noperations:\n'
INLINE = ("  - create_collection:\n      name: extra\n      schema:\n        fields:\n"
          "          - {name: id, type: int64, primary: true}\n")

CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "malformed yaml": (_add("20250301_001_bad.yaml", NEXT + "  - create_alias: {alias: a\n"), "line"),
    "unknown template": (_replace("template: image", "template: imagee"), "unknown collection template 'imagee'"),
    "missing dimension": (_add("20250301_001_x.yaml", NEXT + INLINE + "          - {name: v, type: float_vector}\n"
                                                              "        index: hnsw_cosine\n"), "dim"),
    "injection collection": (_replace("{name: image,", "{name: 'x\"; DROP TABLE y; --',"), "identifier"),
    "injection alias": (_replace("alias: documents_current", "alias: 'a; DROP TABLE b'",
                                 "20250120_001_documents_alias.yaml"), "identifier"),
    "autoindex on pgvector": (_add("20250301_001_x.yaml", NEXT + INLINE + "          - {name: v, type: float_vector, dim: 8}\n"
                                                                 "        index: {index_type: AUTOINDEX, metric: COSINE}\n"),
                              "AUTOINDEX"),
    "dimension too big to index": (_add("20250301_001_x.yaml", NEXT + INLINE
                                        + "          - {name: v, type: float_vector, dim: 4096}\n"
                                        "        index: hnsw_cosine\n"), "2000"),
    "varchar without max_length": (_add("20250301_001_x.yaml", NEXT + INLINE + "          - {name: t, type: varchar}\n"
                                                                      "          - {name: v, type: float_vector, dim: 8}\n"
                                                                      "        index: hnsw_cosine\n"), "max_length"),
    "two primary keys": (_add("20250301_001_x.yaml", NEXT + INLINE + "          - {name: k, type: int64, primary: true}\n"
                                                            "          - {name: v, type: float_vector, dim: 8}\n"
                                                            "        index: hnsw_cosine\n"), "primary"),
    "unknown index template": (_add("20250301_001_x.yaml", NEXT + INLINE + "          - {name: v, type: float_vector, dim: 8}\n"
                                                                  "        index: hnsw_cosinus\n"), "hnsw_cosinus"),
    "duplicate version": (_add("20250108_001_again.yaml", (DEFAULT_DIR / FIRST).read_text()), "duplicate version"),
    "fork": (_add("20250301_001_fork.yaml", NEXT.replace("20250201_001", "20250120_001")
                  + "  - create_alias: {alias: b, collection: image}\n"), "fork"),
    "unquoted version": (_add("20250301_001_x.yaml", NEXT.replace('"20250301_001"', "20250301_001")
                              + "  - create_alias: {alias: b, collection: image}\n"), "must be quoted"),
    "unknown parent": (_add("20250301_001_x.yaml", NEXT.replace("20250201_001", "20240101_001")
                            + "  - create_alias: {alias: b, collection: image}\n"), "not a known version"),
    "unknown operation": (_add("20250301_001_x.yaml", NEXT + "  - explode: {name: image}\n"), "unknown operation"),
    "add_field without default": (_add("20250301_001_x.yaml", NEXT + "  - add_field: {collection: image, field: "
                                                             "{name: lang, type: varchar, max_length: 8}}\n"),
                                  "missing 'default'"),
    "drop missing collection": (_add("20250301_001_x.yaml", NEXT + "  - drop_collection: {name: ghost}\n"),
                                "does not exist"),
    "rebuild changes dimension": (_add("20250301_001_x.yaml", NEXT + "  - rebuild:\n      collection: image\n"
                                                             "      add_fields:\n        - field: {name: embedding, "
                                                             "type: float_vector, dim: 16}\n          default: []\n"),
                                  "embedding"),
    "file name mismatch": (_add("20250301_002_x.yaml", NEXT + "  - create_alias: {alias: b, collection: image}\n"),
                           "file name must be"),
}


@pytest.fixture()
def setup(pg_db: tuple[str, str], tmp_path: Path):
    url, admin = pg_db
    versions = tmp_path / "versions"
    shutil.copytree(DEFAULT_DIR, versions)
    cfg = write_vector_config(tmp_path, url, "pgvector", migrations_dir=versions)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    return cfg, versions, admin


def _unchanged(admin: str) -> None:
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'vectors'") == 0
    if pg_scalar(admin, "SELECT to_regclass('public.vector_db_migrations') IS NOT NULL"):
        assert pg_scalar(admin, "SELECT count(*) FROM vector_db_migrations") == 0


def _one_line(result) -> str:
    lines = [ln for ln in result.err.splitlines() if ln.startswith("migctl:")]
    assert len(lines) == 1 and "Traceback" not in result.text, result.text
    return lines[0]


@pytest.mark.parametrize("case", list(CASES))
def test_bad_migration_files_change_nothing(setup, case: str) -> None:
    cfg, versions, admin = setup
    change, message = CASES[case]
    change(versions)
    result = run_cli("--config", str(cfg), "vector", "upgrade", "--yes", cwd=cfg.parent)
    assert result.code == 2, result.text
    assert message.lower() in _one_line(result).lower()
    _unchanged(admin)
    assert INJECTION not in result.out


@pytest.mark.parametrize(("args", "code", "message"), [
    (("vector", "upgrade", "20990101_001", "--yes"), 2, "unknown vector migration"),
    (("vector", "downgrade", "+1", "--yes"), 2, "takes -N"),
    (("vector", "repair", "20250108_001", "--yes"), 2, "never applied"),
    (("create-migration", "-d", "x", "--create-collections", "nope"), 2, "unknown collection template 'nope'"),
    (("create-migration", "-d", " "), 2, "needs a --description"),
    (("templates", "show", "document", "--store", "weaviate"), 2, "invalid choice"),
])
def test_bad_vector_commands(setup, args: tuple[str, ...], code: int, message: str) -> None:
    cfg, versions, admin = setup
    before = sorted(p.name for p in versions.iterdir())
    result = run_cli("--config", str(cfg), *args, cwd=cfg.parent)
    assert result.code == code, result.text
    assert message in result.err
    assert sorted(p.name for p in versions.iterdir()) == before
    _unchanged(admin)


def test_unreachable_milvus(setup) -> None:
    cfg, _, admin = setup
    text = cfg.read_text().replace("store: pgvector", 'store: milvus\n      uri: "http://127.0.0.1:1"\n'
                                                      '      token: "root:Hidden-Token-9"')
    cfg.write_text(text)
    result = run_cli("--config", str(cfg), "vector", "upgrade", "--yes", cwd=cfg.parent,
                     env=clean_env(), timeout=60)
    assert result.code == 1, result.text
    assert "127.0.0.1:1" in _one_line(result) and "Hidden-Token-9" not in result.text
    _unchanged(admin)


def test_wrong_milvus_token(setup, milvus_235_server) -> None:
    cfg, _, admin = setup
    text = cfg.read_text().replace("store: pgvector", f'store: milvus\n      uri: "{milvus_235_server.uri}"\n'
                                                      '      token: "root:Wrong-Token-77"')
    cfg.write_text(text)
    result = run_cli("--config", str(cfg), "vector", "status", cwd=cfg.parent)
    assert result.code == 1, result.text
    _one_line(result)
    assert "Wrong-Token-77" not in result.text
    _unchanged(admin)


def test_irreversible_downgrade_is_refused(setup) -> None:
    cfg, versions, admin = setup
    (versions / "20250301_001_drop_image.yaml").write_text(NEXT + "  - drop_collection: {name: image}\n")
    assert run_cli("--config", str(cfg), "vector", "upgrade", "--yes", cwd=cfg.parent).code == 0
    result = run_cli("--config", str(cfg), "vector", "downgrade", "-1", "--yes", cwd=cfg.parent)
    assert result.code == 3 and "no safe inverse" in result.err
    assert pg_scalar(admin, "SELECT status FROM vector_db_migrations WHERE version = '20250301_001'") == "applied"
