"""``migctl verify`` on the vector side: each vector migration up, down and up again on a
throwaway store (Milvus Lite in a temporary directory; pgvector: a scratch database on the
target's server, ``verify: {on: server}``), compared with the declared state.

The relational side of each run is the reference Alembic project (its verdicts are cached in
the state dir after the first run); these tests read the ``vector:`` part of the output."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import PgServer
from tests.support import APP_PASSWORD, REPO, clean_env, pg_scalar, run_cli

FIXTURE = REPO / "tests" / "fixtures" / "vector_verify" / "versions"
REFERENCE = REPO / "vector_migrations" / "versions"
HALF = "not transactional, half-commits on failure"
INDEX_LEFT = ("incomplete downgrade: note: index IVF_FLAT COSINE (nlist=64) on embedding, declared HNSW COSINE "
              "(M=16,efConstruction=64) on embedding")
EXPECTED = {  # version -> (state, the rest of its line), per store
    "milvus": {
        "20250301_001": ("ok", "ok"),
        "20250302_001": ("downgrade incomplete", "incomplete downgrade: collection chunk extra"),
        "20250303_001": ("downgrade fails",
                         "BROKEN downgrade: cannot create collection images: an alias has that name"),
        "20250304_001": ("downgrade incomplete", INDEX_LEFT),
        "20250305_001": (HALF, f"BROKEN downgrade, {HALF}: cannot create collection chunks: an alias has that "
                               "name; part of it committed: alias events missing"),
        "20250306_001": ("ok", "ok"),
    },
    "pgvector": {
        "20250301_001": ("ok", "ok"),
        "20250302_001": ("downgrade incomplete", "incomplete downgrade: collection chunk extra"),
        "20250303_001": ("downgrade fails", 'BROKEN downgrade: cannot create images: relation "images" already '
                                            "exists"),
        "20250304_001": ("downgrade incomplete", INDEX_LEFT),
        "20250305_001": (HALF, f'BROKEN downgrade, {HALF}: cannot create chunks: relation "chunks" already exists; '
                               "part of it committed: alias events missing"),
        "20250306_001": ("ok", "ok"),
    },
}
SERVER = {"milvus": r"Milvus Lite \d+\.\d+\.\d+ \(temporary directory\)",
          "pgvector": r"PostgreSQL \d+\.\d+ \(target's server\), pgvector \d+\.\d+\.\d+"}
FIXTURE_SUMMARY = "6 vector migrations: 2 ok, 1 downgrade fails, 2 downgrade incomplete, 1 half-commits; {} cached; "


def _config(tmp: Path, url: str, store: str, migrations: Path) -> Path:
    path = tmp / "migctl.yaml"
    path.write_text(
        f"default_environment: t\nstate_dir: {tmp / 'state'}\nverify:\n  on: server\n"
        f"alembic: {{script_location: {REPO / 'alembic'}}}\n"
        f"environments:\n  t:\n    database_url: \"{url}\"\n    vector:\n      store: {store}\n"
        f"      templates: {REPO / 'vector_migrations' / 'templates.yaml'}\n      migrations_dir: {migrations}\n",
        encoding="utf-8")
    return path


def _copy(source: Path, tmp: Path) -> Path:
    """The migration files in a folder of their own (tests edit them)."""
    return Path(shutil.copytree(source, tmp / "vector_versions"))


def _cli(cfg: Path, *args: str, tmpdir: Path | None = None):
    env = clean_env(TMPDIR=str(tmpdir)) if tmpdir else None
    return run_cli("--config", str(cfg), *args, cwd=cfg.parent, env=env)


def _vector_lines(out: str) -> tuple[dict[str, str], str]:
    """(version -> the rest of its line, the vector summary) from the text output."""
    lines = out.splitlines()
    assert "vector:" in lines, out
    rest = lines[lines.index("vector:") + 1:]
    verdicts = {line.strip().split("  ", 1)[0]: line.strip().split("  ", 1)[1] for line in rest[:-1]}
    assert all(line.startswith("  ") for line in rest[:-1]), out
    return verdicts, rest[-1]


def _relational_summary_at(out: str) -> int:
    """The index of the relational summary: the line before the ``vector:`` heading."""
    return out.splitlines().index("vector:") - 1


def _words(store: str) -> dict[str, str]:
    return {version: words for version, (_, words) in EXPECTED[store].items()}


@pytest.mark.slow
def test_reference_vector_migrations_verify_clean_on_milvus_lite(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    cfg = _config(tmp_path, url, "milvus", REFERENCE)
    scratch_tmp = tmp_path / "tmp"
    scratch_tmp.mkdir()
    result = _cli(cfg, "verify", tmpdir=scratch_tmp)
    assert result.code == 0, result.text
    verdicts, summary = _vector_lines(result.out)
    assert verdicts == dict.fromkeys(["20250108_001", "20250115_001", "20250120_001", "20250201_001"], "ok")
    assert re.fullmatch(rf"4 vector migrations: 4 ok; 0 cached; {SERVER['milvus']}; \d+\.\d s", summary), summary
    assert re.match(r"^10 revisions: 10 ok; 0 cached; ", result.out.splitlines()[_relational_summary_at(result.out)])
    assert "[4/4] vector:20250201_001  ok" in result.err  # progress on stderr
    # The environment's own Milvus Lite was never opened (not even created); the throwaway one is gone.
    assert not (tmp_path / "state" / "milvus.db").exists()
    assert list(scratch_tmp.iterdir()) == []


def test_reference_vector_migrations_verify_clean_on_pgvector(pg_db: tuple[str, str], embedded_pg: PgServer,
                                                              tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = _config(tmp_path, url, "pgvector", REFERENCE)
    result = _cli(cfg, "verify")
    assert result.code == 0, result.text
    verdicts, summary = _vector_lines(result.out)
    assert verdicts == dict.fromkeys(["20250108_001", "20250115_001", "20250120_001", "20250201_001"], "ok")
    assert re.fullmatch(rf"4 vector migrations: 4 ok; 0 cached; {SERVER['pgvector']}; \d+\.\d s", summary), summary
    assert APP_PASSWORD not in result.text
    # The target database was only read: no vectors schema, no tracking table; the scratch database is gone.
    assert pg_scalar(admin, "SELECT count(*) FROM pg_namespace WHERE nspname = 'vectors'") == 0
    assert pg_scalar(admin, "SELECT count(*) FROM pg_class WHERE relname = 'vector_db_migrations'") == 0
    assert pg_scalar(embedded_pg.admin_url, "SELECT count(*) FROM pg_database WHERE datname LIKE 'migctl_verify_%'") == 0


@pytest.mark.slow
def test_fixture_verdicts_on_milvus_lite_cached_on_rerun_not_reused_on_pgvector(pg_db: tuple[str, str],
                                                                                 tmp_path: Path) -> None:
    url, _ = pg_db
    cfg = _config(tmp_path, url, "milvus", FIXTURE)
    result = _cli(cfg, "verify")
    assert result.code == 4, result.text
    verdicts, summary = _vector_lines(result.out)
    assert verdicts == _words("milvus")
    assert list(verdicts) == list(EXPECTED["milvus"])  # chain order
    assert re.fullmatch(re.escape(FIXTURE_SUMMARY.format(0)) + rf"{SERVER['milvus']}; \d+\.\d s", summary), summary
    assert "migctl: verify failed: 0 of 10 revision(s) and 4 of 6 vector migration(s) not ok" in result.err

    again = _cli(cfg, "verify", "--json")  # every verdict from the cache, in the JSON shape
    assert again.code == 4, again.text
    data = json.loads(again.out)
    assert set(data) == {"ok", "verdicts", "summary", "exit", "error", "vector", "vector_summary"}
    assert data["ok"] is False and data["exit"] == 4 and len(data["verdicts"]) == 10
    assert data["error"] == "verify failed: 0 of 10 revision(s) and 4 of 6 vector migration(s) not ok"
    assert [(v["version"], v["state"]) for v in data["vector"]] == [(k, s) for k, (s, _) in EXPECTED["milvus"].items()]
    first = data["vector"][0]
    assert set(first) == {"revision", "state", "detail", "sha256", "server", "seconds", "at", "cached", "not_reached",
                          "version"}
    assert first["revision"] == "vector:20250301_001" and all(v["cached"] for v in data["vector"])
    assert first["sha256"] == hashlib.sha256((FIXTURE / "20250301_001_create_notes.yaml").read_bytes()).hexdigest()
    assert data["vector_summary"]["cached"] == 6 and data["vector_summary"]["store"] == "milvus"
    assert data["vector_summary"]["counts"] == {"ok": 2, "downgrade fails": 1, "downgrade incomplete": 2,
                                                "half-commits": 1, "upgrade fails": 0, "re-upgrade differs": 0,
                                                "not reached": 0}
    assert "throwaway vector store" not in again.err  # nothing to verify: no store opened

    # The same files on pgvector: a verdict obtained on Milvus says nothing of PostgreSQL.
    on_pg = _cli(_config(tmp_path, url, "pgvector", FIXTURE), "verify")
    assert on_pg.code == 4, on_pg.text
    assert "verifying 6 vector migration(s) up, down and up again; 0 cached" in on_pg.err
    assert _vector_lines(on_pg.out)[0] == _words("pgvector")


def test_fixture_verdicts_on_pgvector_and_the_target_store_is_untouched(pg_db: tuple[str, str],
                                                                       tmp_path: Path) -> None:
    url, admin = pg_db
    cfg = _config(tmp_path, url, "pgvector", FIXTURE)
    applied = _cli(cfg, "vector", "upgrade", "20250302_001", "--yes")  # the target holds something of its own
    assert applied.code == 0, applied.text
    before = json.loads(_cli(cfg, "collections", "--json").out)
    tracked = pg_scalar(admin, "SELECT string_agg(version || ':' || status, ',' ORDER BY version) "
                               "FROM vector_db_migrations")

    result = _cli(cfg, "verify")
    assert result.code == 4, result.text
    verdicts, summary = _vector_lines(result.out)
    assert verdicts == _words("pgvector")
    assert re.fullmatch(re.escape(FIXTURE_SUMMARY.format(0)) + rf"{SERVER['pgvector']}; \d+\.\d s", summary), summary

    assert json.loads(_cli(cfg, "collections", "--json").out) == before
    assert pg_scalar(admin, "SELECT string_agg(version || ':' || status, ',' ORDER BY version) "
                            "FROM vector_db_migrations") == tracked == "20250301_001:applied,20250302_001:applied"


def test_an_edit_reverifies_only_that_file_and_skip_vector_db(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    versions = _copy(FIXTURE, tmp_path)
    cfg = _config(tmp_path, url, "pgvector", versions)
    first = _cli(cfg, "verify")
    assert first.code == 4, first.text

    edited = versions / "20250304_001_note_index_left_behind.yaml"
    edited.write_text(edited.read_text().replace("downgrade: []", "downgrade:\n  - create_index:\n      collection: "
                                                 "note\n      index: {index_type: HNSW, metric: COSINE, params: "
                                                 "{M: 16, efConstruction: 64}}"))
    again = _cli(cfg, "verify")
    assert again.code == 4, again.text
    assert "verifying 1 vector migration(s) up, down and up again; 5 cached" in again.err
    assert re.findall(r"\[\d+/\d+\] vector:(\w+)", again.err) == ["20250304_001"]
    verdicts, summary = _vector_lines(again.out)
    assert verdicts["20250304_001"] == "ok"  # its downgrade now puts the HNSW index back
    assert all(line.endswith("(cached)") for v, line in verdicts.items() if v != "20250304_001"), again.out
    assert summary.startswith("6 vector migrations: 3 ok, 1 downgrade fails, 1 downgrade incomplete, 1 half-commits; "
                              "5 cached; ")

    relational_only = _cli(cfg, "verify", "--skip-vector-db")
    assert relational_only.code == 0, relational_only.text
    assert "vector" not in relational_only.out
    assert relational_only.out.splitlines()[-1].startswith("10 revisions: 10 ok; 10 cached; ")
    as_json = json.loads(_cli(cfg, "verify", "--skip-vector-db", "--json").out)
    assert set(as_json) == {"ok", "verdicts", "summary", "exit"} and as_json["ok"] is True


def test_a_vector_file_that_does_not_load_is_one_line_before_anything_runs(tmp_path: Path) -> None:
    versions = _copy(FIXTURE, tmp_path)
    broken = versions / "20250303_001_restore_in_wrong_order.yaml"
    broken.write_text(broken.read_text().replace("drop_collection: {name: image_v2}", "drop_collection: {name: nope}"))
    cfg = _config(tmp_path, "postgresql://nobody@127.0.0.1:1/nothing", "pgvector", versions)
    result = _cli(cfg, "verify")
    assert result.code == 2, result.text
    assert result.out == "" and len(result.err.splitlines()) == 1, result.text
    assert "20250303_001_restore_in_wrong_order.yaml" in result.err and "'nope' does not exist" in result.err
    assert not (tmp_path / "state" / "verify").exists()


def test_vector_plans_show_verdicts_and_refuse_broken_steps(pg_db: tuple[str, str], tmp_path: Path) -> None:
    """After verify, a vector downgrade through 20250303_001 (its down fails) shows the verdicts,
    is refused (exit 3, audited, nothing changed) and runs with --allow-broken."""
    url, admin = pg_db
    cfg = _config(tmp_path, url, "pgvector", _copy(FIXTURE, tmp_path))
    assert _cli(cfg, "vector", "upgrade", "20250303_001", "--yes").code == 0
    assert _cli(cfg, "verify").code == 4

    dry = _cli(cfg, "vector", "downgrade", "20250301_001", "--dry-run")
    assert dry.code == 0, dry.text
    assert "20250303_001  " in dry.out and "[BROKEN downgrade]" in dry.out, dry.out
    assert "BROKEN downgrade: cannot create images" in dry.out and "(verified on PostgreSQL" in dry.out
    assert "20250302_001" in dry.out and "[incomplete downgrade]" in dry.out
    steps = {s["version"]: s for s in json.loads(_cli(cfg, "vector", "downgrade", "20250301_001", "--dry-run",
                                                      "--json").out)["steps"]}
    assert steps["20250303_001"]["broken"] and steps["20250303_001"]["verdict"].startswith("BROKEN downgrade")

    refused = _cli(cfg, "vector", "downgrade", "20250301_001", "--yes")
    assert refused.code == 3 and "pass --allow-broken to run it anyway" in refused.err, refused.text
    assert len(refused.err.strip().splitlines()[-1:]) == 1
    assert pg_scalar(admin, "SELECT count(*) FROM migctl_audit WHERE action = 'vector downgrade' "
                            "AND outcome = 'refused' AND error LIKE '%20250303_001 which is BROKEN%'") == 1
    assert pg_scalar(admin, "SELECT max(version) FROM vector_db_migrations WHERE status = 'applied'") == "20250303_001"

    # With --allow-broken it runs, and fails where verify said it would.
    allowed = _cli(cfg, "vector", "downgrade", "20250302_001", "--yes", "--allow-broken")
    assert allowed.code == 1, allowed.text
    assert 'vector migration 20250303_001 (down) failed at create collection images' in allowed.err
    assert 'relation "images" already exists' in allowed.err and "pass --allow-broken" not in allowed.text
