"""create analytics tables

Starts the ``analytics`` branch (sibling of ``knowledge``).

Revision ID: d26b8f41c7e3
Revises: 5e7f0a3b9c12
Create Date: 2025-01-13 11:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "d26b8f41c7e3"
down_revision: str | Sequence[str] | None = "5e7f0a3b9c12"
branch_labels: str | Sequence[str] | None = ("analytics",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE TABLE retrieval_logs (
            id                  bigserial   PRIMARY KEY,
            workspace_id        uuid,
            query               text        NOT NULL,
            retrieved_chunk_ids bigint[]    NOT NULL DEFAULT '{}'::bigint[],
            latency_ms          integer,
            created_at          timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX idx_retrieval_logs_workspace ON retrieval_logs (workspace_id, created_at)"
    )
    op.execute(
        """
        CREATE TABLE api_usage_stats (
            id                bigserial     PRIMARY KEY,
            workspace_id      uuid,
            provider          text          NOT NULL,
            model             text          NOT NULL,
            prompt_tokens     integer       NOT NULL DEFAULT 0,
            completion_tokens integer       NOT NULL DEFAULT 0,
            cost_usd          numeric(12,6) NOT NULL DEFAULT 0,
            created_at        timestamptz   NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX idx_api_usage_date ON api_usage_stats (created_at)")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP INDEX idx_api_usage_date")
    op.execute("DROP TABLE api_usage_stats")
    op.execute("DROP INDEX idx_retrieval_logs_workspace")
    op.execute("DROP TABLE retrieval_logs")
