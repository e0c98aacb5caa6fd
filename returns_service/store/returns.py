"""The returns read model: registration (number and reserved quantities), projection of each
status change, and the list with its filters and keyset pagination."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, delete, func, literal_column, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.ids import derived
from returns_service.domain.messages import (
    HoldItems,
    RegisteredFacts,
    RegisteredReturn,
    RegisterReturn,
)
from returns_service.domain.models import (
    Actor,
    Order,
    ReturnItem,
    ReturnState,
    TimelineEntry,
    still_returnable,
)
from returns_service.domain.status import RELEASED, TERMINAL
from returns_service.domain.types import plain_tracking_number
from returns_service.store.cursors import decode_cursor, encode_cursor
from returns_service.store.entitlements import release_entitlement
from returns_service.store.lists import entry_for
from returns_service.store.orders import get_orders, held_quantities
from returns_service.store.tables import (
    CustomerListRow,
    LabelRow,
    OrderRow,
    ReplacementOrderRow,
    ReturnEventRow,
    ReturnInputRow,
    ReturnLineRow,
    ReturnNoteRow,
    ReturnReasonRow,
    ReturnRow,
    table,
)
from returns_service.store.upsert import insert_once, upsert


@dataclass
class Availability:
    """Units of the items' lines that other holds leave, under the orders' lock."""

    orders: dict[str, Order]
    available: dict[str, int]
    prior: dict[str, int]
    # Per order and line: the units other returns (and other items) hold.
    held: dict[str, dict[str, int]]
    # Whether every item's units fit (items naming the same line share it).
    fits: bool


def _parcel(state: ReturnState) -> str | None:
    """The parcel's tracking number as searched for (carriers print it with spaces, hyphens)."""
    number = state.tracking_number or (state.label.tracking_number if state.label else None)
    return plain_tracking_number(number) if number else None


async def availability(
    session: AsyncSession, return_id: str, items: Sequence[ReturnItem]
) -> Availability:
    """Lock the items' orders and reckon what their lines have left beside every hold but the
    items' own."""
    order_ids = sorted({item.order_id for item in items})
    orders = await get_orders(session, order_ids, lock=True)
    held = await held_quantities(
        session, order_ids, excluding_items=(return_id, [item.id for item in items])
    )
    returnable = {order_id: still_returnable(order, held) for order_id, order in orders.items()}
    available = {}
    prior = {}
    for item in items:
        prior[item.id] = held.get((item.order_id, item.line_id), 0)
        available[item.id] = returnable.get(item.order_id, {}).get(item.line_id, 0)
    by_order: dict[str, dict[str, int]] = {}
    for (order_id, line_id), units in held.items():
        by_order.setdefault(order_id, {})[line_id] = units
    # Several items of one return may name the same line: they share its availability.
    asked: dict[tuple[str, str], int] = {}
    for item in items:
        key = (item.order_id, item.line_id)
        asked[key] = asked.get(key, 0) + item.quantity
    fits = all(asked[(item.order_id, item.line_id)] <= available[item.id] for item in items)
    return Availability(orders, available, prior, by_order, fits)


async def customer_context(
    session: AsyncSession,
    return_id: str,
    email: str,
    at: datetime,
    recipient: str | None = None,
) -> tuple[int, CustomerListRow | None]:
    """The customer's other returns in the 90 days before `at`, and their list entry; for a
    gift's return (`recipient`), the recipient's: who returns it, not the buyer, who neither
    answers for the recipient's returns nor has them counted against their own (except that a
    blocked buyer's gift waits for an agent too)."""
    who = (
        ReturnRow.recipient_email == recipient.lower()
        if recipient is not None
        else and_(ReturnRow.customer_email == email.lower(), ReturnRow.recipient_email.is_(None))
    )
    recent = await session.scalar(
        select(func.count())
        .select_from(ReturnRow)
        .where(who, ReturnRow.created_at >= at - timedelta(days=90), ReturnRow.id != return_id)
    )
    entry = await entry_for(session, recipient or email)
    if recipient is not None and (entry is None or entry.list != "blocked"):
        # A blocked buyer does not get round the block by giving to an address of their own.
        bought_by = await entry_for(session, email)
        if bought_by is not None and bought_by.list == "blocked":
            entry = bought_by
    return int(recent or 0), entry


