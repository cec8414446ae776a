"""Pane 1: the Alembic revision graph, drawn with lanes like ``git log --graph``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migctl.core.api import RevisionGraph, RevisionNode
from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from migctl.tui.console.widgets.cells import plain


def shown_path(path: object) -> str:
    """A path under the working directory, shown relative to it (shorter, and the same on
    every checkout)."""
    import os

    text = str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def revision_marks(node: RevisionNode, current: set[str], drifted: set[str]) -> str:
    """Short state marks for a row: current, head, merge/branch point, drifted."""
    marks = []
    if node.id in current:
        marks.append("current")
    if node.is_head:
        marks.append("head")
    if node.is_merge_point:
        marks.append("merge")
    if node.is_branch_point:
        marks.append("branch")
    if node.id in drifted:
        marks.append("DRIFTED")
    return " ".join(marks)


class HistoryPane(Container):
    """Revision table on one side, the selected revision's detail (with SQL) on the other."""

    class Selected(Message):
        def __init__(self, revision: str) -> None:
            super().__init__()
            self.revision = revision

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.graph: RevisionGraph | None = None
        self.current: set[str] = set()
        self.drifted: dict[str, str] = {}
        self.applied: set[str] = set()
        self.state_known = False  # until the database answers, current and pending are unknown
        self.sql: dict[str, tuple[str, str]] = {}

    def compose(self) -> ComposeResult:
        yield Static("reading revision files ...", id="history-summary", classes="summary", markup=False)
        with Container(classes="split"):
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=False)
            with VerticalScroll(id="history-detail-scroll", classes="detail"):
                yield Static("", id="history-detail", markup=False)

    @property
    def selected(self) -> str | None:
        table = self.query_one("#history-table", DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    def show_graph(self, graph: RevisionGraph) -> None:
        self.graph = graph
        self._fill()

    def show_state(self, current: set[str], drifted: dict[str, str]) -> None:
        self.current, self.drifted = current, drifted
        self.state_known = True
        self.applied = self.graph.ancestors(current) if self.graph else set()
        self._fill()

    def _fill(self) -> None:
        graph = self.graph
        if graph is None:
            return
        table = self.query_one("#history-table", DataTable)
        keep = self.selected
        # Fixed widths, all of them: an auto-sized column is measured when the table next goes
        # idle, and a fill that clears the columns between two idles could leave it at its
        # label's width ("add lo…"), depending on timing.
        table.clear(columns=True)
        table.add_column("graph", width=max(5, 2 * graph.width - 1))
        table.add_column("revision", width=max((len(n.id) for n in graph.nodes), default=12))
        drifted = set(self.drifted)
        marks = [revision_marks(node, self.current, drifted) for node in graph.nodes]
        # As wide as the longest marks ("current merge" was cut at a fixed width).
        table.add_column("state", width=max([5, *(cell_len(m) for m in marks)]))
        table.add_column("message", width=max([7, *(cell_len(n.message or "") for n in graph.nodes)]))
        for node, state in zip(graph.nodes, marks, strict=True):
            table.add_row(*plain(graph.graph_prefix(node), node.id, state, node.message), key=node.id)
        if keep and keep in graph.by_id:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        heads = ", ".join(graph.heads) or "-"
        if self.state_known:
            current = ", ".join(sorted(self.current)) or "base"
            state = f"current {current} · heads {heads} · pending {len(graph.pending(self.current))}"
        else:
            state = f"heads {heads} · current: asking the database ..."
        self.query_one("#history-summary", Static).update(f"{len(graph)} revisions · {state}")
        self.show_detail()

    def show_sql(self, revision: str, upgrade: str, downgrade: str) -> None:
        self.sql[revision] = (upgrade, downgrade)
        if self.selected == revision:
            self.show_detail()

    def show_detail(self) -> None:
        rev = self.selected
        detail = self.query_one("#history-detail", Static)
        if rev is None or self.graph is None:
            detail.update("")
            return
        node = self.graph.by_id[rev]
        if rev in self.drifted:
            checksum = f"DRIFTED: {self.drifted[rev]}"
        elif rev in self.applied:
            checksum = "applied; file matches what was applied (or no checksum recorded)"
        else:
            checksum = "not applied"
        lines = [
            f"revision  {node.id}",
            f"message   {node.message}",
            f"date      {node.create_date or '-'}",
            f"file      {shown_path(node.path)}",
            f"parents   {', '.join(node.down_revisions) or '<base>'}",
            f"labels    {', '.join(node.branch_labels) or '-'}",
            f"checksum  {checksum}",
        ]
        up, down = self.sql.get(rev, ("(loading ...)", "(loading ...)"))
        text = "\n".join(lines) + "\n\n-- upgrade SQL --\n" + up.rstrip() + "\n\n-- downgrade SQL --\n" + down.rstrip()
        detail.update(text)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "history-table" or event.row_key is None:
            return
        self.show_detail()
        self.post_message(self.Selected(str(event.row_key.value)))
