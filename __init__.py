"""migctl: one operator console for Alembic schemas and vector collections.

This file is the ``migctl`` package's own: the repository root installs as the package (see
README, "Layout"), with ``core`` and ``tui`` as its subpackages and the reference project as
package data.
"""

from __future__ import annotations


def __getattr__(name: str) -> str:
    # Looked up on demand: importlib.metadata costs every command's start-up a noticeable share.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("migctl")
        except PackageNotFoundError:  # a checkout that was never installed
            return "0+unknown"
    raise AttributeError(f"module 'migctl' has no attribute {name!r}")
