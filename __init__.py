"""migctl: one operator console for Alembic schemas and vector collections.

This file is the ``migctl`` package's own: the repository root installs as the package (see
README, "Layout"), with ``core`` and ``tui`` as its subpackages and the reference project as
package data.
"""

from __future__ import annotations


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("migctl")
    except PackageNotFoundError:  # a checkout that was never installed
        return "0+unknown"


__version__ = _version()
