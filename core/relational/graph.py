"""The revision graph as plain dataclasses, with lanes for drawing it like ``git log --graph``.

Revision files are read as text, not executed: the header assignments Alembic looks for
(``revision``, ``down_revision``, ``branch_labels``, ``depends_on``) are literals in every
file Alembic's templates write. A file where they are not literals makes :func:`read_graph`
return ``None`` so the caller can fall back to Alembic's own loader.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

_ASSIGN = re.compile(
    r"^(?P<name>revision|down_revision|branch_labels|depends_on)\s*(?::[^=\n]*)?=\s*(?P<value>.*)$",
    re.MULTILINE,
)
# The module docstring, escapes included (migctl writes a message's quotes as \" into it).
_DOCSTRING = re.compile(r'^\s*(?P<prefix>[rRuU]?)(?P<q>"""|\'\'\')(?P<doc>(?:\\.|(?!(?P=q)).)*)(?P=q)', re.DOTALL)
_CREATE_DATE = re.compile(r"^Create Date:\s*(?P<date>.+)$", re.MULTILINE)
_SOURCE_FILE = re.compile(r"^(?!\.#|__init__)(.*\.py)$")


@dataclass(frozen=True)
class RevisionNode:
    """One revision, with what the history view needs to draw and describe it."""

    id: str
    down_revisions: tuple[str, ...]
    branch_labels: tuple[str, ...]
    depends_on: tuple[str, ...]
    message: str
    create_date: str | None
    path: Path
    children: tuple[str, ...] = ()
    is_head: bool = False
    is_base: bool = False
    is_merge_point: bool = False
    is_branch_point: bool = False
    order: int = 0
    lane: int = 0
    lanes_before: tuple[str | None, ...] = ()
    lanes_after: tuple[str | None, ...] = ()


@dataclass(frozen=True)
class RevisionGraph:
    """Revisions newest first (``nodes``), indexed by id; heads and bases in file order."""

    nodes: tuple[RevisionNode, ...]
    by_id: dict[str, RevisionNode] = field(repr=False)
    heads: tuple[str, ...]
    bases: tuple[str, ...]
    width: int

    def __len__(self) -> int:
        return len(self.nodes)

    @property
    def branch_points(self) -> tuple[RevisionNode, ...]:
        return tuple(n for n in self.nodes if n.is_branch_point)

    def ancestors(self, revisions: Iterable[str]) -> set[str]:
        """Every revision reachable from ``revisions`` through down revisions and dependencies."""
        seen: set[str] = set()
        stack = [r for r in revisions if r in self.by_id]
        while stack:
            rev = stack.pop()
            if rev in seen:
                continue
            seen.add(rev)
            node = self.by_id[rev]
            stack.extend(r for r in (*node.down_revisions, *node.depends_on) if r in self.by_id)
        return seen

    def pending(self, current: Iterable[str]) -> list[str]:
        """Revisions between the current revisions and the heads, oldest first."""
        applied = self.ancestors(current)
        return [n.id for n in reversed(self.nodes) if n.id not in applied]

    def graph_prefix(self, node: RevisionNode) -> str:
        """``| * |``-style prefix for a node's row."""
        cells = []
        for i, rev in enumerate(node.lanes_before or (node.id,)):
            if i == node.lane:
                cells.append("M" if node.is_merge_point else "*")
            else:
                cells.append("|" if rev is not None else " ")
        if node.lane >= len(cells):
            cells.extend([" "] * (node.lane - len(cells)) + ["*"])
        return " ".join(cells)


_PLAIN_STRING = re.compile(r"""^(?:"([^"\\\n]*)"|'([^'\\\n]*)')\s*(?:#.*)?$""")
# A merge's parents: a tuple or list of plain strings, also without the cost of ast.
_ITEM = r"""(?:"[^"\\\n]*"|'[^'\\\n]*')"""
_PLAIN_SEQUENCE = re.compile(rf"^[(\[]\s*(?P<items>{_ITEM}(?:\s*,\s*{_ITEM})*)\s*,?\s*[)\]]\s*(?:#.*)?$")
_ITEMS = re.compile(r"""(?:"([^"\\\n]*)"|'([^'\\\n]*)')""")


def _literal(value: str) -> object:
    value = value.strip()
    plain = _PLAIN_STRING.match(value)  # the common case, without the cost of ast
    if plain:
        return plain[1] if plain[1] is not None else plain[2]
    sequence = _PLAIN_SEQUENCE.match(value)
    if sequence and (value[0] == "[" or "," in value):  # ("a") is a string, not a tuple
        return tuple(a or b for a, b in _ITEMS.findall(sequence["items"]))
    if value == "None" or value.startswith("None ") and value[5:].lstrip().startswith("#"):
        return None
    value = value.split("#", 1)[0].strip() if not value.startswith(("'", '"')) else value
    return ast.literal_eval(value)


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(str(v) for v in value)
    raise ValueError(value)


def _docstring(m: re.Match[str]) -> str:
    """The docstring's value, as ``__doc__`` would hold it (escapes decoded)."""
    if "\\" not in m["doc"]:  # nothing to decode: the common case, without a compile
        return m["doc"]
    import ast
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an invalid escape such as "\d" stays as written
        try:
            return str(ast.literal_eval(m["prefix"] + m["q"] + m["doc"] + m["q"]))
        except (ValueError, SyntaxError):
            return m["doc"]


