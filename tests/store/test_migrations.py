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
