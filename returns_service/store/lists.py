"""The shop's block and allow lists of customers, by email address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.cursors import decode_cursor, encode_cursor
from returns_service.store.tables import CustomerListRow


class Listed(Exception):
    """The address is on a list already (at most one entry each)."""

    def __init__(self, entry: CustomerListRow) -> None:
        super().__init__(f"{entry.email} is on the {entry.list} list already ({entry.id})")
        self.entry = entry


async def add_entry(
    session: AsyncSession,
    entry_id: str,
    kind: str,
    email: str,
    reason: str | None,
    by: str,
    now: datetime,
) -> CustomerListRow:
    email = email.lower()
    existing = await entry_for(session, email)
    if existing is not None:
        raise Listed(existing)
    row = CustomerListRow(
        id=entry_id, list=kind, email=email, reason=reason, created_by=by, created_at=now
    )
    session.add(row)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        # Another request listed it meanwhile: the unique address decides.
        raced = await entry_for(session, email)
        if raced is None:
            raise
        raise Listed(raced) from None
    return row


async def entry_for(session: AsyncSession, email: str) -> CustomerListRow | None:
    return await session.scalar(
        select(CustomerListRow).where(CustomerListRow.email == email.lower())
    )


async def entries(session: AsyncSession, kind: str | None = None) -> list[CustomerListRow]:
    query = select(CustomerListRow).order_by(CustomerListRow.created_at.desc(), CustomerListRow.id)
    if kind is not None:
        query = query.where(CustomerListRow.list == kind)
    return list(await session.scalars(query))


async def page_of_entries(
    session: AsyncSession, kind: str | None, limit: int, cursor: str | None = None
) -> tuple[list[CustomerListRow], str | None]:
    """Newest first, `limit` at a time; the cursor (ValueError: not one of ours) continues
    after the last entry of the page before."""
    created_at, ident = CustomerListRow.created_at, CustomerListRow.id
    query = select(CustomerListRow)
    if kind is not None:
        query = query.where(CustomerListRow.list == kind)
    if cursor:
        at, last_id = decode_cursor(cursor)
        query = query.where(tuple_(created_at, ident) < tuple_(at, last_id))
    query = query.order_by(created_at.desc(), ident.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    page = rows[:limit]
    following = encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit else None
    return page, following


async def remove_entry(session: AsyncSession, entry_id: str) -> bool:
    result = await session.execute(delete(CustomerListRow).where(CustomerListRow.id == entry_id))
    return bool(getattr(result, "rowcount", 0))
