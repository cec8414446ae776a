"""Pane 4: the live collections in the store, and where they differ from the declared state."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import DataTable, Static

from migctl.tui.console.widgets.cells import plain
from migctl.tui.formatting import plural


class CollectionsPane(Container):
    def compose(self) -> ComposeResult:
        yield Static("collections: connecting ...", id="collections-summary", classes="summary", markup=False)
        table: DataTable[str] = DataTable(id="collections-table", cursor_type="row")
        table.add_columns("collection", "rows", "dim", "index", "aliases", "loaded", "declared")
        yield table
        yield Static("", id="collections-drift", markup=False)

    def show(self, data: dict[str, Any]) -> None:
        table = self.query_one("#collections-table", DataTable)
        table.clear()
        for c in data["collections"]:
            loaded = "-" if c.get("loaded") is None else ("yes" if c["loaded"] else "no")
            table.add_row(*plain(c["name"], c["rows"], c["dim"] or "-", c["index"] or "none",
                                 ", ".join(c["aliases"]) or "-", loaded, "yes" if c["declared"] else "NO"),
                          key=c["name"])
        self.query_one("#collections-summary", Static).update(
            f"{plural(len(data['collections']), 'collection')} in {data['store']} ({data['address']})")
        drift = data.get("live_drift") or []
        self.query_one("#collections-drift", Static).update(
            ("live drift against the declared state:\n" + "\n".join(f"  ! {d}" for d in drift)) if drift
            else "live state matches the declared state")
        self.set_class(bool(drift), "-drift")

    def show_error(self, message: str) -> None:
        self.query_one("#collections-summary", Static).update(f"vector store unavailable: {message}")

    def show_note(self, text: str) -> None:
        self.query_one("#collections-summary", Static).update(text)
