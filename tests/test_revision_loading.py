"""Revision files load from migctl's bytecode cache, and an edited file is compiled again;
the version table is written the same way online (bound ids) and offline (Alembic's literal SQL)."""

from __future__ import annotations

import hashlib
import importlib.util
import marshal
import os
import sqlite3
import sys
from pathlib import Path

from migctl.core.relational.bytecode_cache import BytecodeCache
from tests.support import clean_env, make_project, run_cli, write_config


def _accounts_ddl(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT sql FROM sqlite_master WHERE name = 'accounts'").fetchone()[0]


def _edit_keeping_size_and_mtime(path: Path, old: str, new: str) -> None:
    """An edit that ``tar``, ``rsync -a`` or a reproducible build can produce: same size, same mtime."""
    st = path.stat()
    text = path.read_text()
    assert len(old) == len(new) and old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (st.st_size, st.st_mtime_ns)


def test_cache_serves_unchanged_files_and_recompiles_an_edited_one(tmp_path: Path) -> None:
    source = tmp_path / "rev.py"
    source.write_text("VALUE = 100\n")
    first = BytecodeCache(tmp_path / "cache", tmp_path)
    namespace: dict[str, object] = {}
    exec(first.code(str(source)), namespace)
    assert namespace["VALUE"] == 100 and first.dirty
    assert first.digests == {str(source): hashlib.sha256(source.read_bytes()).hexdigest()}  # the checksum recorded
    first.save()

    again = BytecodeCache(tmp_path / "cache", tmp_path)
    exec(again.code(str(source)), namespace)
    assert namespace["VALUE"] == 100 and not again.dirty  # served from the cache, nothing compiled

    _edit_keeping_size_and_mtime(source, "100", "200")  # only the bytes tell
    edited = BytecodeCache(tmp_path / "cache", tmp_path)
    exec(edited.code(str(source)), namespace)
    assert namespace["VALUE"] == 200 and edited.dirty


def test_upgrade_runs_an_edited_revision_and_writes_nothing_beside_the_project(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, f"sqlite:///{db}", ini=ini)
    versions = ini.parent / "migrations" / "versions"
    env = {k: v for k, v in clean_env().items() if k != "PYTHONDONTWRITEBYTECODE"}  # Python may write .pyc

    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path, env=env).code == 0
    [cache] = (tmp_path / "state" / "cache").glob("bytecode-*.bin")
    assert cache.read_bytes().startswith(importlib.util.MAGIC_NUMBER)
    assert not (versions / "__pycache__").exists()
    assert "VARCHAR(100)" in _accounts_ddl(db)

    assert run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path, env=env).code == 0
    first = versions / "0001_aaa111_create_accounts.py"
    _edit_keeping_size_and_mtime(first, "String(100)", "String(200)")
    result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path, env=env)
    assert result.code == 0, result.text
    assert "VARCHAR(200)" in _accounts_ddl(db)

    # A damaged cache is ignored and written again.
    assert run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path, env=env).code == 0
    tag = importlib.util.MAGIC_NUMBER + bytes([sys.flags.optimize])
    for damaged in (importlib.util.MAGIC_NUMBER + b"\x00garbage", tag + marshal.dumps([1, 2]),
                    tag + marshal.dumps({str(first): "not a pair"})):
        cache.write_bytes(damaged)
        result = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path, env=env)
        assert result.code == 0, result.text
        assert "VARCHAR(200)" in _accounts_ddl(db)
        assert len(cache.read_bytes()) > 1000
        assert run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path, env=env).code == 0
    assert not list(cache.parent.glob("*.tmp"))


def test_version_table_sql_online_and_offline(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    cfg = write_config(tmp_path, f"sqlite:///{db}", ini=make_project(tmp_path, "small"))
    offline = run_cli("--config", str(cfg), "upgrade", "--sql", cwd=tmp_path)
    assert offline.code == 0, offline.text
    assert ("UPDATE alembic_version SET version_num='bbb222bbb222' "
            "WHERE alembic_version.version_num = 'aaa111aaa111'") in offline.out
    assert not db.exists() or sqlite3.connect(db).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = 'accounts'").fetchone()[0] == 0

    assert run_cli("--config", str(cfg), "upgrade", "+2", "--yes", cwd=tmp_path).code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("bbb222bbb222",)]
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    assert run_cli("--config", str(cfg), "downgrade", "-1", "--yes", cwd=tmp_path).code == 0
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [("bbb222bbb222",)]
