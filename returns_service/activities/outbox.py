"""The built-in email adapter: messages kept in an outbox table, once each by their key, in the
transaction that records what they tell of; the email relay (`email_relay.py`) sends them over
SMTP and keeps them as .eml files."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.activities.ports import EmailMessage
from returns_service.store.tables import OutboxEmailRow
from returns_service.store.upsert import insert_once


class OutboxEmail:
    async def keep(self, session: AsyncSession, message: EmailMessage) -> None:
        now = datetime.now(UTC)
        await insert_once(
            session,
            OutboxEmailRow,
            {
                "idempotency_key": message.key,
                "return_id": message.return_id,
                "recipient": message.to,
                "subject": message.subject,
                "body": message.body,
                "html": message.html,
                "qr_code": message.qr_code,
                "label_id": message.label_id,
                "created_at": now,
                "status": "pending",
                "next_attempt_at": now,
            },
        )
