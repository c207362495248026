"""add user settings

Revision ID: 9b8a7c6d5e4f
Revises: 1e2f3a4b5c6d
Create Date: 2024-03-04 10:51:44.602918

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "9b8a7c6d5e4f"
down_revision: str | Sequence[str] | None = "1e2f3a4b5c6d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# JSONB on PostgreSQL, JSON (stored as text) everywhere else.
json_document = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # NOT NULL needs a default for the rows that exist; the application writes its own
    # value from then on, so the default goes again (on SQLite: a table rebuild).
    op.add_column(
        "users", sa.Column("settings", json_document, nullable=False, server_default="{}")
    )
    with op.batch_alter_table("users") as batch_op:
        batch_op.alter_column("settings", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("settings")
