"""Limits counted in the store, atomically: a key has `limit` slots in a sliding window, and a
request takes a free one with a conditional update, so that concurrent requests (on any number of
API processes) can never take more slots than there are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.tables import RateSlotRow
from returns_service.store.upsert import insert_once

NEVER = datetime(1970, 1, 1, tzinfo=UTC)


async def take_slot(
    session: AsyncSession, key: str, limit: int, window: timedelta, now: datetime
) -> timedelta | None:
    """Take one of `key`'s slots not used within `window`: None when taken, else how long until
    one frees."""
    for slot in range(limit):
        await insert_once(session, RateSlotRow, {"key": key, "slot": slot, "used_at": NEVER})
    for slot in range(limit):
        taken = await session.execute(
            update(RateSlotRow)
            .where(
                RateSlotRow.key == key,
                RateSlotRow.slot == slot,
                RateSlotRow.used_at <= now - window,
            )
            .values(used_at=now)
        )
        if getattr(taken, "rowcount", 0):
            return None
    oldest = await session.scalar(
        select(func.min(RateSlotRow.used_at)).where(
            RateSlotRow.key == key, RateSlotRow.slot < limit
        )
    )
    return (oldest or now) + window - now


async def give_back_slot(session: AsyncSession, key: str, taken_at: datetime) -> None:
    """The slot a request took at `taken_at` is free again: what it was for never happened."""
    slot = await session.scalar(
        select(RateSlotRow.slot)
        .where(RateSlotRow.key == key, RateSlotRow.used_at == taken_at)
        .limit(1)
    )
    if slot is not None:
        await session.execute(
            update(RateSlotRow)
            .where(RateSlotRow.key == key, RateSlotRow.slot == slot)
            .values(used_at=NEVER)
        )
