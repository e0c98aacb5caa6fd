"""The store on SQLite and PostgreSQL alike: reservations under concurrency, refunds that cannot
be paid twice or beyond the captures, the version-guarded projection, keyset pages."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.stock import StoreInventory
from returns_service.domain.messages import (
    IssueRefund,
    OrderAmount,
    RegisterReturn,
    RestockItem,
    RestockItems,
)
from returns_service.domain.models import Order, ReturnItem, ReturnState, Status
from returns_service.store.orders import put_order, returnable_quantities
from returns_service.store.returns import (
    ReturnFilter,
    list_returns,
    project_return,
    register_return,
)
from returns_service.store.tables import LedgerEntryRow, ReturnRow, StockLevelRow
from tests.factories import order_payload

NOW = datetime.now(UTC)


async def an_order(sessions, quantity: int = 2) -> Order:
    payload = order_payload(number=uuid.uuid4().hex[:8], now=NOW)
    payload["lines"][0]["quantity"] = quantity
    order = Order.model_validate({"id": f"o_{uuid.uuid4().hex[:8]}", **payload})
    async with sessions.begin() as session:
        await put_order(session, order, NOW)
    return order


def request_for(order: Order, quantity: int, created_at: datetime = NOW) -> RegisterReturn:
    line = order.lines[0]
    item = ReturnItem(
        id="ri_1",
        order_id=order.id,
        line_id=line.id,
        sku=line.sku,
        name=line.name,
        quantity=quantity,
        reason="wrong_size",
    )
    return RegisterReturn(
        return_id=f"ret_{uuid.uuid4().hex}",
        customer_email=order.customer.email,
        items=[item],
        created_at=created_at,
    )


async def register(sessions, request: RegisterReturn):
    async with sessions.begin() as session:
        return await register_return(session, request)


def state_of(request: RegisterReturn, order: Order, status: Status, version: int) -> ReturnState:
    return ReturnState(
        id=request.return_id,
        number="R-x",
        status=status,
        version=version,
        customer=order.customer,
        currency="EUR",
        order_ids=[order.id],
        resolution="refund",
        items=request.items,
        created_at=request.created_at,
        updated_at=request.created_at,
    )


async def test_concurrent_returns_for_the_last_units_reserve_them_once(any_sessions):
    order = await an_order(any_sessions, quantity=2)
    results = await asyncio.gather(
        *(register(any_sessions, request_for(order, 2)) for _ in range(6))
    )
    assert sorted(r.reserved for r in results) == [False] * 5 + [True]
    async with any_sessions() as session:
        assert await returnable_quantities(session, order) == {"l1": 0}


async def test_registering_again_changes_nothing_and_numbers_are_unique(any_sessions):
    order = await an_order(any_sessions)
    request = request_for(order, 1)
    first = await register(any_sessions, request)
    again = await register(any_sessions, request)
    other = await register(any_sessions, request_for(order, 1))
    assert first.number == again.number != other.number
    assert first.reserved and again.reserved and other.reserved
    async with any_sessions() as session:
        assert await returnable_quantities(session, order) == {"l1": 0}


async def test_a_cancelled_return_gives_its_units_back_and_old_versions_never_overwrite(
    any_sessions,
):
    order = await an_order(any_sessions)
    request = request_for(order, 2)
    await register(any_sessions, request)
    async with any_sessions.begin() as session:
        assert await project_return(session, state_of(request, order, Status.LABEL_SENT, 3))
        assert not await project_return(session, state_of(request, order, Status.APPROVED, 2))
    async with any_sessions() as session:
        [current], _ = await list_returns(session, ReturnFilter(order_id=order.id), 10)
        assert current.status == "label_sent"
        assert await returnable_quantities(session, order) == {"l1": 0}
    async with any_sessions.begin() as session:
        await project_return(session, state_of(request, order, Status.CANCELLED, 4))
    async with any_sessions() as session:
        assert await returnable_quantities(session, order) == {"l1": 2}


async def test_a_refund_repeated_with_its_key_pays_once_and_never_beyond_the_captures(any_sessions):
    order = await an_order(any_sessions)
    captured = order.captures[0].amount
    payments = LedgerPayments(any_sessions)
    refund = IssueRefund(
        return_id="ret_x" + uuid.uuid4().hex,
        sequence=1,
        currency="EUR",
        method="original_payment",
        amounts=[OrderAmount(order_id=order.id, amount=2725)],
        requested_at=NOW,
    )
    first = await payments.refund(refund)
    again = await payments.refund(refund)
    assert first == again and [r.amount for r in first.refunds] == [2725]
    too_much = refund.model_copy(
        update={"sequence": 2, "amounts": [OrderAmount(order_id=order.id, amount=captured - 2724)]}
    )
    with pytest.raises(ApplicationError) as refused:
        await payments.refund(too_much)
    assert refused.value.type == "InsufficientCaptures"
    # Beyond what the return may refund for the order in all: refused, even with a fresh key.
    beyond = refund.model_copy(
        update={
            "sequence": 3,
            "amounts": [OrderAmount(order_id=order.id, amount=1, maximum=2725)],
        }
    )
    refused_beyond = await payments.refund(beyond)
    assert "above its 2725" in refused_beyond.failures[0]
    assert [r.amount for r in refused_beyond.refunds] == [2725]
    async with any_sessions() as session:
        rows = (
            await session.scalars(select(LedgerEntryRow).where(LedgerEntryRow.order_id == order.id))
        ).all()
    assert [(r.amount, r.sequence) for r in rows] == [(2725, 1)]


async def test_a_restock_repeated_with_its_key_counts_once(any_sessions):
    inventory = StoreInventory(any_sessions)
    sku = f"SKU-{uuid.uuid4().hex[:6]}"
    request = RestockItems(
        return_id="ret_r", location="WH1", items=[RestockItem(item_id="ri_1", sku=sku, quantity=2)]
    )
    assert await inventory.restock(request) == {"ri_1": 2}
    assert await inventory.restock(request) == {"ri_1": 2}
    async with any_sessions() as session:
        assert (await session.get(StockLevelRow, (sku, "WH1"))).quantity == 2


async def test_pages_are_newest_first_and_do_not_overlap(any_sessions):
    order = await an_order(any_sessions, quantity=10)
    ids = []
    for n in range(5):
        request = request_for(order, 1, created_at=NOW + timedelta(seconds=n))
        await register(any_sessions, request)
        async with any_sessions.begin() as session:
            await project_return(session, state_of(request, order, Status.LABEL_SENT, 1))
        ids.append(request.return_id)
    seen, cursor = [], None
    async with any_sessions() as session:
        while True:
            page, cursor = await list_returns(session, ReturnFilter(order_id=order.id), 2, cursor)
            seen += [s.id for s in page]
            if cursor is None:
                break
    assert seen == ids[::-1]


async def test_a_return_written_before_the_first_scan_field_was_renamed_still_lists(any_sessions):
    """Found by an attack on a data directory of 5 December: documents kept before
    `paid_at_first_scan` became `refund_due_at_first_scan` failed every list of returns (the
    console's list, its "next in queue" after a decision, `GET /v1/returns`)."""
    order = await an_order(any_sessions)
    request = request_for(order, 1)
    await register(any_sessions, request)
    async with any_sessions.begin() as session:
        await project_return(session, state_of(request, order, Status.SHIPPED, 3))
        row = await session.scalar(select(ReturnRow).where(ReturnRow.id == request.return_id))
        old = dict(row.document)
        paid = old.pop("refund_due_at_first_scan", None) or NOW.isoformat()
        row.document = {**old, "paid_at_first_scan": paid}
    async with any_sessions() as session:
        [kept], _ = await list_returns(session, ReturnFilter(order_id=order.id), 10)
    assert kept.refund_due_at_first_scan == datetime.fromisoformat(paid)
    assert "paid_at_first_scan" not in kept.model_dump()
