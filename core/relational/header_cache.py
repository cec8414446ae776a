"""A cache of parsed revision headers, so a long chain's history shows at once.

Each revision file is parsed once per (path, size, mtime_ns); later reads take the header
from ``<state_dir>/cache/revisions-<hash of the directories>.json``. A file that changed is
parsed again; a cache that cannot be read or written is ignored (it only saves time).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from migctl.core.relational.graph import RevisionNode, parse_revision_file

_VERSION = 1


class HeaderCache:
    def __init__(self, cache_dir: Path, version_dirs: list[Path]) -> None:
        key = hashlib.sha256("\n".join(str(d.resolve()) for d in version_dirs).encode()).hexdigest()[:16]
        self.path = cache_dir / f"revisions-{key}.json"
        self.entries: dict[str, list[Any]] = {}
        self.dirty = False
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("version") == _VERSION:
                self.entries = data["files"]
        except (OSError, ValueError, KeyError, TypeError):
            self.entries = {}

    def parse(self, path: Path) -> RevisionNode | None:
        """The header of ``path``, from the cache when the file is unchanged."""
        try:
            st = os.stat(path)
        except OSError:
            return parse_revision_file(path)
        stamp = [st.st_size, st.st_mtime_ns]
        entry = self.entries.get(str(path))
        if entry is not None and entry[0] == stamp:
            fields = entry[1]
            if fields is None:
                return None
            return RevisionNode(id=fields[0], down_revisions=tuple(fields[1]), branch_labels=tuple(fields[2]),
                                depends_on=tuple(fields[3]), message=fields[4], create_date=fields[5], path=path)
        node = parse_revision_file(path)
        self.entries[str(path)] = [stamp, None if node is None else [
            node.id, list(node.down_revisions), list(node.branch_labels), list(node.depends_on), node.message,
            node.create_date]]
        self.dirty = True
        return node

    def save(self, keep: set[str]) -> None:
        """Write the cache (only the files still there) when anything was parsed anew."""
        if not self.dirty and set(self.entries) <= keep:
            return
        entries = {k: v for k, v in self.entries.items() if k in keep}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"version": _VERSION, "files": entries}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass
