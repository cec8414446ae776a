"""The operator console (Textual): panes, dialogs and the controller behind them."""
