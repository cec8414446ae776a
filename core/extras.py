"""The optional parts of migctl: which extra brings which package, checked where first needed.

The base install (the relational console and CLI) imports none of these packages; a command
that reaches one asks :func:`require` first, so a missing package is one line naming the extra
to install instead of a ``ModuleNotFoundError`` from deep inside a driver.
"""

from __future__ import annotations

import importlib.util
import sys

from migctl.core.errors import MissingExtra

# SQLAlchemy driver name -> (module it imports, extra that installs it). psycopg and
# sqlite3 come with the base install; drivers migctl never picks are SQLAlchemy's to report.
DRIVER_EXTRAS = {
    "asyncpg": ("asyncpg", "async"),
    "aiosqlite": ("aiosqlite", "async"),
    "pymysql": ("pymysql", "mysql"),
    "aiomysql": ("aiomysql", "mysql"),
}


def installed(module: str) -> bool:
    """Whether ``module``'s top-level package can be imported (found without importing it)."""
    top = module.partition(".")[0]
    if top in sys.modules:
        return True
    try:
        return importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, extra: str, what: str) -> None:
    """Raise :class:`MissingExtra` (exit 2) unless ``module`` is installed."""
    if not installed(module):
        raise MissingExtra(what, extra)


def require_driver(drivername: str, what: str | None = None) -> None:
    """For a SQLAlchemy ``backend+driver`` name: the driver's package, or the extra to install."""
    backend, _, driver = drivername.partition("+")
    entry = DRIVER_EXTRAS.get(driver)
    if entry is not None:
        module, extra = entry
        require(module, extra, what or f"the {backend} driver {driver}")
