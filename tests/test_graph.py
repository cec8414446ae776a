"""The history graph agrees with Alembic's own CLI on a project with branches and a merge."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from migctl.core.config import AlembicLocation
from migctl.core.relational.graph import read_graph
from migctl.core.relational.project import AlembicProject, graph_from_script
from tests.support import ALEMBIC, make_project, run_cli, write_config

HISTORY_LINE = re.compile(r"^(?P<downs><base>|[\w, ]+?)(?: \((?P<deps>[\w, ]+)\))? -> (?P<rev>\w+)")


def _alembic(ini: Path, *args: str) -> str:
    return subprocess.run([ALEMBIC, "-c", str(ini), *args], capture_output=True, text=True, check=True).stdout


def _parents_from_alembic_history(text: str) -> dict[str, set[str]]:
    parents: dict[str, set[str]] = {}
    for line in text.splitlines():
        m = HISTORY_LINE.match(line.strip())
        if m:
            downs = "" if m["downs"] == "<base>" else m["downs"]
            parents[m["rev"]] = {d.strip() for d in downs.split(",") if d.strip()}
    return parents


def test_graph_matches_alembic_cli(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "branches")
    cfg = write_config(tmp_path, "sqlite:///" + str(tmp_path / "unused.db"), ini=ini)

    alembic_heads = {line.split()[0] for line in _alembic(ini, "heads").splitlines() if line.strip()}
    alembic_branch_points = {
        m.group(1) for m in re.finditer(r"^(\w+) .*\(branchpoint\)", _alembic(ini, "branches"), re.MULTILINE)
    }
    alembic_parents = _parents_from_alembic_history(_alembic(ini, "history"))
    assert len(alembic_parents) == 8 and len(alembic_heads) == 2  # the fixture is what we think it is

    heads = run_cli("--config", str(cfg), "heads", "--json")
    assert heads.code == 0, heads.err
    assert {h["revision"] for h in json.loads(heads.out)} == alembic_heads

    branches = run_cli("--config", str(cfg), "branches", "--json")
    assert {b["revision"] for b in json.loads(branches.out)} == alembic_branch_points

    history = run_cli("--config", str(cfg), "history", "--json")
    nodes = json.loads(history.out)
    assert {n["revision"]: set(n["down_revisions"]) for n in nodes} == alembic_parents
    merge = next(n for n in nodes if n["revision"] == "d1d1d1d1d1d1")
    assert merge["merge_point"] and not merge["head"]
    # newest first: every revision is listed before its parents
    position = {n["revision"]: i for i, n in enumerate(nodes)}
    for n in nodes:
        assert all(position[n["revision"]] < position[p] for p in n["down_revisions"])

    text = run_cli("--config", str(cfg), "history").out
    assert "a2a2a2a2a2a2, c1c1c1c1c1c1 -> d1d1d1d1d1d1 (mergepoint), merge left and right" in text
    assert "b1b1b1b1b1b1 (a1a1a1a1a1a1) -> f1f1f1f1f1f1 (side) (head), side head" in text
    assert re.search(r"^\| \*", text, re.MULTILINE), "a second lane is drawn while two branches are open"


def test_static_reader_agrees_with_alembic_loader(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "branches")
    project = AlembicProject(AlembicLocation(ini.parent / "migrations", ini))
    fast = read_graph(project.version_dirs())
    assert fast is not None
    slow = graph_from_script(project.script())
    def facts(graph):
        return {n.id: (n.down_revisions, n.branch_labels, n.depends_on, n.message, n.is_head, n.is_merge_point)
                for n in graph.nodes}

    assert facts(fast) == facts(slow)
    assert set(fast.heads) == set(slow.heads)


def test_reader_falls_back_when_header_is_computed(tmp_path: Path) -> None:
    ini = make_project(tmp_path, "small")
    versions = ini.parent / "migrations" / "versions"
    path = next(versions.glob("0003*"))
    path.write_text(path.read_text().replace('revision = "ccc333ccc333"', 'revision = "ccc333" + "ccc333"'))
    project = AlembicProject(AlembicLocation(ini.parent / "migrations", ini))
    assert read_graph(project.version_dirs()) is None
    graph = project.graph()
    assert graph.heads == ("ccc333ccc333",)


def test_header_literals_read_as_python_reads_them() -> None:
    """The fast paths for plain strings and a merge's tuple of them agree with ast."""
    import ast

    from migctl.core.relational.graph import _literal

    for value in ['"abc"', "'abc'  # note", '("a", "b")', "('a', 'b',)", '["a"]', '("a")', '("a,b", "c")',
                  "('a', 'b')  # merge", '("a\\\\x", "b")', "()", "None"]:
        assert _literal(value) == (lambda v: tuple(v) if isinstance(v, list) else v)(
            ast.literal_eval(value.split("  #")[0])), value
