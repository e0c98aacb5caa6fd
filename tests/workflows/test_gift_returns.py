"""A gift's return on the time-skipping test server with the real activities over SQLite: its
recipient is paid in store credit of their own, never on the buyer's card, and every email goes
to the recipient; the buyer hears nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from returns_service.domain.messages import (
    RefundReturn,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, RefundMethod, Resolution, ReturnState
from returns_service.store.tables import LedgerEntryRow, OutboxEmailRow
from tests.factories import order_payload
from tests.workflows.conftest import finished, received_in_good_condition

RECIPIENT = "grace.gift@example.com"
BUYER = "ann.buyer@example.com"


async def update(handle, name, message=None):
    args = [] if message is None else [message]
    return await handle.execute_update(name, args=args, result_type=ReturnState)


def gift(now):
    address = {
        "name": "Grace",
        "line1": "1 High St",
        "postal_code": "SW1A 1AA",
        "city": "London",
        "country": "GB",
    }
    return order_payload(now=now, email=BUYER, gift=True, shipping_address=address)


async def test_a_gift_is_paid_back_as_store_credit_to_its_recipient_who_alone_is_told(harness):
    order = await harness.put_order(gift(await harness.now()))
    handle = await harness.start(
        order,
        resolution=Resolution.STORE_CREDIT,
        recipient_email=RECIPIENT,
        actor=Actor(kind="customer", id=RECIPIENT),
    )
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent" and decided.recipient_email == RECIPIENT
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer", id=RECIPIENT)))
    await received_in_good_condition(handle)
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2725
    assert [(r.method, r.issued_to, r.capture_id) for r in final.refunds] == [
        (RefundMethod.STORE_CREDIT, RECIPIENT, None)
    ]
    async with harness.sessions() as session:
        ledger = (
            await session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.return_id == final.id)
            )
        ).all()
        emails = (
            await session.scalars(
                select(OutboxEmailRow).where(OutboxEmailRow.return_id == final.id)
            )
        ).all()
    assert [(row.method, row.holder_email, row.amount) for row in ledger] == [
        ("store_credit", RECIPIENT, 2725)
    ]
    statuses = sorted(row.idempotency_key.rsplit(":", 1)[1] for row in emails)
    assert statuses == ["approved", "closed", "label_sent", "received", "refunded", "shipped"]
    assert {row.recipient for row in emails} == {RECIPIENT}


async def test_an_agent_cannot_pay_a_gift_back_to_the_buyers_card(harness):
    order = await harness.put_order(gift(await harness.now()))
    handle = await harness.start(
        order,
        policy=Policy(auto_refund=False),
        resolution=Resolution.STORE_CREDIT,
        recipient_email=RECIPIENT,
    )
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await received_in_good_condition(handle)
    agent = Actor(kind="agent", id="maria@shop.example")
    for asked in (
        RefundReturn(actor=agent, method=RefundMethod.ORIGINAL_PAYMENT),
        RefundReturn(actor=agent, capture_id=order.captures[0].id),
    ):
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await update(handle, ReturnUpdate.REFUND, asked)
        assert "store credit to its recipient" in str(refused.value.cause)
    paid = await update(handle, ReturnUpdate.REFUND, RefundReturn(actor=agent))
    assert [(r.method, r.issued_to) for r in paid.refunds] == [
        (RefundMethod.STORE_CREDIT, RECIPIENT)
    ]
