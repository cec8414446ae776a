"""Shown instead of the console while the terminal is below the size its layout needs.

A broken layout (panes cut, tabs gone) could be read as real state; a plain message
cannot. The screen goes by itself when the terminal grows; ``q`` still quits.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH, MIN_HEIGHT = 60, 20


def too_small(width: int, height: int) -> bool:
    return width < MIN_WIDTH or height < MIN_HEIGHT


def message(width: int, height: int) -> str:
    return f"terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {width}x{height})\nq quits"


class TooSmallScreen(Screen[None]):
    BINDINGS = [Binding("q", "app.quit", "Quit", id="too_small.quit")]

    def compose(self) -> ComposeResult:
        width, height = self.app.size
        yield Static(message(width, height), id="too-small", markup=False)

    def on_screen_resume(self) -> None:
        # Back in front after a dialog that opened over it: the terminal may have grown since.
        if not too_small(*self.app.size):
            self.dismiss()

    def show_size(self, width: int, height: int) -> None:
        self.query_one("#too-small", Static).update(message(width, height))
