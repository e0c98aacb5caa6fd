"""return_photos: the customer's photos of returned items, kept by the service

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "return_photos",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("return_id", sa.String(64), nullable=False, index=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("content_type", sa.String(32), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("return_id", "item_id", "sha256", name="uq_return_photos_once"),
    )


def downgrade() -> None:
    op.drop_table("return_photos")
