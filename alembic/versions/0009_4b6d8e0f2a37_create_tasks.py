"""create tasks table

Revision ID: 4b6d8e0f2a37
Revises: e8f2c6a4d091
Create Date: 2025-01-21 09:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "4b6d8e0f2a37"
down_revision: str | Sequence[str] | None = "e8f2c6a4d091"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE TABLE tasks (
            id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
            workspace_id uuid        REFERENCES workspaces (id) ON DELETE CASCADE,
            task_type    text        NOT NULL,
            status       text        NOT NULL DEFAULT 'pending',
            payload      jsonb       NOT NULL DEFAULT '{}'::jsonb,
            result       jsonb,
            error        text,
            attempts     integer     NOT NULL DEFAULT 0,
            created_at   timestamptz NOT NULL DEFAULT now(),
            updated_at   timestamptz NOT NULL DEFAULT now(),
            finished_at  timestamptz,
            CONSTRAINT ck_tasks_status
                CHECK (status IN ('pending', 'running', 'done', 'failed'))
        )
        """
    )
    op.execute("CREATE INDEX idx_tasks_status_created ON tasks (status, created_at)")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP INDEX idx_tasks_status_created")
    op.execute("DROP TABLE tasks")
