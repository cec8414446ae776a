"""Verify verdicts kept in the state dir, keyed by each revision file's sha256.

A verdict holds for the bytes that were verified: an edited file has another digest, so it
reads as "not verified" until ``migctl verify`` runs again. One JSON file, rewritten whole
(write to a temporary file, then rename) under an advisory lock, so two walks at once keep
both their results and a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from migctl.core.relational.assessment import Verdict
from migctl.core.relational.state import file_sha256

FORMAT = 2  # 2: keyed by the kind of server too (1 kept one verdict per file for all kinds)
# The kind of server a verdict holds for, by SQLAlchemy backend name or vector store.
KINDS = {"postgresql": "postgresql", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql",
         "milvus": "milvus", "pgvector": "postgresql"}


def kind_of(server: str) -> str:
    """The kind of server a verdict's ``server`` names (``PostgreSQL 18.6 (embedded)`` ->
    ``postgresql``, ``MariaDB 10.11`` -> ``mysql``, ``Milvus Lite 3.2`` -> ``milvus``)."""
    word = (server.split() or [""])[0].lower()
    return KINDS.get(word, word)


def backend_of(url: str) -> str | None:
    """The SQLAlchemy backend name of ``url`` (``None`` when it cannot be parsed)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        return None


class VerdictCache:
    def __init__(self, state_dir: Path) -> None:
        self.directory = Path(state_dir) / "verify"
        self.path = self.directory / "verdicts.json"

    @staticmethod
    def key(revision: str, sha256: str, kind: str) -> str:
        """One verdict per file and kind of server: verifying on SQLite must not replace what
        a PostgreSQL walk found (a broken downgrade there would stop being refused)."""
        return f"{revision}:{sha256}:{kind}"

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none yet, or unreadable: every revision reads as not verified
        entries = data.get("entries") if isinstance(data, dict) and data.get("format") == FORMAT else None
        return entries if isinstance(entries, dict) else {}

    def get(self, revision: str, sha256: str, backend: str) -> Verdict | None:
        entry = self._read().get(self.key(revision, sha256, KINDS.get(backend, backend)))
        return Verdict.from_dict(entry) if isinstance(entry, dict) else None

    def for_files(self, files: Mapping[str, str | Path], digests: Mapping[str, str] | None = None,
                  *, backend: str | None = None) -> dict[str, Verdict]:
        """Verdicts by revision for the files as they are now (``files``: path by revision;
        ``digests``: sha256 by path already computed, e.g. ``AlembicProject.file_digests``).
        ``backend`` (a SQLAlchemy backend name or a vector store): only verdicts obtained on that
        kind of server, since one state dir serves every environment and SQLite's verdict says
        nothing about PostgreSQL's behaviour; ``None``: any kind (the last one found)."""
        entries = self._read()
        if not entries:
            return {}
        known = digests or {}
        kind = KINDS.get(backend, backend) if backend else None
        by_file: dict[str, dict[str, Any]] = {}
        if kind is None:
            for key, entry in entries.items():
                by_file[key.rsplit(":", 1)[0]] = entry
        found: dict[str, Verdict] = {}
        for revision, path in files.items():
            try:
                sha = known.get(str(path)) or file_sha256(path)
            except OSError:
                continue
            entry = entries.get(self.key(revision, sha, kind)) if kind else by_file.get(f"{revision}:{sha}")
            if isinstance(entry, dict):
                found[revision] = Verdict.from_dict(entry)
        return found

    def put_many(self, verdicts: Iterable[Verdict]) -> None:
        new = {self.key(v.revision, v.sha256, kind_of(v.server)): v.as_dict() for v in verdicts}
        if not new:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked():
            entries = self._read()
            entries.update(new)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".verdicts-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    json.dump({"format": FORMAT, "entries": entries}, fh, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
