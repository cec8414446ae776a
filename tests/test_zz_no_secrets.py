"""Runs last (file order): nothing the suite's CLI runs printed or logged contains a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import APP_PASSWORD, CLI_OUTPUT, make_project, run_cli, write_config

SECRETS = (APP_PASSWORD, "Wrong-Secret-pw", "pw-unreachable", "Hidden-Token-9", "Wrong-Token-77")


def test_no_password_in_any_cli_output_or_log(pg_db: tuple[str, str], tmp_path: Path,
                                              tmp_path_factory: pytest.TempPathFactory) -> None:
    url, _ = pg_db
    cfg = write_config(tmp_path, url, ini=make_project(tmp_path, "failing"))
    # Make sure this test sees password-bearing runs even when it runs alone.
    for args in (("status",), ("status", "--json"), ("upgrade", "--yes"), ("upgrade", "--dry-run"),
                 ("audit", "--json"), ("--log-level", "debug", "upgrade", "--yes")):
        run_cli("--config", str(cfg), *args, cwd=tmp_path)
    run_cli("--database-url", url.replace(APP_PASSWORD, "Wrong-Secret-pw"), "status", cwd=tmp_path)

    assert len(CLI_OUTPUT) >= 7
    joined = "\n".join(CLI_OUTPUT)
    assert "app:***@" in joined, "password-bearing URLs were shown, masked"
    for secret in SECRETS:
        assert secret not in joined, f"{secret!r} leaked into CLI output"

    logs = list(tmp_path_factory.getbasetemp().rglob("migrations.log"))
    assert logs, "operations are logged to a file"
    for log in logs:
        text = log.read_text(errors="replace")
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into {log}"
