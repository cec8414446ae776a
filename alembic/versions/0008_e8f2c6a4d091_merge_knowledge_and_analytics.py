"""merge knowledge and analytics branches

Revision ID: e8f2c6a4d091
Revises: a9c3e5f7b214, 71e4a9d3b5f6
Create Date: 2025-01-20 09:00:00.000000

"""
from collections.abc import Sequence

# revision identifiers, used by Alembic.
revision: str = "e8f2c6a4d091"
down_revision: str | Sequence[str] | None = ("a9c3e5f7b214", "71e4a9d3b5f6")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    pass


def downgrade() -> None:
    """Downgrade schema."""
    pass
