"""Refund entitlements: what each return may pay back for each of its orders, reckoned once from
the live state of every return of those orders, under the orders' lock."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.messages import Entitled, EntitleRefund
from returns_service.domain.models import RESTOCKABLE
from returns_service.domain.refunds import ClaimedUnits, OrderRefund, entitle
from returns_service.store.orders import get_orders
from returns_service.store.tables import LedgerEntryRow, RefundClaimRow, RefundEntitlementRow


async def entitle_return(session: AsyncSession, request: EntitleRefund) -> Entitled:
    """The return's entitlement per order, made the first time and read back after that. Each
    order's row lock is held while its other returns' claims are read and this one's written, so
    two returns of one order are reckoned one after the other, never from the same picture."""
    order_ids = list(dict.fromkeys(item.order_id for item in request.items))
    orders = await get_orders(session, order_ids, lock=True)
    made = await entitlements(session, request.return_id)
    if made:
        due = dict(
            (
                await session.execute(
                    select(RefundEntitlementRow.order_id, RefundEntitlementRow.due_amount).where(
                        RefundEntitlementRow.return_id == request.return_id
                    )
                )
            ).all()
        )
        return Entitled(orders=[made[o] for o in order_ids if o in made], due=due)
    fee_left = request.policy.return_shipping_fee
    result = []
    due_by_order = {}
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
                refundable[item.line_id] = (
                    refundable.get(item.line_id, 0) + item.quantity_received
                )
        others = {
            line_id: ClaimedUnits(line_id=line_id, back=b, units=u, amount=a)
            for line_id, b, u, a in (
                await session.execute(
                    select(
                        RefundClaimRow.line_id,
                        func.sum(RefundClaimRow.back),
                        func.sum(RefundClaimRow.units),
                        func.sum(RefundClaimRow.amount),
                    )
                    .where(
                        RefundClaimRow.order_id == order_id,
                        RefundClaimRow.return_id != request.return_id,
                    )
                    .group_by(RefundClaimRow.line_id)
                )
            ).all()
        }
        shipping_taken = bool(
            await session.scalar(
                select(func.count())
                .select_from(RefundEntitlementRow)
                .where(
                    RefundEntitlementRow.order_id == order_id,
                    RefundEntitlementRow.shipping_amount > 0,
                )
            )
        )
        entitlement = entitle(
            order, back, refundable, others, shipping_taken, request.policy, fee_left
        )
        fee_left -= entitlement.refund.return_shipping_fee
        refund = entitlement.refund
        session.add(
            RefundEntitlementRow(
                return_id=request.return_id,
                created_at=request.at,
                due_amount=entitlement.due.amount,
                **refund.model_dump(),
            )
        )
        due_by_order[order_id] = entitlement.due.amount
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
        result.append(refund)
    await session.flush()
    return Entitled(orders=result, due=due_by_order)


async def entitlements(session: AsyncSession, return_id: str) -> dict[str, OrderRefund]:
    rows = (
        await session.scalars(
            select(RefundEntitlementRow).where(RefundEntitlementRow.return_id == return_id)
        )
    ).all()
    return {
        row.order_id: OrderRefund(
            order_id=row.order_id,
            items_amount=row.items_amount,
            shipping_amount=row.shipping_amount,
            restocking_fee=row.restocking_fee,
            return_shipping_fee=row.return_shipping_fee,
            amount=row.amount,
        )
        for row in rows
    }


async def release_entitlement(session: AsyncSession, return_id: str) -> None:
    """A return that ends without paying anything back (rejected once its parcel was opened)
    gives its claims back, so that the units' value and the order's shipping stay for the
    return that really brings them back. One that paid something keeps them."""
    paid = await session.scalar(
        select(func.count())
        .select_from(LedgerEntryRow)
        .where(LedgerEntryRow.return_id == return_id, LedgerEntryRow.status != "failed")
    )
    if paid:
        return
    await session.execute(delete(RefundClaimRow).where(RefundClaimRow.return_id == return_id))
    await session.execute(
        delete(RefundEntitlementRow).where(RefundEntitlementRow.return_id == return_id)
    )
