"""add post publishing

Revision ID: 4d5e6f7a8b9c
Revises: 9b8a7c6d5e4f
Create Date: 2024-04-02 08:30:12.745601

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "4d5e6f7a8b9c"
down_revision: str | Sequence[str] | None = "9b8a7c6d5e4f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("posts", sa.Column("published_at", sa.DateTime(), nullable=True))
    op.create_index("ix_posts_organisation_published", "posts", ["organisation_id", "published_at"])


def downgrade() -> None:
    op.drop_index("ix_posts_organisation_published", table_name="posts")
    with op.batch_alter_table("posts") as batch_op:
        batch_op.drop_column("published_at")
