"""``migctl verify`` verdicts in plans: shown per step, a broken step refuses the run (exit 3,
audited) unless ``--allow-broken``, an edited file loses its verdict, and ``check`` with
``verify: required`` reports revisions not verified or broken.

The verdicts are written to the state dir's cache as ``migctl verify`` writes them
(``VerdictCache.put_many``, keyed by each file's sha256).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from migctl.core.relational.assessment import DOWNGRADE_FAILS, OK, UPGRADE_FAILS, Verdict
from migctl.core.relational.state import file_sha256
from migctl.core.relational.verdict_cache import VerdictCache
from tests.support import make_chain_project, pg_scalar, revision_file, run_cli, write_config

V1, V2, V3 = "aa11aa11aa11", "bb22bb22bb22", "cc33cc33cc33"
CAST = 'column "code" cannot be cast automatically to type integer'
SERVER = "PostgreSQL 18.1"
SQLITE = "SQLite 3.45.1"  # a verdict counts only for the kind of server it was obtained on
REFUSAL = (f"refused: downgrade through {V2} which is BROKEN downgrade: {CAST} (verified on {SERVER}); "
           "pass --allow-broken to run it anyway")

# PostgreSQL: V2's downgrade really is broken (varchar -> integer without USING).
PG_CHAIN = [
    (V1, "create accounts", 'op.create_table("accounts", sa.Column("id", sa.Integer, primary_key=True), '
                            'sa.Column("code", sa.Integer))', 'op.drop_table("accounts")'),
    (V2, "code becomes text", 'op.alter_column("accounts", "code", type_=sa.String(20))',
     'op.alter_column("accounts", "code", type_=sa.Integer)'),
    (V3, "create orders", 'op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("orders")'),
]
# SQLite: plain tables (the verdicts say what they say).
SQLITE_CHAIN = [
    (V1, "create accounts", 'op.create_table("accounts", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("accounts")'),
    (V2, "create ledger", 'op.create_table("ledger", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("ledger")'),
    (V3, "create orders", 'op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True))',
     'op.drop_table("orders")'),
]


def _put(tmp: Path, ini: Path, *verdicts: tuple[str, str, str]) -> None:
    """Record (revision, state, detail) for each revision's file as it is now."""
    VerdictCache(tmp / "state").put_many(
        Verdict(rev, state, detail, sha256=file_sha256(revision_file(ini, rev)), server=_server(tmp))
        for rev, state, detail in verdicts)


def _server(tmp: Path) -> str:
    return SQLITE if "sqlite:" in (tmp / "migctl.yaml").read_text() else SERVER


def _sqlite(tmp: Path, *extra: str) -> tuple[Path, Path]:
    ini = make_chain_project(tmp, SQLITE_CHAIN)
    cfg = write_config(tmp, f"sqlite:///{tmp / 'app.db'}", ini=ini)
    if extra:
        cfg.write_text(cfg.read_text() + "".join(line + "\n" for line in extra))
    return cfg, ini