def registered_facts(
    found: Availability, reserved: bool, recent: int, listed: CustomerListRow | None
) -> dict[str, Any]:
    return {
        # The facts a decision is taken on: an exchange's variants are the pages' business, and
        # would only make the workflow's history longer.
        "orders": {
            order_id: order.model_copy(
                update={"lines": [line.model_copy(update={"variants": []}) for line in order.lines]}
            )
            for order_id, order in found.orders.items()
        },
        "available_quantity": found.available,
        "prior_quantity": found.prior,
        "reserved": reserved,
        "returns_in_90_days": recent,
        "held": found.held,
        "customer_list": listed.list if listed is not None else None,
        "customer_list_reason": listed.reason if listed is not None else None,
    }


async def hold_items(session: AsyncSession, request: HoldItems) -> RegisteredFacts:
    """Hold the units of `request.items` for the return, all or none, under the orders' lock:
    items it has (an expired return getting a new label) and items it adds (kept with their
    reasons). Repeating it answers the same."""
    found = await availability(session, request.return_id, request.items)
    if found.fits:
        rows = {
            row.item_id: row
            for row in await session.scalars(
                select(ReturnLineRow).where(ReturnLineRow.return_id == request.return_id)
            )
        }
        reasons = set(
            await session.scalars(
                select(ReturnReasonRow.reason).where(ReturnReasonRow.return_id == request.return_id)
            )
        )
        for item in request.items:
            row = rows.get(item.id)
            if row is not None:
                row.holds = True
                continue
            session.add(line_row(request.return_id, item, holds=True))
            if item.reason.value not in reasons:
                reasons.add(item.reason.value)
                session.add(
                    ReturnReasonRow(
                        return_id=request.return_id,
                        reason=item.reason.value,
                        status=request.status,
                        created_at=request.created_at,
                    )
                )
    recent, listed = await customer_context(
        session, request.return_id, request.customer_email, request.created_at,
        request.recipient_email,
    )  # fmt: skip
    return RegisteredFacts(**registered_facts(found, found.fits, recent, listed))


async def release_items(session: AsyncSession, return_id: str, item_ids: Sequence[str]) -> None:
    """Items the return tried to add and was refused: they hold nothing and are not its."""
    await session.execute(
        delete(ReturnLineRow).where(
            ReturnLineRow.return_id == return_id, ReturnLineRow.item_id.in_(list(item_ids))
        )
    )


def line_row(return_id: str, item: ReturnItem, holds: bool) -> ReturnLineRow:
    return ReturnLineRow(
        return_id=return_id,
        item_id=item.id,
        order_id=item.order_id,
        line_id=item.line_id,
        quantity=item.quantity,
        reason=item.reason.value,
        holds=holds,
    )


