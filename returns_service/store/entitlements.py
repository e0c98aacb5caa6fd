"""Refund entitlements: what each return may pay back for each of its orders, reckoned once from
the live state of every return of those orders, under the orders' lock."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.messages import Entitled, EntitleRefund
from returns_service.domain.models import RESTOCKABLE, Order
from returns_service.domain.refunds import (
    NO_TERMS,
    ClaimedUnits,
    OrderRefund,
    currency_of,
    entitle,
    original_shipping,
    priced_claims,
)
from returns_service.domain.status import Status
from returns_service.store.orders import get_orders
from returns_service.store.tables import (
    LedgerEntryRow,
    RefundClaimRow,
    RefundEntitlementRow,
    ReturnRow,
)

# A return in this status has paid back (returns refunded under code older than `settled_at`).
PAID_BACK = Status.REFUNDED.value


async def entitle_return(session: AsyncSession, request: EntitleRefund) -> Entitled:
    """The return's entitlement per order, made the first time and read back after that; when
    the return sets out to pay (`request.settle`), settled, and given the original shipping if
    every unit is now back for good. Each order's row lock is held while its other returns'
    claims are read and this one's written, so two returns of one order are reckoned one after
    the other, never from the same picture."""
    order_ids = list(dict.fromkeys(item.order_id for item in request.items))
    orders = await get_orders(session, order_ids, lock=True)
    rows = {row.order_id: row for row in await entitlement_rows(session, request.return_id)}
    settled = any(row.settled_at is not None for row in rows.values())
    if rows and request.recount:
        # More of its units arrived: made again from everything back now (and settled again,
        # if it had set out to pay).
        await session.execute(
            delete(RefundClaimRow).where(RefundClaimRow.return_id == request.return_id)
        )
        for row in rows.values():
            await session.delete(row)
        await session.flush()
        rows = {}
    if not rows:
        rows = await make(session, request, order_ids, orders)
    if request.settle or (request.recount and settled):
        await settle(session, request, orders, rows)
    await session.flush()
    made = [rows[o] for o in order_ids if o in rows]
    return Entitled(
        orders=[order_refund(row) for row in made],
        due={row.order_id: row.due_amount for row in made},
    )


async def make(
    session: AsyncSession, request: EntitleRefund, order_ids: list[str], orders: dict[str, Order]
) -> dict[str, RefundEntitlementRow]:
    terms = request.terms or NO_TERMS
    fee_left = terms.shipping_fee(request.policy, currency_of(orders, order_ids))
    rows = {}
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None:
            continue
        back: dict[str, int] = {}
        refundable: dict[str, int] = {}
        for item in request.items:
            if item.order_id != order_id:
                continue
            back[item.line_id] = back.get(item.line_id, 0) + item.quantity_received
            if item.condition in RESTOCKABLE:
                refundable[item.line_id] = refundable.get(item.line_id, 0) + item.quantity_received
        others, kept = await other_claims(session, order_id, request.return_id)
        entitlement = entitle(
            order,
            back,
            refundable,
            others,
            kept,
            await shipping_taken(session, order_id, request.return_id),
            request.policy,
            fee_left,
            terms,
        )
        fee_left -= entitlement.refund.return_shipping_fee
        row = RefundEntitlementRow(
            return_id=request.return_id,
            created_at=request.at,
            due_amount=entitlement.due.amount,
            settled_at=None,
            **entitlement.refund.model_dump(),
        )
        session.add(row)
        rows[order_id] = row
        for claim in entitlement.lines:
            session.add(
                RefundClaimRow(
                    return_id=request.return_id,
                    order_id=order_id,
                    line_id=claim.line_id,
                    back=claim.back,
                    units=claim.units,
                    amount=claim.amount,
                )
            )
    return rows


async def settle(
    session: AsyncSession,
    request: EntitleRefund,
    orders: dict[str, Order],
    rows: dict[str, RefundEntitlementRow],
) -> None:
    """The return's units are back for good from now on. An order whose every unit is now back
    on returns that can no longer be rejected gives its original shipping to this one, if no
    other has it: the return that completes an order while another of its parcels still waits
    for an agent's decision gets it when it pays, or that other one does."""
    terms = request.terms or NO_TERMS
    for row in rows.values():
        if row.settled_at is None:
            row.settled_at = request.at
    for order_id, row in rows.items():
        order = orders.get(order_id)
        if order is None or row.shipping_amount:
            continue
        own = [
            ClaimedUnits(line_id=c.line_id, back=c.back, units=c.units, amount=c.amount)
            for c in await session.scalars(
                select(RefundClaimRow).where(
                    RefundClaimRow.return_id == request.return_id,
                    RefundClaimRow.order_id == order_id,
                )
            )
        ]
        _, kept = await other_claims(session, order_id, request.return_id)
        taken = await shipping_taken(session, order_id, request.return_id)
        shipping = original_shipping(order, own, kept, taken, request.policy)
        if not shipping:
            continue
        fees_elsewhere = sum(r.return_shipping_fee for o, r in rows.items() if o != order_id)
        entitlement = priced_claims(
            order,
            own,
            shipping,
            request.policy,
            terms.shipping_fee(request.policy, order.currency) - fees_elsewhere,
            terms,
        )
        for field, value in entitlement.refund.model_dump(exclude={"order_id"}).items():
            setattr(row, field, value)
        row.due_amount = entitlement.due.amount


