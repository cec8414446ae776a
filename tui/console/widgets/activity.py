"""Pane 5: what the running operation is doing right now, and the audit history."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import DataTable, ProgressBar, RichLog, Static

from migctl.tui.console.widgets.cells import plain
from migctl.tui.formatting import one_line


def event_text(event: Any) -> str:
    """One line in words for any core event; an event type added later still reads as words
    (its name split, its fields named), never as a dataclass repr."""
    from migctl.core import events as e

    if isinstance(event, e.StepStarted):
        return f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  {one_line(event.message)}"
    if isinstance(event, e.StepFinished):
        return f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  done {event.duration_s:.2f}s"
    if isinstance(event, e.StepFailed):
        return f"[{event.index + 1}/{event.total}] {event.direction:<5} {event.revision}  FAILED: {event.error}"
    if isinstance(event, e.LockWaiting):
        return f"waiting for the migration lock held by {event.holder} (up to {event.timeout_s:.0f}s)"
    if isinstance(event, e.LockAcquired):
        return f"migration lock taken for {event.operation}"
    if isinstance(event, e.Notice):
        return event.text
    if isinstance(event, e.CopyProgress):
        return f"copying {event.source} -> {event.target}: {event.done:,}/{event.total:,} rows"
    name = "".join(f" {c.lower()}" if c.isupper() else c for c in type(event).__name__).strip()
    try:
        details = ", ".join(f"{f.name.replace('_', ' ')} {getattr(event, f.name)}" for f in fields(event))
    except TypeError:  # not a dataclass
        return name
    return f"{name}: {details}" if details else name


class ActivityPane(Container):
    def compose(self) -> ComposeResult:
        yield Static("idle", id="activity-status", classes="summary", markup=False)
        bar = ProgressBar(id="activity-progress", show_eta=False)
        bar.display = False  # shown while an operation reports steps or rows
        yield bar
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
        bar.display = True
        bar.update(total=max(total, 1), progress=done)

    def progress_done(self) -> None:
        """The operation ended: a bar left at its last figure (or at 0% for an operation with
        no steps) would read as still running."""
        self.query_one("#activity-progress", ProgressBar).display = False

    def show_audit(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#audit-table", DataTable)
        table.clear()
        for r in rows:
            table.add_row(*plain(r["started_at"], f"{r['actor']}@{r['host']}", r["action"], r["target"] or "",
                                 r["outcome"], r["duration_ms"] if r["duration_ms"] is not None else "",
                                 (r["error"] or "")[:120]))
