"""webhook deliveries queue per endpoint

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22 21:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("give_up_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_webhook_deliveries_queue", ["endpoint_id", "status", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_webhook_deliveries_queue")
        batch_op.drop_column("give_up_at")
        batch_op.drop_column("next_attempt_at")