async def other_claims(
    session: AsyncSession, order_id: str, return_id: str
) -> tuple[dict[str, ClaimedUnits], dict[str, int]]:
    """What other returns claimed of each line of the order, and how many of those units are
    back for good: on returns that have set out to pay them back (settled), were refunded, or
    paid something. Units on a return closed without a refund, an exchange or one that may
    still be rejected do not complete the order for its original shipping."""
    paid = (
        select(LedgerEntryRow.id)
        .where(
            LedgerEntryRow.return_id == RefundClaimRow.return_id,
            LedgerEntryRow.status != "failed",
        )
        .exists()
    )
    settled = or_(RefundEntitlementRow.settled_at.is_not(None), ReturnRow.status == PAID_BACK, paid)
    rows = (
        await session.execute(
            select(
                RefundClaimRow.line_id,
                func.sum(RefundClaimRow.back),
                func.sum(RefundClaimRow.units),
                func.sum(RefundClaimRow.amount),
                func.sum(case((settled, RefundClaimRow.back), else_=0)),
            )
            .join(
                RefundEntitlementRow,
                and_(
                    RefundEntitlementRow.return_id == RefundClaimRow.return_id,
                    RefundEntitlementRow.order_id == RefundClaimRow.order_id,
                ),
            )
            .outerjoin(ReturnRow, ReturnRow.id == RefundClaimRow.return_id)
            .where(RefundClaimRow.order_id == order_id, RefundClaimRow.return_id != return_id)
            .group_by(RefundClaimRow.line_id)
        )
    ).all()
    others = {
        line_id: ClaimedUnits(line_id=line_id, back=b, units=u, amount=a)
        for line_id, b, u, a, _ in rows
    }
    return others, {line_id: int(k) for line_id, *_, k in rows}


async def shipping_taken(session: AsyncSession, order_id: str, return_id: str) -> bool:
    return bool(
        await session.scalar(
            select(func.count())
            .select_from(RefundEntitlementRow)
            .where(
                RefundEntitlementRow.order_id == order_id,
                RefundEntitlementRow.return_id != return_id,
                RefundEntitlementRow.shipping_amount > 0,
            )
        )
    )


async def entitlement_rows(session: AsyncSession, return_id: str) -> list[RefundEntitlementRow]:
    return list(
        (
            await session.scalars(
                select(RefundEntitlementRow).where(RefundEntitlementRow.return_id == return_id)
            )
        ).all()
    )


def order_refund(row: RefundEntitlementRow) -> OrderRefund:
    return OrderRefund.model_validate(row, from_attributes=True)


async def entitlements(session: AsyncSession, return_id: str) -> dict[str, OrderRefund]:
    return {row.order_id: order_refund(row) for row in await entitlement_rows(session, return_id)}


async def release_entitlement(session: AsyncSession, return_id: str) -> set[str]:
    """A return that ends without paying anything back (rejected once its parcel was opened)
    gives its claims back, so that the units' value and the order's shipping stay for the
    return that really brings them back. One that paid something keeps them, and so does one
    that had set out to pay (its refund failed) for an order whose shipping another return took
    counting on them. Answers the orders whose claims it keeps: their units stay with it (they
    cannot be returned again, or they would be claimed twice)."""
    rows = await entitlement_rows(session, return_id)
    paid = await session.scalar(
        select(func.count())
        .select_from(LedgerEntryRow)
        .where(LedgerEntryRow.return_id == return_id, LedgerEntryRow.status != "failed")
    )
    if paid:
        return {row.order_id for row in rows}
    await get_orders(session, [row.order_id for row in rows], lock=True)
    kept = set()
    for row in rows:
        if row.settled_at is not None and await shipping_taken(session, row.order_id, return_id):
            kept.add(row.order_id)
            continue
        await session.execute(
            delete(RefundClaimRow).where(
                RefundClaimRow.return_id == return_id, RefundClaimRow.order_id == row.order_id
            )
        )
        await session.delete(row)
    return kept


@dataclass(frozen=True)
class ItemWorth:
    """One returned order line in a return's refund: the units back, of them the units the
    policy pays by itself, and what the units back are worth."""

    order_id: str
    line_id: str
    back: int
    units: int
    amount: int


@dataclass(frozen=True)
class Breakdown:
    """How a return's refund is made up, as its entitlements reckoned it (its orders summed):
    the items back, the original shipping, the fees, what the policy pays by itself (`due`)
    and the most an agent may pay (`amount`, damaged goods too)."""

    items: list[ItemWorth]
    shipping: int
    restocking_fee: int
    return_shipping_fee: int
    amount: int
    due: int


async def breakdown(session: AsyncSession, return_id: str) -> Breakdown | None:
    """The return's refund in parts (None before its goods are back)."""
    rows = await entitlement_rows(session, return_id)
    if not rows:
        return None
    claims = await session.scalars(
        select(RefundClaimRow)
        .where(RefundClaimRow.return_id == return_id)
        .order_by(RefundClaimRow.order_id, RefundClaimRow.line_id)
    )
    return Breakdown(
        items=[
            ItemWorth(claim.order_id, claim.line_id, claim.back, claim.units, claim.amount)
            for claim in claims
        ],
        shipping=sum(row.shipping_amount for row in rows),
        restocking_fee=sum(row.restocking_fee for row in rows),
        return_shipping_fee=sum(row.return_shipping_fee for row in rows),
        amount=sum(row.amount for row in rows),
        due=sum(row.due_amount for row in rows),
    )
