"""restocks to tell a warehouse system

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "wms_outbox",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("location", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.PrimaryKeyConstraint("idempotency_key"),
    )
    with op.batch_alter_table("wms_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wms_outbox_return_id"), ["return_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_wms_outbox_next_attempt_at"), ["next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("wms_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wms_outbox_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_wms_outbox_return_id"))
    op.drop_table("wms_outbox")
