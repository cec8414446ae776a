"""Key ``e``: every environment of the config in one table, and a way to switch to one.

What an operator checks before promoting a release from staging to production. The rows
appear at once ("reading…") and fill in as each environment answers, each within its own
timeout, so one that is down never holds up the others. Enter switches the console to the
row's environment; Escape closes. Protected environments stand out in bold with the word
PROTECTED, so they show on monochrome terminals and under ``NO_COLOR`` too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from migctl.tui.formatting import OVERVIEW_COLUMNS, overview_cells

if TYPE_CHECKING:
    from migctl.core.api import EnvironmentRow

TIMEOUT = 5.0  # seconds each environment gets
STATE_WIDTH = 32  # the rest of the row stays in sight at 80 columns


class RowRead(Message):
    """One environment answered (posted from the core thread)."""

    def __init__(self, row: EnvironmentRow) -> None:
        super().__init__()
        self.row = row


class EnvironmentsScreen(Screen[Any]):
    """Dismisses with the chosen ``Environment`` (``None``: stay where the console is)."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="environments.close"),
        Binding("r", "reread", "Re-read", id="environments.reread"),
    ]
    DEFAULT_CSS = """
    EnvironmentsScreen #environments-table { height: 1fr; }
    EnvironmentsScreen #environments-hint { height: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, config_file: Any, current: str, timeout: float = TIMEOUT) -> None:
        super().__init__()
        self.config_file = config_file
        self.current = current
        self.timeout = timeout
        self.rows: dict[str, EnvironmentRow] = {}

    def compose(self) -> ComposeResult:
        yield Static("Environments: reading the config …", id="environments-summary", classes="summary",
                     markup=False)
        table: DataTable[Text] = DataTable(id="environments-table", cursor_type="row")
        for name in OVERVIEW_COLUMNS:
            table.add_column(name, key=name)
        yield table
        yield Static("Enter: switch the console to the environment · r: read again · Esc: close",
                     id="environments-hint", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.read()

    @work(group="overview", exclusive=True, exit_on_error=False)
    async def read(self) -> None:
        """On the core thread: the config's environments, then every one of them at once."""
        from migctl.core.api import environment_rows, environments_overview

        app: Any = self.app
        summary = self.query_one("#environments-summary", Static)
        try:
            async def resolve() -> list[EnvironmentRow]:
                return environment_rows(self.config_file)

            rows = await app.call(resolve)
        except Exception as exc:  # an unreadable config: say so here, nothing to list
            from migctl.core.errors import scrub

            # a YAML error quotes the offending line, which may hold a URL with its password
            summary.update(f"Environments: cannot read the config: {scrub(str(exc))}")
            return
        self._show_rows(rows)
        summary.update(f"Environments: {len(rows)} in {self.config_file or 'alembic.ini'}; reading each "
                       f"(up to {self.timeout:g}s) …")
        done = await app.call(lambda: environments_overview(
            rows=rows, timeout=self.timeout, on_row=lambda row: self.post_message(RowRead(row))))
        down = sum(1 for r in done if not r.reachable)
        summary.update(f"Environments: {len(done)} read, {down} not reachable" if down
                       else f"Environments: {len(done)} read, all reachable")

    def _show_rows(self, rows: list[EnvironmentRow]) -> None:
        table = self.query_one(DataTable)
        table.clear()
        self.rows = {r.name: r for r in rows}
        for row in rows:
            table.add_row(*self._cells(row), key=row.name)
        names = [r.name for r in rows]
        if self.current in names:
            table.move_cursor(row=names.index(self.current))

    @on(RowRead)
    def _row_read(self, message: RowRead) -> None:
        row = message.row
        table = self.query_one(DataTable)
        if row.name not in self.rows or row.name not in table.rows:
            return  # a late answer for an environment a re-read (r) no longer lists
        self.rows[row.name] = row
        for column, cell in zip(OVERVIEW_COLUMNS, self._cells(row), strict=True):
            table.update_cell(row.name, column, cell, update_width=True)

    def _cells(self, row: EnvironmentRow) -> list[Text]:
        cells = [Text(c, no_wrap=True, overflow="ellipsis") for c in overview_cells(row)]
        if row.name == self.current:
            cells[0] = Text(f"{row.name} *", no_wrap=True)
        if row.protected:
            cells[0].stylize("bold")
            cells[1].stylize("bold reverse")
        state = OVERVIEW_COLUMNS.index("state")
        if len(row.state) > STATE_WIDTH:  # a driver's long reason would push the URL off screen
            cells[state] = Text(row.state[:STATE_WIDTH - 1] + "…", no_wrap=True)
        if not row.reachable and row.state != "reading…":
            cells[state].stylize("bold")
        return cells

    @on(DataTable.RowSelected)
    def _chosen(self, event: DataTable.RowSelected) -> None:
        row = self.rows.get(str(event.row_key.value))
        if row is None:
            return
        if row.environment is None:
            self.notify(f"{row.name}: {row.state}", severity="error")
            return
        self.dismiss(row.environment)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reread(self) -> None:
        self.read()
