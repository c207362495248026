"""add memberships

Revision ID: 8a4e6b2c9d13
Revises: 3f1c2a9d8b01
Create Date: 2024-01-12 15:40:51.030114

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "8a4e6b2c9d13"
down_revision: str | Sequence[str] | None = "3f1c2a9d8b01"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A native ENUM type on PostgreSQL (created with the table); on SQLite a VARCHAR with a
# CHECK constraint, because create_constraint=True.
membership_role = sa.Enum(
    "owner", "admin", "member", name="membership_role", create_constraint=True
)


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("role", membership_role, nullable=False),
        sa.Column("joined_at", sa.DateTime(), server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "organisation_id"),
    )


def downgrade() -> None:
    op.drop_table("memberships")
    # Dropping the table leaves PostgreSQL's enum type behind.
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP TYPE membership_role")
