"""returns.recipient_email (a gift's return: its recipient, who alone among customers sees it)
and ledger_entries.holder_email (whose store credit it is)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30 06:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Returns and refunds before gifts: none of them a gift's, every store credit the customer's.
    with op.batch_alter_table("returns") as batch:
        batch.add_column(sa.Column("recipient_email", sa.String(320), nullable=True))
    with op.batch_alter_table("ledger_entries") as batch:
        batch.add_column(sa.Column("holder_email", sa.String(320), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ledger_entries") as batch:
        batch.drop_column("holder_email")
    with op.batch_alter_table("returns") as batch:
        batch.drop_column("recipient_email")