async def register_return(session: AsyncSession, request: RegisterReturn) -> RegisteredReturn:
    """Give the return its number and reserve its units if every line still has them, in one
    transaction under the orders' lock, so that two returns never both get the last unit.
    Repeating it for the same return changes nothing."""
    found = await availability(session, request.return_id, request.items)
    reserved = found.fits

    row = await session.scalar(select(ReturnRow).where(ReturnRow.id == request.return_id))
    if row is None and not reserved:
        # Other returns took the units since the request was checked: nothing of this one is
        # kept (it is answered 409), and nobody hears of it.
        recipient = request.state.recipient_email if request.state is not None else None
        recent, listed = await customer_context(
            session, request.return_id, request.customer_email, request.created_at, recipient
        )
        return RegisteredReturn(number=None, **registered_facts(found, False, recent, listed))
    if row is None:
        row = ReturnRow(
            id=request.return_id,
            number=request.return_id,  # unique until the sequence gives the real number
            status="requested",
            customer_email=request.customer_email.lower(),
            currency="",
            resolution="",
            version=0,
            created_at=request.created_at,
            updated_at=request.created_at,
        )
        session.add(row)
        await session.flush()
        row.number = f"R-{row.seq:06d}"
        for reason in sorted({item.reason.value for item in request.items}):
            session.add(
                ReturnReasonRow(
                    return_id=request.return_id,
                    reason=reason,
                    status="requested",
                    created_at=request.created_at,
                )
            )
        for item in request.items:
            session.add(line_row(request.return_id, item, holds=reserved))
    else:
        reserved = bool(
            await session.scalar(
                select(func.count())
                .select_from(ReturnLineRow)
                .where(ReturnLineRow.return_id == request.return_id, ReturnLineRow.holds.is_(True))
            )
        )

    recipient = request.state.recipient_email if request.state is not None else None
    recent, listed = await customer_context(
        session, request.return_id, request.customer_email, request.created_at, recipient
    )
    registered = RegisteredReturn(
        number=row.number, **registered_facts(found, reserved, recent, listed)
    )
    if await session.get(ReturnInputRow, request.return_id) is None:
        # What eligibility is decided on, as it is now: the policy simulator's input.
        state = request.state
        facts = {
            "registered": registered.model_dump(mode="json", exclude={"number"}),
            "items": [item.model_dump(mode="json") for item in request.items],
            "customer_email": request.customer_email.lower(),
            "method": state.method.value if state is not None else "label",
            "store_id": state.store_id if state is not None else None,
            "actor": state.timeline[0].actor.kind if state is not None and state.timeline else None,
            "window_exception": state.window_exception if state is not None else None,
            "fees_waived": state.fees_waived if state is not None else None,
        }
        session.add(
            ReturnInputRow(return_id=request.return_id, created_at=request.created_at, facts=facts)
        )
    return registered


async def record_event(
    session: AsyncSession, state: ReturnState, event_type: str, data: dict[str, Any] | None = None
) -> ReturnEventRow | None:
    """Keep the event that this version of the return emits, once: the event kept now, or None
    when it was kept before (a step repeated after it committed plans nothing again). `data` is
    the state as JSON, when the caller has it already."""
    key = f"{state.id}:{event_type}:{state.version}"
    values: dict[str, Any] = {
        "id": "evt_" + derived(key, 24),
        "return_id": state.id,
        "type": event_type,
        "version": state.version,
        "created_at": state.updated_at,
        "data": state.model_dump(mode="json") if data is None else data,
    }
    fresh = await insert_once(session, ReturnEventRow, values)
    return ReturnEventRow(**values) if fresh else None


VERDICTS = ("approved", "pending_review", "rejected")


async def keep_verdict(session: AsyncSession, state: ReturnState) -> None:
    """The policy's verdict on the return, once, beside what it was decided on: what the policy
    simulator compares a draft policy's verdict with."""
    timeline = state.timeline
    if len(timeline) != 2 or timeline[1].actor.kind != "policy":
        return
    if timeline[1].status.value not in VERDICTS:
        return
    inputs = table(ReturnInputRow).c
    await session.execute(
        update(table(ReturnInputRow))
        .where(inputs.return_id == state.id, inputs.outcome.is_(None))
        .values(
            outcome=timeline[1].status.value,
            estimated_refund_amount=state.estimated_refund_amount,
            decided_at=timeline[1].at,
        )
    )


