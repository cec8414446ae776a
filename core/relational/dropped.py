"""What a relational plan destroys, with the rows there now, for the confirmation to show.

The destructive statements come from the plan's offline SQL (``Plan.destructive``); the tables
they name are counted in the live database. A table that does not exist yet (created earlier
in the same plan) has no rows to lose.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from migctl.core.db import ThreadedConnection

_NAME = r'(?:"[^"]+"|`[^`]+`|[\w$]+)(?:\.(?:"[^"]+"|`[^`]+`|[\w$]+))?'
_TABLE_OF = re.compile(
    rf"^\s*(?:DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<drop>{_NAME})"
    rf"|TRUNCATE\s+(?:TABLE\s+)?(?P<truncate>{_NAME})"
    rf"|ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<alter>{_NAME})\s+DROP)",
    re.IGNORECASE,
)


def tables_named(statements: tuple[str, ...]) -> list[tuple[str, str]]:
    """(table, what happens to it) for each destructive statement that names a table."""
    out: list[tuple[str, str]] = []
    for stmt in statements:
        m = _TABLE_OF.match(stmt)
        if m is None:
            continue
        kind = "drop" if m["drop"] else "truncate" if m["truncate"] else "drop column of"
        name = m["drop"] or m["truncate"] or m["alter"]
        if (name, kind) not in out:
            out.append((name, kind))
    return out


async def rows_at_risk(conn: ThreadedConnection, statements: tuple[str, ...]) -> list[tuple[str, str, int | None]]:
    """(table, action, rows now) for the tables the statements drop, truncate or alter;
    rows is ``None`` where the table does not exist (yet)."""
    from sqlalchemy import inspect, text

    out = []
    for name, kind in tables_named(statements):
        parts = [p.strip('"`') for p in name.split(".")]
        schema, table = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        exists = await conn.run_sync(lambda sync, s=schema, t=table: inspect(sync).has_table(t, schema=s))
        rows = None
        if exists:
            quoted = ".".join(conn.dialect.identifier_preparer.quote(p) for p in parts)
            rows = int((await conn.execute(text(f"SELECT count(*) FROM {quoted}"))).scalar() or 0)
        out.append((".".join(parts), kind, rows))
    await conn.commit()
    return out
