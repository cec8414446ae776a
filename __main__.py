"""``python -m migctl``: the same entry point as the ``migctl`` command."""

from migctl.tui.cli.main import entry

if __name__ == "__main__":
    raise SystemExit(entry())
