"""create document chunk and embedding tables

Revision ID: c41d7e9a2f58
Revises: 8b2e4d6f1a93
Create Date: 2025-01-06 09:20:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "c41d7e9a2f58"
down_revision: str | Sequence[str] | None = "8b2e4d6f1a93"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE TABLE document_chunks (
            id           bigserial   PRIMARY KEY,
            workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
            document_id  text        NOT NULL,
            chunk_index  integer     NOT NULL,
            content      text        NOT NULL,
            metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
            created_at   timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX idx_document_chunks_workspace_document "
        "ON document_chunks (workspace_id, document_id, chunk_index)"
    )
    op.execute(
        """
        CREATE TABLE document_embeddings (
            id           bigserial    PRIMARY KEY,
            chunk_id     bigint       NOT NULL REFERENCES document_chunks (id) ON DELETE CASCADE,
            workspace_id uuid         NOT NULL,
            model        text         NOT NULL,
            embedding    vector(1536) NOT NULL,
            created_at   timestamptz  NOT NULL DEFAULT now()
        )
        """
    )
    op.execute("CREATE INDEX idx_document_embeddings_chunk ON document_embeddings (chunk_id)")
    op.execute(
        "CREATE INDEX idx_document_embeddings_workspace ON document_embeddings (workspace_id)"
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP INDEX idx_document_embeddings_workspace")
    op.execute("DROP INDEX idx_document_embeddings_chunk")
    op.execute("DROP TABLE document_embeddings")
    op.execute("DROP INDEX idx_document_chunks_workspace_document")
    op.execute("DROP TABLE document_chunks")
