"""Pane 1: the Alembic revision graph, drawn with lanes like ``git log --graph``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from migctl.core.api import RevisionGraph, RevisionNode, Verdict
from rich.cells import cell_len
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from migctl.tui.console.widgets.cells import plain
from migctl.tui.formatting import one_line

# Rows added before the first frame: more than any terminal shows at once. The rest follow in
# chunks after it, so a long history neither delays the first screen nor stalls keys for long.
FIRST_ROWS = 100
LATER_ROWS = 250


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


def verdict_mark(verdict: Verdict | None) -> str:
    """Nothing when not verified, so an unverified history reads as before."""
    return "" if verdict is None else verdict.short


def revision_marks(node: RevisionNode, current: set[str], drifted: set[str],
                   verdicts: Mapping[str, Verdict] | None = None) -> str:
    """Short state marks for a row: current, head, merge/branch point, drifted, verdict."""
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
    if mark := verdict_mark((verdicts or {}).get(node.id)):
        marks.append(mark)
    return " ".join(marks)


def _marks_width(marks: Iterable[str]) -> int:
    return max([5, *(cell_len(m) for m in marks)])


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
        self.verdicts: dict[str, Verdict] = {}
        self.schema = ""  # the schema drift summary, when the status compared it
        self.applied: set[str] = set()
        self.state_known = False  # until the database answers, current and pending are unknown
        self.sql: dict[str, tuple[str, str]] = {}
        self._marks: dict[str, str] = {}  # the state column as shown (or about to be)
        self._state_width = 0
        self._generation = 0  # which fill the rows being added belong to

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

    def show_verdicts(self, verdicts: Mapping[str, Verdict]) -> None:
        if dict(verdicts) != self.verdicts:
            self.verdicts = dict(verdicts)
            self._update_marks()

    def show_state(self, current: set[str], drifted: dict[str, str], schema: str = "") -> None:
        """``schema``: the live schema against the expected one (``schema differs from …``),
        shown in the summary line; empty when it was not compared."""
        self.current, self.drifted, self.schema = current, drifted, schema
        self.state_known = True
        self.applied = self.graph.ancestors(current) if self.graph else set()
        self._update_marks()

    def _update_marks(self) -> None:
        if self.graph is None:
            return
        marks = self._revision_marks(self.graph)
        if _marks_width(marks.values()) != self._state_width:
            self._fill()
            return
        # The same columns: change only the state cells that differ (a refill of a long
        # history would make the table flicker and the keys wait).
        table = self.query_one("#history-table", DataTable)
        for rev, mark in marks.items():
            if mark != self._marks.get(rev) and rev in table.rows:
                table.update_cell(rev, "state", plain(mark)[0])
        self._marks = marks
        self._show_summary()
        self.show_detail()

    def _revision_marks(self, graph: RevisionGraph) -> dict[str, str]:
        drifted = set(self.drifted)
        return {node.id: revision_marks(node, self.current, drifted, self.verdicts) for node in graph.nodes}

    def _fill(self) -> None:
        graph = self.graph
        if graph is None:
            return
        table = self.query_one("#history-table", DataTable)
        keep = self.selected
        self._generation += 1
        self._marks = self._revision_marks(graph)
        self._state_width = _marks_width(self._marks.values())
        # Fixed widths, all of them: an auto-sized column is measured when the table next goes
        # idle, and a fill that clears the columns between two idles could leave it at its
        # label's width ("add lo…"), depending on timing.
        table.clear(columns=True)
        table.add_column("graph", width=max(5, 2 * graph.width - 1), key="graph")
        table.add_column("revision", width=max((len(n.id) for n in graph.nodes), default=12), key="revision")
        # As wide as the longest marks ("current merge" was cut at a fixed width).
        table.add_column("state", width=self._state_width, key="state")
        table.add_column("message", width=max([7, *(cell_len(one_line(n.message)) for n in graph.nodes)]),
                         key="message")
        self._add_rows(self._generation, 0, keep)
        self._show_summary()
        self.show_detail()

    def _add_rows(self, generation: int, start: int, keep: str | None) -> None:
        """Rows from ``start`` on: the first screenful now, the rest after the next frames."""
        graph = self.graph
        if generation != self._generation or graph is None:
            return  # a newer fill started over
        table = self.query_one("#history-table", DataTable)
        stop = start + (FIRST_ROWS if start == 0 else LATER_ROWS)
        marks = self._marks
        for node in graph.nodes[start:stop]:
            table.add_row(*plain(graph.graph_prefix(node), node.id, marks[node.id], one_line(node.message)),
                          key=node.id)
        if keep and keep in table.rows:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
            keep = None  # once: the operator may move on while later rows arrive
        if stop < len(graph.nodes):
            self.call_after_refresh(self._add_rows, generation, stop, keep)

    def _show_summary(self) -> None:
        graph = self.graph
        if graph is None:
            return
        heads = ", ".join(graph.heads) or "-"
        if self.state_known:
            current = ", ".join(sorted(self.current)) or "base"
            state = f"current {current} · heads {heads} · pending {len(graph.pending(self.current))}"
            if self.schema:
                state += f" · {self.schema}"
        else:
            state = f"heads {heads} · current: asking the database ..."
        self.query_one("#history-summary", Static).update(f"{len(graph)} revisions · {state}")

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
            # the whole message, each line under the first
            "message   " + "\n          ".join((node.message or "").splitlines() or [""]),
            f"date      {node.create_date or '-'}",
            f"file      {shown_path(node.path)}",
            f"parents   {', '.join(node.down_revisions) or '<base>'}",
            f"labels    {', '.join(node.branch_labels) or '-'}",
            f"checksum  {checksum}",
            f"verify    {self._verify_line(rev)}",
        ]
        up, down = self.sql.get(rev, ("(loading ...)", "(loading ...)"))
        text = "\n".join(lines) + "\n\n-- upgrade SQL --\n" + up.rstrip() + "\n\n-- downgrade SQL --\n" + down.rstrip()
        detail.update(text)

    def _verify_line(self, rev: str) -> str:
        verdict = self.verdicts.get(rev)
        if verdict is None:
            return "not verified (migctl verify walks up, down and up again on a throwaway database)"
        if verdict.ok:
            return f"verified up, down, up on {verdict.server or 'a throwaway database'}"
        label = verdict.label("up" if verdict.breaks_upgrade else "down")
        return f"{label} ({verdict.server})" if verdict.server else label

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "history-table" or event.row_key is None:
            return
        self.show_detail()
        self.post_message(self.Selected(str(event.row_key.value)))
