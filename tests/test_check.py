"""``migctl check`` (the CI gate), the pre-commit hook that runs it, ``--json`` failures as one
object, and shell completion."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import (
    CLI_OUTPUT,
    MIGCTL,
    REPO,
    clean_env,
    make_project,
    pg_scalar,
    reap,
    run_cli,
    spawn_lock_holder,
    write_config,
)

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nothing"  # offline checks must never connect
SMALL = ["aaa111aaa111", "bbb222bbb222", "ccc333ccc333"]


def _check(cfg: Path, *args: str):
    return run_cli("--config", str(cfg), "check", *args, cwd=cfg.parent)


def _json(result) -> dict:
    data = json.loads(result.out)  # the whole of stdout is one object
    assert isinstance(data, dict), result.out
    return data


def _add_config(cfg: Path, text: str) -> None:
    cfg.write_text(cfg.read_text() + text)


def test_check_pending_clean_and_edited_on_postgres(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini)

    pending = _check(cfg, "--skip-vector-db")
    assert pending.code == 4, pending.text
    assert pending.out.splitlines() == [f"pending: 3 revisions ({', '.join(SMALL)})"]
    assert pending.err.strip() == "migctl: check failed: 1 finding(s)"
    data = _json(_check(cfg, "--skip-vector-db", "--json"))
    assert data["exit"] == 4 and data["ok"] is False and data["current"] == []
    assert [(f["kind"], f["items"]) for f in data["findings"]] == [("pending", SMALL)]

    assert run_cli("--config", str(cfg), "upgrade", "--yes", cwd=tmp_path).code == 0
    clean = _check(cfg, "--skip-vector-db")
    assert clean.code == 0, clean.text
    assert clean.out.startswith("ok: test at ccc333ccc333; 1 head(s)")
    data = _json(_check(cfg, "--skip-vector-db", "--json"))
    assert (data["exit"], data["findings"], data["current"], data["vector"]) == (0, [], ["ccc333ccc333"], "skipped")

    applied = next((ini.parent / "migrations" / "versions").glob("0002_*"))
    applied.write_text(applied.read_text() + "\n# edited after it ran\n")
    shown = applied.resolve().relative_to(tmp_path.resolve())  # relative to where check runs
    edited = _check(cfg, "--skip-vector-db")
    assert edited.code == 4, edited.text
    assert edited.out.splitlines() == [f"edited since applied: bbb222bbb222 ({shown})"]
    data = _json(_check(cfg, "--skip-vector-db", "--json"))
    assert data["exit"] == 4 and data["error"] == "check failed: 1 finding(s)"
    assert [(f["kind"], f["text"]) for f in data["findings"]] == [
        ("edited", f"edited since applied: bbb222bbb222 ({shown})")]


def test_check_two_heads_online_offline_and_max_heads(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = make_project(tmp_path, "branches")
    cfg = write_config(tmp_path, url, ini=ini)
    assert run_cli("--config", str(cfg), "upgrade", "heads", "--yes", cwd=tmp_path).code == 0

    two = _check(cfg, "--skip-vector-db")
    assert two.code == 4, two.text
    assert two.out.splitlines() == ["heads: 2 (e1e1e1e1e1e1, f1f1f1f1f1f1)"]  # at both heads: nothing pending
    data = _json(_check(cfg, "--skip-vector-db", "--json"))
    assert data["exit"] == 4
    assert [(f["kind"], f["items"]) for f in data["findings"]] == [("heads", ["e1e1e1e1e1e1", "f1f1f1f1f1f1"])]

    (tmp_path / "off").mkdir()
    offline_cfg = write_config(tmp_path / "off", UNREACHABLE, ini=ini)
    offline = _check(offline_cfg, "--offline", "--skip-vector-db")
    assert (offline.code, offline.out.splitlines()) == (4, ["heads: 2 (e1e1e1e1e1e1, f1f1f1f1f1f1)"]), offline.text

    _add_config(cfg, "check:\n  max_heads: 2\n")
    assert _check(cfg, "--skip-vector-db").code == 0
    _add_config(offline_cfg, "check:\n  max_heads: two\n")
    bad = _check(offline_cfg, "--offline", "--skip-vector-db")
    assert bad.code == 2 and "line 9: check.max_heads: expected a whole number, not a string 'two'" in bad.err, bad.text


def test_check_offline_needs_no_database_and_loads_every_file(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, UNREACHABLE, ini=ini)
    ok = _check(cfg, "--offline", "--skip-vector-db")
    assert ok.code == 0, ok.text
    assert ok.out.startswith("ok: test files; 1 head(s)")
    assert not (tmp_path / "state" / "milvus.db").exists()

    broken = next((ini.parent / "migrations" / "versions").glob("0003_*"))
    broken.write_text(broken.read_text() + "\nraise RuntimeError('half-written revision')\n")
    failed = _check(cfg, "--offline", "--skip-vector-db", "--json")
    data = _json(failed)
    assert failed.code == 4 and data["exit"] == 4
    assert [f["kind"] for f in data["findings"]] == ["load"]
    assert "half-written revision" in data["findings"][0]["text"]


def _milvus_lite_project(tmp_path: Path, url: str) -> tuple[Path, Path]:
    """The reference project with Milvus Lite in ``tmp_path`` and its own copy of the vector
    migrations (returned beside the config, for a test to edit)."""
    from migctl.core.config import PROJECT_ROOT

    versions = tmp_path / "versions"
    shutil.copytree(PROJECT_ROOT / "vector_migrations" / "versions", versions)
    cfg = tmp_path / "migctl.yaml"
    cfg.write_text(
        f"default_environment: t\nstate_dir: {tmp_path / 'state'}\nenvironments:\n  t:\n"
        f'    database_url: "{url}"\n    alembic:\n      script_location: {PROJECT_ROOT / "alembic"}\n'
        f"    vector:\n      store: milvus\n      uri: {tmp_path / 'milvus.db'}\n      migrations_dir: {versions}\n"
        f"      templates: {PROJECT_ROOT / 'vector_migrations' / 'templates.yaml'}\n")
    return cfg, versions


def test_check_offline_finds_a_vector_fork(tmp_path: Path) -> None:
    cfg, versions = _milvus_lite_project(tmp_path, UNREACHABLE)
    assert _check(cfg, "--offline").code == 0
    second = versions / "20250120_001_documents_alias.yaml"
    fork = versions / "20250121_001_other_alias.yaml"
    fork.write_text(second.read_text().replace("20250120_001", "20250121_001"))
    result = _check(cfg, "--offline")
    assert result.code == 4, result.text
    lines = result.out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vector fork: ")
    assert "20250120_001_documents_alias.yaml" in lines[0] and "20250121_001_other_alias.yaml" in lines[0]
    assert "all depend on 20250115_001" in lines[0]
    assert _check(cfg, "--offline", "--skip-vector-db").code == 0
    assert not (tmp_path / "milvus.db").exists() and not (tmp_path / "state" / "milvus.db").exists()


@pytest.mark.slow
def test_check_vector_drift_on_milvus_lite(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    cfg, versions = _milvus_lite_project(tmp_path, url)
    before = _check(cfg)
    assert before.code == 4, before.text
    assert before.out.splitlines()[-1] == ("vector pending: 4 migrations (20250108_001, 20250115_001, "
                                           "20250120_001, 20250201_001)")
    migrated = run_cli("--config", str(cfg), "migrate", "--yes", cwd=tmp_path)
    assert migrated.code == 0, migrated.text
    clean = _check(cfg)
    assert clean.code == 0, clean.text
    assert clean.out.rstrip().endswith("vector checked")

    first = versions / "20250108_001_create_document_and_image.yaml"
    first.write_text(first.read_text().replace("template: image", "template: chunk"))
    drift = _check(cfg)
    assert drift.code == 4, drift.text
    lines = drift.out.splitlines()
    # the edited file, then how the live store differs from the state the edited file declares
    assert lines[0] == "vector drift: 20250108_001 edited since applied (20250108_001_create_document_and_image.yaml)"
    assert "vector drift: image.chunk_index: field missing" in lines  # a field of the chunk template
    assert all(line.startswith("vector drift: ") for line in lines)
    data = _json(_check(cfg, "--json"))
    assert data["exit"] == 4 and data["vector"] == "checked"
    assert {f["kind"] for f in data["findings"]} == {"vector drift"}
    assert data["findings"][0]["items"] == ["20250108_001"]
    assert _check(cfg, "--skip-vector-db").code == 0  # the relational side is clean

    first.write_text(first.read_text().replace("template: chunk", "template: image"))
    from tests.vector_support import VectorTarget, run_with_store

    def drop(store):
        return store.drop_collection("image")

    run_with_store(VectorTarget("milvus-lite", cfg, url, "milvus", str(tmp_path / "milvus.db")), drop)
    live = _check(cfg, "--json")
    data = _json(live)
    assert live.code == 4 and data["exit"] == 4
    assert [f["text"] for f in data["findings"]] == ["vector drift: collection image is missing"]


# -- the pre-commit hook ---------------------------------------------------------------------

def _run_hook(repo: Path) -> subprocess.CompletedProcess[str]:
    """Run the hook as pre-commit would: its entry plus args, in the repository, no file names."""
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "migctl-check")
    assert hook["pass_filenames"] is False and hook["language"] == "python"
    argv = shlex.split(hook["entry"]) + list(hook.get("args", []))
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True, timeout=120)


def test_pre_commit_hook_on_a_fixture_repository(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    ini = make_project(repo, "small")
    write_config(repo, UNREACHABLE, ini=ini)  # repo/migctl.yaml, found in the working directory
    clean = _run_hook(repo)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    versions = ini.parent / "migrations" / "versions"
    side = (versions / "0003_ccc333_add_note.py").read_text()
    (versions / "0004_ddd444_side.py").write_text(
        side.replace('"ccc333ccc333"', '"ddd444ddd444"').replace("ccc333ccc333\n", "ddd444ddd444\n"))
    two = _run_hook(repo)
    assert two.returncode == 4, two.stdout + two.stderr
    assert two.stdout.splitlines() == ["heads: 2 (ccc333ccc333, ddd444ddd444)"]


def test_ci_example_workflow_runs_check_against_a_service_database() -> None:
    workflow = yaml.safe_load((REPO / "docs" / "github-actions.yml").read_text())
    job = workflow["jobs"]["migctl"]
    assert job["services"]["postgres"]["image"].startswith("postgres:")
    runs = [step.get("run", "") for step in job["steps"]]
    assert "migctl check --offline" in runs and "migctl check" in runs
    assert job["env"]["DATABASE_URL"].startswith("postgresql://")


# -- --json failures -------------------------------------------------------------------------

def _json_failure(result, code: int) -> str:
    assert result.code == code, result.text
    data = _json(result)
    assert set(data) == {"error", "exit"} and data["exit"] == code, data
    lines = [ln for ln in result.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("migctl: "), result.err
    return data["error"]


def test_json_failures_are_one_object_on_stdout(pg_db: tuple[str, str], tmp_path: Path) -> None:
    url, _ = pg_db
    ini = make_project(tmp_path, "small")
    cfg = write_config(tmp_path, url, ini=ini)
    base = ("--config", str(cfg))

    usage = run_cli(*base, "upgrade", "--json", "--no-such-flag", cwd=tmp_path)
    assert "unrecognized arguments: --no-such-flag" in _json_failure(usage, 2)
    assert "'chek'" in _json_failure(run_cli("--json", "chek", cwd=tmp_path), 2)
    assert _json_failure(run_cli("--json", cwd=tmp_path), 2).startswith("no command given")

    unknown = run_cli(*base, "upgrade", "deadbeef0000", "--yes", "--json", cwd=tmp_path)
    assert "deadbeef0000" in _json_failure(unknown, 2)

    refused = run_cli(*base, "upgrade", "--json", cwd=tmp_path)  # no --yes, no terminal
    assert _json_failure(refused, 3).startswith("refused: no terminal to confirm on")

    down = run_cli("--database-url", UNREACHABLE, "--config", str(cfg), "status", "--json", cwd=tmp_path)
    assert _json_failure(down, 1)

    missing = run_cli("--config", str(tmp_path / "nope.yaml"), "current", "--json", cwd=tmp_path)
    assert "nope.yaml" in _json_failure(missing, 2)

    reset = run_cli(*base, "reset", "--skip-vector-db", "--json", cwd=tmp_path)
    assert reset.code == 3, reset.text
    data = _json(reset)
    assert (data["exit"], data["error"]) == (3, "refused: reset needs --confirm-reset; nothing was changed")
    assert "plan" in data


def test_json_interrupt_while_waiting_for_the_lock(pg_db: tuple[str, str], tmp_path: Path) -> None:
    import signal
    import time

    url, admin = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "small"))
    holder = spawn_lock_holder(url, seconds=60)
    proc = subprocess.Popen([MIGCTL, "--config", str(cfg), "upgrade", "--yes", "--json", "--lock-timeout", "60"],
                            cwd=tmp_path, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 30
        # the waiter has tried and looked up who holds the lock
        while time.monotonic() < deadline and not pg_scalar(
                admin, "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                       "AND query LIKE '%FROM pg_locks l JOIN pg_stat_activity%'"):
            time.sleep(0.2)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        reap([proc, holder])
    CLI_OUTPUT.append(out + err)
    assert proc.returncode == 130, err
    data = json.loads(out)
    assert data["exit"] == 130 and "interrupted" in data["error"], out
    assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    assert pg_scalar(admin, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'accounts'") == 0


# -- shell completion --------------------------------------------------------------------------

def test_completion_scripts(tmp_path: Path) -> None:
    bash = run_cli("completion", "bash", cwd=tmp_path)
    assert bash.code == 0 and "migctl" in bash.out, bash.text
    script = tmp_path / "migctl.bash"
    script.write_text(bash.out)
    assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0
    # The script asks migctl itself (argcomplete): complete "migctl c" and "migctl completion ".
    probe = (f"source {shlex.quote(str(script))}\n"
             'complete_line() { COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}; read -ra COMP_WORDS <<< "$1"; '
             '[[ "$1" == *" " ]] && COMP_WORDS+=(""); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_TYPE=9; '
             'COMPREPLY=(); _python_argcomplete migctl; echo "${COMPREPLY[*]}"; }\n'
             'complete_line "migctl c"\ncomplete_line "migctl completion "\n')
    env = clean_env(PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    commands, shells = out.stdout.splitlines()
    assert {"check", "completion", "collections", "current"} <= set(commands.split()), out
    assert {w for w in shells.split() if not w.startswith("-")} == {"bash", "zsh", "fish"}, out
    for shell, marker in (("zsh", "#compdef migctl"), ("fish", "complete --command migctl")):
        result = run_cli("completion", shell, cwd=tmp_path)
        assert result.code == 0 and marker in result.out, result.text
    assert run_cli("completion", "tcsh", cwd=tmp_path).code == 2