async def project_return(
    session: AsyncSession, state: ReturnState, document: dict[str, Any] | None = None
) -> bool:
    """Write the return's state unless a newer version is already there; True when written.
    `document` is the state as JSON, when the caller has it already."""
    # Core statements on the tables: the ORM's bulk update machinery would cost a third more.
    returns, reasons = table(ReturnRow).c, table(ReturnReasonRow).c
    result = await session.execute(
        update(table(ReturnRow))
        .where(returns.id == state.id, returns.version < state.version)
        .values(
            status=state.status.value,
            currency=state.currency,
            resolution=state.resolution.value,
            recipient_email=state.recipient_email.lower() if state.recipient_email else None,
            tracking_number=_parcel(state),
            version=state.version,
            updated_at=state.updated_at,
            document=state.model_dump(mode="json") if document is None else document,
        )
    )
    written = bool(getattr(result, "rowcount", 0))
    if written:
        await session.execute(
            update(table(ReturnReasonRow))
            .where(reasons.return_id == state.id, reasons.status != state.status.value)
            .values(status=state.status.value)
        )
    if written and state.replacement is not None:
        replacement = state.replacement
        await upsert(
            session,
            ReplacementOrderRow,
            {
                "id": replacement.id,
                "return_id": state.id,
                "status": replacement.status,
                "items": [item.model_dump(mode="json") for item in replacement.items],
                "created_at": replacement.created_at,
                "updated_at": replacement.updated_at,
            },
            keys=["id"],
        )
    if written:
        await keep_verdict(session, state)
    if written and state.timestamps.received_at is not None and state.status not in RELEASED:
        # Units released (not come in time, or not coming) are the order's again; those still
        # missing after a partial receipt stay held while the return waits for them.
        for item in state.items:
            if item.quantity_released:
                held = item.quantity - item.quantity_released
                await session.execute(
                    update(ReturnLineRow)
                    .where(ReturnLineRow.return_id == state.id, ReturnLineRow.item_id == item.id)
                    .values(quantity=held, holds=held > 0)
                )
    if written and state.status in RELEASED:
        kept = await release_entitlement(session, state.id)
        await session.execute(
            update(ReturnLineRow)
            .where(ReturnLineRow.return_id == state.id, ReturnLineRow.order_id.not_in(kept))
            .values(holds=False)
        )
    return written


async def get_label(session: AsyncSession, return_id: str) -> LabelRow | None:
    """The return's label (who may read it, and whether it is void, its document says)."""
    return await session.scalar(select(LabelRow).where(LabelRow.return_id == return_id))


async def keep_label_pdf(session: AsyncSession, label_id: str, pdf: bytes) -> None:
    await session.execute(
        update(LabelRow).where(LabelRow.id == label_id, LabelRow.pdf.is_(None)).values(pdf=pdf)
    )


async def get_return_document(session: AsyncSession, return_id: str) -> ReturnState | None:
    """The return as its workflow last wrote it, with the notes staff kept after it ended in
    its timeline."""
    row = await session.scalar(select(ReturnRow).where(ReturnRow.id == return_id))
    if row is None or row.document is None:
        return None
    state = ReturnState.model_validate(row.document)
    if state.status in TERMINAL:
        state.timeline.extend(await notes_after_end(session, state))
    return state


async def notes_after_end(session: AsyncSession, state: ReturnState) -> list[TimelineEntry]:
    """The notes staff kept on the return after its workflow ended, oldest first."""
    notes = await session.scalars(
        select(ReturnNoteRow)
        .where(ReturnNoteRow.return_id == state.id)
        .order_by(ReturnNoteRow.at, ReturnNoteRow.id)
    )
    return [
        TimelineEntry(
            at=note.at,
            status=state.status,
            actor=Actor.model_validate(note.actor),
            note=note.text,
            internal=True,
        )
        for note in notes
    ]


async def add_note(
    session: AsyncSession, return_id: str, actor: Actor, text: str, at: datetime
) -> None:
    """A staff member's note on a return whose workflow has ended (while it runs, the workflow
    keeps its notes)."""
    key = f"{return_id}:{actor.label()}:{at.isoformat()}:{text}"
    values = {
        "id": "note_" + derived(key, 24),
        "return_id": return_id,
        "at": at,
        "actor": actor.model_dump(mode="json"),
        "text": text,
    }
    await insert_once(session, ReturnNoteRow, values)


@dataclass
class ReturnFilter:
    statuses: list[str] = field(default_factory=list)
    customer_email: str | None = None
    order_id: str | None = None
    reason: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    number: str | None = None
    tracking_number: str | None = None
    # The shop's order number, as its customers and staff quote it ("1001"), not our order id.
    order_number: str | None = None
    # A gift's recipient, who returned it.
    recipient_email: str | None = None
    ids: list[str] = field(default_factory=list)
    # Gifts' returns only (True), none of them (False), or either (None).
    gift: bool | None = None


