"""outbox_emails.label_id (the label whose PDF the email carries as an attachment)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-05 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_emails") as table:
        table.add_column(sa.Column("label_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_emails") as table:
        table.drop_column("label_id")
