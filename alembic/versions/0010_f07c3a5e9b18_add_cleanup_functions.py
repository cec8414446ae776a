"""add log retention cleanup functions

Revision ID: f07c3a5e9b18
Revises: 4b6d8e0f2a37
Create Date: 2025-01-22 09:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "f07c3a5e9b18"
down_revision: str | Sequence[str] | None = "4b6d8e0f2a37"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Deletes rows of {table} older than `retention_days` days; returns the count.
_CLEANUP_FUNCTION = """
CREATE FUNCTION {name}(retention_days integer) RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    deleted integer;
BEGIN
    IF retention_days IS NULL OR retention_days < 0 THEN
        RAISE EXCEPTION 'retention_days must be a non-negative integer';
    END IF;
    DELETE FROM {table}
    WHERE created_at < now() - make_interval(days => retention_days);
    GET DIAGNOSTICS deleted = ROW_COUNT;
    RETURN deleted;
END;
$fn$
"""


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(_CLEANUP_FUNCTION.format(name="cleanup_old_logs", table="retrieval_logs"))
    op.execute(_CLEANUP_FUNCTION.format(name="cleanup_old_api_stats", table="api_usage_stats"))


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP FUNCTION cleanup_old_api_stats(integer)")
    op.execute("DROP FUNCTION cleanup_old_logs(integer)")
