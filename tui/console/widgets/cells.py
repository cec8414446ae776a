"""Table cells as plain text: revision messages and SQL may hold ``[`` that is not markup."""

from __future__ import annotations

from rich.text import Text


def plain(*values: object) -> tuple[Text, ...]:
    return tuple(Text("" if v is None else str(v), no_wrap=True, overflow="ellipsis") for v in values)
