"""index memberships by role

Revision ID: a1b2c3d4e5f6
Revises: 4d5e6f7a8b9c
Create Date: 2024-04-20 14:05:58.201977

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "a1b2c3d4e5f6"
down_revision: str | Sequence[str] | None = "4d5e6f7a8b9c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # "who are the admins of this organisation?" on every page of the admin area
    op.create_index("ix_memberships_organisation_role", "memberships", ["organisation_id", "role"])


def downgrade() -> None:
    op.drop_index("ix_memberships_organisation_role", table_name="memberships")
