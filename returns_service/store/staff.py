"""Staff accounts and their console sessions. Passwords are kept as Argon2id hashes (argon2-cffi)
and compared in a worker thread; a session is kept by the hash of its token."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.tables import StaffSessionRow, StaffUserRow

_hasher = PasswordHasher()
# Compared against when the email is unknown, so that the answer takes as long either way.
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))
# A session's last use is written at most this often.
TOUCH_EVERY = timedelta(minutes=1)


class EmailTaken(Exception):
    pass


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def _matches(hashed: str, password: str) -> bool:
    def check() -> bool:
        try:
            return bool(_hasher.verify(hashed, password))
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


async def create_staff(
    session: AsyncSession, email: str, name: str, role: str, password: str, now: datetime
) -> StaffUserRow:
    email = email.lower()
    if await session.scalar(select(StaffUserRow.id).where(StaffUserRow.email == email)):
        raise EmailTaken(email)
    row = StaffUserRow(
        id="su_" + secrets.token_hex(8),
        email=email,
        name=name,
        role=role,
        password_hash=await hash_password(password),
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    return row


async def list_staff(session: AsyncSession) -> list[StaffUserRow]:
    return list(await session.scalars(select(StaffUserRow).order_by(StaffUserRow.created_at)))


async def get_staff(session: AsyncSession, staff_id: str) -> StaffUserRow | None:
    return await session.get(StaffUserRow, staff_id)


async def end_sessions(session: AsyncSession, staff_id: str, now: datetime) -> None:
    await session.execute(
        update(StaffSessionRow)
        .where(StaffSessionRow.staff_id == staff_id, StaffSessionRow.ended_at.is_(None))
        .values(ended_at=now)
    )


async def set_active(session: AsyncSession, row: StaffUserRow, active: bool, now: datetime) -> None:
    row.active = active
    row.updated_at = now
    if not active:
        await end_sessions(session, row.id, now)


async def set_role(session: AsyncSession, row: StaffUserRow, role: str, now: datetime) -> None:
    """Another role: the account's open sessions end, so that it signs in again to what it may
    do now."""
    row.role = role
    row.updated_at = now
    await end_sessions(session, row.id, now)


async def other_admins(session: AsyncSession, staff_id: str) -> int:
    """Active admins besides this account: the shop keeps at least one."""
    return int(
        await session.scalar(
            select(func.count())
            .select_from(StaffUserRow)
            .where(
                StaffUserRow.role == "admin",
                StaffUserRow.active.is_(True),
                StaffUserRow.id != staff_id,
            )
        )
        or 0
    )


async def set_password(
    session: AsyncSession, row: StaffUserRow, password: str, now: datetime
) -> None:
    row.password_hash = await hash_password(password)
    row.updated_at = now
    await end_sessions(session, row.id, now)


async def sign_in(
    session: AsyncSession, email: str, password: str, now: datetime
) -> tuple[StaffUserRow, str] | None:
    """The active account and a new session's token, if the password is right."""
    row = await session.scalar(select(StaffUserRow).where(StaffUserRow.email == email.lower()))
    if row is None:
        await _matches(_NOBODY, password)
        return None
    if not await _matches(row.password_hash, password) or not row.active:
        return None
    token = secrets.token_urlsafe(32)
    session.add(StaffSessionRow(id=_key(token), staff_id=row.id, created_at=now, last_seen_at=now))
    return row, token


async def signed_in(
    session: AsyncSession, token: str, idle: timedelta, now: datetime
) -> StaffUserRow | None:
    """The account of a session that is open, not idle too long, of an active account."""
    found = await session.get(StaffSessionRow, _key(token))
    if found is None or found.ended_at is not None or found.last_seen_at < now - idle:
        return None
    row = await session.get(StaffUserRow, found.staff_id)
    if row is None or not row.active:
        return None
    if found.last_seen_at < now - TOUCH_EVERY:
        found.last_seen_at = now
    return row


async def sign_out(session: AsyncSession, token: str, now: datetime) -> None:
    await session.execute(
        update(StaffSessionRow).where(StaffSessionRow.id == _key(token)).values(ended_at=now)
    )


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
