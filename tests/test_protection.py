"""Issue 13, points 5-8 and 10: one guard for every mutation, protection bound to the database,
the Python API honouring it, ``init`` changing nothing before its confirmation, and ``reset``
refusing a plan that went stale."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support import (
    REFERENCE_SECTIONS,
    REPO,
    clean_env,
    make_project,
    pg_scalar,
    run_cli,
    unique_name,
)


def _config(tmp: Path, envs: dict[str, tuple[str, bool]], *, ini: Path | None = None,
            vector: str | None = None, name: str = "migctl.yaml") -> Path:
    """A migctl.yaml with environments ``{name: (url, protected)}``: the Alembic project of
    ``ini``, else the bundled reference project (``vector``: its store type)."""
    lines = [f"state_dir: {tmp / 'state'}"]
    if ini is None:
        lines += REFERENCE_SECTIONS
        if vector:
            lines[-2] = lines[-2].replace("vector: {", f"vector: {{store: {vector}, ")
    lines.append("environments:")
    for env, (url, protected) in envs.items():
        lines += [f"  {env}:", f"    database_url: \"{url}\"", f"    protected: {str(protected).lower()}"]
        if ini is not None:
            lines += ["    alembic:", f"      ini: {ini}"]
    path = tmp / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _tables(admin: str) -> int:
    return int(pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' "
                                "AND tablename NOT LIKE 'migctl%'"))


def test_one_guard_sequence_in_the_code() -> None:
    """Point 5: the lock is taken and the audit row opened in core/guard.py only; every other
    module reaches them through ``Guard.run``."""
    takes_lock = re.compile(r"\bMigrationLock\(")
    opens_row = re.compile(r"\baudit\.(start|record)\(")
    offenders = []
    for path in sorted((REPO / "core").rglob("*.py")) + sorted((REPO / "tui").rglob("*.py")):
        if path.name in ("guard.py", "lock.py", "audit.py"):
            continue
        text = path.read_text()
        if takes_lock.search(text) or opens_row.search(text):
            offenders.append(str(path.relative_to(REPO)))
    assert offenders == []


def test_every_mutation_of_a_protected_database_is_refused_and_audited(pg_db: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    """Point 5: the same check, lock and audit for each mutating command, CLI and all."""
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = _config(tmp_path, {"prod": (url, True)}, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "bbb222bbb222", "--yes", "--confirm-env", "prod",
                   cwd=tmp_path).code == 0
    before = pg_scalar(admin, "SELECT version_num FROM alembic_version")
    attempts = [("upgrade", "heads"), ("downgrade", "base"), ("stamp", "base"), ("migrate",),
                ("reset", "--confirm-reset"), ("unprotect",)]
    for args in attempts:
        result = run_cli("--config", str(cfg), *args, "--yes", cwd=tmp_path)
        assert result.code == 3, (args, result.text)
        assert "--confirm-env prod" in result.err, (args, result.err)
        verdicts = [ln for ln in result.err.splitlines() if ln.startswith("migctl:")]
        assert verdicts == [result.err.strip().splitlines()[-1]], (args, result.err)
        assert verdicts[0].startswith("migctl: refused:") and "Traceback" not in result.err
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == before
    assert _tables(admin) == 3
    refused = pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE outcome = 'refused'")
    assert refused == len(attempts)
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE outcome = 'running'") == 0


def test_protection_follows_the_database(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Point 6: reached once as protected ``prod``, the database stays protected under another
    environment's name or a bare DATABASE_URL; ``unprotect`` itself needs the name."""
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    prod = _config(tmp_path, {"prod": (url, True)}, ini=ini)
    status = json.loads(run_cli("--config", str(prod), "status", "--json", cwd=tmp_path).out)
    assert status["protected"] and status["protected_as"] == "prod"
    assert pg_scalar(admin, "SELECT name FROM migctl_protection") == "prod"

    other = tmp_path / "other"
    other.mkdir()
    dev = _config(other, {"dev": ("postgresql://nobody@127.0.0.1:1/none", False)}, ini=ini)
    env = clean_env(DATABASE_URL=url)
    refused = run_cli("--config", str(dev), "upgrade", "--yes", cwd=other, env=env)
    assert refused.code == 3 and "protected as 'prod'" in refused.err, refused.text
    assert run_cli("--config", str(dev), "upgrade", "--yes", "--confirm-env", "dev", cwd=other, env=env).code == 3
    assert _tables(admin) == 0
    status = json.loads(run_cli("--config", str(dev), "status", "--json", cwd=other, env=env).out)
    assert status["environment"] == "dev" and status["protected_as"] == "prod"

    ok = run_cli("--config", str(dev), "upgrade", "--yes", "--confirm-env", "prod", cwd=other, env=env)
    assert ok.code == 0, ok.text
    assert _tables(admin) == 3

    assert run_cli("--config", str(dev), "unprotect", "--yes", cwd=other, env=env).code == 3
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_protection") == 1
    gone = run_cli("--config", str(dev), "unprotect", "--yes", "--confirm-env", "prod", cwd=other, env=env)
    assert gone.code == 0 and "unprotected" in gone.out, gone.text
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_protection") == 0
    assert run_cli("--config", str(dev), "downgrade", "base", "--yes", cwd=other, env=env).code == 0
    assert _tables(admin) == 1  # alembic_version, empty

    mark = run_cli("--config", str(dev), "protect", cwd=other, env=env)
    assert mark.code == 0 and "'dev'" in mark.out, mark.text
    assert run_cli("--config", str(dev), "upgrade", "--yes", cwd=other, env=env).code == 3
    actions = {r[0] for r in _audit(admin)}
    assert {"protect", "unprotect", "upgrade", "downgrade"} <= actions


