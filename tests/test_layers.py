"""The import contracts in pyproject.toml hold, and fail when a shell reaches past the front door."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))


def _copy_of_the_package(tmp: Path) -> Path:
    """The migctl package's code in ``tmp/migctl``, found before the installed one through
    PYTHONPATH (the editable install's finder comes after the path)."""
    package = tmp / "migctl"
    package.mkdir()
    for name in ("__init__.py", "__main__.py"):
        shutil.copy(REPO / name, package / name)
    for folder in ("core", "tui"):
        shutil.copytree(REPO / folder, package / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return package


def _lint(pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([LINT_IMPORTS, "--no-cache"], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize(("module", "contract"), [
    ("migctl.core.ops.reset", "shells and applications import only the front door, errors and events"),
    ("migctl.core.relational.project", "shells and applications import only the front door, errors and events"),
    ("migctl.core.vector.settings", "shells and applications import only the front door, errors and events"),
])
def test_a_shell_importing_core_internals_breaks_the_contract(tmp_path: Path, module: str, contract: str) -> None:
    package = _copy_of_the_package(tmp_path)
    clean = _lint(tmp_path)
    assert clean.returncode == 0, clean.stdout[-2000:]
    assert "Contracts: 4 kept, 0 broken." in clean.stdout

    (package / "tui" / "probe.py").write_text(f"import {module}  # noqa: F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert f"{contract} BROKEN" in broken.stdout
    assert f"migctl.tui.probe -> {module}" in broken.stdout


def test_the_console_importing_the_command_line_breaks_its_contract(tmp_path: Path) -> None:
    package = _copy_of_the_package(tmp_path)
    (package / "tui" / "console" / "probe.py").write_text("import migctl.tui.cli.main  # noqa: F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "the console never imports the command line BROKEN" in broken.stdout
    assert "migctl.tui.console.probe -> migctl.tui.cli.main" in broken.stdout


def test_an_operation_importing_the_front_door_breaks_the_layers(tmp_path: Path) -> None:
    package = _copy_of_the_package(tmp_path)
    (package / "core" / "ops" / "probe.py").write_text("import migctl.core.api  # noqa: F401\n")
    broken = _lint(tmp_path)
    assert broken.returncode != 0
    assert "layers: shells and applications, front door, operations, relational/vector," in broken.stdout
    assert "migctl.core.ops.probe -> migctl.core.api" in broken.stdout


def test_the_front_door_offers_every_name_it_lists() -> None:
    import migctl.core.api as api

    for name in api.__all__:
        assert getattr(api, name) is not None, name
    assert api.ResetPlan.__module__ == "migctl.core.ops.reset"
    with pytest.raises(AttributeError):
        _ = api.NoSuchThing
