"""Tracking numbers without hyphens: "AB-12" and "AB12" are one parcel, claimed once; returns
found by a gift's recipient

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 14:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A claim whose plain form another return already holds stays as it was: the parcel is that
    # other return's, and no claim is dropped by an upgrade.
    bind = op.get_bind()
    held = {row[0] for row in bind.execute(sa.text("SELECT tracking_number FROM tracking_numbers"))}
    for (number,) in bind.execute(
        sa.text("SELECT tracking_number FROM tracking_numbers WHERE tracking_number LIKE '%-%'")
    ).all():
        plain = number.replace("-", "")
        if plain and plain not in held:
            bind.execute(
                sa.text(
                    "UPDATE tracking_numbers SET tracking_number = :plain"
                    " WHERE tracking_number = :n"
                ),
                {"plain": plain, "n": number},
            )
            held.add(plain)
    op.execute(
        "UPDATE returns SET tracking_number = REPLACE(tracking_number, '-', '')"
        " WHERE tracking_number LIKE '%-%'"
    )
    op.create_index("ix_returns_recipient_email", "returns", ["recipient_email"])


def downgrade() -> None:
    op.drop_index("ix_returns_recipient_email", "returns")
    # The plain numbers are the same parcels under the earlier code.
