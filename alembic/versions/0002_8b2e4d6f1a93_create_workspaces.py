"""create workspaces table

Revision ID: 8b2e4d6f1a93
Revises: 3f9a1c2b7d40
Create Date: 2025-01-06 09:10:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "8b2e4d6f1a93"
down_revision: str | Sequence[str] | None = "3f9a1c2b7d40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE TABLE workspaces (
            id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
            name        text        NOT NULL UNIQUE,
            settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now()
        )
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP TABLE workspaces")
