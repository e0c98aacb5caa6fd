"""payment_events (each refund event a payment processor sent, once), an index on
ledger_entries.provider_ref (events name the processor's refund id), and carrier_shipments (the
carrier's shipment a label is bought on, kept before it is bought)

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
    op.create_table(
        "carrier_shipments",
        sa.Column("label_key", sa.String(100), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(32), nullable=False),
        sa.Column("shipment_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_carrier_shipments_return_id", "carrier_shipments", ["return_id"])


def downgrade() -> None:
    op.drop_index("ix_carrier_shipments_return_id", table_name="carrier_shipments")
    op.drop_table("carrier_shipments")
    op.drop_index("ix_ledger_entries_provider_ref", table_name="ledger_entries")
    op.drop_table("payment_events")
