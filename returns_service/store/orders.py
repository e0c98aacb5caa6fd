"""Order snapshots, their captures, what each line still has to give back, and the policy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.models import Order, Policy, still_returnable
from returns_service.domain.policy_history import PolicyChange, policy_changes
from returns_service.domain.status import TERMINAL
from returns_service.domain.types import plain_tracking_number
from returns_service.store.tables import (
    CaptureRow,
    LedgerEntryRow,
    OrderRow,
    PolicyRow,
    ReturnLineRow,
    ReturnRow,
    TrackingNumberRow,
)
from returns_service.store.upsert import insert_once, upsert


class OrderChangeRefused(Exception):
    """An order update that would take away what returns of the order depend on."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


async def put_order(session: AsyncSession, order: Order, now: datetime) -> None:
    """Keep the order's snapshot. An update may correct it, but not under its returns: the
    customer's email stays while a return is open (the return belongs to the customer who asked
    for it), a line keeps the units returns hold, and a capture keeps what was refunded from it.
    A capture no refund used is removed when the update leaves it out."""
    previous = await session.get(OrderRow, order.id, with_for_update=True)
    if previous is not None:
        # The stored row as it is (a snapshot kept before today's bounds may not validate).
        await _check_change(session, previous, order)
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
    await session.execute(
        delete(CaptureRow).where(
            CaptureRow.order_id == order.id,
            CaptureRow.id.not_in([capture.id for capture in order.captures]),
        )
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


async def _check_change(session: AsyncSession, before: OrderRow, after: Order) -> None:
    changed = [
        field
        for field, was, now in (
            ("customer.email", before.customer_email.lower(), after.customer.email.lower()),
            ("currency", before.currency, after.currency),
        )
        if was != now
    ]
    if changed:
        open_returns = await session.scalar(
            select(func.count())
            .select_from(ReturnLineRow)
            .join(ReturnRow, ReturnRow.id == ReturnLineRow.return_id)
            .where(
                ReturnLineRow.order_id == after.id,
                ReturnRow.status.not_in([status.value for status in TERMINAL]),
            )
        )
        if open_returns:
            raise OrderChangeRefused(
                changed[0],
                "the order has open returns, which belong to its customer and are paid back in"
                " its currency; change it once they are finished",
            )
    held = await held_quantities(session, [after.id])
    lines = {line.id: line for line in after.lines}
    for (_, line_id), units in held.items():
        line = lines.get(line_id)
        if units and (line is None or line.quantity < units):
            raise OrderChangeRefused(
                "lines",
                f"returns hold {units} of line {line_id}: it cannot be removed or lowered"
                " below that",
            )
    refunded = dict(
        (
            await session.execute(
                select(LedgerEntryRow.capture_id, func.sum(LedgerEntryRow.amount))
                .where(
                    LedgerEntryRow.order_id == after.id,
                    LedgerEntryRow.capture_id.is_not(None),
                    LedgerEntryRow.status != "failed",
                )
                .group_by(LedgerEntryRow.capture_id)
            )
        ).all()
    )
    captures = {capture.id: capture for capture in after.captures}
    paid_back = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntryRow.amount), 0)).where(
            LedgerEntryRow.order_id == after.id, LedgerEntryRow.status != "failed"
        )
    )
    if sum(capture.amount for capture in after.captures) < int(paid_back or 0):
        raise OrderChangeRefused(
            "captures",
            f"{paid_back} was paid back for this order (store credit included): its captures"
            " cannot hold less",
        )
    for capture_id, amount in refunded.items():
        kept = captures.get(capture_id or "")
        if amount and (kept is None or kept.amount < amount):
            raise OrderChangeRefused(
                "captures",
                f"{amount} was refunded from capture {capture_id}: it cannot be removed or"
                " lowered below that",
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


async def orders_of(session: AsyncSession, email: str, limit: int = 50) -> list[Order]:
    """The customer's orders (by the email that placed them), newest first."""
    rows = await session.scalars(
        select(OrderRow)
        .where(OrderRow.customer_email == email.lower())
        .order_by(OrderRow.placed_at.desc(), OrderRow.id)
        .limit(limit)
    )
    return [Order.model_validate(row.snapshot) for row in rows]


async def customers_of_order(session: AsyncSession, number: str) -> list[str]:
    """The emails of the customers with an order of that number (one, as a rule; a shop that
    reuses numbers across customers may have several)."""
    rows = await session.scalars(
        select(OrderRow.customer_email)
        .where(OrderRow.number.in_(sorted({number.strip(), number.strip().upper()})))
        .distinct()
        .order_by(OrderRow.customer_email)
        .limit(20)
    )
    return list(rows)


async def held_quantities(
    session: AsyncSession,
    order_ids: Iterable[str],
    excluding_return: str | None = None,
    excluding_items: tuple[str, Sequence[str]] | None = None,
) -> dict[tuple[str, str], int]:
    """Units of each order line that returns hold (open or finished, not given back), but
    those of one return, or of some items of one return."""
    query = (
        select(ReturnLineRow.order_id, ReturnLineRow.line_id, func.sum(ReturnLineRow.quantity))
        .where(ReturnLineRow.order_id.in_(sorted(set(order_ids))), ReturnLineRow.holds.is_(True))
        .group_by(ReturnLineRow.order_id, ReturnLineRow.line_id)
    )
    if excluding_return is not None:
        query = query.where(ReturnLineRow.return_id != excluding_return)
    if excluding_items is not None:
        return_id, item_ids = excluding_items
        query = query.where(
            ~and_(ReturnLineRow.return_id == return_id, ReturnLineRow.item_id.in_(list(item_ids)))
        )
    return {(o, ln): int(q) for o, ln, q in (await session.execute(query)).all()}


async def returnable_quantities(session: AsyncSession, order: Order) -> dict[str, int]:
    return still_returnable(order, await held_quantities(session, [order.id]))


async def current_policy(session: AsyncSession) -> Policy:
    row = await session.scalar(select(PolicyRow).order_by(PolicyRow.id.desc()).limit(1))
    return Policy.model_validate(row.document) if row else Policy()


async def put_policy(
    session: AsyncSession, policy: Policy, now: datetime, changed_by: str | None = None
) -> None:
    session.add(
        PolicyRow(document=policy.model_dump(mode="json"), created_at=now, changed_by=changed_by)
    )


async def policy_version(session: AsyncSession) -> int:
    """The current policy's version (0: the built-in defaults, never saved)."""
    return int(await session.scalar(select(func.max(PolicyRow.id))) or 0)


@dataclass(frozen=True)
class PolicyVersion:
    """One saved version of the policy: when, by whom, and what it changed from the one before
    (the built-in defaults, for the first)."""

    version: int
    created_at: datetime
    changed_by: str | None
    changes: list[PolicyChange]


async def policy_history(
    session: AsyncSession, limit: int, before: int | None = None
) -> list[PolicyVersion]:
    """The versions newest first, at most `limit`, older than version `before` if given."""
    query = select(PolicyRow).order_by(PolicyRow.id.desc()).limit(limit + 1)
    if before is not None:
        query = query.where(PolicyRow.id < before)
    rows = list(await session.scalars(query))
    # Newest first, so each one's predecessor is the next row (the last read, if there are no
    # more, is the first version: it changed the built-in defaults).
    return [
        PolicyVersion(
            row.id,
            row.created_at,
            row.changed_by,
            policy_changes(rows[i + 1].document if i + 1 < len(rows) else None, row.document),
        )
        for i, row in enumerate(rows[:limit])
    ]


async def claim_tracking_number(
    session: AsyncSession, tracking_number: str, return_id: str, now: datetime
) -> tuple[str, bool]:
    """Give the tracking number to the return unless another has it; answers its owner, and
    whether it was given just now."""
    tracking_number = plain_tracking_number(tracking_number)
    fresh = await insert_once(
        session,
        TrackingNumberRow,
        {"tracking_number": tracking_number, "return_id": return_id, "created_at": now},
    )
    owner = await session.scalar(
        select(TrackingNumberRow.return_id).where(
            TrackingNumberRow.tracking_number == tracking_number
        )
    )
    return str(owner), fresh


async def release_tracking_number(
    session: AsyncSession, tracking_number: str, return_id: str
) -> None:
    await session.execute(
        delete(TrackingNumberRow).where(
            TrackingNumberRow.tracking_number == plain_tracking_number(tracking_number),
            TrackingNumberRow.return_id == return_id,
        )
    )