def test_broken_downgrade_is_shown_refused_audited_and_allowed(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, admin = pg_db
    ini = make_chain_project(tmp_path, PG_CHAIN)
    cfg = write_config(tmp_path, url, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    _put(tmp_path, ini, (V1, OK, ""), (V2, DOWNGRADE_FAILS, CAST + '\nHINT:  You might need to specify "USING '
                                                                    'code::integer".'))

    dry = run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", cwd=tmp_path)
    assert dry.code == 0
    lines = dry.out.splitlines()
    assert any(line.endswith(f"{V3}  create orders  [not verified, DESTRUCTIVE]") for line in lines)
    at = next(i for i, line in enumerate(lines) if f"downgrade {V2}" in line)
    assert lines[at].endswith("code becomes text  [BROKEN downgrade]")
    assert lines[at + 1].strip().startswith(f"BROKEN downgrade: {CAST} / HINT:")
    assert lines[at + 1].endswith(f"(verified on {SERVER})")
    assert any(line.endswith(f"{V1}  create accounts  [verified, DESTRUCTIVE]") for line in lines)
    assert "  1 step of 3 not verified (run migctl verify)" in lines
    assert f"  would be {REFUSAL}" in lines

    plan = json.loads(run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    assert plan["broken"] == [V2]
    verdicts = {s["revision"]: (s["verdict"], s["broken"]) for s in plan["steps"]}
    assert verdicts[V3] == ("not verified", False) and verdicts[V1] == ("verified", False)
    assert verdicts[V2][0].startswith(f"BROKEN downgrade: {CAST}") and verdicts[V2][1] is True
    assert plan["steps"][1]["verification"]["state"] == DOWNGRADE_FAILS
    assert plan["steps"][1]["verification"]["server"] == SERVER

    # Refused, in one line, audited as refused; nothing changed.
    refused = run_cli("--config", str(cfg), "downgrade", "base", "--yes", cwd=tmp_path)
    assert refused.code == 3
    assert refused.err.splitlines()[-1] == f"migctl: {REFUSAL}"
    as_json = run_cli("--config", str(cfg), "downgrade", "base", "--yes", "--json", cwd=tmp_path)
    assert as_json.code == 3 and json.loads(as_json.out) == {"error": REFUSAL, "exit": 3}
    assert pg_scalar(admin, "SELECT version_num FROM alembic_version") == V3
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'") == 1
    rows = json.loads(run_cli("--config", str(cfg), "audit", "--json", "--limit", "2", cwd=tmp_path).out)
    assert [(r["outcome"], r["action"], r["error"]) for r in rows] == [
        ("refused", "downgrade", REFUSAL.removeprefix("refused: "))] * 2

    # --allow-broken runs it: V3 is reverted, and V2's downgrade fails as verify said it would.
    ran = run_cli("--config", str(cfg), "downgrade", "base", "--yes", "--allow-broken", cwd=tmp_path)
    assert ran.code == 1 and "cannot be cast automatically to type integer" in ran.err
    assert "--allow-broken: runs anyway through 1 broken step" in ran.err
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'orders'") == 0
    assert pg_scalar(admin, "SELECT outcome FROM migctl_audit ORDER BY id DESC LIMIT 1") == "failed"

    # An edited file loses its verdict: no longer known to be broken, so not refused.
    edited = revision_file(ini, V2)
    edited.write_text(edited.read_text() + "\n# reviewed\n")
    again = json.loads(run_cli("--config", str(cfg), "downgrade", "base", "--dry-run", "--json", cwd=tmp_path).out)
    assert again["broken"] == [] and again["steps"][0]["verdict"] == "not verified"


def test_no_verdicts_is_one_line_not_one_per_step(tmp_path: Path) -> None:
    cfg, _ = _sqlite(tmp_path)
    text = run_cli("--config", str(cfg), "upgrade", "--dry-run", cwd=tmp_path).out
    assert "  3 steps not verified (run migctl verify)" in text.splitlines()
    assert "[not verified" not in text and "verified]" not in text and "would be refused" not in text


def test_edited_file_reads_as_not_verified(tmp_path: Path) -> None:
    cfg, ini = _sqlite(tmp_path)
    _put(tmp_path, ini, (V1, OK, ""), (V2, OK, ""), (V3, OK, ""))
    plan = json.loads(run_cli("--config", str(cfg), "upgrade", "--dry-run", "--json", cwd=tmp_path).out)
    assert [s["verdict"] for s in plan["steps"]] == ["verified"] * 3
    assert "not verified" not in run_cli("--config", str(cfg), "upgrade", "--dry-run", cwd=tmp_path).out
    edited = revision_file(ini, V2)
    edited.write_text(edited.read_text().replace('"ledger"', '"ledgers"'))
    plan = json.loads(run_cli("--config", str(cfg), "upgrade", "--dry-run", "--json", cwd=tmp_path).out)
    assert [s["verdict"] for s in plan["steps"]] == ["verified", "not verified", "verified"]
    text = run_cli("--config", str(cfg), "upgrade", "--dry-run", cwd=tmp_path).out
    assert f"{V2}  create ledger  [not verified]" in text and "  1 step of 3 not verified (run migctl verify)" in text


def test_core_execute_refuses_a_plan_made_before_the_verdict(tmp_path: Path) -> None:
    """The console passes plans to core: core reads the verdicts again under the lock, refuses
    through the guard (an audited refusal), and runs only with ``allow_broken``."""
    from migctl.core.api import Migctl
    from migctl.core.errors import Refused

    cfg, ini = _sqlite(tmp_path)
    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0

    async def scenario() -> None:
        async with Migctl.open(str(cfg)) as api:
            plan = await api.plan_downgrade("base")
            assert plan.broken_steps == () and plan.broken_refusal() is None
            _put(tmp_path, ini, (V2, DOWNGRADE_FAILS, CAST))  # verify finished after the plan was shown
            with pytest.raises(Refused) as refused:
                await api.execute(plan)
            assert str(refused.value) == REFUSAL.removeprefix("refused: ").replace(SERVER, SQLITE)
            assert await api.current() == (V3,)
            last = (await api.audit(1))[0]
            assert (last["outcome"], last["error"]) == ("refused", str(refused.value))
            result = await api.execute(plan, allow_broken=True)
            assert result.after == () and [r for r, _, _ in result.applied] == [V3, V2, V1]

    asyncio.run(scenario())


def test_migrate_through_a_broken_upgrade(tmp_path: Path) -> None:
    cfg, ini = _sqlite(tmp_path)
    _put(tmp_path, ini, (V2, UPGRADE_FAILS, 'relation "ledger" already exists'))
    line = (f"refused: upgrade through {V2} which is BROKEN upgrade: relation \"ledger\" already exists "
            f"(verified on {SQLITE}); pass --allow-broken to run it anyway")
    dry = run_cli("--config", str(cfg), "migrate", "--dry-run", cwd=tmp_path)
    assert dry.code == 0 and f"  would be {line}" in dry.out.splitlines()
    refused = run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path)
    assert refused.code == 3 and refused.err.splitlines()[-1] == f"migctl: {line}"
    assert run_cli("--config", str(cfg), "current", cwd=tmp_path).out.strip() == "base (no revision)"
    up = run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path)
    assert up.code == 3 and up.err.splitlines()[-1] == f"migctl: {line}"
    assert run_cli("--config", str(cfg), "migrate", "--yes", "--allow-broken", cwd=tmp_path).code == 0
    assert run_cli("--config", str(cfg), "current", cwd=tmp_path).out.strip() == V3


@pytest.mark.parametrize("where", ["top", "environment", "mapping"])
def test_check_with_verify_required(tmp_path: Path, where: str) -> None:
    setting = {"top": ["verify: required"], "environment": ["    verify: required"],
               "mapping": ["verify: {required: true}"]}[where]
    cfg, ini = _sqlite(tmp_path, *setting)
    _put(tmp_path, ini, (V1, OK, ""), (V2, DOWNGRADE_FAILS, CAST))
    broken = f"broken: {V2} downgrade fails: {CAST} (verified on {SQLITE})"
    offline = run_cli("--config", str(cfg), "check", "--offline", cwd=tmp_path)
    assert offline.code == 4
    assert offline.out.splitlines() == [f"unverified: 1 revision ({V3}); run migctl verify", broken]
    result = json.loads(run_cli("--config", str(cfg), "check", "--offline", "--json", cwd=tmp_path).out)
    assert result["verify_required"] is True
    assert [(f["kind"], f["items"]) for f in result["findings"]] == [("unverified", [V3]), ("broken", [V2])]

    assert run_cli("--config", str(cfg), "upgrade", "--yes", "--allow-broken", cwd=tmp_path).code == 0
    online = run_cli("--config", str(cfg), "check", cwd=tmp_path)
    assert online.code == 4 and broken in online.out.splitlines()

    _put(tmp_path, ini, (V2, OK, ""), (V3, OK, ""))
    ok = run_cli("--config", str(cfg), "check", cwd=tmp_path)
    assert ok.code == 0 and "every revision verified" in ok.out
    # An edited file is unverified again.
    edited = revision_file(ini, V1)
    edited.write_text(edited.read_text() + "\n# edited\n")
    again = run_cli("--config", str(cfg), "check", "--offline", cwd=tmp_path)
    assert again.code == 4 and again.out.splitlines() == [f"unverified: 1 revision ({V1}); run migctl verify"]


def test_check_without_verify_required_ignores_verdicts(tmp_path: Path) -> None:
    cfg, ini = _sqlite(tmp_path)
    _put(tmp_path, ini, (V2, DOWNGRADE_FAILS, CAST))
    result = run_cli("--config", str(cfg), "check", "--offline", cwd=tmp_path)
    assert result.code == 0 and "every revision verified" not in result.out


@pytest.mark.parametrize(("value", "message"), [
    ("verify: requird", "verify: expected 'required', 'optional' or a mapping, not 'requird'"),
    ("verify: 5", "verify: expected a word (required) or a mapping, not a number 5"),
    ("verify: {required: maybe}", "verify.required: expected true or false, not a string 'maybe'"),
])
def test_check_rejects_a_bad_verify_setting(tmp_path: Path, value: str, message: str) -> None:
    cfg, _ = _sqlite(tmp_path, value)
    result = run_cli("--config", str(cfg), "check", "--offline", cwd=tmp_path)
    assert result.code == 2 and message in result.err and len(result.err.strip().splitlines()) == 1
