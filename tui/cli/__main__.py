"""``python -m migctl.tui.cli``: what ``migctl serve`` runs for each browser session."""

from migctl.tui.cli.main import entry

entry()
