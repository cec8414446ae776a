"""Revision messages of several lines keep the history's columns, in the CLI, plans and the
console; the console's history pane fills a long merge-heavy history without waiting for it.

Fast layer: revision files in a temporary directory, no database.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static

from migctl.core.relational.graph import RevisionGraph, read_graph
from migctl.core.relational.plan import Plan, PlanStep
from migctl.tui.console.widgets.history import FIRST_ROWS, HistoryPane
from migctl.tui.formatting import history_lines, plan_lines

REVISION = '''"""{message}

Revision ID: {rev}
Revises: {downs}
Create Date: 2026-12-05 10:00:00

"""
revision = "{rev}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
'''

# base -> left, right (a branch point) -> merge of both, each message on two or three lines
SMALL = [
    ("aaaa00000001", (), "create users\nwith their e-mail index"),
    ("aaaa00000002", ("aaaa00000001",), "left: add orders\nfor the shop"),
    ("aaaa00000003", ("aaaa00000001",), "right: add [bold]tags[/bold]\nand a [link]\nthird line"),
    ("aaaa00000004", ("aaaa00000002", "aaaa00000003"), "merge left\nand right"),
]


def write_revisions(directory: Path, revisions: list[tuple[str, tuple[str, ...], str]]) -> RevisionGraph:
    directory.mkdir(parents=True, exist_ok=True)
    for i, (rev, downs, message) in enumerate(revisions):
        down = "None" if not downs else repr(downs[0]) if len(downs) == 1 else repr(downs)
        (directory / f"{i:05d}_{rev}.py").write_text(
            REVISION.format(message=message, rev=rev, downs=", ".join(downs), down=down))
    graph = read_graph([directory])
    assert graph is not None
    return graph


def merge_heavy(count: int) -> list[tuple[str, tuple[str, ...], str]]:
    """Diamonds: a branch point, two sides of three revisions, their merge; two-line messages."""
    revisions: list[tuple[str, tuple[str, ...], str]] = []
    tip: tuple[str, ...] = ()

    def add(downs: tuple[str, ...]) -> str:
        rev = f"{len(revisions) + 1:012x}"
        revisions.append((rev, downs, f"step {len(revisions) + 1}\nsecond line"))
        return rev

    while len(revisions) + 8 <= count:
        point = add(tip)
        left = right = point
        for _ in range(3):
            left, right = add((left,)), add((right,))
        tip = (add((left, right)),)
    while len(revisions) < count:
        tip = (add(tip),)
    return revisions


def test_multiline_messages_stay_in_their_column_in_cli_history(tmp_path: Path) -> None:
    graph = write_revisions(tmp_path / "versions", SMALL)
    assert graph.by_id["aaaa00000003"].message == "right: add [bold]tags[/bold]\nand a [link]\nthird line"

    lines = history_lines(graph)
    assert len(lines) == len(SMALL), lines  # one line per revision, nothing at column 0
    for line in lines:
        assert line[0] in "*M|", line  # every line starts in the lane column
    assert any(line.endswith("right: add [bold]tags[/bold] / and a [link] / third line") for line in lines), lines
    assert any("(mergepoint), merge left / and right" in line for line in lines), lines

    verbose = history_lines(graph, verbose=True)
    body = [line for line in verbose if line.strip() in {"merge left", "and right"}]
    assert len(body) == 2 and all(line.startswith("      ") for line in body), verbose


def test_multiline_messages_stay_in_their_column_in_plans() -> None:
    steps = tuple(PlanStep(rev, "up", message) for rev, _, message in SMALL)
    plan = Plan("upgrade", "heads", (), ("aaaa00000004",), steps, environment="dev", url="sqlite://")
    lines = plan_lines(plan)
    step_lines = [line for line in lines if "upgrade " in line and "aaaa" in line]
    assert len(step_lines) == len(SMALL), lines
    assert "    1. upgrade   aaaa00000001  create users / with their e-mail index" in lines, lines
    assert not any(line.startswith(("with", "for", "and", "third")) for line in lines), lines


class HistoryApp(App):
    def compose(self) -> ComposeResult:
        yield HistoryPane(id="history-pane")


def _cells(table: DataTable, column: str) -> list[str]:
    return [str(table.get_cell(key, column)) for key in table.rows]


async def test_console_history_shows_first_line_in_table_and_whole_message_in_detail(tmp_path: Path) -> None:
    graph = write_revisions(tmp_path / "versions", SMALL)
    app = HistoryApp()
    async with app.run_test(size=(120, 30)) as pilot:
        pane = app.query_one(HistoryPane)
        pane.show_graph(graph)
        await pilot.pause()
        table = app.query_one("#history-table", DataTable)
        messages = _cells(table, "message")
        assert messages[0] == "merge left / and right", messages
        assert all("\n" not in m for m in messages), messages
        assert "right: add [bold]tags[/bold] / and a [link] / third line" in messages  # not markup

        table.focus()
        row = [n.id for n in graph.nodes].index("aaaa00000003")
        await pilot.press(*["down"] * row)
        await pilot.pause()
        assert pane.selected == "aaaa00000003"
        detail = str(app.query_one("#history-detail", Static).render())
        assert "message   right: add [bold]tags[/bold]\n          and a [link]\n          third line\n" in detail, detail


async def test_console_history_fills_a_long_merge_heavy_history_in_chunks(tmp_path: Path) -> None:
    graph = write_revisions(tmp_path / "versions", merge_heavy(1000))
    assert sum(n.is_merge_point for n in graph.nodes) >= 100 and graph.width >= 2
    app = HistoryApp()
    async with app.run_test(size=(100, 30)) as pilot:
        pane = app.query_one(HistoryPane)
        table = app.query_one("#history-table", DataTable)
        pane.show_graph(graph)
        # the first screenful is there before the first frame, the rest follows it
        assert table.row_count == FIRST_ROWS
        assert _cells(table, "revision")[0] == graph.nodes[0].id
        for _ in range(200):
            if table.row_count == len(graph):
                break
            await pilot.pause(0.02)
        assert table.row_count == len(graph)
        assert _cells(table, "revision") == [n.id for n in graph.nodes]
        assert all(m.endswith(" / second line") for m in _cells(table, "message"))
        assert _cells(table, "graph")[:len(graph)] == [graph.graph_prefix(n) for n in graph.nodes]

        # arrows and PageDown move the revision cursor once the table has focus
        table.focus()
        await pilot.press("down")
        assert pane.selected == graph.nodes[1].id
        await pilot.press("pagedown")
        assert table.cursor_row > 1
        before = table.cursor_row
        await pilot.press("up")
        assert table.cursor_row == before - 1

        # the database's answer changes the state cells in place; the cursor stays put
        chosen = graph.nodes[500]
        table.move_cursor(row=500, animate=False)
        pane.show_state({chosen.id}, {})
        await pilot.pause()
        assert table.row_count == len(graph) and pane.selected == chosen.id
        assert str(table.get_cell(chosen.id, "state")).startswith("current")
        summary = str(app.query_one("#history-summary", Static).render())
        assert f"current {chosen.id} · heads {graph.heads[0]} · pending {len(graph.pending({chosen.id}))}" \
            in summary, summary
