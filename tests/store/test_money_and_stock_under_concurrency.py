"""On SQLite and PostgreSQL: what moves money or stock, or counts a limit, done by many at once,
adds up exactly (issue 10: restocks lost stock on PostgreSQL; concurrent creates passed the hourly
limit; entitlements reckoned side by side paid a line or its shipping twice)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from temporalio.exceptions import ApplicationError

from returns_service.activities.ledger import LedgerPayments, refund_key
from returns_service.activities.returns import bad_data_is_final
from returns_service.activities.stock import StoreInventory
from returns_service.domain.messages import (
    EntitleRefund,
    IssueRefund,
    OrderAmount,
    RestockItem,
    RestockItems,
)
from returns_service.domain.models import Order, Policy, ReturnItem
from returns_service.domain.refunds import line_paid
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.store.entitlements import entitle_return, release_entitlement
from returns_service.store.limits import take_slot
from returns_service.store.orders import put_order
from returns_service.store.tables import (
    LedgerEntryRow,
    RefundClaimRow,
    RefundEntitlementRow,
    StockLevelRow,
    StockMovementRow,
)
from tests.factories import order_payload

NOW = datetime.now(UTC)


async def test_twenty_restocks_of_one_sku_at_once_add_twenty(any_sessions):
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    inventory = StoreInventory(any_sessions)
    requests = [
        RestockItems(
            return_id=f"ret_{n}_{uuid.uuid4().hex[:6]}",
            location="WH1",
            items=[RestockItem(item_id="ri_1", sku=sku, quantity=1)],
        )
        for n in range(20)
    ]
    await asyncio.gather(*(inventory.restock(r) for r in requests))
    await asyncio.gather(*(inventory.restock(r) for r in requests[:5]))  # repeated: no effect
    async with any_sessions() as session:
        level = await session.get(StockLevelRow, (sku, "WH1"))
        moved = await session.scalar(
            select(func.sum(StockMovementRow.quantity)).where(StockMovementRow.sku == sku)
        )
    assert level is not None and level.quantity == 20 and moved == 20


async def test_concurrent_takers_never_get_more_slots_than_there_are(any_sessions):
    key = f"returns-per-hour:{uuid.uuid4().hex}@example.com"

    async def take() -> bool:
        for _ in range(20):  # SQLite may answer "busy" to a writer that lost the race
            try:
                async with any_sessions.begin() as session:
                    wait = await take_slot(session, key, 10, timedelta(hours=1), NOW)
                return wait is None
            except Exception as error:  # noqa: BLE001
                if "locked" not in str(error) and "deadlock" not in str(error):
                    raise
                await asyncio.sleep(0.05)
        raise AssertionError("never got an answer")

    taken = await asyncio.gather(*(take() for _ in range(25)))
    assert taken.count(True) == 10


def a_return(order: Order, quantity: int, condition: str = "good") -> EntitleRefund:
    line = order.lines[0]
    item = ReturnItem(
        id="ri_1",
        order_id=order.id,
        line_id=line.id,
        sku=line.sku,
        name=line.name,
        quantity=quantity,
        reason="wrong_size",
        quantity_received=quantity,
        condition=condition,
    )
    return EntitleRefund(
        return_id=f"ret_{uuid.uuid4().hex}",
        policy=Policy(refund_original_shipping=True),
        items=[item],
        at=NOW,
    )


async def three_unit_order(sessions: Any) -> Order:
    payload = order_payload(number=uuid.uuid4().hex[:8], now=NOW)
    payload["lines"][0].update(quantity=3, unit_amount=1001, discount_amount=0, tax_amount=0)
    order = Order.model_validate({"id": f"o_{uuid.uuid4().hex[:8]}", **payload})
    async with sessions.begin() as session:
        await put_order(session, order, NOW)
    return order


async def reckon(sessions: Any, request: EntitleRefund, settle: bool = False) -> int:
    async with sessions.begin() as session:
        entitled = await entitle_return(session, request.model_copy(update={"settle": settle}))
    return sum(r.amount for r in entitled.orders)


async def shipping_given(sessions: Any, order: Order) -> list[str]:
    async with sessions() as session:
        return list(
            (
                await session.scalars(
                    select(RefundEntitlementRow.return_id).where(
                        RefundEntitlementRow.order_id == order.id,
                        RefundEntitlementRow.shipping_amount > 0,
                    )
                )
            ).all()
        )


async def test_entitlements_reckoned_at_once_pay_a_line_and_its_shipping_once(any_sessions):
    """Three returns of one unit each, received and then paid at the same moment: the line is
    paid once (1001 each), the shipping once, to the one that pays last."""
    order = await three_unit_order(any_sessions)
    requests = [a_return(order, 1) for _ in range(3)]
    amounts = await asyncio.gather(*(reckon(any_sessions, r) for r in requests))
    assert amounts == [1001, 1001, 1001]
    # None of them has the shipping yet: each of the others could still be rejected.
    assert await shipping_given(any_sessions, order) == []
    settled = await asyncio.gather(*(reckon(any_sessions, r, settle=True) for r in requests))
    # Repeating one answers the same.
    assert [await reckon(any_sessions, r, settle=True) for r in requests] == settled
    assert sum(settled) == line_paid(order, order.lines[0]) + order.shipping_amount
    assert sorted(settled) == [1001, 1001, 1001 + order.shipping_amount]
    assert len(await shipping_given(any_sessions, order)) == 1
    async with any_sessions() as session:
        claimed = await session.scalar(
            select(func.sum(RefundClaimRow.back)).where(RefundClaimRow.order_id == order.id)
        )
    assert claimed == 3


@pytest.mark.parametrize("then", ["rejected", "paid"])
async def test_the_shipping_waits_for_units_a_decision_could_still_give_back(any_sessions, then):
    """Found by the long run of the model test: return D holds one unit, received and waiting
    for an agent; C brings the other two. C must not take the shipping counting D's unit: if D
    is rejected, the order is not whole. It goes to whichever pays last once every unit is back
    for good."""
    order = await three_unit_order(any_sessions)
    d, c = a_return(order, 1), a_return(order, 2)
    assert await reckon(any_sessions, d) == 1001
    assert await reckon(any_sessions, c) == 2002
    assert await reckon(any_sessions, c, settle=True) == 2002
    assert await shipping_given(any_sessions, order) == []
    if then == "rejected":
        async with any_sessions.begin() as session:
            await release_entitlement(session, d.return_id)
        # C keeps its claims; D's unit is free, and the return that brings it back completes
        # the order with C's units, which are back for good.
        e = a_return(order, 1)
        assert await reckon(any_sessions, e) == 1001 + order.shipping_amount
        assert await shipping_given(any_sessions, order) == [e.return_id]
    else:
        assert await reckon(any_sessions, d, settle=True) == 1001 + order.shipping_amount
        assert await shipping_given(any_sessions, order) == [d.return_id]
        # Should D's refund fail and an agent reject it, D gives everything back, shipping too.
        async with any_sessions.begin() as session:
            await release_entitlement(session, d.return_id)
        assert await shipping_given(any_sessions, order) == []


async def test_a_return_that_set_out_to_pay_keeps_its_units_once_another_took_the_shipping(
    any_sessions,
):
    """C paid, D set out to pay and took nothing (its refund failed) but made the order whole
    for E: rejecting D afterwards must not leave E with the shipping of an order not whole."""
    order = await three_unit_order(any_sessions)
    c, d, e = a_return(order, 1), a_return(order, 1), a_return(order, 1)
    for request in (c, d):
        await reckon(any_sessions, request)
        await reckon(any_sessions, request, settle=True)
    assert await reckon(any_sessions, e) == 1001 + order.shipping_amount
    async with any_sessions.begin() as session:
        await release_entitlement(session, d.return_id)
    async with any_sessions() as session:
        claimed = await session.scalar(
            select(func.sum(RefundClaimRow.back)).where(RefundClaimRow.order_id == order.id)
        )
    assert claimed == 3 and await shipping_given(any_sessions, order) == [e.return_id]


async def test_the_ledger_pays_no_more_than_the_entitlement(any_sessions):
    payload = order_payload(number=uuid.uuid4().hex[:8], now=NOW)
    order = Order.model_validate({"id": f"o_{uuid.uuid4().hex[:8]}", **payload})
    async with any_sessions.begin() as session:
        await put_order(session, order, NOW)
    request = a_return(order, 1)
    async with any_sessions.begin() as session:
        entitled = (await entitle_return(session, request)).orders[0].amount
    ledger = LedgerPayments(any_sessions)

    def refund(sequence: int, amount: int, maximum: int | None) -> IssueRefund:
        # `maximum` is what a workflow that lost count might claim; the entitlement decides.
        return IssueRefund(
            return_id=request.return_id,
            sequence=sequence,
            currency="EUR",
            method="original_payment",
            amounts=[OrderAmount(order_id=order.id, amount=amount, maximum=maximum)],
            requested_at=NOW,
        )

    too_much = await ledger.refund(refund(1, entitled + 1, 10**9))
    assert too_much.failures and "above its" in too_much.failures[0]
    paid = await ledger.refund(refund(2, entitled, None))
    assert not paid.failures
    again = await ledger.refund(refund(2, entitled, None))  # the same refund repeated
    assert [r.amount for r in again.refunds] == [entitled]
    more = await ledger.refund(refund(3, 1, 10**9))
    assert more.failures
    async with any_sessions() as session:
        total = await session.scalar(
            select(func.sum(LedgerEntryRow.amount)).where(
                LedgerEntryRow.return_id == request.return_id
            )
        )
    assert total == entitled


def test_ledger_keys_of_ids_with_colons_never_collide():
    assert refund_key("r", 1, "P", "s:c") != refund_key("r", 1, "P:s", "c")
    # Ids without `:` or `%` read as they always did: refunds in flight keep their keys.
    assert refund_key("ret_1", 2, "o_1", "cap_1") == "refund:ret_1:2:o_1:cap_1"
    assert refund_key("ret_1", 2, "o_1", None) == "refund:ret_1:2:o_1:store_credit"


async def test_data_the_store_cannot_keep_fails_for_good(postgres_url):
    """A SKU longer than its column, with a NUL (as a return from before the edge checks might
    hold): PostgreSQL refuses it, and the step says so once instead of being retried for ever.
    (SQLite keeps strings of any length and NULs: there is nothing to refuse there.)"""
    await migrate_async(postgres_url)
    engine = create_engine(postgres_url)
    inventory = StoreInventory(session_factory(engine))
    for sku in ("S" * 100, "S\x00"):
        request = RestockItems(
            return_id=f"ret_{uuid.uuid4().hex}",
            location="WH1",
            items=[RestockItem(item_id="ri_1", sku=sku, quantity=1)],
        )
        with pytest.raises(ApplicationError) as refused:
            with bad_data_is_final():
                await inventory.restock(request)
        assert refused.value.type == "BadData" and refused.value.non_retryable, sku
    await engine.dispose()
