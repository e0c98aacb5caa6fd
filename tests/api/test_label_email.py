"""The label reaches the customer: the label email carries the PDF as an attachment and a signed
link that opens the label without signing in, until the label expires, and never once its return
will not be sent; a link changed in any part opens nothing."""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import update

from returns_service.activities.email_relay import EmailRelay
from returns_service.domain.links import label_link
from returns_service.store.tables import LabelRow
from tests.api.conftest import Api


async def label_email(api: Api, return_id: str, folder: Path) -> email.message.EmailMessage:
    await EmailRelay(api.sessions, api.settings, folder).deliver_due()
    [path] = folder.glob(f"email_{return_id}_label_sent.eml")
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


async def test_the_label_email_carries_the_pdf_and_a_link_that_opens_it_until_it_expires(
    api: Api, tmp_path: Path
):
    created = await api.create(await api.put_order())
    assert created.status_code == 201, created.text
    ret = await api.wait_for(created.json()["id"], "label_sent")
    message = await label_email(api, ret["id"], tmp_path)

    [attachment] = list(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf"
    tracking = ret["label"]["tracking_number"]
    assert attachment.get_filename() == f"label-{tracking}.pdf"
    pdf = attachment.get_content()
    assert pdf.startswith(b"%PDF")

    text = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "is attached to this email" in text
    [link] = re.findall(r"https?://\S+/v1/labels/\S+", text)
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link.replace("&", "&amp;")}"' in html
    path = link.split("://", 1)[1].split("/", 1)[1]

    # Opened by anyone holding the link, without a session or a key: the same PDF.
    async with httpx.AsyncClient(base_url=str(api.http.base_url)) as stranger:
        opened = await stranger.get(f"/{path}")
        assert opened.status_code == 200, opened.text
        assert opened.headers["content-type"] == "application/pdf"
        assert opened.content == pdf

        # Any part changed opens nothing: another signature, another expiry, another label.
        signature = re.search(r"signature=([0-9a-f]+)", path)
        assert signature is not None
        forged = path.replace(
            signature[1], ("0" if signature[1][0] != "0" else "1") + signature[1][1:]
        )
        assert (await stranger.get(f"/{forged}")).status_code == 404
        later = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 86400}", path)
        assert (await stranger.get(f"/{later}")).status_code == 404
        label_id = path.split("/")[2]
        other = path.replace(label_id, label_id + "x")
        assert (await stranger.get(f"/{other}")).status_code == 404
        # The QR link of a printed label shows nothing, and names nothing of the shop's.
        qr = await stranger.get(f"/{path.replace('label.pdf', 'qr.png')}")
        assert qr.status_code == 404 and ret["id"] not in qr.text

        # Once the label has expired, its link (made for it as it is now) opens nothing.
        expired = datetime.now(UTC) - timedelta(minutes=1)
        async with api.sessions.begin() as session:
            await session.execute(
                update(LabelRow).where(LabelRow.id == label_id).values(expires_at=expired)
            )
        stale = label_link(str(api.http.base_url), api.settings.link_key(), label_id, expired)
        assert (await stranger.get(stale)).status_code == 404
        async with api.sessions.begin() as session:
            await session.execute(
                update(LabelRow)
                .where(LabelRow.id == label_id)
                .values(expires_at=datetime.fromisoformat(ret["label"]["expires_at"]))
            )
        assert (await stranger.get(f"/{path}")).status_code == 200

        # The return is cancelled: its label is void, and the link opens nothing.
        cancelled = await api.act(ret["id"], "cancel", "agent", {"reason": "kept it"})
        assert cancelled.status_code == 200, cancelled.text
        assert (await stranger.get(f"/{path}")).status_code == 404
