"""The migrations build exactly the schema the tables describe, and take it back down again."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from returns_service.store.db import alembic_config, migrate
from returns_service.store.tables import Base


def differences(path: Path) -> list:
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        found = compare_metadata(context, Base.metadata)
    engine.dispose()
    return [d for d in found if not (isinstance(d, tuple) and d[1] == "alembic_version")]


def test_the_migrations_build_the_schema_the_tables_describe(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    assert differences(path) == []


def test_every_migration_goes_down_and_up_again(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    migrate(url)
    command.downgrade(alembic_config(url), "base")
    migrate(url)
    assert differences(tmp_path / "store.db") == []


def test_the_upgrade_to_entitlements_carries_the_tracking_numbers_of_returns_in_flight(tmp_path):
    """A store of the previous release (revision 0010) with a labelled return and one whose
    shipper reported their own parcel: after the upgrade each tracking number belongs to its
    return, so carrier events still find them and no other return can take them."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    command.upgrade(alembic_config(url), "0010")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    at = "2026-11-20 10:00:00+00:00"
    with engine.begin() as connection:
        for n, tracking in ((1, "RT1"), (2, "OWN2"), (3, None)):
            connection.execute(
                sa.text(
                    "INSERT INTO returns (id, number, status, customer_email, currency,"
                    " resolution, tracking_number, version, created_at, updated_at)"
                    " VALUES (:id, :number, 'shipped', 'a@b.c', 'EUR', 'refund', :t, 1, :at, :at)"
                ),
                {"id": f"ret_{n}", "number": f"R-{n}", "t": tracking, "at": at},
            )
        connection.execute(
            sa.text(
                "INSERT INTO labels (id, return_id, carrier, tracking_number, pdf, created_at,"
                " expires_at) VALUES ('lbl_1', 'ret_1', 'builtin', 'RT1', x'00', :at, :at)"
            ),
            {"at": at},
        )
    migrate(url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT tracking_number, return_id FROM tracking_numbers")
        )
        owners = {tracking: owner for tracking, owner in rows}
    engine.dispose()
    assert owners == {"RT1": "ret_1", "OWN2": "ret_2"}


def test_the_upgrade_to_plain_tracking_numbers_keeps_every_parcel_with_its_return(tmp_path):
    """Numbers stored with hyphens (revision 0022) become plain, so that a scan or a search for
    the number as the carrier prints it finds the return; where two returns held the same parcel
    under two spellings, the one already plain keeps it and the other's claim is not lost."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    command.upgrade(alembic_config(url), "0022")
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    at = "2026-12-01 10:00:00+00:00"
    with engine.begin() as connection:
        for n, tracking in ((1, "AB-12"), (2, "CD34"), (3, "CD-34")):
            connection.execute(
                sa.text(
                    "INSERT INTO returns (id, number, status, customer_email, currency,"
                    " resolution, tracking_number, version, created_at, updated_at)"
                    " VALUES (:id, :number, 'shipped', 'a@b.c', 'EUR', 'refund', :t, 1, :at, :at)"
                ),
                {"id": f"ret_{n}", "number": f"R-{n}", "t": tracking, "at": at},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO tracking_numbers (tracking_number, return_id, created_at)"
                    " VALUES (:t, :id, :at)"
                ),
                {"id": f"ret_{n}", "t": tracking, "at": at},
            )
    migrate(url)
    with engine.connect() as connection:
        claims = dict(
            connection.execute(
                sa.text("SELECT tracking_number, return_id FROM tracking_numbers")
            ).all()
        )
        searched = dict(
            connection.execute(sa.text("SELECT id, tracking_number FROM returns")).all()
        )
    engine.dispose()
    assert claims == {"AB12": "ret_1", "CD34": "ret_2", "CD-34": "ret_3"}
    assert searched == {"ret_1": "AB12", "ret_2": "CD34", "ret_3": "CD34"}
