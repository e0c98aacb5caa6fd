"""webhook deliveries: an index to send each return's events in order

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29 21:30:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_return",
        "webhook_deliveries",
        ["endpoint_id", "return_id", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_return", table_name="webhook_deliveries")
