"""return_notes (staff notes on returns whose workflow has ended); webhook_endpoints' previous
secret (signing beside a rotated one for a day)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-05 19:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_notes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
    )
    op.create_index("ix_return_notes_return_id", "return_notes", ["return_id"])
    with op.batch_alter_table("webhook_endpoints") as table:
        table.add_column(sa.Column("previous_secret", sa.String(100), nullable=True))
        table.add_column(
            sa.Column("previous_secret_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as table:
        table.drop_column("previous_secret_until")
        table.drop_column("previous_secret")
    op.drop_index("ix_return_notes_return_id", "return_notes")
    op.drop_table("return_notes")
