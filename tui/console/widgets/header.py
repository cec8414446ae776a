"""The header: which environment, which database, which store, and who holds the lock.

A protected environment is marked twice, by colour (theme ``$error``) and by the word
PROTECTED, so it stands out on monochrome terminals and with ``NO_COLOR`` too.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static


class StatusHeader(Static):
    """Two lines: identity of the target; connection state and lock."""

    environment: reactive[str] = reactive("")
    protected: reactive[bool] = reactive(False)
    url: reactive[str] = reactive("")
    store: reactive[str] = reactive("")
    relational_state: reactive[str] = reactive("connecting")
    vector_state: reactive[str] = reactive("connecting")
    lock: reactive[str] = reactive("")
    running: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" migctl ", style="bold reverse")
        text.append(f" {self.environment} ", style="bold")
        if self.protected:
            text.append(" PROTECTED ", style="bold reverse")
        text.append(f"  {self.url}")
        text.append("\n")
        text.append(f" db: {self.relational_state}")
        text.append(" · vector: " + " ".join(part for part in (self.store, self.vector_state) if part))
        if self.lock:
            text.append(f" · lock held by {self.lock}", style="bold")
        else:
            text.append(" · lock: free")
        if self.running:
            text.append(f" · running: {self.running}", style="bold")
        return text

    def watch_protected(self, protected: bool) -> None:
        self.set_class(protected, "-protected")
