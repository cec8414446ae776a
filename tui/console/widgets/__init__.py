"""The console's widgets: header and the five panes."""
