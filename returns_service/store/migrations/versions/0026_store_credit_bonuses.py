"""store_credit_bonuses: the shop's bonus on store credit a customer chose, one per refund

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-06 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_credit_bonuses",
        sa.Column("idempotency_key", sa.String(200), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=False),
        sa.Column("base_amount", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("holder_email", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_store_credit_bonuses_return_id", "store_credit_bonuses", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_store_credit_bonuses_return_id", "store_credit_bonuses")
    op.drop_table("store_credit_bonuses")
