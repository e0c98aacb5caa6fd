"""customer_lists (the shop's block and allow lists), return_inputs (what each return's
eligibility was decided on, for the policy simulator), labels.drop_off_code (qr_drop_off) and
labels.attempt (a new label for an expired return)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_lists",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("list", sa.String(16), nullable=False),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_by", sa.String(400), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "return_inputs",
        sa.Column("return_id", sa.String(64), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("estimated_refund_amount", sa.BigInteger(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
    )

    with op.batch_alter_table("outbox_emails") as batch:
        batch.add_column(sa.Column("qr_code", sa.String(64), nullable=True))
    with op.batch_alter_table("labels") as batch:
        batch.add_column(sa.Column("drop_off_code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("attempt", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("labels") as batch:
        batch.drop_column("attempt")
        batch.drop_column("drop_off_code")
    with op.batch_alter_table("outbox_emails") as batch:
        batch.drop_column("qr_code")
    op.drop_table("return_inputs")
    op.drop_table("customer_lists")
