"""Customer sessions ended by signing out (their tokens are otherwise good until they expire)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.tables import RevokedSessionRow
from returns_service.store.upsert import insert_once


async def revoke(session: AsyncSession, sid: str, expires_at: datetime, now: datetime) -> None:
    await session.execute(delete(RevokedSessionRow).where(RevokedSessionRow.expires_at < now))
    await insert_once(session, RevokedSessionRow, {"sid": sid, "expires_at": expires_at})


async def is_revoked(session: AsyncSession, sid: str) -> bool:
    found = await session.scalar(select(RevokedSessionRow.sid).where(RevokedSessionRow.sid == sid))
    return found is not None
