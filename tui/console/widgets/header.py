"""The header: which environment, which database, which store, and who holds the lock.

A protected environment is marked twice, by colour (theme ``$error``) and by the word
PROTECTED, so it stands out on monochrome terminals and with ``NO_COLOR`` too.

Line 1 is the target's identity, line 2 its state. Each line is fitted to the width here,
not wrapped by the terminal: a long URL is shortened in its middle first (the scheme and
the host's end, port and database stay readable), and the state line keeps every label
(db, vector, lock) at any width from 60 columns up, shortening values instead.
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

ELLIPSIS = "…"
MIN_URL = 16  # below this a URL says nothing: the line is cut at its end instead
BADGE = " migctl "
BADGE_ROOM = 30  # the URL keeps at least this much before the badge gives its room


def middle_ellipsis(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by an ellipsis."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    keep = width - 1
    head = keep * 2 // 5  # the end (host, port, database) tells targets apart more than the start
    tail = keep - head
    while tail > 0 and cell_len(text[len(text) - tail:]) > keep - head:
        tail -= 1  # wide characters: count cells, not characters
    return set_cell_size(text, head).rstrip() + ELLIPSIS + (text[len(text) - tail:] if tail else "")


def end_ellipsis(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut by cells (a wide character is two)."""
    if cell_len(text) <= width:
        return text
    if width <= 0:
        return ""
    return set_cell_size(text, width - 1).rstrip() + ELLIPSIS


def fit_values(parts: list[tuple[str, str]], width: int, *, first: tuple[int, ...] = (),
               floor: int = 12, compact: dict[str, str] | None = None) -> list[tuple[str, str]]:
    """``label + value`` parts shortened to fit ``width``; labels always stay.

    Values shorten in stages: those at indexes ``first`` down to ``floor`` cells, then every
    value by ``compact`` (e.g. ``connected`` -> ``ok``), then the longest value first.
    """
    parts = list(parts)

    def over() -> int:
        return sum(cell_len(label) + cell_len(value) for label, value in parts) - width

    def shrink(candidates: list[int], down_to: int) -> None:
        while over() > 0:
            longest = max(candidates, key=lambda j: cell_len(parts[j][1]), default=None)
            if longest is None or cell_len(parts[longest][1]) <= down_to:
                return
            label, value = parts[longest]  # a cell at a time: the longest values end up even
            shorter = end_ellipsis(value, cell_len(value) - 1)
            if cell_len(shorter) >= cell_len(value):
                return  # cannot shrink further (guards the loop whatever the text holds)
            parts[longest] = (label, shorter)

    original = list(parts)
    shrink(list(first), floor)
    if over() > 0 and compact:  # from the start again: compacting may leave room to give back
        parts = [(label, compact.get(value, value)) for label, value in original]
        shrink(list(first), floor)
    shrink(list(range(len(parts))), 1)
    return parts


class StatusHeader(Static):
    """Two lines: identity of the target; connection state and lock."""

    environment: reactive[str] = reactive("")
    protected: reactive[bool] = reactive(False)
    url: reactive[str] = reactive("")
    store: reactive[str] = reactive("")
    relational_state: reactive[str] = reactive("connecting")
    vector_state: reactive[str] = reactive("connecting")
    # Not ``lock``: Textual's Widget has its own ``lock`` (an RLock). "" is free; "unknown"
    # until the database answers.
    lock_holder: reactive[str] = reactive("unknown")
    running: reactive[str] = reactive("")

    def render(self) -> Text:
        width = self.content_size.width or self.size.width or 80
        return Text("\n").join([self.identity_line(width), self.state_line(width)])

    def identity_line(self, width: int) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        target = cell_len(f"  {self.environment}   PROTECTED   {self.store}  ")
        if not self.url or width - target - len(BADGE) >= BADGE_ROOM:
            text.append(BADGE, style="bold reverse")  # the program's name: the first thing to go
        text.append(f" {self.environment} ", style="bold")
        if self.protected:
            text.append(" PROTECTED ", style="bold reverse")
        if self.store:
            text.append(f" {self.store}")
        if self.url:
            room = width - text.cell_len - 2
            text.append("  " + middle_ellipsis(self.url, max(room, MIN_URL)))
        text.truncate(width, overflow="ellipsis")
        return text

    def state_line(self, width: int) -> Text:
        if self.lock_holder in ("", "unknown"):
            lock_label, lock_value = " · lock: ", self.lock_holder or "free"
        else:
            lock_label, lock_value = " · lock held by ", self.lock_holder
        parts = [(" db: ", self.relational_state), (" · vector: ", self.vector_state), (lock_label, lock_value)]
        if self.running:
            parts.append((" · running: ", self.running))
        # Who holds the lock and what runs give way first; the two states last.
        fitted = fit_values(parts, width, first=(2, 3)[: len(parts) - 2], compact={"connected": "ok"})
        text = Text(no_wrap=True, overflow="ellipsis")
        for label, value in fitted:
            bold = "bold" if label.startswith((" · lock held", " · running")) else ""
            text.append(label)
            text.append(value, style=bold)
        text.truncate(width, overflow="ellipsis")
        return text

    def on_resize(self) -> None:
        self.refresh()

    def watch_protected(self, protected: bool) -> None:
        self.set_class(protected, "-protected")