def _audit(admin: str) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(admin) as conn:
        return conn.execute("SELECT action, outcome FROM migctl_audit ORDER BY id").fetchall()


def test_python_api_honours_protection(pg_db: tuple[str, str], tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Point 7: the compatibility classes and start-up migrations refuse a protected database
    unless the caller names it (or opts in)."""
    from migctl.core.api import run_migrations_on_startup
    from migctl.core.compat import DatabaseInitializer, VectorDBMigrator
    from migctl.core.errors import Refused

    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = _config(tmp_path, {"prod": (url, True)}, ini=ini)
    for name in ("DATABASE_URL", "POSTGRES_HOST", "POSTGRES_PASSWORD", "MILVUS_URI", "VECTOR_STORE_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Refused, match="prod"):
        run_migrations_on_startup(str(cfg), "prod", lock_timeout=5)
    assert _tables(admin) == 0
    with pytest.raises(Refused, match="prod"):
        run_migrations_on_startup(str(cfg), "prod", lock_timeout=5, allow_protected="staging")
    result = run_migrations_on_startup(str(cfg), "prod", lock_timeout=5, allow_protected=True)
    assert len(result.applied) == 3 and _tables(admin) == 3

    with pytest.raises(Refused, match="prod"):
        DatabaseInitializer(str(cfg), "prod").initialize_all(force_recreate=True, skip_vector_db=True)
    assert _tables(admin) == 3 and pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    vector_home = tmp_path / "vector"
    vector_home.mkdir()
    vector_cfg = _config(vector_home, {"prod": (url, True)}, vector="pgvector")
    with pytest.raises(Refused, match="prod"):
        VectorDBMigrator("pgvector", str(vector_cfg), "prod").apply_migration()
    assert pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE tablename = 'vector_db_migrations'") == 0
    done = DatabaseInitializer(str(cfg), "prod", confirm_env="prod").initialize_all(force_recreate=True,
                                                                                   skip_vector_db=True)
    assert done["backup"] and done["relational_applied"] == ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]


def test_init_of_a_protected_environment_changes_nothing_before_its_confirmation(
        pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Point 8: neither the database nor the ``vector`` extension exists until confirmed."""
    url, admin = pg_db
    name = unique_name("initdb")
    new_url = url.rsplit("/", 1)[0] + f"/{name}"
    cfg = _config(tmp_path, {"prod": (new_url, True)}, vector="pgvector")

    def exists() -> bool:
        return bool(pg_scalar(admin, f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"))

    shown = run_cli("--config", str(cfg), "init", "--dry-run", cwd=tmp_path)
    assert shown.code == 0, shown.text
    assert f"create database {name}" in shown.out and "create extension vector" in shown.out
    refused = run_cli("--config", str(cfg), "init", "--yes", cwd=tmp_path)
    assert refused.code == 3 and "--confirm-env prod" in refused.err, refused.text
    assert not exists()

    done = run_cli("--config", str(cfg), "init", "--yes", "--confirm-env", "prod", "--json", cwd=tmp_path)
    assert done.code == 0, done.text
    summary = json.loads(done.out)
    assert summary["created_database"] and len(summary["relational_applied"]) == 10
    assert len(summary["vector_applied"]) == 4
    admin_new = admin.rsplit("/", 1)[0] + f"/{name}"
    assert pg_scalar(admin_new, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == 1
    assert pg_scalar(admin_new, "SELECT name FROM migctl_protection") == "prod"
    assert [r for r in _audit(admin_new) if r[0] == "init"] == [("init", "ok")]


def test_declined_init_of_an_existing_database_creates_no_extension(pg_db: tuple[str, str],
                                                                     tmp_path: Path) -> None:
    """Point 8, the database already there: the pgvector store would create the extension and
    its schema on connecting, so its plan waits for the confirmation too."""
    url, admin = pg_db
    cfg = _config(tmp_path, {"prod": (url, True)}, vector="pgvector")
    shown = run_cli("--config", str(cfg), "init", "--dry-run", cwd=tmp_path)
    assert shown.code == 0 and "create extension vector" in shown.out, shown.text
    assert run_cli("--config", str(cfg), "init", "--yes", cwd=tmp_path).code == 3
    assert pg_scalar(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'") == 0
    assert pg_scalar(admin, "SELECT count(*) FROM pg_namespace WHERE nspname = 'vectors'") == 0
    done = run_cli("--config", str(cfg), "init", "--yes", "--confirm-env", "prod", "--json", cwd=tmp_path)
    assert done.code == 0 and len(json.loads(done.out)["vector_applied"]) == 4, done.text


async def test_reset_refuses_a_plan_that_went_stale(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """Point 10: a reset planned before someone else's upgrade is refused under the lock (exit 3),
    and drops nothing, rather than leaving the new tables behind without a version table."""
    from migctl.core.api import Migctl
    from migctl.core.errors import Refused

    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    cfg = _config(tmp_path, {"dev": (url, False)}, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "aaa111aaa111", "--yes", cwd=tmp_path).code == 0
    async with Migctl.open(str(cfg), "dev") as api:
        plan = await api.plan_reset(skip_vector=True, backup=False)
        assert [t for t, _ in plan.tables] == ["public.accounts", "public.alembic_version"]
        assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
        with pytest.raises(Refused, match="changed since the reset plan"):
            await api.execute_reset(plan, confirm_env=None)
    assert _tables(admin) == 3
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == "ccc333ccc333"
    assert _audit(admin)[-1] == ("reset", "refused")


def test_autogenerate_never_proposes_dropping_migctls_tables(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """A dropped ``migctl_protection`` would unprotect the database: autogenerate against models
    that know nothing of migctl's tables proposes dropping the project's tables only."""
    url, admin = pg_db
    ini = make_project(tmp_path, "small")
    env_py = ini.parent / "migrations" / "env.py"
    env_py.write_text(env_py.read_text().replace("target_metadata = None",
                                                 "from sqlalchemy import MetaData\ntarget_metadata = MetaData()"))
    cfg = _config(tmp_path, {"prod": (url, True)}, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", "--confirm-env", "prod", cwd=tmp_path).code == 0
    assert pg_scalar(admin, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'migctl%'") == 3
    made = run_cli("--config", str(cfg), "revision", "-m", "models", "--autogenerate", cwd=tmp_path)
    assert made.code == 0, made.text
    path = Path(made.out.split("created ", 1)[1].strip())
    text = path.read_text()
    assert "op.drop_table('accounts')" in text and "op.drop_table('orders')" in text
    assert "migctl_" not in text
