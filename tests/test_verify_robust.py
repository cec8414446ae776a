"""``migctl verify`` when things go wrong around the walk: a URL whose query names the target,
a signal mid-walk, a rebuilt scratch database that cannot be brought back, server-wide roles."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PgServer
from tests.support import pg_scalar
from tests.test_verify import _config, _lines, _scratch_databases, _small_project, _verify


def test_a_dbname_in_the_query_does_not_send_the_scratch_work_to_the_target(
        pg_db: tuple[str, str], embedded_pg: PgServer, tmp_path: Path) -> None:
    url, admin = pg_db
    database = url.rsplit("/", 1)[1]
    ini = _small_project(tmp_path, [
        ("q1", None, 'op.execute("CREATE TABLE t1 (id integer)")', 'op.execute("DROP TABLE t1")'),
    ])
    cfg = _config(tmp_path, f"{url}?dbname={database}", ini=ini, on_server=False,
                  extra="verify:\n  on: server\n  extensions: [hstore]\n")
    result = _verify(cfg)
    assert result.code == 0, result.text
    assert _lines(result) == {"q1": "ok"}
    # The target was only read: no extension, no table, no version table made there.
    assert pg_scalar(admin, "SELECT count(*) FROM pg_extension WHERE extname = 'hstore'") == 0
    assert pg_scalar(admin, "SELECT count(*) FROM pg_class WHERE relname IN ('t1', 'alembic_version')") == 0
    assert _scratch_databases(embedded_pg) == 0


@pytest.mark.parametrize("query", ["dbname=app", "database=app", "db=app", "DBNAME=app&sslmode=disable"])
def test_scratch_url_drops_every_key_that_names_a_database(query: str) -> None:
    from sqlalchemy.engine import make_url

    from migctl.core.relational.scratch import scratch_url

    for scheme in ("postgresql+psycopg", "postgresql+asyncpg", "mysql+pymysql"):
        url = scratch_url(make_url(f"{scheme}://u@h/app?{query}"), "migctl_verify_x")
        assert url.database == "migctl_verify_x"
        assert not {"dbname", "database", "db"} & {k.lower() for k in url.query}, url
        assert ("sslmode" in url.query) == ("sslmode" in query)


def test_a_scratch_connection_that_lands_elsewhere_is_refused(pg_db: tuple[str, str]) -> None:
    from migctl.core.errors import Refused
    from migctl.core.relational.scratch import Scratch

    url, _ = pg_db
    scratch = Scratch(url, backend="postgresql", name="migctl_verify_000000000000")
    try:
        with pytest.raises(Refused, match="reached"):
            scratch.connect()
    finally:
        scratch.dispose()


def _drop_role(admin: str, role: str) -> None:
    from tests.test_verify import _execute

    _execute(admin, f'DROP ROLE IF EXISTS "{role}"')


def test_a_revision_that_cannot_be_replayed_blocks_only_its_descendants(
        pg_db: tuple[str, str], embedded_pg: PgServer, tmp_path: Path) -> None:
    from tests.support import unique_name

    url, _ = pg_db
    role = unique_name("replay")
    half = ('with op.get_context().autocommit_block():\n        op.execute("DROP TABLE t2")\n'
            '    op.execute("SELECT * FROM nowhere")')
    ini = _small_project(tmp_path, [
        # Clean on its own; on the rebuilt database (same server) its role exists already.
        ("a1", None, f'op.execute("CREATE ROLE {role}"); op.execute("CREATE TABLE t1 (id integer)")',
         f'op.execute("DROP TABLE t1"); op.execute("DROP ROLE {role}")'),
        ("b2", "a1", 'op.execute("CREATE TABLE t2 (id integer)")', half),  # half-commits: a rebuild
        ("c3", "b2", 'op.execute("CREATE TABLE t3 (id integer)")', 'op.execute("DROP TABLE t3")'),
        ("d4", None, 'op.execute("CREATE TABLE t4 (id integer)")', 'op.execute("DROP TABLE t4")'),
    ])
    try:
        result = _verify(_config(tmp_path, url, ini=ini))
        assert result.code == 4, result.text
        lines = _lines(result)
        assert lines["a1"] == "ok" and lines["d4"] == "ok", result.out
        assert lines["b2"].startswith("BROKEN downgrade, not transactional"), result.out
        assert lines["c3"].startswith("not verified: not reached: ancestor a1 fails to upgrade again on a rebuilt "
                                      f'scratch database: role "{role}" already exists'), result.out
        assert "migctl: error" not in result.err
        assert _scratch_databases(embedded_pg) == 0
    finally:
        _drop_role(embedded_pg.admin_url, role)


def _sleeping(server: PgServer) -> int:
    return int(pg_scalar(server.admin_url, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(3)%' "
                                           "AND datname LIKE 'migctl_verify_%'"))


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_signal_mid_walk_drops_the_scratch_database(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                      tmp_path: Path, sig: str) -> None:
    import signal
    import subprocess
    import time

    from tests.support import MIGCTL, clean_env

    url, _ = pg_db
    ini = _small_project(tmp_path, [
        ("s1", None, 'op.execute("CREATE TABLE t1 (id integer)")', 'op.execute("DROP TABLE t1")'),
        ("s2", "s1", 'op.execute("SELECT pg_sleep(3)")', "pass"),
        ("s3", "s2", 'op.execute("CREATE TABLE t3 (id integer)")', 'op.execute("DROP TABLE t3")'),
    ])
    cfg = _config(tmp_path, url, ini=ini)
    proc = subprocess.Popen([MIGCTL, "--config", str(cfg), "verify"], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while _sleeping(embedded_pg) == 0:  # the walk is inside s2's upgrade
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(getattr(signal, sig))
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + getattr(signal, sig), (out, err)
    assert f"migctl: interrupted by {sig}" in err, err
    assert _scratch_databases(embedded_pg) == 0


def test_stale_scratch_databases_of_dead_processes_on_this_host_are_dropped(
        pg_db: tuple[str, str], embedded_pg: PgServer, tmp_path: Path) -> None:
    import os
    import socket
    import subprocess

    from tests.test_verify import _execute

    url, _ = pg_db
    gone = subprocess.Popen(["true"])
    gone.wait()
    host = socket.gethostname()
    made = {"migctl_verify_dead00000001": f"migctl verify host={host} pid={gone.pid}",
            "migctl_verify_live00000001": f"migctl verify host={host} pid={os.getpid()}",
            "migctl_verify_else00000001": f"migctl verify host=elsewhere-{host} pid={gone.pid}"}
    for name, comment in made.items():
        _execute(embedded_pg.admin_url, f"CREATE DATABASE {name}")
        _execute(embedded_pg.admin_url, f"COMMENT ON DATABASE {name} IS '{comment}'")
    try:
        ini = _small_project(tmp_path, [
            ("k1", None, 'op.execute("CREATE TABLE t1 (id integer)")', 'op.execute("DROP TABLE t1")'),
        ])
        result = _verify(_config(tmp_path, url, ini=ini))
        assert result.code == 0, result.text
        assert (f"dropped the stale scratch database migctl_verify_dead00000001, left by migctl verify pid {gone.pid}"
                in result.err), result.err
        left = pg_scalar(embedded_pg.admin_url, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database "
                                                "WHERE datname LIKE 'migctl_verify_%'")
        assert left == "migctl_verify_else00000001,migctl_verify_live00000001"
    finally:
        for name in made:
            _execute(embedded_pg.admin_url, f"DROP DATABASE IF EXISTS {name}")


def test_the_scratch_database_names_its_creator(pg_db: tuple[str, str], tmp_path: Path) -> None:
    import os
    import socket

    from migctl.core.config import load_environment
    from migctl.core.relational.scratch import scratch_database

    url, _ = pg_db
    ini = _small_project(tmp_path, [("n1", None, "pass", "pass")])
    environment = load_environment(config_file=str(_config(tmp_path, url, ini=ini)))
    with scratch_database(environment, url) as scratch, scratch.connect() as conn:
        comment = conn.exec_driver_sql("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                       "WHERE datname = current_database()").scalar()
    assert comment == f"migctl verify host={socket.gethostname()} pid={os.getpid()}"


def _role_project(tmp_path: Path, role: str) -> Path:
    return _small_project(tmp_path, [
        ("r1", None, f'op.execute("CREATE ROLE {role}"); op.execute("CREATE TABLE t1 (id integer)")',
         'op.execute("DROP TABLE t1")'),  # the role stays behind
        ("r2", "r1", 'op.execute("CREATE TABLE t2 (id integer)")', 'op.execute("DROP TABLE t2")'),
    ])


def test_a_role_left_by_a_downgrade_is_reported_and_dropped_on_the_embedded_server(
        pg_db: tuple[str, str], tmp_path: Path) -> None:
    from migctl.core.embedded import EmbeddedPostgres
    from tests.support import unique_name

    url, _ = pg_db
    role = unique_name("left")
    cfg = _config(tmp_path, url, ini=_role_project(tmp_path, role), on_server=False)
    try:
        for attempt in ("first", "--force"):
            result = _verify(cfg, *(() if attempt == "first" else ("--force",)))
            assert result.code == 4, result.text
            assert _lines(result) == {"r1": f"incomplete downgrade: role {role} extra", "r2": "ok"}, result.out
            server = EmbeddedPostgres(tmp_path / "state")
            admin = server.url.rsplit("/", 1)[0] + "/postgres"
            assert pg_scalar(admin, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == 0
    finally:
        EmbeddedPostgres(tmp_path / "state").stop()


def test_a_role_left_on_the_targets_server_is_named_not_dropped(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                                tmp_path: Path) -> None:
    from tests.support import unique_name

    url, _ = pg_db
    role = unique_name("left")
    try:
        result = _verify(_config(tmp_path, url, ini=_role_project(tmp_path, role)))
        assert result.code == 4, result.text
        assert _lines(result)["r1"] == f"incomplete downgrade: role {role} extra", result.out
        assert f"the walk left role(s) on the target's server: {role}" in result.err
        assert pg_scalar(embedded_pg.admin_url, f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'") == 1
    finally:
        _drop_role(embedded_pg.admin_url, role)
