"""The shop's block and allow lists of customers, by email address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


async def remove_entry(session: AsyncSession, entry_id: str) -> bool:
    result = await session.execute(delete(CustomerListRow).where(CustomerListRow.id == entry_id))
    return bool(getattr(result, "rowcount", 0))