def parse_revision_file(path: Path) -> RevisionNode | None:
    """Read one revision file's header; ``None`` when it is not plain literals."""
    text = path.read_text(encoding="utf-8")
    found: dict[str, object] = {}
    for m in _ASSIGN.finditer(text):
        if m["name"] in found:
            continue
        try:
            found[m["name"]] = _literal(m["value"])
        except (ValueError, SyntaxError):
            return None
    if not isinstance(found.get("revision"), str):
        return None
    doc_match = _DOCSTRING.match(text)
    longdoc = _docstring(doc_match).strip() if doc_match else ""
    message = re.split(r"\n\n", longdoc)[0].strip() if longdoc else ""
    date = _CREATE_DATE.search(longdoc)
    try:
        return RevisionNode(
            id=str(found["revision"]),
            down_revisions=_as_tuple(found.get("down_revision")),
            branch_labels=_as_tuple(found.get("branch_labels")),
            depends_on=_as_tuple(found.get("depends_on")),
            message=message,
            create_date=date["date"].strip() if date else None,
            path=path,
        )
    except ValueError:
        return None


def revision_files(version_dirs: Iterable[Path], recursive: bool = False) -> list[Path]:
    files: list[Path] = []
    for directory in version_dirs:
        if not directory.is_dir():
            continue
        if recursive:
            for root, _dirs, names in os.walk(directory):
                files.extend(Path(root) / n for n in sorted(names) if _SOURCE_FILE.match(n))
        else:
            files.extend(directory / n for n in sorted(os.listdir(directory)) if _SOURCE_FILE.match(n))
    return files


def read_graph(version_dirs: Iterable[Path], recursive: bool = False,
               cache_dir: Path | None = None) -> RevisionGraph | None:
    """Build the graph from the files alone; ``None`` means ask Alembic instead.

    With ``cache_dir``, headers of unchanged files come from a cache there
    (:mod:`core.relational.header_cache`).
    """
    dirs = list(version_dirs)
    parse = parse_revision_file
    cache = None
    if cache_dir is not None:
        from migctl.core.relational.header_cache import HeaderCache

        cache = HeaderCache(cache_dir, dirs)
        parse = cache.parse
    nodes = []
    files = revision_files(dirs, recursive)
    for path in files:
        node = parse(path)
        if node is None:
            if "revision" in path.read_text(encoding="utf-8"):
                return None
            continue
        nodes.append(node)
    ids = {n.id for n in nodes}
    if len(ids) != len(nodes):
        return None
    for n in nodes:
        if any(d not in ids for d in n.down_revisions):
            return None
    if cache is not None:
        cache.save({str(p) for p in files})
    return build_graph(nodes)


def build_graph(nodes: list[RevisionNode]) -> RevisionGraph:
    """Link children, flag heads/bases/branch and merge points, order newest first, lay lanes."""
    children: dict[str, list[str]] = {n.id: [] for n in nodes}
    for n in nodes:
        for d in n.down_revisions:
            if d in children:
                children[d].append(n.id)
    position = {n.id: i for i, n in enumerate(nodes)}
    by_id = {n.id: n for n in nodes}

    # Newest first: a revision is shown only after all of its children (Kahn on the reverse
    # graph); among ready revisions, the one that was a parent of the last shown goes first.
    remaining = {n.id: len(children[n.id]) for n in nodes}
    ready = sorted((r for r, c in remaining.items() if c == 0), key=lambda r: position[r])
    ordered: list[str] = []
    while ready:
        rev = ready.pop()
        ordered.append(rev)
        for d in by_id[rev].down_revisions:
            if d in remaining:
                remaining[d] -= 1
                if remaining[d] == 0:
                    ready.append(d)
    if len(ordered) != len(nodes):  # a cycle: keep file order rather than loop
        ordered = [n.id for n in reversed(nodes)]

    lanes: list[str | None] = []
    result: list[RevisionNode] = []
    for order, rev in enumerate(ordered):
        node = by_id[rev]
        if rev in lanes:
            lane = lanes.index(rev)
        else:
            lane = lanes.index(None) if None in lanes else len(lanes)
            if lane == len(lanes):
                lanes.append(None)
        before = tuple(lanes)
        for i, other in enumerate(lanes):
            if other == rev and i != lane:
                lanes[i] = None
        parents = list(node.down_revisions)
        lanes[lane] = parents[0] if parents else None
        for parent in parents[1:]:
            if parent not in lanes:
                if None in lanes:
                    lanes[lanes.index(None)] = parent
                else:
                    lanes.append(parent)
        while lanes and lanes[-1] is None:
            lanes.pop()
        kids = children[rev]
        result.append(
            RevisionNode(  # built whole: dataclasses.replace costs more than the lanes
                id=node.id,
                down_revisions=node.down_revisions,
                branch_labels=node.branch_labels,
                depends_on=node.depends_on,
                message=node.message,
                create_date=node.create_date,
                path=node.path,
                children=tuple(kids),
                is_head=not kids,
                is_base=not node.down_revisions,
                is_merge_point=len(node.down_revisions) > 1,
                is_branch_point=len(kids) > 1,
                order=order,
                lane=lane,
                lanes_before=before,
                lanes_after=tuple(lanes),
            )
        )
    final = {n.id: n for n in result}
    width = max((len(n.lanes_before) for n in result), default=1)
    heads = tuple(n.id for n in nodes if not children[n.id])
    bases = tuple(n.id for n in nodes if not n.down_revisions)
    return RevisionGraph(tuple(result), final, heads, bases, max(width, 1))
