"""Refund at the first scan (Loop's and AfterShip's "instant refunds"): a return whose policy, or
whose rules for every item, say `refund_on: first_scan` is paid back when the carrier first
reports its parcel moving, the approved amount, once; the receipt still grades and restocks and
pays nothing more; a customer's own "I sent it" is not a scan; units that never arrive stay
paid for (an agent chases the parcel), never released to be returned and paid again."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from returns_service.domain.messages import (
    CARRIER_EVENT_SIGNAL,
    STATE_QUERY,
    CarrierEvent,
    ReceivedItem,
    ReceiveItems,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Condition, Policy, ReturnState, Rule
from returns_service.store.tables import OutboxEmailRow
from tests.factories import order_payload
from tests.workflows.conftest import finished, received_in_good_condition, until_state

FIRST_SCAN = Policy(refund_on="first_scan", review_if_returns_in_90_days_over=None)


async def subjects(harness, return_id: str) -> list[str]:
    async with harness.sessions() as session:
        rows = await session.scalars(
            select(OutboxEmailRow)
            .where(OutboxEmailRow.return_id == return_id)
            .order_by(OutboxEmailRow.created_at)
        )
        return [row.subject for row in rows]


async def scan(harness, status: str = "in_transit") -> CarrierEvent:
    """The carrier's event now, by the test server's clock (which skips ahead of the wall's)."""
    return CarrierEvent(
        id=f"ev_{status}", tracking_number="T", status=status, occurred_at=await harness.now()
    )


async def label_sent(harness, policy: Policy, quantity: int = 1, email: str = "ann@example.com"):
    payload = order_payload(now=await harness.now(), email=email)
    order = await harness.put_order(payload, order_id=f"o_{email.split('@')[0]}_{quantity}")
    handle = await harness.start(order, quantity=quantity, policy=policy)
    await until_state(handle, lambda s: s.status == "label_sent", "sent its label")
    return handle


async def test_paid_at_the_carriers_first_scan_and_the_receipt_pays_nothing_more(harness):
    handle = await label_sent(harness, FIRST_SCAN)
    await handle.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    paid = await until_state(handle, lambda s: s.refunded_amount > 0, "was paid at the scan")
    assert paid.status == "shipped"  # nothing back at the warehouse yet
    assert paid.refund_due_at_first_scan is not None
    assert paid.refunded_amount == paid.approved_amount == 2725
    [refund] = paid.refunds
    assert refund.status == "succeeded" and refund.method == "original_payment"
    assert "refunded at the carrier's first scan" in [e.note for e in paid.timeline]
    # The customer is told of the refund now, and not again when the parcel arrives.
    assert await subjects(harness, paid.id) == [
        f"Return {paid.number} has been approved",
        f"Return {paid.number}: your label is ready",
        f"Return {paid.number} is on its way",
        f"Return {paid.number} has been refunded",
    ]

    # The carrier says it again, and later: nothing is paid twice.
    await handle.signal(CARRIER_EVENT_SIGNAL, await scan(harness, "out_for_delivery"))
    await handle.signal(CARRIER_EVENT_SIGNAL, await scan(harness, "delivered"))

    # The warehouse receives it: graded and restocked, nothing more paid, closed.
    await received_in_good_condition(handle)
    final = await finished(handle)
    assert final.status == "closed"
    assert final.refunded_amount == 2725 and len(final.refunds) == 1
    assert final.items[0].quantity_restocked == 1
    told = await subjects(harness, paid.id)
    assert told.count(f"Return {paid.number} has been refunded") == 1
    assert told[-1] == f"Return {paid.number} is complete"


async def test_a_customers_own_word_is_not_a_scan_and_receipt_policies_wait(harness):
    handle = await label_sent(harness, FIRST_SCAN, email="bo@example.com")
    shipped = await handle.execute_update(
        ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")), result_type=ReturnState
    )
    assert shipped.status == "shipped"
    state = await handle.query(STATE_QUERY, result_type=ReturnState)
    assert state.refunded_amount == 0 and state.refund_due_at_first_scan is None
    # The carrier's scan comes after the customer's word: that one pays.
    await handle.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    await until_state(handle, lambda s: s.refunded_amount == 2725, "was paid at the scan")

    # The policy's default (`receipt`): the scan ships it and pays nothing.
    waits = await label_sent(
        harness, Policy(review_if_returns_in_90_days_over=None), email="cy@x.io"
    )
    await waits.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    moved = await until_state(waits, lambda s: s.status == "shipped", "shipped")
    assert moved.refunded_amount == 0 and moved.refund_due_at_first_scan is None
    await received_in_good_condition(waits)
    assert (await finished(waits)).refunded_amount == 2725


async def test_a_rule_pays_an_allow_listed_customer_at_the_first_scan(harness):
    trusted = Rule.model_validate(
        {
            "name": "trusted",
            "when": {"customer_emails": ["vip@example.com"]},
            "then": {"refund_on": "first_scan"},
        }
    )
    policy = Policy(rules=[trusted], review_if_returns_in_90_days_over=None)
    vip = await label_sent(harness, policy, email="vip@example.com")
    await vip.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    await until_state(vip, lambda s: s.refunded_amount == 2725, "was paid at the scan")
    other = await label_sent(harness, policy, email="dee@example.com")
    await other.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    moved = await until_state(other, lambda s: s.status == "shipped", "shipped")
    assert moved.refunded_amount == 0


async def test_units_paid_at_the_scan_that_never_arrive_stay_paid_for_not_released(harness):
    handle = await label_sent(harness, FIRST_SCAN, quantity=2, email="eve@example.com")
    await handle.signal(CARRIER_EVENT_SIGNAL, await scan(harness))
    paid = await until_state(handle, lambda s: s.refunded_amount > 0, "was paid at the scan")
    assert paid.refunded_amount == 2 * 2725
    receipt = ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[ReceivedItem(item_id="ri_1", quantity=1, condition=Condition.GOOD)],
    )
    got = await handle.execute_update(ReturnUpdate.RECEIVE, receipt, result_type=ReturnState)
    assert got.missing_until is None and got.items[0].quantity_released == 0
    assert "an agent chases the parcel" in (got.timeline[-1].note or "")
    assert "reject" not in got.actions()
    final = await finished(handle)
    assert final.status == "closed"
    assert final.refunded_amount == 2 * 2725
    assert final.items[0].quantity_released == 0  # not returnable again: it was paid for


async def test_a_scan_dated_before_the_label_makes_nothing_due(harness):
    """Found by the attack: a carrier event dated years before the label (a stale or reused
    tracking number) ships the return as before, but pays nothing; the receipt pays."""
    handle = await label_sent(harness, FIRST_SCAN, email="old@example.com")
    stale = CarrierEvent(
        id="ev_stale", tracking_number="T", status="available_for_pickup",
        occurred_at=datetime(2020, 1, 1, tzinfo=UTC),
    )  # fmt: skip
    await handle.signal(CARRIER_EVENT_SIGNAL, stale)
    moved = await until_state(handle, lambda s: s.status == "shipped", "shipped")
    assert moved.refunded_amount == 0 and moved.refund_due_at_first_scan is None
    await received_in_good_condition(handle)
    final = await finished(handle)
    assert final.refunded_amount == 2725 and final.refund_due_at_first_scan is None
