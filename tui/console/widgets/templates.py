"""Pane 3: the collection templates, rendered for Milvus and as pgvector DDL.

A templates file that does not validate shows its error in place of the list, naming the
file, template and key, exactly as the CLI reports it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.widgets import DataTable, Static

from migctl.tui.console.widgets.cells import plain
from migctl.tui.formatting import plural


class TemplatesPane(Container):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rendered: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static("templates: loading ...", id="templates-summary", classes="summary", markup=False)
        with Container(classes="split"):
            table: DataTable[str] = DataTable(id="templates-table", cursor_type="row")
            table.add_columns("template", "dim", "index", "fields")
            yield table
            with VerticalScroll(classes="detail"):
                yield Static("", id="templates-detail", markup=False)

    def show(self, path: str, rows: list[tuple[str, int, str, int]], rendered: dict[str, str]) -> None:
        self.rendered = rendered
        table = self.query_one("#templates-table", DataTable)
        table.clear()
        for name, dim, index, fields in rows:
            table.add_row(*plain(name, dim, index, fields), key=name)
        self.query_one("#templates-summary", Static).update(f"{plural(len(rows), 'template')} in {path}")
        self._detail()

    def show_error(self, path: str, message: str) -> None:
        self.query_one("#templates-table", DataTable).clear()
        self.query_one("#templates-summary", Static).update(f"templates in {path} do not validate")
        self.query_one("#templates-detail", Static).update(f"error: {message}")
        self.add_class("-invalid")

    def show_note(self, text: str) -> None:
        self.query_one("#templates-table", DataTable).clear()
        self.query_one("#templates-summary", Static).update(text)

    def _detail(self) -> None:
        table = self.query_one("#templates-table", DataTable)
        if not table.row_count:
            return
        name = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        self.query_one("#templates-detail", Static).update(self.rendered.get(name, ""))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()
