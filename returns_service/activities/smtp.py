"""The email relay: sends what the outbox holds over SMTP (aiosmtplib), in the worker process
(an outbox relay, see `relay.py`). A message sent twice (a worker died between the SMTP server's
acceptance and the mark) carries the same Message-ID both times, so mail clients show it once."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage

import aiosmtplib
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.activities.relay import Relay
from returns_service.config import Settings
from returns_service.domain.ids import derived
from returns_service.store.tables import OutboxEmailRow


class EmailRelay(Relay):
    table = OutboxEmailRow
    retryable = (aiosmtplib.SMTPException, OSError)
    name = "email"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        assert settings.smtp_host is not None
        super().__init__(sessions)
        self.settings = settings

    async def send(self, row: OutboxEmailRow) -> None:
        settings = self.settings
        message = MimeMessage()
        message["From"] = settings.email_from
        message["To"] = row.recipient
        message["Subject"] = row.subject
        message["Message-ID"] = f"<{derived(row.idempotency_key, 32)}@returns>"
        message.set_content(row.body)
        if row.html:
            message.add_alternative(row.html, subtype="html")
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=30,
        )
