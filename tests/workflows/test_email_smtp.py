"""Customer email through a real SMTP server (aiosmtpd) on loopback: one message per status
change, to the customer, with the label link; an SMTP server that is down holds nothing up and
gets every message once it is back."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from returns_service.activities.email_relay import EmailRelay
from returns_service.config import Settings
from returns_service.domain.messages import ReturnUpdate, ShipReturn
from returns_service.domain.models import Actor, ReturnState
from returns_service.store.tables import OutboxEmailRow
from tests.conftest import free_port
from tests.factories import order_payload
from tests.workflows.conftest import finished, received_in_good_condition


@dataclass
class Inbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


async def a_finished_return(harness) -> ReturnState:
    order = await harness.put_order(order_payload(now=await harness.now(), email="ann@example.com"))
    handle = await harness.start(order)
    await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
    await handle.execute_update(
        ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")), result_type=ReturnState
    )
    await received_in_good_condition(handle)
    return await finished(handle)


def text_of(message: email.message.EmailMessage) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


async def test_one_message_per_status_change_to_the_customer_with_the_label_link(harness, smtp):
    inbox, port = smtp
    final = await a_finished_return(harness)
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=port, email_from="Shop <returns@shop.test>"
    )
    relay = EmailRelay(harness.sessions, settings)
    assert await relay.deliver_due() == 6
    assert await relay.deliver_due() == 0  # nothing twice
    subjects = [m["Subject"] for m in inbox.messages]
    number = final.number
    assert subjects == [
        f"Return {number} has been approved",
        f"Return {number}: your label is ready",
        f"Return {number} is on its way",
        f"Return {number} has arrived",
        f"Return {number} has been refunded",
        f"Return {number} is complete",
    ]
    assert {tuple(rcpt) for _, rcpt in inbox.envelopes} == {("ann@example.com",)}
    assert all(m["From"] == "Shop <returns@shop.test>" for m in inbox.messages)
    label = inbox.messages[1]
    # The link leads to the return's page (the label is there), which works in any mail client.
    link = f"http://127.0.0.1:8000/portal/returns/{final.id}"
    assert link in text_of(label)
    # No link that would need a key; the label's own link is signed and opens without one.
    assert "/v1/returns/" not in text_of(label)
    assert "/v1/labels/" in text_of(label) and "signature=" in text_of(label)
    [attached] = list(label.iter_attachments())
    assert attached.get_content_type() == "application/pdf"
    assert "builtin" not in text_of(label)  # no carrier a person would not know
    assert "drop it off by" in text_of(label)
    html = label.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link}"' in html
    assert "€27.25" in text_of(inbox.messages[4])
    async with harness.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxEmailRow).where(OutboxEmailRow.return_id == final.id)
            )
        ).all()
    assert {r.status for r in rows} == {"sent"} and len(rows) == 6


async def test_an_smtp_server_that_is_down_holds_nothing_up_and_gets_everything_later(
    harness, smtp
):
    inbox, port = smtp
    down = Settings(smtp_host="127.0.0.1", smtp_port=free_port())
    final = await a_finished_return(harness)  # the return completes while mail cannot go out
    assert final.status == "closed"
    assert await EmailRelay(harness.sessions, down).deliver_due() == 0
    async with harness.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxEmailRow).where(OutboxEmailRow.return_id == final.id)
            )
        ).all()
    assert {(r.status, r.attempts) for r in rows} == {("pending", 1)}
    assert all(r.last_error for r in rows)
    # The relay tries again when each message is due; make them due now, as time would.
    async with harness.sessions.begin() as session:
        for row in rows:
            (
                await session.get(OutboxEmailRow, row.idempotency_key)
            ).next_attempt_at = row.created_at
    up = Settings(smtp_host="127.0.0.1", smtp_port=port)
    assert await EmailRelay(harness.sessions, up).deliver_due() == 6
    assert len(inbox.messages) == 6


async def test_without_an_smtp_server_each_message_is_kept_as_an_eml_file(harness, tmp_path):
    final = await a_finished_return(harness)
    folder = tmp_path / "outbox"
    relay = EmailRelay(harness.sessions, Settings(email_from="returns@shop.test"), folder)
    assert await relay.deliver_due() == 6
    assert await relay.deliver_due() == 0
    files = sorted(folder.glob(f"email_{final.id}_*.eml"))
    assert len(files) == 6
    kept = {
        message["Subject"]: message
        for message in (
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
        )
    }
    label = kept[f"Return {final.number}: your label is ready"]
    assert label["To"] == "ann@example.com" and label["Message-ID"].endswith("@returns>")
    assert f"/portal/returns/{final.id}" in text_of(label)  # type: ignore[arg-type]
