"""add HNSW index on document embeddings

Built with CREATE INDEX CONCURRENTLY, which cannot run inside a transaction,
hence the autocommit blocks.

Revision ID: 5e7f0a3b9c12
Revises: c41d7e9a2f58
Create Date: 2025-01-06 09:30:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "5e7f0a3b9c12"
down_revision: str | Sequence[str] | None = "c41d7e9a2f58"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.get_context().autocommit_block():
        # HNSW builds are much faster when the graph fits in maintenance_work_mem.
        op.execute("SET maintenance_work_mem = '256MB'")
        op.execute(
            "CREATE INDEX CONCURRENTLY idx_embeddings_vector "
            "ON document_embeddings USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )
        op.execute("RESET maintenance_work_mem")


def downgrade() -> None:
    """Downgrade schema."""
    with op.get_context().autocommit_block():
        op.execute("DROP INDEX CONCURRENTLY IF EXISTS idx_embeddings_vector")
