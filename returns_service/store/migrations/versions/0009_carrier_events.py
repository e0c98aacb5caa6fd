"""carrier tracking events

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carrier_events",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("tracking_number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("return_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("carrier_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_carrier_events_tracking_number"), ["tracking_number"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("carrier_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_carrier_events_tracking_number"))
    op.drop_table("carrier_events")
