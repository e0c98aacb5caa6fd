"""refund entitlements: when their return set out to pay

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29 21:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("refund_entitlements") as batch:
        batch.add_column(sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    # Returns that paid something back, or were refunded, have their units back for good.
    op.execute(
        "UPDATE refund_entitlements SET settled_at = created_at"
        " WHERE return_id IN (SELECT return_id FROM ledger_entries WHERE status != 'failed')"
        " OR return_id IN (SELECT id FROM returns WHERE status = 'refunded')"
    )


def downgrade() -> None:
    with op.batch_alter_table("refund_entitlements") as batch:
        batch.drop_column("settled_at")
