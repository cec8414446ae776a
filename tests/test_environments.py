"""The environments overview (issue 14): every environment of a config read in parallel, each
within its own timeout, through the front door, the CLI (`status --all-envs`) and the console
(key `e`), against a real PostgreSQL, a port that refuses and a port that never answers."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from migctl.core.api import Migctl, environments_overview
from tests.support import APP_PASSWORD, REPO, clean_env, make_project, pg_scalar, run_cli

HEAD, BEFORE_HEAD = "ccc333ccc333", "bbb222bbb222"
VECTOR = REPO / "vector_migrations"


@dataclass
class Overview:
    config: Path
    dev_admin: str
    prod_admin: str


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A port that accepts TCP (the kernel completes the handshake) and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield s.getsockname()[1]


@pytest.fixture()
def overview(embedded_pg, silent_port: int, tmp_path: Path) -> Overview:
    """dev one revision behind head (staging: the same database with a vector side); prod
    protected by its flag only and never touched;
    ``silent`` on the port that never answers; ``gone`` on a port nothing listens on."""
    ini = make_project(tmp_path, "small")
    dev, dev_admin = embedded_pg.create_database()
    prod, prod_admin = embedded_pg.create_database()
    nowhere = f"postgresql://app:{APP_PASSWORD}@127.0.0.1"
    config = tmp_path / "migctl.yaml"
    config.write_text("\n".join([
        "default_environment: dev", f"state_dir: {tmp_path / 'state'}", f"alembic: {{ini: {ini}}}",
        "environments:",
        f"  dev: {{database_url: \"{dev}\"}}",
        # pgvector would create its schema (and Milvus Lite take its lock) if the store were opened.
        f"  staging: {{database_url: \"{dev}\", vector: {{store: pgvector, migrations_dir: {VECTOR / 'versions'}, "
        f"templates: {VECTOR / 'templates.yaml'}}}}}",
        f"  prod: {{database_url: \"{prod}\", protected: true}}",
        f"  silent: {{database_url: \"{nowhere}:{silent_port}/app\"}}",
        f"  gone: {{database_url: \"{nowhere}:{_free_port()}/app\"}}",
    ]) + "\n")

    async def upgrade() -> None:
        async with Migctl.open(config_file=str(config), env="dev") as api:
            await api.execute(await api.plan_upgrade(BEFORE_HEAD))

    asyncio.run(upgrade())
    return Overview(config, dev_admin, prod_admin)


def _migctl_tables(admin_url: str) -> int:
    return int(pg_scalar(admin_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") or 0)


@pytest.mark.slow
def test_overview_reads_every_environment_without_waiting_for_a_silent_one(overview: Overview) -> None:
    extensions = "SELECT string_agg(extname, ',' ORDER BY extname) FROM pg_extension"
    schemas = "SELECT string_agg(schema_name, ',' ORDER BY schema_name) FROM information_schema.schemata"
    before = pg_scalar(overview.dev_admin, extensions), pg_scalar(overview.dev_admin, schemas)
    heard: list[str] = []
    started = time.monotonic()
    rows = asyncio.run(environments_overview(overview.config, timeout=2.0, on_row=lambda r: heard.append(r.name)))
    elapsed = time.monotonic() - started
    by_name = {r.name: r for r in rows}
    assert [r.name for r in rows] == ["dev", "staging", "prod", "silent", "gone"]

    dev = by_name["dev"]
    assert dev.state == "ok" and dev.reachable
    assert (dev.current, dev.heads, dev.pending, dev.drifted, dev.lock) == ([BEFORE_HEAD], [HEAD], 1, 0, None)
    assert dev.vector == "not configured" and not dev.protected
    assert APP_PASSWORD not in dev.url and "***" in dev.url

    staging = by_name["staging"]
    assert (staging.state, staging.current, staging.pending) == ("ok", [BEFORE_HEAD], 1)
    assert (staging.vector, staging.vector_current, staging.vector_pending) == ("ok", "base", 4)

    prod = by_name["prod"]
    assert prod.state == "ok" and prod.protected and prod.protected_as == "prod"
    assert (prod.current, prod.pending) == ([], 3)
    # A look creates nothing: no protection mark, no audit table, not even the version table.
    assert _migctl_tables(overview.prod_admin) == 0

    assert by_name["silent"].state == "timeout after 2s"
    assert by_name["gone"].state.startswith("unreachable: ") and "refused" in by_name["gone"].state
    for row in rows:
        assert APP_PASSWORD not in json.dumps(row.as_dict())
    assert asyncio.run(environments_overview(overview.config, timeout=2.0, vector=False))[1].vector == "off"
    assert (pg_scalar(overview.dev_admin, extensions), pg_scalar(overview.dev_admin, schemas)) == before
    assert "vector" not in before[0].split(",")
    # The silent one is cut at its own timeout; the others answered before it.
    assert elapsed < 2.0 + 3.0, elapsed
    assert heard[-1] == "silent" and set(heard) == set(by_name)


@pytest.mark.slow
def test_status_all_envs_prints_the_table_and_json(overview: Overview) -> None:
    # DATABASE_URL would put one database under every name: the overview shows the config's.
    env = clean_env(DATABASE_URL=f"postgresql://app:{APP_PASSWORD}@127.0.0.1:1/nothere")
    result = run_cli("--config", str(overview.config), "status", "--all-envs", "--timeout", "2", env=env)
    assert result.code == 0, result.text
    assert APP_PASSWORD not in result.text
    print(result.out)  # shown with -rP: what an operator sees
    table = _columns(result.out)
    assert list(table) == ["dev", "staging", "prod", "silent", "gone"]
    assert table["staging"]["VECTOR"] == "base +4"
    dev, prod = table["dev"], table["prod"]
    assert (dev["CURRENT"], dev["HEADS"], dev["PENDING"], dev["DRIFTED"]) == (BEFORE_HEAD, HEAD, "1", "0")
    assert (dev["PROTECTED"], dev["LOCK"], dev["STATE"], dev["VECTOR"]) == ("-", "free", "ok", "not configured")
    assert "***" in dev["URL"] and ":1/nothere" not in dev["URL"]
    assert (prod["PROTECTED"], prod["CURRENT"], prod["PENDING"], prod["STATE"]) == ("PROTECTED", "base", "3", "ok")
    assert table["silent"]["STATE"] == "timeout after 2s" and table["silent"]["CURRENT"] == "-"
    assert table["gone"]["STATE"].startswith("unreachable: ")

    result = run_cli("--config", str(overview.config), "status", "--all-envs", "--timeout", "2", "--json", env=env)
    assert result.code == 0, result.text
    rows = {r["name"]: r for r in json.loads(result.out)["environments"]}
    assert rows["dev"]["current"] == [BEFORE_HEAD] and rows["dev"]["pending"] == 1
    assert rows["prod"]["protected"] is True and rows["silent"]["state"] == "timeout after 2s"
    assert _migctl_tables(overview.prod_admin) == 0


def _columns(out: str) -> dict[str, dict[str, str]]:
    """The CLI's table as {environment: {COLUMN: cell}}, cut at the header's column starts."""
    lines = out.splitlines()
    header = lines[0]
    names = header.split()
    starts = [header.index(f"{n} ") if n != names[-1] else header.rindex(n) for n in names]
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = dict(zip(names, cells, strict=True))
    return rows


def _table_text(table) -> str:
    """What the table draws, line by line (the real rendered cells)."""
    return "\n".join(table.render_line(y).text for y in range(table.size.height))


@pytest.mark.slow
async def test_console_overview_fills_in_and_enter_switches(overview: Overview) -> None:
    from textual.widgets import DataTable

    from migctl.tui.console.screens.environments import EnvironmentsScreen
    from migctl.tui.console.widgets.header import StatusHeader
    from tests.tui_support import make_app, ready, wait_for

    app = make_app(overview.config)
    async with app.run_test(size=(200, 30)) as pilot:
        await ready(pilot)
        assert app.query_one(StatusHeader).environment == "dev"
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, EnvironmentsScreen), 10, "the overview")
        screen = app.screen
        table = screen.query_one(DataTable)
        await wait_for(pilot, lambda: table.row_count == 5, 20, "the five rows")
        await wait_for(pilot, lambda: "reading…" not in _table_text(table), 20, "every row read")
        await pilot.pause(0.1)
        text = _table_text(table)
        lines = {ln.split()[0]: ln for ln in text.splitlines()[1:] if ln.strip()}
        assert set(lines) == {"dev", "staging", "prod", "silent", "gone"}, text
        assert BEFORE_HEAD in lines["dev"] and "ok" in lines["dev"]
        assert "PROTECTED" in lines["prod"] and "PROTECTED" not in lines["dev"]
        assert "timeout after 5s" in lines["silent"] and "unreachable" in lines["gone"]
        assert APP_PASSWORD not in text

        table.move_cursor(row=table.get_row_index("prod"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, EnvironmentsScreen), 10, "the overview to close")
        header = app.query_one(StatusHeader)
        assert header.environment == "prod" and header.protected
        await wait_for(pilot, lambda: app.ready and app.environment.name == "prod", 60, "prod connected")
        assert header.relational_state == "connected"
        assert "prod" in str(header.render()) and "PROTECTED" in str(header.render())
        assert app.status["environment"] == "prod"


def test_embedded_not_running_is_not_started_and_a_broken_environment_is_a_row(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No server: an embedded environment whose server is down says so (and stays down, its
    state dir not even created); one whose URL needs an unset variable is a row, not a crash."""
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_text("")
    config = tmp_path / "migctl.yaml"
    config.write_text("environments:\n  local: {database_url: embedded}\n"
                      "  broken: {database_url: \"${NOT_SET_ANYWHERE}\"}\n"
                      f"  lite: {{database_url: \"sqlite:///{tmp_path / 'never.db'}\"}}\n")
    rows = asyncio.run(environments_overview(config, timeout=2.0))
    assert [(r.name, r.state) for r in rows][0] == ("local", "embedded: not running")
    # Connecting would have created the SQLite file: a look creates nothing.
    assert (rows[2].name, rows[2].state) == ("lite", "no database yet (migctl init creates it)")
    assert not (tmp_path / "never.db").exists()
    assert rows[1].name == "broken" and rows[1].state.startswith("error: ") and "NOT_SET_ANYWHERE" in rows[1].state
    assert rows[1].environment is None
    assert not (tmp_path / ".migctl").exists()
