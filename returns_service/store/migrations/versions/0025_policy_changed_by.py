"""policies.changed_by: who saved each version of the policy (its history; older versions say
nobody)

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-06 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("policies") as table:
        table.add_column(sa.Column("changed_by", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("policies") as table:
        table.drop_column("changed_by")
