"""The built-in email adapter: messages kept in an outbox table, once each by their key; the email
relay (`email_relay.py`) sends them over SMTP and keeps them as .eml files."""

from __future__ import annotations

from datetime import UTC, datetime

from returns_service.activities.ports import EmailMessage
from returns_service.store.db import Sessions
from returns_service.store.tables import OutboxEmailRow
from returns_service.store.upsert import insert_once


class OutboxEmail:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def send(self, message: EmailMessage) -> None:
        async with self.sessions.begin() as session:
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
                    "created_at": datetime.now(UTC),
                    "status": "pending",
                    "next_attempt_at": datetime.now(UTC),
                },
            )
