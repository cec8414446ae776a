"""create analytics views

Revision ID: 71e4a9d3b5f6
Revises: d26b8f41c7e3
Create Date: 2025-01-14 10:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "71e4a9d3b5f6"
down_revision: str | Sequence[str] | None = "d26b8f41c7e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    # Days are UTC days, independent of the session's TimeZone setting.
    op.execute(
        """
        CREATE VIEW daily_cost_summary AS
        SELECT
            (created_at AT TIME ZONE 'UTC')::date        AS day,
            workspace_id,
            provider,
            model,
            sum(prompt_tokens)::bigint                   AS prompt_tokens,
            sum(completion_tokens)::bigint               AS completion_tokens,
            sum(prompt_tokens + completion_tokens)::bigint AS total_tokens,
            sum(cost_usd)                                AS total_cost_usd,
            count(*)                                     AS request_count
        FROM api_usage_stats
        GROUP BY 1, workspace_id, provider, model
        """
    )
    op.execute(
        """
        CREATE VIEW popular_queries AS
        SELECT
            query,
            count(*)                          AS query_count,
            avg(latency_ms)::double precision AS avg_latency_ms,
            max(created_at)                   AS last_seen
        FROM retrieval_logs
        GROUP BY query
        ORDER BY query_count DESC, last_seen DESC
        """
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP VIEW popular_queries")
    op.execute("DROP VIEW daily_cost_summary")
