"""Pane 5: what the running operation is doing right now, and the audit history."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import DataTable, ProgressBar, RichLog, Static

from migctl.tui.console.widgets.cells import plain


class ActivityPane(Container):
    def compose(self) -> ComposeResult:
        yield Static("idle", id="activity-status", classes="summary", markup=False)
        yield ProgressBar(id="activity-progress", show_eta=False)
        yield RichLog(id="activity-log", max_lines=2000, wrap=False, markup=False)
        table: DataTable[str] = DataTable(id="audit-table", cursor_type="row")
        table.add_columns("started", "actor", "action", "target", "outcome", "ms", "error")
        yield table

    def log_line(self, line: str) -> None:
        self.query_one("#activity-log", RichLog).write(line)

    def set_status(self, text: str) -> None:
        self.query_one("#activity-status", Static).update(text)

    def progress(self, done: int, total: int) -> None:
        bar = self.query_one("#activity-progress", ProgressBar)
        bar.update(total=max(total, 1), progress=done)

    def show_audit(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#audit-table", DataTable)
        table.clear()
        for r in rows:
            table.add_row(*plain(r["started_at"], f"{r['actor']}@{r['host']}", r["action"], r["target"] or "",
                                 r["outcome"], r["duration_ms"] if r["duration_ms"] is not None else "",
                                 (r["error"] or "")[:120]))