async def list_returns(
    session: AsyncSession,
    filters: ReturnFilter,
    limit: int,
    cursor: str | None = None,
    oldest_first: bool = False,
) -> tuple[list[ReturnState], str | None]:
    """Newest first (or oldest first: a queue), `limit` at a time; the cursor continues after the
    last one returned. Each filter walks an index in that order (see the EXPLAIN test), so a page
    costs about the same over a thousand returns or a million."""
    query = select(ReturnRow).where(ReturnRow.document.is_not(None))
    # The order to walk: the reason index when filtering by reason, the returns' own otherwise.
    created_at: Any = ReturnRow.created_at
    ident: Any = ReturnRow.id
    if filters.reason:
        query = query.join(
            ReturnReasonRow,
            and_(
                ReturnReasonRow.return_id == ReturnRow.id, ReturnReasonRow.reason == filters.reason
            ),
        )
        created_at, ident = ReturnReasonRow.created_at, ReturnReasonRow.return_id
    status = _status_column(session, filters)
    if len(filters.statuses) == 1:
        query = query.where(status == filters.statuses[0])
    elif filters.statuses:
        query = query.where(status.in_(filters.statuses))
    if filters.customer_email:
        query = query.where(ReturnRow.customer_email == filters.customer_email.lower())
    if filters.gift is not None:
        recipient = ReturnRow.recipient_email
        query = query.where(recipient.is_not(None) if filters.gift else recipient.is_(None))
    if filters.number:
        query = query.where(ReturnRow.number == filters.number)
    if filters.tracking_number:
        query = query.where(
            ReturnRow.tracking_number == plain_tracking_number(filters.tracking_number)
        )
    if filters.ids:
        query = query.where(ReturnRow.id.in_(filters.ids))
    if filters.created_after:
        query = query.where(created_at >= filters.created_after)
    if filters.created_before:
        query = query.where(created_at < filters.created_before)
    if filters.recipient_email:
        query = query.where(ReturnRow.recipient_email == filters.recipient_email.lower())
    if filters.order_id:
        lines = select(ReturnLineRow.return_id).where(ReturnLineRow.order_id == filters.order_id)
        query = query.where(ReturnRow.id.in_(lines))
    if filters.order_number:
        orders = select(OrderRow.id).where(OrderRow.number == filters.order_number)
        lines = select(ReturnLineRow.return_id).where(ReturnLineRow.order_id.in_(orders))
        query = query.where(ReturnRow.id.in_(lines))
    if cursor:
        at, last_id = decode_cursor(cursor)
        after = tuple_(created_at, ident)
        query = query.where(
            after > tuple_(at, last_id) if oldest_first else after < tuple_(at, last_id)
        )
    order = (created_at.asc(), ident.asc()) if oldest_first else (created_at.desc(), ident.desc())
    query = query.order_by(*order).limit(limit + 1)
    rows = (await session.scalars(query)).all()
    page = rows[:limit]
    next_cursor = (
        encode_cursor(page[-1].created_at, page[-1].id) if len(rows) > limit and page else None
    )
    return [ReturnState.model_validate(row.document) for row in page], next_cursor


def _status_column(session: AsyncSession, filters: ReturnFilter) -> Any:
    """The status column to filter on: the reason table's when filtering by reason (one index
    walks both). For SQLite (which keeps no statistics unless asked) the same column is written
    `+status` where its index would be the wrong walk: with several statuses, where the
    creation-time index needs no sort, and with a customer, whose own index finds few rows.
    PostgreSQL's planner has statistics and chooses for itself."""
    column = ReturnReasonRow.status if filters.reason else ReturnRow.status
    steer = len(filters.statuses) > 1 or (filters.customer_email and not filters.reason)
    if session.get_bind().dialect.name == "sqlite" and steer:
        return literal_column(f"+{column.table.name}.status", String)
    return column
