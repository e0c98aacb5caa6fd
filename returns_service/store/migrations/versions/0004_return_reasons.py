"""return reasons

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 20:07:14.764695
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_reasons",
        sa.Column("return_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("return_id", "reason"),
    )
    with op.batch_alter_table("return_reasons", schema=None) as batch_op:
        batch_op.create_index(
            "ix_return_reasons_reason_created", ["reason", "created_at", "return_id"], unique=False
        )
        batch_op.create_index(
            "ix_return_reasons_reason_status",
            ["reason", "status", "created_at", "return_id"],
            unique=False,
        )
    # The returns registered before this revision.
    op.execute(
        "INSERT INTO return_reasons (return_id, reason, status, created_at)"
        " SELECT DISTINCT l.return_id, l.reason, r.status, r.created_at"
        " FROM return_lines l JOIN returns r ON r.id = l.return_id"
    )


def downgrade() -> None:
    with op.batch_alter_table("return_reasons", schema=None) as batch_op:
        batch_op.drop_index("ix_return_reasons_reason_status")
        batch_op.drop_index("ix_return_reasons_reason_created")

    op.drop_table("return_reasons")
