"""labels: the built-in carrier's PDF is rendered when first downloaded, from what made it

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-29 22:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("spec", sa.JSON(), nullable=True))
        batch.alter_column("pdf", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.alter_column("pdf", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("spec")
