"""A new label for an expired return, and items a customer forgot, on the time-skipping test server
with the real activities over SQLite."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError

from returns_service.domain.messages import (
    AddItems,
    ApproveReturn,
    ReceiveItems,
    ReissueLabel,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, ReturnItem, ReturnState
from returns_service.store import lists
from returns_service.store.tables import ReturnLineRow
from tests.factories import order_payload
from tests.workflows.conftest import finished

CUSTOMER = Actor(kind="customer", id="ann@example.com")
SOCKS = {
    "id": "l2",
    "sku": "SKU-SOCK",
    "name": "Socks",
    "quantity": 3,
    "unit_amount": 900,
    "tax_amount": 513,
    "category": "apparel",
}
GIFT_CARD = {**SOCKS, "id": "l3", "sku": "SKU-GIFT", "name": "Gift card", "final_sale": True}


async def update(handle, name, message=None):
    args = [] if message is None else [message]
    return await handle.execute_update(name, args=args, result_type=ReturnState)


async def state_of(handle) -> ReturnState:
    return await handle.query("state", result_type=ReturnState)


async def until(handle, status: str) -> ReturnState:
    for _ in range(200):
        state = await state_of(handle)
        if state.status == status:
            return state
        await asyncio.sleep(0.025)
    raise AssertionError(f"{handle.id} never became {status}: {state.status}")


def added(line: dict, number: int, quantity: int = 1) -> ReturnItem:
    return ReturnItem(
        id=f"ri_{number}", order_id="o_1", line_id=line["id"], sku=line["sku"],
        name=line["name"], quantity=quantity, reason="wrong_size",
    )  # fmt: skip


def received(*item_ids: str) -> ReceiveItems:
    return ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": i, "quantity": 1, "condition": "good"} for i in item_ids],
    )


# --- a new label ----------------------------------------------------------------------------------


async def test_an_expired_return_gets_a_new_label_and_is_sent_back_with_it(harness, env):
    order = await harness.put_order(order_payload(now=await harness.now()))
    policy = Policy(label_expiry_days=2, label_reissue_days=5)
    handle = await harness.start(order, policy=policy)
    first = await update(handle, ReturnUpdate.WAIT_DECIDED)
    await env.sleep(timedelta(days=2, seconds=1))
    expired = await until(handle, "expired")
    assert expired.reissue_until is not None
    assert expired.reissue_until - expired.timestamps.expired_at == timedelta(days=5)
    assert expired.actions() == ["reissue_label"]
    again = await update(handle, ReturnUpdate.REISSUE_LABEL, ReissueLabel(actor=CUSTOMER))
    assert again.status == "label_sent" and again.reissue_until is None
    assert again.label.tracking_number != first.label.tracking_number
    lifetime = again.label.expires_at - again.timestamps.label_sent_at
    assert timedelta(days=2, seconds=-5) < lifetime <= timedelta(days=2)
    assert [(e.status, e.actor.kind, e.note) for e in again.timeline][-2:] == [
        ("expired", "system", "no shipment before expiry"),
        ("label_sent", "customer", "a new label"),
    ]
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=CUSTOMER))
    await update(handle, ReturnUpdate.RECEIVE, received("ri_1"))
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2725


async def test_after_the_days_for_a_new_label_expired_is_final(harness, env):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=Policy(label_expiry_days=1, label_reissue_days=3))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await env.sleep(timedelta(days=1, seconds=1))
    await until(handle, "expired")
    await env.sleep(timedelta(days=3, seconds=1))
    final = await finished(handle)
    assert final.status == "expired" and final.reissue_until is None
    assert final.actions() == []


async def test_no_new_label_once_other_returns_hold_the_units(harness, env):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=Policy(label_expiry_days=1, label_reissue_days=3))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await env.sleep(timedelta(days=1, seconds=1))
    await until(handle, "expired")
    # Both shirts go back in another return meanwhile.
    other = await harness.start(order, quantity=2)
    assert (await update(other, ReturnUpdate.WAIT_DECIDED)).status == "label_sent"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, ReturnUpdate.REISSUE_LABEL, ReissueLabel(actor=CUSTOMER))
    assert "other returns hold them" in str(refused.value.cause)
    state = await state_of(handle)
    assert state.status == "expired" and "reissue_label" in state.actions()


# --- a forgotten item -----------------------------------------------------------------------------


async def test_a_forgotten_item_joins_the_parcel_and_the_refund(harness):
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[order_payload()["lines"][0], SOCKS])
    )
    handle = await harness.start(order)
    sent = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert sent.estimated_refund_amount == 2725
    grown = await update(
        handle, ReturnUpdate.ADD_ITEMS, AddItems(actor=CUSTOMER, items=[added(SOCKS, 2)])
    )
    assert [item.id for item in grown.items] == ["ri_1", "ri_2"]
    assert grown.estimated_refund_amount == 2725 + 900 + 171  # a third of the socks' tax
    assert grown.label == sent.label and grown.status == "label_sent"
    assert grown.timeline[-1].note == "items added: Socks ×1"
    assert grown.timeline[-1].actor == CUSTOMER
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=CUSTOMER))
    await update(handle, ReturnUpdate.RECEIVE, received("ri_1", "ri_2"))
    final = await finished(handle)
    assert final.refunded_amount == 2725 + 1071


async def test_an_item_the_policy_refuses_is_not_added_and_holds_nothing(harness):
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[order_payload()["lines"][0], GIFT_CARD])
    )
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(
            handle, ReturnUpdate.ADD_ITEMS, AddItems(actor=CUSTOMER, items=[added(GIFT_CARD, 2)])
        )
    assert "final sale" in str(refused.value.cause)
    state = await state_of(handle)
    assert [item.id for item in state.items] == ["ri_1"] and state.estimated_refund_amount == 2725
    async with harness.sessions() as session:
        lines = (
            await session.scalars(
                select(ReturnLineRow.item_id).where(ReturnLineRow.return_id == state.id)
            )
        ).all()
    assert lines == ["ri_1"]
    # A line already in the return, or a return whose parcel left, takes nothing more.
    with pytest.raises(WorkflowUpdateFailedError):
        await update(
            handle,
            ReturnUpdate.ADD_ITEMS,
            AddItems(actor=CUSTOMER, items=[added(order_payload()["lines"][0], 2)]),
        )
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=CUSTOMER))
    with pytest.raises(WorkflowUpdateFailedError) as late:
        await update(
            handle, ReturnUpdate.ADD_ITEMS, AddItems(actor=CUSTOMER, items=[added(SOCKS, 2)])
        )
    assert "shipped" in str(late.value.cause)


async def test_a_customer_adding_items_learns_no_threshold_and_no_block_reason(harness):
    """The attack found the review threshold in the refusal a customer reads; the block list's
    reason would have been there too."""
    async with harness.sessions.begin() as session:
        await lists.add_entry(
            session, "cl_9", "blocked", "ann@example.com", "chargebacks", "ops", datetime.now(UTC)
        )
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[order_payload()["lines"][0], SOCKS])
    )
    handle = await harness.start(order, actor=Actor(kind="agent"))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.APPROVE, ApproveReturn(actor=Actor(kind="agent")))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(
            handle, ReturnUpdate.ADD_ITEMS, AddItems(actor=CUSTOMER, items=[added(SOCKS, 2)])
        )
    told = str(refused.value.cause)
    assert "the shop's team needs to look at these items" in told
    assert "chargebacks" not in told and "20000" not in told
    # An agent is the review: the same items are added.
    grown = await update(
        handle, ReturnUpdate.ADD_ITEMS, AddItems(actor=Actor(kind="agent"), items=[added(SOCKS, 2)])
    )
    assert [item.id for item in grown.items] == ["ri_1", "ri_2"]
