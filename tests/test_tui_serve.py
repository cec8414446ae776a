"""``migctl serve``: the console for a browser through textual-serve."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from migctl.core.embedded import free_port
from tests.support import APP_PASSWORD, MIGCTL, clean_env, reference_project


def test_serve_answers_a_browser_and_keeps_the_password_out(tmp_path: Path) -> None:
    reference_project(tmp_path)
    port = free_port()
    url = f"postgresql://app:{APP_PASSWORD}@127.0.0.1:1/nowhere"  # never connected to: nobody opens the page
    proc = subprocess.Popen([MIGCTL, "serve", "--port", str(port), "--database-url", url], cwd=tmp_path,
                            env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as resp:
                    assert resp.status == 200
                    page = resp.read().decode()
                    break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert "migctl" in page, page[:500]
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "migctl.tui.cli tui" in out, out
    assert APP_PASSWORD not in out and APP_PASSWORD not in page
