"""Issue 13, points 2-4: no password on a child's command line or in its environment, masking
that is exact and linear, revision messages and environment names that cannot escape."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from migctl.core.secrets import mask_url, remember, scrub
from tests.conftest import PgServer
from tests.support import (
    clean_env,
    make_project,
    pg_scalar,
    reference_project,
    run_cli,
    write_config,
)

# A scram password with every character a passfile or a URL must escape.
DUMP_PASSWORD = "S3cr3t:Dump\\pw 9@x"
LEAKS = {"DATABASE_URL": "postgresql://app:Leaky-Url-pw@127.0.0.1:1/x", "MILVUS_TOKEN": "root:Leaky-Token-7",
         "POSTGRES_PASSWORD": "Leaky-Pg-pw-3", "PGPASSWORD": "Leaky-PGPASSWORD-5"}


# --- 3. masking -------------------------------------------------------------------------------


def _one_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("how", ["--database-url", "DATABASE_URL"])
def test_malformed_url_with_spaces_in_the_password_is_masked(tmp_path: Path, how: str) -> None:
    """Issue 13.3: ``port out of range`` echoed the URL with ``my secret pw`` in it."""
    reference_project(tmp_path)
    url = "postgresql://spaceuser:my secret pw@127.0.0.1:99999/x"
    if how == "--database-url":
        result = run_cli("--database-url", url, "status", cwd=tmp_path)
    else:
        result = run_cli("status", "--json", cwd=tmp_path, env=clean_env(DATABASE_URL=url))
        assert json.loads(result.out)["exit"] == 2
    assert result.code == 2, result.text
    assert _one_line(result.err) == ("migctl: error: malformed database URL "
                                     "'postgresql://spaceuser:***@127.0.0.1:99999/x': port out of range")
    assert "secret" not in result.text
    assert not (tmp_path / ".migctl").exists()


@pytest.mark.parametrize("args", [
    ("--database-url", "postgresql://u:" + "p" * 100_000 + "@127.0.0.1:99999/x", "status"),
    ("--database-url", "x://" * 25_000, "status"),
    ("--env", "e" * 100_000, "status"),
], ids=["password", "schemes", "env"])
def test_huge_input_is_masked_quickly_in_a_short_line(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Issue 13.3: a 100,000-character argument took 20 s to mask and printed a 100,000-character line."""
    reference_project(tmp_path)
    began = time.monotonic()
    result = run_cli(*args, cwd=tmp_path)
    assert time.monotonic() - began < 10
    assert result.code == 2, result.text[:500]
    assert len(_one_line(result.err)) < 500
    assert "p" * 50 not in result.text


def test_huge_target_is_refused_quickly_in_a_short_line(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Issue 13.3: the 100,000-character upgrade target of the report, on a real database."""
    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    began = time.monotonic()
    result = run_cli("--config", str(cfg), "upgrade", "a" * 100_000, "--yes", cwd=tmp_path)
    assert time.monotonic() - began < 10
    assert result.code == 2, result.text[:500]
    assert len(_one_line(result.err)) < 500
    assert pg_scalar(admin, "SELECT to_regclass('public.alembic_version') IS NULL") is True


def test_masking_is_linear() -> None:
    for text in ("a" * 100_000, "x://" * 25_000, "x://a:" + "b" * 100_000, "a:b@" * 25_000):
        began = time.monotonic()
        scrub(text)
        assert time.monotonic() - began < 1, text[:20]


def test_password_postgres_masks_only_its_place(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                tmp_path: Path) -> None:
    """Issue 13.3: password ``postgres`` turned ``status --json`` into ``***ql://***:***@…/***``."""
    _, admin = pg_db
    db = admin.rsplit("/", 1)[1]
    url = f"postgresql://postgres:postgres@127.0.0.1:{embedded_pg.port}/{db}"
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    result = run_cli("--config", str(cfg), "status", "--json", cwd=tmp_path)
    assert result.code == 0, result.text
    assert json.loads(result.out)["relational"]["url"] == f"postgresql://postgres:***@127.0.0.1:{embedded_pg.port}/{db}"
    assert "***ql" not in result.text and ":postgres@" not in result.text


def test_mask_url_and_scrub_mask_places_not_words() -> None:
    remember("postgres", beside=("postgres", "db", "postgres"))
    assert mask_url("postgresql://postgres:postgres@db:5432/postgres") == "postgresql://postgres:***@db:5432/postgres"
    assert scrub("to postgresql://postgres:postgres@db/postgres: failed") == "to postgresql://postgres:***@db/postgres: failed"
    assert scrub("'postgresql://u:my secret pw@h:99999/x': port out of range") == \
        "'postgresql://u:***@h:99999/x': port out of range"
    remember("short-pw")
    assert scrub('auth failed for "short-pw"; not-short-pwx stays') == 'auth failed for "***"; not-short-pwx stays'
    remember("a-long-secret-value")
    assert scrub("xa-long-secret-valuex") == "x***x"  # a long secret is no accident anywhere
    assert mask_url("postgresql://u@h/d?password=abc&sslmode=require") == "postgresql://u@h/d?password=***&sslmode=require"


