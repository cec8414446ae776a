"""Alembic's version-table UPDATE with bound parameters, so SQLAlchemy compiles it once.

Alembic writes each step's new revision into the version table with the ids inlined as
literal SQL (it needs that for ``--sql`` scripts). Online, every step then is a new statement
to SQLAlchemy's compiled cache, compiled anew: on a 1,000-revision chain about a tenth of
the client's CPU time. migctl's runs use the same UPDATE, same row check, with the ids bound
as parameters; offline (``--sql``) output is Alembic's own.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any


@functools.cache
def _bound_head_maintainer() -> type:
    from alembic.runtime.migration import HeadMaintainer
    from alembic.util import CommandError
    from sqlalchemy import bindparam

    class BoundHeadMaintainer(HeadMaintainer):  # type: ignore[misc]
        def _update_version(self, from_: str, to_: str) -> None:
            context: Any = self.context
            if context.as_sql:
                return super()._update_version(from_, to_)
            assert to_ not in self.heads
            self.heads.remove(from_)
            self.heads.add(to_)
            table = context._version
            statement = (table.update().values(version_num=bindparam("migctl_to"))
                         .where(table.c.version_num == bindparam("migctl_from")))
            ret = context.impl._exec(statement, params={"migctl_to": to_, "migctl_from": from_})
            if context.dialect.supports_sane_rowcount and ret is not None and ret.rowcount != 1:
                raise CommandError(
                    f"Online migration expected to match one row when updating '{from_}' to '{to_}' "
                    f"in '{context.version_table}'; {ret.rowcount} found")

    return BoundHeadMaintainer


@contextlib.contextmanager
def bound_version_updates() -> Iterator[None]:
    """While active, Alembic's runs update the version table with bound parameters. The
    caller holds ``ALEMBIC_RUN_LOCK`` (Alembic's context is process-wide anyway)."""
    from alembic.runtime import migration

    original = migration.HeadMaintainer
    migration.HeadMaintainer = _bound_head_maintainer()
    try:
        yield
    finally:
        migration.HeadMaintainer = original
