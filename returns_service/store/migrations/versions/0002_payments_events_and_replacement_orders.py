"""payments, events and replacement orders

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 19:25:56.057876
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "replacement_orders",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("return_id"),
    )
    op.create_table(
        "return_events",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("return_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_return_events_return_id"), ["return_id"], unique=False)
        batch_op.create_index(
            "ux_return_events_once", ["return_id", "type", "version"], unique=True
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("provider_ref", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("failure", sa.String(length=500), nullable=True))


def downgrade() -> None:

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_column("failure")
        batch_op.drop_column("provider_ref")

    with op.batch_alter_table("return_events", schema=None) as batch_op:
        batch_op.drop_index("ux_return_events_once")
        batch_op.drop_index(batch_op.f("ix_return_events_return_id"))

    op.drop_table("return_events")
    op.drop_table("replacement_orders")
