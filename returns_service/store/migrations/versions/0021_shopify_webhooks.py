"""shopify_webhooks (each Shopify webhook taken in, once by its id, with what became of it)

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 08:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shopify_webhooks",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(500), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("shopify_webhooks")
