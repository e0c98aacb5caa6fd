"""The email relay: sends what the outbox holds over SMTP (aiosmtplib), in the worker process.

A status change writes its message to the outbox in the local activity that records it; the relay
sends it afterwards, so an SMTP server that is slow or down never holds a return up, and a message
is never lost: each one is claimed for a while, sent, and marked sent; a failed send is tried again
with growing pauses (up to an hour apart) for three days, then marked failed. Two workers never
send the same message at once (the claim is one conditional UPDATE); a message may be sent twice
only if a worker dies between the SMTP server's acceptance and the mark, and it carries the same
Message-ID both times, so mail clients show it once.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage

import aiosmtplib
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.config import Settings
from returns_service.store.tables import OutboxEmailRow

log = logging.getLogger(__name__)

CLAIM = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(days=3)
BATCH = 20


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 3600))


class EmailRelay:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        assert settings.smtp_host is not None
        self.sessions = sessions
        self.settings = settings

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception:  # noqa: BLE001 - the store may be away for a moment; keep going
                log.exception("email relay pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    async def deliver_due(self) -> int:
        """Send every message that is due now; the number sent."""
        sent = 0
        while rows := await self._claim():
            for row in rows:
                sent += await self._send(row)
        return sent

    async def _claim(self) -> list[OutboxEmailRow]:
        now = datetime.now(UTC)
        async with self.sessions.begin() as session:
            due = (
                await session.scalars(
                    select(OutboxEmailRow.idempotency_key)
                    .where(OutboxEmailRow.status == "pending")
                    .where(OutboxEmailRow.next_attempt_at <= now)
                    .order_by(OutboxEmailRow.next_attempt_at)
                    .limit(BATCH)
                )
            ).all()
            if not due:
                return []
            claimed = await session.scalars(
                update(OutboxEmailRow)
                .where(
                    OutboxEmailRow.idempotency_key.in_(due),
                    OutboxEmailRow.status == "pending",
                    OutboxEmailRow.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + CLAIM)
                .returning(OutboxEmailRow)
            )
            return list(claimed.all())

    async def _send(self, row: OutboxEmailRow) -> int:
        settings = self.settings
        message = MimeMessage()
        message["From"] = settings.email_from
        message["To"] = row.recipient
        message["Subject"] = row.subject
        message["Message-ID"] = (
            f"<{hashlib.sha256(row.idempotency_key.encode()).hexdigest()[:32]}@returns>"
        )
        message.set_content(row.body)
        if row.html:
            message.add_alternative(row.html, subtype="html")
        now = datetime.now(UTC)
        try:
            await aiosmtplib.send(
                message,
                hostname=settings.smtp_host,
                port=settings.smtp_port,
                username=settings.smtp_username,
                password=settings.smtp_password.get_secret_value()
                if settings.smtp_password
                else None,
                start_tls=settings.smtp_starttls,
                timeout=30,
            )
        except (aiosmtplib.SMTPException, OSError) as error:
            attempts = row.attempts + 1
            gave_up = now - row.created_at > GIVE_UP_AFTER
            async with self.sessions.begin() as session:
                await session.execute(
                    update(OutboxEmailRow)
                    .where(OutboxEmailRow.idempotency_key == row.idempotency_key)
                    .values(
                        attempts=attempts,
                        last_error=repr(error)[:500],
                        status="failed" if gave_up else "pending",
                        next_attempt_at=now + backoff(attempts),
                    )
                )
            log.warning("email %s not sent (attempt %d): %r", row.idempotency_key, attempts, error)
            return 0
        async with self.sessions.begin() as session:
            await session.execute(
                update(OutboxEmailRow)
                .where(OutboxEmailRow.idempotency_key == row.idempotency_key)
                .values(status="sent", sent_at=now, attempts=row.attempts + 1, last_error=None)
            )
        return 1
