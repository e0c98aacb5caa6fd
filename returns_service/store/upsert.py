"""INSERT ... ON CONFLICT for SQLite and PostgreSQL alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.tables import table as mapped


def _insert(session: AsyncSession, table: Any) -> Any:
    """A Core INSERT into a mapped class's table (the ORM's bulk machinery would cost a third
    of the statement's time, for nothing these statements need)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(mapped(table))


async def upsert(
    session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str]
) -> None:
    """Insert `values`, or update the row with the same `keys`."""
    statement = _insert(session, table).values(**values)
    updates = {k: v for k, v in values.items() if k not in keys}
    await session.execute(statement.on_conflict_do_update(index_elements=keys, set_=updates))


async def add_to(
    session: AsyncSession, table: Any, values: dict[str, Any], keys: list[str], column: str
) -> None:
    """Insert `values`, or add `values[column]` to the row with the same `keys` in one atomic
    statement (never read, add and write back: two at once would lose one)."""
    statement = _insert(session, table).values(**values)
    current = statement.table.c[column]
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=keys, set_={column: current + statement.excluded[column]}
        )
    )


async def insert_once(session: AsyncSession, table: Any, values: dict[str, Any]) -> bool:
    """Insert `values` unless a row with the same unique key exists; True when inserted."""
    statement = _insert(session, table).values(**values).on_conflict_do_nothing()
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))
