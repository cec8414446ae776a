"""Compiled revision files kept in migctl's state directory.

Alembic executes every revision file of a project on every command. Python caches the
compiled code in ``__pycache__`` beside each file, but not where ``PYTHONDONTWRITEBYTECODE``
is set (containers, CI images) or the project directory is read-only: there a 1,000-revision
chain is compiled from source on every run. migctl keeps the code objects of the revision
files in one file, ``<state_dir>/cache/bytecode-<hash of the script location>.bin``, keyed by
path and the sha256 of the file's bytes (not its mtime, which ``tar``, ``rsync -a`` or a
reproducible build can leave unchanged across an edit), and by the interpreter's magic number
and optimisation level. It writes no ``__pycache__`` for the revision files it loads. A cache
that cannot be read or written is ignored: it only saves time.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

_TAG = importlib.util.MAGIC_NUMBER + bytes([sys.flags.optimize])


class BytecodeCache:
    def __init__(self, cache_dir: Path, script_location: Path) -> None:
        key = hashlib.sha256(str(script_location.resolve()).encode()).hexdigest()[:16]
        self.path = cache_dir / f"bytecode-{key}.bin"
        self.entries: dict[str, tuple[str, bytes]] = {}
        self.digests: dict[str, str] = {}  # sha256 of each file loaded this time, by path
        self.used: set[str] = set()
        self.dirty = False
        try:
            data = self.path.read_bytes()
            if data[:len(_TAG)] == _TAG:
                loaded = marshal.loads(data[len(_TAG):])
                if isinstance(loaded, dict):
                    self.entries = loaded
        except (OSError, ValueError, EOFError, TypeError):
            self.entries = {}

    def code(self, path: str) -> CodeType:
        """The code of ``path``: from the cache when the file's bytes are unchanged, else compiled."""
        with open(path, "rb") as fh:
            source = fh.read()
        digest = hashlib.sha256(source).hexdigest()
        self.used.add(path)
        self.digests[path] = digest
        try:
            cached_digest, blob = self.entries[path]
            if cached_digest == digest:
                code = marshal.loads(blob)
                if isinstance(code, CodeType):
                    return code
        except (KeyError, ValueError, EOFError, TypeError):
            pass
        code = compile(source, path, "exec", dont_inherit=True)
        self.entries[path] = (digest, marshal.dumps(code))
        self.dirty = True
        return code

    def save(self) -> None:
        """Write the cache (only the files loaded this time) when anything was compiled anew."""
        if not self.dirty and set(self.entries) <= self.used:
            return
        entries = {k: v for k, v in self.entries.items() if k in self.used}
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(_TAG + marshal.dumps(entries))
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


class _CachedLoader(importlib.machinery.SourceFileLoader):
    """A source loader whose code comes from a :class:`BytecodeCache`."""

    def __init__(self, fullname: str, path: str, cache: BytecodeCache) -> None:
        super().__init__(fullname, path)
        self.cache = cache

    def get_code(self, fullname: str) -> CodeType:
        return self.cache.code(self.get_filename(fullname))


@contextlib.contextmanager
def cached_revision_loading(cache_dir: Path | None, script_location: Path) -> Iterator[dict[str, str]]:
    """While active, Alembic loads ``.py`` files through the cache (``None``: unchanged).
    Yields the sha256 of each file loaded, by path: the bytes that were compiled, which is
    what migctl records as an applied revision's checksum.

    Alembic loads every script through ``alembic.util.pyfiles.load_module_py``; the caller
    holds ``ALEMBIC_RUN_LOCK``, so no other thread sees the swap half-done."""
    if cache_dir is None:
        yield {}
        return
    from alembic.util import pyfiles

    cache = BytecodeCache(cache_dir, script_location)
    original = pyfiles.load_module_py

    def load_module_py(module_id: str, path: Any) -> ModuleType:
        if not str(path).endswith(".py"):
            return original(module_id, path)
        loader = _CachedLoader(module_id, str(path), cache)
        spec = importlib.util.spec_from_file_location(module_id, path, loader=loader)
        assert spec is not None
        module = importlib.util.module_from_spec(spec)
        loader.exec_module(module)
        return module

    pyfiles.load_module_py = load_module_py
    try:
        yield cache.digests
    finally:
        pyfiles.load_module_py = original
        cache.save()
