"""Pane 2: the vector migration chain with each version's state, and its operations."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.widgets import DataTable, Static

from migctl.tui.console.widgets.cells import plain


class VectorPane(Container):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield Static("vector store: connecting ...", id="vector-summary", classes="summary", markup=False)
        with Container(classes="split"):
            table: DataTable[str] = DataTable(id="vector-table", cursor_type="row")
            table.add_column("version", width=12)
            table.add_column("status", width=11)
            table.add_column("description", width=36)
            table.add_column("store", width=8)
            table.add_column("applied")
            yield table
            with VerticalScroll(classes="detail"):
                yield Static("", id="vector-detail", markup=False)

    @property
    def selected(self) -> str | None:
        table = self.query_one("#vector-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def show(self, rows: list[dict[str, Any]], summary: str) -> None:
        self.rows = rows
        table = self.query_one("#vector-table", DataTable)
        keep = self.selected
        table.clear()
        for r in reversed(rows):  # newest first, as the Alembic history
            applied = f"{r['applied_at']} by {r['applied_by']}" if r.get("applied_at") else ""
            table.add_row(*plain(r["version"], r["status"], r["description"], r.get("store") or "", applied),
                          key=r["version"])
        if keep and any(r["version"] == keep for r in rows):
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        self.query_one("#vector-summary", Static).update(summary)
        self._detail()

    def show_error(self, message: str) -> None:
        self.query_one("#vector-summary", Static).update(f"vector store unavailable: {message}")

    def show_note(self, text: str) -> None:
        self.query_one("#vector-summary", Static).update(text)

    def _detail(self) -> None:
        version = self.selected
        row = next((r for r in self.rows if r["version"] == version), None)
        if row is None:
            self.query_one("#vector-detail", Static).update("")
            return
        lines = [f"version      {row['version']}", f"description  {row['description']}",
                 f"status       {row['status']}", f"file         {row['path']}",
                 f"hash         {row['operations_hash']}", "", "operations:"]
        lines += [f"  - {op}" for op in row["operations"]]
        self.query_one("#vector-detail", Static).update("\n".join(lines))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()
