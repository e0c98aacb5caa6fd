"""Order snapshots pushed by the shop, and what each line still has to give back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.auth import CUSTOMER, STAFF, Principal, allow
from returns_service.api.deps import SessionDep, WriteSessionDep
from returns_service.api.errors import Conflict, NotFound
from returns_service.api.schemas import OrderIn, OrderOut
from returns_service.store.orders import (
    OrderChangeRefused,
    get_orders,
    put_order,
    returnable_quantities,
)

router = APIRouter(prefix="/v1/orders", tags=["orders"])

OrderId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


async def _order_out(
    session: AsyncSession, order_id: str, principal: Principal | None = None
) -> OrderOut:
    async with session.begin():
        order = (await get_orders(session, [order_id])).get(order_id)
        if order is None or (principal is not None and not principal.may_see_order(order)):
            raise NotFound(f"order {order_id} does not exist")
        recipient = principal is not None and principal.is_gift
        return OrderOut.build(order, await returnable_quantities(session, order), recipient)


@router.put("/{order_id}", response_model=OrderOut)
async def upsert_order(
    order_id: OrderId,
    body: OrderIn,
    session: WriteSessionDep,
    _: Annotated[Principal, Depends(allow("integration"))],
) -> OrderOut:
    try:
        async with session.begin():
            await put_order(session, body.to_order(order_id), datetime.now(UTC))
    except OrderChangeRefused as refused:
        raise Conflict(refused.detail, code="order_change_refused", field=refused.field) from None
    return await _order_out(session, order_id)


@router.get("/{order_id}", response_model=OrderOut)
async def read_order(
    order_id: OrderId,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(*STAFF, CUSTOMER))],
) -> OrderOut:
    """The order and what each line still has to give back; a customer sees their own."""
    return await _order_out(session, order_id, principal)
