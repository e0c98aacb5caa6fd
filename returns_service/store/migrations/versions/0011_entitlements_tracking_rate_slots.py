"""refund entitlements and claims, tracking numbers, rate-limit slots

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 18:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refund_entitlements",
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("items_amount", sa.BigInteger(), nullable=False),
        sa.Column("shipping_amount", sa.BigInteger(), nullable=False),
        sa.Column("restocking_fee", sa.BigInteger(), nullable=False),
        sa.Column("return_shipping_fee", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("due_amount", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("return_id", "order_id"),
    )
    op.create_index(
        "ux_refund_entitlements_shipping_once",
        "refund_entitlements",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("shipping_amount > 0"),
        postgresql_where=sa.text("shipping_amount > 0"),
    )
    op.create_table(
        "refund_claims",
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=64), nullable=False),
        sa.Column("line_id", sa.String(length=64), nullable=False),
        sa.Column("back", sa.Integer(), nullable=False),
        sa.Column("units", sa.Integer(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("return_id", "order_id", "line_id"),
    )
    op.create_index("ix_refund_claims_order_line", "refund_claims", ["order_id", "line_id"])
    op.create_table(
        "tracking_numbers",
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tracking_number"),
    )
    op.create_index("ix_tracking_numbers_return_id", "tracking_numbers", ["return_id"])
    # The tracking numbers of labels made before: each already belongs to its return.
    op.execute(
        "INSERT INTO tracking_numbers (tracking_number, return_id, created_at)"
        " SELECT tracking_number, return_id, created_at FROM labels"
    )
    # And those their shippers reported (the first return that reported one keeps it).
    op.execute(
        "INSERT INTO tracking_numbers (tracking_number, return_id, created_at)"
        " SELECT tracking_number, MIN(id), MIN(created_at) FROM returns"
        " WHERE tracking_number IS NOT NULL"
        " AND tracking_number NOT IN (SELECT tracking_number FROM tracking_numbers)"
        " GROUP BY tracking_number"
    )
    op.create_table(
        "rate_slots",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", "slot"),
    )


def downgrade() -> None:
    op.drop_table("rate_slots")
    op.drop_index("ix_tracking_numbers_return_id", table_name="tracking_numbers")
    op.drop_table("tracking_numbers")
    op.drop_index("ix_refund_claims_order_line", table_name="refund_claims")
    op.drop_table("refund_claims")
    op.drop_index("ux_refund_entitlements_shipping_once", table_name="refund_entitlements")
    op.drop_table("refund_entitlements")
