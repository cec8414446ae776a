"""migctl's async core: configuration, embedded servers, Alembic and vector engines.

Nothing in this package imports a UI toolkit; the console and the CLI are shells over it.
"""
