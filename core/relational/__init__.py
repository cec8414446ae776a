"""Alembic behind an async API: the revision graph, plans, execution, state."""
