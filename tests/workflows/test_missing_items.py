"""A parcel that brought only part of a return: the workflow pays what came and waits the policy's
days for the rest, on the time-skipping test server with the real activities over SQLite."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from returns_service.domain.messages import (
    CloseReturn,
    ReceiveItems,
    ReleaseMissing,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, ReturnState
from returns_service.store.orders import held_quantities
from returns_service.store.tables import OutboxEmailRow
from tests.factories import order_payload
from tests.workflows.conftest import finished, until_state

CUSTOMER = Actor(kind="customer", id="ann@example.com")
AGENT = Actor(kind="agent", id="agent@example.com")


async def update(handle, name, message=None) -> ReturnState:
    args = [] if message is None else [message]
    return await handle.execute_update(name, args=args, result_type=ReturnState)


async def state_of(handle) -> ReturnState:
    return await handle.query("state", result_type=ReturnState)


def receipt(quantity: int, condition: str = "good") -> ReceiveItems:
    return ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": quantity, "condition": condition}],
    )


async def until_paid(handle, amount: int) -> ReturnState:
    return await until_state(handle, lambda s: s.refunded_amount == amount, f"paid {amount}")


async def shipped_with_two(harness, days: int = 2):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, quantity=2, policy=Policy(missing_after_days=days))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=CUSTOMER))
    return order, handle


async def emails(harness, return_id: str) -> list[str]:
    async with harness.sessions() as session:
        keys = await session.scalars(
            select(OutboxEmailRow.idempotency_key).where(OutboxEmailRow.return_id == return_id)
        )
        return sorted(keys)


async def email_body(harness, key: str) -> str | None:
    async with harness.sessions() as session:
        return await session.scalar(
            select(OutboxEmailRow.body).where(OutboxEmailRow.idempotency_key == key)
        )


async def held(harness, order) -> int:
    async with harness.sessions() as session:
        return (await held_quantities(session, [order.id])).get((order.id, "l1"), 0)


async def test_units_that_never_come_are_released_when_the_wait_is_over(harness, env):
    order, handle = await shipped_with_two(harness)
    part = await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    assert part.missing_until is not None
    assert part.missing_until - part.timestamps.received_at == timedelta(days=2)
    assert part.missing() == {"ri_1": 1}
    assert "1 of 2 units arrived" in part.timeline[-1].note
    paid = await until_paid(handle, 2725)  # the one that came is paid at once
    assert paid.status == "refunded" and paid.missing_until is not None
    assert await held(harness, order) == 2  # the missing shirt is still the return's
    await env.sleep(timedelta(days=2, seconds=1))
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2725
    assert final.missing_until is None and final.missing() == {}
    assert final.items[0].quantity_released == 1
    assert any(
        e.note == "1 missing unit released: not received within 2 days of the receipt"
        and e.actor.kind == "system"
        for e in final.timeline
    )
    assert await held(harness, order) == 1  # the customer may return it another time
    assert f"email:{final.id}:items_released" in await emails(harness, final.id)


async def test_units_that_arrive_within_the_wait_are_restocked_and_paid(harness, env):
    order, handle = await shipped_with_two(harness, days=5)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await until_paid(handle, 2725)
    await env.sleep(timedelta(days=3))
    late = await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    assert late.missing_until is None and late.missing() == {}
    assert "1 more unit arrived" in late.timeline[-1].note
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2 * 2725
    assert final.items[0].quantity_received == 2 and final.items[0].quantity_released == 0
    assert await held(harness, order) == 2
    assert f"email:{final.id}:items_released" not in await emails(harness, final.id)
    # A third unit of a return for two is refused (the return is over), and moves nothing.
    with pytest.raises(RPCError):
        await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    assert (await state_of(handle)).refunded_amount == 2 * 2725


async def test_a_late_unit_is_graded_as_the_first_were(harness, env):
    _, handle = await shipped_with_two(harness)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await until_paid(handle, 2725)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, ReturnUpdate.RECEIVE, receipt(1, condition="damaged"))
    assert "condition" in str(refused.value.cause)
    with pytest.raises(WorkflowUpdateFailedError):
        await update(handle, ReturnUpdate.RECEIVE, receipt(2))  # only one is missing
    state = await state_of(handle)
    assert state.missing() == {"ri_1": 1} and state.refunded_amount == 2725


async def test_an_agent_says_the_rest_is_not_coming(harness, env):
    order, handle = await shipped_with_two(harness, days=30)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await until_paid(handle, 2725)
    with pytest.raises(WorkflowUpdateFailedError):
        await update(handle, ReturnUpdate.RELEASE_MISSING, ReleaseMissing(actor=AGENT, reason="  "))
    released = await update(
        handle,
        ReturnUpdate.RELEASE_MISSING,
        ReleaseMissing(actor=AGENT, reason="the customer kept the second shirt"),
    )
    assert released.missing_until is None
    assert released.timeline[-1].note == (
        "1 missing unit released: the customer kept the second shirt"
    )
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2725
    assert await held(harness, order) == 1
    # The customer reads the agent's reason, not "we did not receive them in time".
    body = await email_body(harness, f"email:{final.id}:items_released")
    assert body is not None and "the customer kept the second shirt" in body, body
    assert "in time" not in body


async def test_a_reason_of_invisible_characters_is_no_reason(harness, env):
    order, handle = await shipped_with_two(harness, days=30)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await until_paid(handle, 2725)
    for invisible in ("\u200b", " \u200b\u2060 ", "\ufeff"):
        with pytest.raises(WorkflowUpdateFailedError):
            await update(
                handle, ReturnUpdate.RELEASE_MISSING, ReleaseMissing(actor=AGENT, reason=invisible)
            )
    assert (await state_of(handle)).missing() == {"ri_1": 1}


async def test_an_agent_closing_a_return_that_waits_releases_the_rest_and_the_customer_reads_it(
    harness, env
):
    order, handle = await shipped_with_two(harness, days=30)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await until_paid(handle, 2725)
    closed = await update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT))
    assert closed.status == "closed" and closed.items[0].quantity_released == 1
    assert closed.timeline[-1].note == "1 missing unit released"
    assert await held(harness, order) == 1
    body = await email_body(harness, f"email:{closed.id}:closed")
    assert body is not None and "you can return them again from your order" in body, body


async def test_a_unit_that_comes_while_the_first_is_still_being_paid_is_restocked_and_paid(
    harness, env
):
    """The rest of the parcel scanned at once after the first part, while the run restocks
    and pays for the first: both are restocked and paid, once."""
    order, handle = await shipped_with_two(harness, days=30)
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    await update(handle, ReturnUpdate.RECEIVE, receipt(1))
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2 * 2725, final.timeline
    assert final.items[0].quantity_restocked == 2, final.items
    assert await held(harness, order) == 2
