"""The email relay: sends what the outbox holds, in the worker process (an outbox relay, see
`relay.py`): over SMTP (aiosmtplib) when an SMTP server is set, and as `.eml` files in the outbox
folder when there is one. The MIME message is composed here, when it is sent, not in the step
that records the status. A message sent twice (a worker died between the SMTP server's acceptance
and the mark) carries the same Message-ID both times, so mail clients show it once."""

from __future__ import annotations

import asyncio
import os
from email.message import EmailMessage as MimeMessage
from pathlib import Path

import aiosmtplib

from returns_service.activities.emails import QR_CID
from returns_service.activities.relay import Relay
from returns_service.config import Settings
from returns_service.documents.label_pdf import label_pdf
from returns_service.documents.qr import qr_png
from returns_service.domain.ids import derived
from returns_service.store.db import Sessions
from returns_service.store.returns import keep_label_pdf
from returns_service.store.tables import LabelRow, OutboxEmailRow


def mime(
    row: OutboxEmailRow,
    sender: str,
    attachment: tuple[str, bytes] | None = None,
    qr_image: bytes | None = None,
) -> MimeMessage:
    message = MimeMessage()
    message["From"] = sender
    message["To"] = row.recipient
    message["Subject"] = row.subject
    message["Message-ID"] = f"<{derived(row.idempotency_key, 32)}@returns>"
    message.set_content(row.body)
    if row.html:
        message.add_alternative(row.html, subtype="html")
        if row.qr_code:
            # The drop-off QR inside the message (an image from the web would need a sign-in).
            html = message.get_body(preferencelist=("html",))
            assert isinstance(html, MimeMessage)
            image = qr_image or qr_png(row.qr_code)
            html.add_related(image, "image", "png", cid=f"<{QR_CID}>")
    if attachment is not None:
        filename, pdf = attachment
        message.add_attachment(pdf, "application", "pdf", filename=filename)
    return message


async def carriers_qr(sessions: Sessions, label_id: str) -> bytes | None:
    """A drop-off label's QR image as its carrier made it (EasyPost), if it did."""
    async with sessions() as session:
        label = await session.get(LabelRow, label_id)
    if label is None or label.drop_off_code is None or not label.pdf:
        return None
    return label.pdf if label.pdf.startswith(b"\x89PNG") else None


async def label_attachment(sessions: Sessions, label_id: str) -> tuple[str, bytes] | None:
    """The label's PDF as the email attaches it (the built-in carrier's is drawn now, and kept,
    as its first download would); none when the label has nothing to print."""
    async with sessions() as session:
        label = await session.get(LabelRow, label_id)
    if label is None or label.drop_off_code is not None:
        return None
    pdf = label.pdf
    if pdf is None:
        pdf = await asyncio.to_thread(label_pdf, label)
        async with sessions.begin() as session:
            await keep_label_pdf(session, label.id, pdf)
    return f"label-{label.tracking_number}.pdf", pdf


class EmailRelay(Relay):
    table = OutboxEmailRow
    retryable = (aiosmtplib.SMTPException, OSError)
    name = "email"

    def __init__(self, sessions: Sessions, settings: Settings, folder: Path | None = None) -> None:
        super().__init__(sessions)
        self.settings = settings
        self.folder = folder

    async def send(self, row: OutboxEmailRow) -> None:
        settings = self.settings
        attachment = qr = None
        if row.label_id and row.qr_code:
            qr = await carriers_qr(self.sessions, row.label_id)
        elif row.label_id:
            attachment = await label_attachment(self.sessions, row.label_id)
        message = mime(row, settings.email_from, attachment, qr)
        if self.folder is not None:
            await asyncio.to_thread(self._keep, row.idempotency_key, bytes(message))
        if settings.smtp_host is None:
            return
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            start_tls=settings.smtp_starttls,
            timeout=30,
        )

    def _keep(self, key: str, content: bytes) -> None:
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        final = self.folder / f"{key.replace(':', '_')}.eml"
        # Written under another name and renamed, so that whoever watches the folder (a mail
        # pickup, a test) never reads half a message.
        partial = final.with_name(f".{final.name}.{os.getpid()}.part")
        partial.write_bytes(content)
        os.replace(partial, final)
