"""payment_events (each refund event a payment processor sent, once) and an index on
ledger_entries.provider_ref (events name the processor's refund id)

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 19:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("reference", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("return_id", sa.String(64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_ledger_entries_provider_ref", "ledger_entries", ["provider_ref"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_ledger_entries_provider_ref", table_name="ledger_entries")
    op.drop_table("payment_events")
