"""The built-in email adapter: messages in an outbox table, which the SMTP relay sends from when
there is an SMTP server, and as .eml files when a folder is given."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage as MimeMessage
from pathlib import Path

from returns_service.activities.ports import (
    EmailMessage,
)
from returns_service.store.db import Sessions
from returns_service.store.tables import (
    OutboxEmailRow,
)
from returns_service.store.upsert import insert_once


class OutboxEmail:
    def __init__(self, sessions: Sessions, folder: Path | None = None) -> None:
        self.sessions = sessions
        self.folder = folder

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
        if self.folder is not None:
            mime = MimeMessage()
            mime["To"] = message.to
            mime["Subject"] = message.subject
            mime.set_content(message.body)
            if message.html:
                mime.add_alternative(message.html, subtype="html")
            self.folder.mkdir(parents=True, exist_ok=True)
            (self.folder / f"{message.key.replace(':', '_')}.eml").write_bytes(bytes(mime))
