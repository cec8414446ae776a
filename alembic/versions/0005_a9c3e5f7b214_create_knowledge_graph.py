"""create knowledge graph tables

Starts the ``knowledge`` branch (sibling of ``analytics``).

Revision ID: a9c3e5f7b214
Revises: 5e7f0a3b9c12
Create Date: 2025-01-13 10:00:00.000000

"""
from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a9c3e5f7b214"
down_revision: str | Sequence[str] | None = "5e7f0a3b9c12"
branch_labels: str | Sequence[str] | None = ("knowledge",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.execute(
        """
        CREATE TABLE knowledge_nodes (
            id           bigserial    PRIMARY KEY,
            workspace_id uuid         NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
            node_type    text         NOT NULL,
            name         text         NOT NULL,
            properties   jsonb        NOT NULL DEFAULT '{}'::jsonb,
            embedding    vector(1536),
            created_at   timestamptz  NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        "CREATE INDEX idx_knowledge_nodes_workspace_type "
        "ON knowledge_nodes (workspace_id, node_type)"
    )
    op.execute(
        """
        CREATE TABLE knowledge_relations (
            id            bigserial        PRIMARY KEY,
            source_id     bigint           NOT NULL
                          REFERENCES knowledge_nodes (id) ON DELETE CASCADE,
            target_id     bigint           NOT NULL
                          REFERENCES knowledge_nodes (id) ON DELETE CASCADE,
            relation_type text             NOT NULL,
            weight        double precision NOT NULL DEFAULT 1.0,
            created_at    timestamptz      NOT NULL DEFAULT now(),
            CONSTRAINT uq_knowledge_relations_source_target_type
                UNIQUE (source_id, target_id, relation_type)
        )
        """
    )
    op.execute("CREATE INDEX idx_knowledge_relations_target ON knowledge_relations (target_id)")


def downgrade() -> None:
    """Downgrade schema."""
    op.execute("DROP INDEX idx_knowledge_relations_target")
    op.execute("DROP TABLE knowledge_relations")
    op.execute("DROP INDEX idx_knowledge_nodes_workspace_type")
    op.execute("DROP TABLE knowledge_nodes")
