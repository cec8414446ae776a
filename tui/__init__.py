"""migctl's shells: the headless CLI (``tui.cli``) and, later, the Textual console."""
