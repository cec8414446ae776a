"""The console's one action registry: footer, command palette and help all read it.

Keys are letters, digits, F-keys and arrows only (no ctrl+s / ctrl+j, which tmux and
terminals own), so everything works over SSH without a mouse.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleAction:
    """One thing an operator can do; ``mutating`` actions are disabled while one runs."""

    name: str  # the App's action_<name>
    key: str
    label: str  # short, for the footer
    description: str  # for the palette and the help screen
    group: str
    mutating: bool = False
    footer: bool = False  # shown in its pane's footer; at 80 columns each pane's fit with q Quit

    @property
    def pane(self) -> str | None:
        """The pane whose footer shows this action (``None``: every pane's). The key itself
        works from every pane."""
        return PANE_OF_GROUP.get(self.group)


PANE_OF_GROUP = {"Alembic": "history", "Vector": "vector"}


ACTIONS: tuple[ConsoleAction, ...] = (
    ConsoleAction("upgrade_heads", "u", "Upgrade", "Alembic: upgrade to head(s)", "Alembic", True, True),
    ConsoleAction("upgrade_next", "n", "Up +1", "Alembic: upgrade one revision (+1)", "Alembic", True),
    ConsoleAction("upgrade_selected", "t", "Up to sel.", "Alembic: upgrade to the selected revision",
                  "Alembic", True),
    ConsoleAction("downgrade_one", "d", "Down -1", "Alembic: downgrade one revision (-1)", "Alembic", True, True),
    ConsoleAction("downgrade_selected", "D", "Down to sel.", "Alembic: downgrade to the selected revision",
                  "Alembic", True),
    ConsoleAction("downgrade_base", "B", "Down to base", "Alembic: downgrade to base (drops everything)",
                  "Alembic", True),
    ConsoleAction("stamp_selected", "s", "Stamp", "Alembic: stamp the selected revision (no SQL runs)",
                  "Alembic", True, True),
    ConsoleAction("merge_heads", "m", "Merge", "Alembic: write a merge revision for the current heads",
                  "Alembic", True),
    ConsoleAction("init", "i", "Init", "Both: create what is missing, schema to head, seed, vectors to latest",
                  "Both", True, True),
    ConsoleAction("migrate", "g", "Migrate", "Both: relational then vector to latest, under one lock",
                  "Both", True),
    ConsoleAction("reset", "x", "Reset", "Both: reset wizard (scope, plan, backup, typed confirmation)",
                  "Both", True, True),
    ConsoleAction("create_vector_migration", "c", "New migration",
                  "Vector: create the next migration file (form: description, templates)", "Vector", True),
    ConsoleAction("vector_upgrade", "v", "Upgrade", "Vector: upgrade to latest", "Vector", True, True),
    ConsoleAction("vector_downgrade", "V", "Downgrade",
                  "Vector: downgrade to the selected version (or -1 off the Vector pane)", "Vector", True, True),
    ConsoleAction("vector_stamp", "S", "Stamp", "Vector: stamp the selected version", "Vector", True, True),
    ConsoleAction("vector_repair", "R", "Repair",
                  "Vector: re-record the selected drifted version's file as applied", "Vector", True),
    ConsoleAction("refresh", "r", "Refresh", "Reload both databases' state", "View"),
    ConsoleAction("environments", "e", "Envs", "Environments overview: every environment's state", "View"),
    ConsoleAction("help", "question_mark,f1", "Help", "Keys and panes", "View", False, True),
    ConsoleAction("quit", "q", "Quit", "Leave the console (refused while an operation runs)", "View", False, True),
)

BY_NAME = {a.name: a for a in ACTIONS}
MUTATING = frozenset(a.name for a in ACTIONS if a.mutating)

PANES: tuple[tuple[str, str, str], ...] = (
    ("1", "history", "Alembic history: revision graph, current and heads; detail with SQL"),
    ("2", "vector", "Vector migrations: status per version; detail with operations and hash"),
    ("3", "templates", "Templates: Milvus schema and pgvector DDL of each collection template"),
    ("4", "collections", "Collections: live rows, dimension, index, aliases, load state, drift"),
    ("5", "activity", "Activity: the running operation's events and the audit history"),
)


def key_label(key: str) -> str:
    """How a binding's key is written for people: ``question_mark,f1`` -> ``? / F1``."""
    names = {"question_mark": "?", "f1": "F1"}
    return " / ".join(names.get(k, k) for k in key.split(","))
