"""Order snapshots, their captures, what each line still has to give back, and the policy."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.models import Order, Policy
from returns_service.store.tables import (
    CaptureRow,
    OrderRow,
    PolicyRow,
    ReturnLineRow,
)
from returns_service.store.upsert import upsert


async def put_order(session: AsyncSession, order: Order, now: datetime) -> None:
    await upsert(
        session,
        OrderRow,
        {
            "id": order.id,
            "number": order.number,
            "customer_email": order.customer.email.lower(),
            "currency": order.currency,
            "placed_at": order.placed_at,
            "snapshot": order.model_dump(mode="json"),
            "updated_at": now,
        },
        keys=["id"],
    )
    for capture in order.captures:
        await upsert(
            session,
            CaptureRow,
            {
                "order_id": order.id,
                "id": capture.id,
                "amount": capture.amount,
                "captured_at": capture.captured_at,
                "method": capture.method,
            },
            keys=["order_id", "id"],
        )


async def get_orders(
    session: AsyncSession, order_ids: Iterable[str], lock: bool = False
) -> dict[str, Order]:
    ids = sorted(set(order_ids))
    query = select(OrderRow).where(OrderRow.id.in_(ids)).order_by(OrderRow.id)
    if lock:
        query = query.with_for_update()
    rows = (await session.scalars(query)).all()
    return {row.id: Order.model_validate(row.snapshot) for row in rows}


async def held_quantities(
    session: AsyncSession, order_ids: Iterable[str], excluding_return: str | None = None
) -> dict[tuple[str, str], int]:
    """Units of each order line that returns hold (open or finished, not given back)."""
    query = (
        select(ReturnLineRow.order_id, ReturnLineRow.line_id, func.sum(ReturnLineRow.quantity))
        .where(ReturnLineRow.order_id.in_(sorted(set(order_ids))), ReturnLineRow.holds.is_(True))
        .group_by(ReturnLineRow.order_id, ReturnLineRow.line_id)
    )
    if excluding_return is not None:
        query = query.where(ReturnLineRow.return_id != excluding_return)
    return {(o, ln): int(q) for o, ln, q in (await session.execute(query)).all()}


async def returnable_quantities(session: AsyncSession, order: Order) -> dict[str, int]:
    held = await held_quantities(session, [order.id])
    return {
        line.id: max(line.quantity - held.get((order.id, line.id), 0), 0) for line in order.lines
    }


async def current_policy(session: AsyncSession) -> Policy:
    row = await session.scalar(select(PolicyRow).order_by(PolicyRow.id.desc()).limit(1))
    return Policy.model_validate(row.document) if row else Policy()


async def put_policy(session: AsyncSession, policy: Policy, now: datetime) -> None:
    session.add(PolicyRow(document=policy.model_dump(mode="json"), created_at=now))
