"""Returns: create (starting the workflow), read, list, the actions people take, label, history."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service import metrics
from returns_service.api.auth import CUSTOMER, STAFF, Principal, allow
from returns_service.api.deps import (
    GatewayDep,
    ReadSessionsDep,
    SessionDep,
    SettingsDep,
    WriteSessionDep,
)
from returns_service.api.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Problem,
    TooManyRequests,
    Unavailable,
)
from returns_service.api.history import read_history
from returns_service.api.idempotency import (
    Answer,
    Idempotency,
    IdempotencyDep,
    key_seed,
)
from returns_service.api.ids import new_id
from returns_service.api.schemas import (
    AddedItems,
    AddItemsIn,
    ApproveIn,
    BulkActionIn,
    BulkActionOut,
    BulkError,
    BulkResult,
    CancelIn,
    CloseIn,
    History,
    HistoryEvent,
    NotComingIn,
    NoteIn,
    PhotoOut,
    ReceiveIn,
    RefundIn,
    ReissueIn,
    RejectIn,
    ReplacementIn,
    Request,
    ReturnCreate,
    ReturnItemIn,
    ReturnOut,
    ReturnPage,
    ShipIn,
)
from returns_service.config import Settings
from returns_service.documents.label_pdf import label_pdf
from returns_service.documents.qr import qr_png
from returns_service.domain import rules
from returns_service.domain.messages import (
    AddItems,
    AddNote,
    ApproveReturn,
    CancelReturn,
    CloseReturn,
    ReceiveItems,
    RefundReturn,
    ReissueLabel,
    RejectReturn,
    ReleaseMissing,
    ReportReplacement,
    ShipReturn,
    StartReturn,
    workflow_id,
)
from returns_service.domain.models import (
    BEYOND_POLICY,
    Actor,
    Customer,
    Order,
    Policy,
    Reason,
    ReplacementItem,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
    still_returnable,
)
from returns_service.domain.status import RELEASED, TERMINAL, Status
from returns_service.domain.types import (
    EMAIL_LENGTH,
    ID_LENGTH,
    NAME_LENGTH,
    TRACKING_LENGTH,
    Moment,
    OneLine,
    blank,
)
from returns_service.gateway import (
    Decision,
    Finished,
    Gateway,
    KeyUsed,
    NoAnswer,
    Refused,
    Unreachable,
)
from returns_service.i18n import languages
from returns_service.store.db import Sessions
from returns_service.store.limits import give_back_slot, take_slot
from returns_service.store.orders import (
    claim_tracking_number,
    current_policy,
    get_orders,
    held_quantities,
    release_tracking_number,
)
from returns_service.store.photos import get_photo, photos_of
from returns_service.store.returns import (
    ReturnFilter,
    add_note,
    decode_cursor,
    get_label,
    get_return_document,
    keep_label_pdf,
    list_returns,
    notes_after_end,
)
from returns_service.store.tables import LabelRow
from returns_service.workflows.returns import ReturnWorkflow

router = APIRouter(prefix="/v1/returns", tags=["returns"])

# A read does not wait long for a busy or absent worker: the read model answers instead.
LIVE_STATE_SECONDS = 2.0
# How many returns of a bulk action are asked at once.
BULK_AT_ONCE = 16
# A bulk action answers within the workflows' deadline and this much more.
BULK_GRACE_SECONDS = 5.0

ReturnId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


def _by(*roles: str) -> Any:
    return Depends(allow(*roles))


# --- create ---------------------------------------------------------------------------------------


@dataclass
class Resolved:
    items: list[ReturnItem]
    customer: Customer
    currency: str
    orders: dict[str, Order]
    # Per order and line, the units other returns hold.
    held: dict[tuple[str, str], int]
    resolution: Resolution


async def _items_of(
    session: AsyncSession,
    asked_items: list[ReturnItemIn],
    principal: Principal,
    numbered_after: int = 0,
) -> tuple[list[ReturnItem], dict[str, Order], dict[tuple[str, str], int]]:
    """The items asked for, checked against the order snapshots; every mistake names its field.
    A customer sees only their own orders: another's answers like one that does not exist."""
    orders = {
        order_id: order
        for order_id, order in (
            await get_orders(session, [item.order_id for item in asked_items])
        ).items()
        if principal.may_see_order(order)
    }
    held = await held_quantities(session, orders)
    items: list[ReturnItem] = []
    seen: set[tuple[str, str]] = set()
    for index, asked in enumerate(asked_items):
        order = orders.get(asked.order_id)
        if order is None:
            raise InvalidInput(f"items[{index}].order_id", f"order {asked.order_id} does not exist")
        line = order.line(asked.line_id)
        if line is None:
            raise InvalidInput(
                f"items[{index}].line_id", f"order {order.number} has no line {asked.line_id}"
            )
        if (asked.order_id, asked.line_id) in seen:
            raise InvalidInput(f"items[{index}].line_id", "this order line is listed twice")
        seen.add((asked.order_id, asked.line_id))
        if asked.quantity > line.quantity:
            raise InvalidInput(
                f"items[{index}].quantity", f"only {line.quantity} of {line.name} were bought"
            )
        # Other returns hold the rest (the workflow decides again, under the order's lock, when
        # two returns race for the last units).
        left = still_returnable(order, held)[line.id]
        if asked.quantity > left:
            raise InvalidInput(
                f"items[{index}].quantity",
                f"only {left} of {line.name} can still be returned; other returns hold the rest",
            )
        items.append(
            ReturnItem(
                id=f"ri_{numbered_after + index + 1}",
                order_id=order.id,
                line_id=line.id,
                sku=line.sku,
                name=line.name,
                quantity=asked.quantity,
                reason=asked.reason,
                comment=asked.comment,
            )
        )
    return items, orders, held


async def _resolve_items(
    session: AsyncSession, body: ReturnCreate, principal: Principal
) -> Resolved:
    """Check the request against the order snapshots; every mistake names its field."""
    items, orders, held = await _items_of(session, body.items, principal)
    involved = [orders[item.order_id] for item in items]
    emails = {order.customer.email.lower() for order in involved}
    if len(emails) > 1:
        raise InvalidInput("items", "the orders belong to different customers")
    currencies = {order.currency for order in involved}
    if len(currencies) > 1:
        raise InvalidInput("items", "the orders are in different currencies")
    email = emails.pop()
    resolution = _gift_checked(body, principal, involved)
    if body.customer_email is not None and body.customer_email != email:
        raise InvalidInput("customer_email", "does not match the customer of the orders")
    if resolution is Resolution.EXCHANGE and not body.replacement_items:
        raise InvalidInput("replacement_items", "an exchange names the items to send instead")
    if resolution is not Resolution.EXCHANGE and body.replacement_items:
        raise InvalidInput("replacement_items", "only an exchange sends replacement items")
    first = involved[0].customer
    customer = Customer(id=first.id, email=email)
    return Resolved(items, customer, currencies.pop(), orders, held, resolution)


def _replacements(
    body: ReturnCreate, items: list[ReturnItem], orders: dict[str, Order], customer: bool
) -> list[ReplacementItem]:
    """Each replacement line with the returned item it replaces (named by its index in `items`,
    or paired: one item, or one line per item in order), never more units than that item's. A
    customer's names the item's own SKU or one of its order line's `variants` (the shop's staff
    and its storefront may send anything one for one)."""
    lines = body.replacement_items
    made = []
    for index, line in enumerate(lines):
        which = line.item
        if which is None and len(items) == 1:
            which = 0
        elif which is None and len(lines) == len(items):
            which = index
        field = f"replacement_items[{index}].item"
        if which is None:
            raise InvalidInput(field, "name the index in `items` of the item it replaces")
        if which >= len(items):
            raise InvalidInput(field, f"the return has {len(items)} items")
        replaced = items[which]
        order_line = orders[replaced.order_id].line(replaced.line_id)
        variant = order_line.exchangeable_for(line.sku) if order_line is not None else None
        name = line.name
        if customer and variant is None:
            raise InvalidInput(
                f"replacement_items[{index}].sku",
                "neither the item's own SKU nor one of its order line's variants",
            )
        if customer and variant is not None and variant.sku != replaced.sku:
            name = variant.name  # what the shop calls it, not what the request said
        elif customer and variant is not None:
            # The same item again, the customer's words (a size, a colour) after its own name:
            # never another product's name on it.
            words = (line.name or "").strip()
            own = variant.name
            name = words if words.startswith(own) else f"{own}: {words}" if words else own
            name = name[:NAME_LENGTH]
        made.append(
            ReplacementItem(sku=line.sku, name=name, quantity=line.quantity, item_id=replaced.id)
        )
    for index, item in enumerate(items):
        units = sum(line.quantity for line in made if line.item_id == item.id)
        if units > item.quantity:
            raise InvalidInput(
                "replacement_items",
                f"{units} units replace items[{index}], which returns {item.quantity}",
            )
    return made


def _start_note(
    principal: Principal, returning: str, exception: str | None, waived: str | None = None
) -> str | None:
    """What the timeline's first entry says besides who requested the return: on whose behalf
    staff did, their exception to a closed window, and why they waived the fees."""
    if principal.is_customer:
        return None
    note = f"on behalf of {returning}"
    if exception and exception.strip():
        note += f"; taken after the return window: {exception.strip()}"
    if waived and waived.strip():
        note += f"; fees waived: {waived.strip()}"
    return note


def _gift_checked(body: ReturnCreate, principal: Principal, involved: list[Order]) -> Resolution:
    """The resolution the return gets: a gift's return (its recipient's, or staff's for them)
    names the recipient, holds items of that one gift order and is paid in store credit."""
    if not principal.is_gift and body.recipient_email is None:
        return body.resolution
    if body.recipient_email is None:
        raise InvalidInput("recipient_email", "a gift's return names the email of its recipient")
    if principal.is_customer and not principal.is_gift:
        raise InvalidInput(
            "recipient_email",
            "only a gift's recipient (signed in with the order's postal code) or staff name one",
        )
    if principal.is_gift and body.customer_email is not None:
        raise InvalidInput("customer_email", "a gift's recipient does not name the buyer")
    if len({order.id for order in involved}) > 1:
        raise InvalidInput("items", "a gift's return holds items of the one gift order")
    if not involved[0].gift:
        raise InvalidInput("recipient_email", f"order {involved[0].number} is not a gift")
    if "resolution" in body.model_fields_set and body.resolution is not Resolution.STORE_CREDIT:
        raise InvalidInput("resolution", "a gift is paid back as store credit to its recipient")
    return Resolution.STORE_CREDIT


def offered_here(offered: list[ReturnMethod], settings: Settings) -> list[ReturnMethod]:
    """The methods offered, less a drop-off code where the carrier in use gives none."""
    if settings.drop_off_codes():
        return offered
    return [method for method in offered if method is not ReturnMethod.QR_DROP_OFF]


def _check_method(
    body: ReturnCreate, resolved: Resolved, policy: Policy, customer: bool, settings: Settings
) -> None:
    """The way back asked for: at one of the shop's stores for `in_store`; for a customer, one
    the shop offers for these items, and keeping them only where the policy allows it (the
    workflow decides the same again, with the same rules)."""
    method = body.method
    if method is ReturnMethod.KEEP_ITEM and body.resolution is Resolution.EXCHANGE:
        raise InvalidInput("method", "kept items are paid back; an exchange needs them back")
    if method is ReturnMethod.IN_STORE:
        if body.store_id is None:
            raise InvalidInput("store_id", "name the store the items are brought to")
        if policy.store(body.store_id) is None:
            stores = ", ".join(store.id for store in policy.stores) or "none"
            raise InvalidInput("store_id", f"not one of the shop's stores ({stores})")
    elif body.store_id is not None:
        raise InvalidInput("store_id", "only an in_store return names a store")
    if not customer:
        return
    matched, parts = rules.requested(
        policy,
        resolved.orders,
        resolved.held,
        resolved.items,
        resolved.customer.email,
        kept=method is ReturnMethod.KEEP_ITEM,
    )
    offered = offered_here(rules.methods_offered(policy, resolved.items, matched), settings)
    if method not in offered:
        names = ", ".join(m.value for m in offered) or "no method"
        raise InvalidInput("method", f"the shop offers {names} for these items")
    estimate = sum(part.amount for part in parts)
    if method is ReturnMethod.KEEP_ITEM and not rules.keep_allowed(
        policy, resolved.items, matched, estimate, resolved.currency
    ):
        raise InvalidInput("method", "the shop's policy does not let these items be kept")


@router.post(
    "",
    status_code=201,
    response_model=ReturnOut,
    responses={
        202: {
            "model": ReturnOut,
            "description": "Started, but no worker has decided it yet: it will be decided when "
            "one runs; read it at Location.",
        }
    },
)
async def create_return(
    body: ReturnCreate,
    read: SessionDep,
    write: WriteSessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    idempotency: IdempotencyDep,
    principal: Annotated[Principal, _by("integration", "agent", CUSTOMER)],
) -> Response:
    async def work() -> Answer:
        state, decided = await _create(body, read, write, gateway, settings, principal, idempotency)
        return Answer(
            201 if decided else 202,
            ReturnOut.build(state, principal.is_customer).model_dump(mode="json"),
            {"Location": f"/v1/returns/{state.id}"},
        )

    return await idempotency.run(principal, body, work)


async def _create(
    body: ReturnCreate,
    read: AsyncSession,
    write: AsyncSession,
    gateway: Gateway,
    settings: Settings,
    principal: Principal,
    idempotency: Idempotency,
    photographed: list[str] | None = None,
) -> tuple[ReturnState, bool]:
    """Start the return's workflow and wait for its decision; False when no worker decided yet.
    `photographed`: the items whose photos came with the request (the portal's form; the API
    takes none, so photos the policy asks for are missing and an agent looks)."""
    # With an Idempotency-Key the id comes from it: a repeat can only find the same workflow,
    # and a repeat whose first attempt started it (its answer lost with the API that gave it)
    # answers that return, not a check against the units it now holds itself.
    seed = key_seed(principal, idempotency.key) if idempotency.key else None
    return_id = new_id("ret", seed)
    if seed is not None and await gateway.started(return_id) is not None:
        return await _decided(read, gateway, return_id, principal)
    async with read.begin():
        resolved = await _resolve_items(read, body, principal)
        policy = await current_policy(read)
    items, customer, currency = resolved.items, resolved.customer, resolved.currency
    if body.language is not None and body.language not in languages():
        raise InvalidInput("language", f"one of {', '.join(languages())}")
    # A storefront relays its customer's choices: the customer's limits apply to it; only
    # agents and admins go beyond the policy (and the return's eligibility says so).
    limited = principal.role not in BEYOND_POLICY
    for index, item in enumerate(body.items):
        if limited and item.reason not in policy.reasons:
            offered = ", ".join(r.value for r in policy.reasons)
            raise InvalidInput(f"items[{index}].reason", f"the shop's reasons are {offered}")
    gift = body.recipient_email is not None
    if limited and not gift and body.resolution not in policy.resolutions:
        offered = ", ".join(r.value for r in policy.resolutions)
        raise InvalidInput("resolution", f"the shop offers {offered}")
    _check_method(body, resolved, policy, limited, settings)
    if body.window_exception is not None and limited:
        raise InvalidInput(
            "window_exception", "only agents and admins make an exception to the return window"
        )
    if body.window_exception is not None and blank(body.window_exception):
        raise InvalidInput("window_exception", "say why the items are taken after their window")
    if body.fees_waived is not None and limited:
        raise InvalidInput("fees_waived", "only agents and admins waive a return's fees")
    if body.fees_waived is not None and blank(body.fees_waived):
        raise InvalidInput("fees_waived", "say why the fees are waived")
    replacements = _replacements(body, items, resolved.orders, principal.is_customer)
    slot: tuple[str, datetime] | None = None
    if principal.is_customer:
        # A gift's returns are counted for the gift, never against the buyer's own.
        counted = f"gift:{items[0].order_id}" if principal.is_gift else customer.email
        taken = await _within_hourly_limit(write, counted, settings.customer_returns_per_hour)
        slot = (counted, taken)
    # A gift's recipient acts by the email they gave; staff act on behalf of whoever returns.
    returning = body.recipient_email or customer.email
    start = StartReturn(
        return_id=return_id,
        customer=customer,
        currency=currency,
        resolution=resolved.resolution,
        items=items,
        policy=policy,
        created_at=datetime.now(UTC),
        actor=Actor(kind="customer", id=returning) if principal.is_gift else principal.actor,
        replacement_items=replacements,
        language=body.language,
        note=_start_note(principal, returning, body.window_exception, body.fees_waived),
        method=body.method,
        store_id=body.store_id,
        recipient_email=body.recipient_email,
        photographed=photographed or [],
        window_exception=(body.window_exception or "").strip() or None,
        fees_waived=(body.fees_waived or "").strip() or None,
    )
    try:
        state = await gateway.start_return(start)
    except KeyUsed as error:
        raise Conflict(
            f"this Idempotency-Key made return {return_id}, which has finished; use a new key",
            code="idempotency_key_expired",
        ) from error
    except Unreachable as error:
        raise Unavailable(str(error)) from error
    if state is None:
        # The return's workflow runs, but no worker has decided it yet (none running, or all
        # busy): it is safe and will be decided when one is. Say so rather than hang.
        return start.initial_state(), False
    if state.void:
        if slot is not None:
            async with write.begin():
                await give_back_slot(write, f"returns-per-hour:{slot[0]}", slot[1])
        raise _taken(state)
    metrics.CREATED.labels(start.resolution.value, start.method.value).inc()
    return state, True


def _taken(state: ReturnState) -> Conflict:
    """A return that lost the race for its units: nothing of it was made."""
    names = ", ".join(item.name for item in state.items)
    return Conflict(
        f"other returns took these items meanwhile ({names}); nothing was created",
        code="units_taken",
        errors=[
            {"field": f"items[{index}].quantity", "message": f"{item.name}: taken meanwhile"}
            for index, item in enumerate(state.items)
        ],
    )


async def _decided(
    read: AsyncSession, gateway: Gateway, return_id: str, principal: Principal
) -> tuple[ReturnState, bool]:
    """The return an earlier attempt with the same key started, once decided (False: not yet)."""
    current = await _document(read, gateway, return_id, principal)
    try:
        state = await gateway.wait_decided(return_id)
    except Finished:
        return current, current.status is not Status.REQUESTED  # it has finished meanwhile
    if state is None:
        return current, False
    if state.void:
        raise _taken(state)
    return state, True


async def _within_hourly_limit(session: AsyncSession, email: str, limit: int) -> datetime:
    """Each return may cost a shipping label: a customer creates at most `limit` an hour,
    counted atomically in the store however many requests arrive at once. Answers when the
    slot was taken (to give it back if the return is never made)."""
    now = datetime.now(UTC)
    async with session.begin():
        wait = await take_slot(session, f"returns-per-hour:{email}", limit, timedelta(hours=1), now)
    if wait is not None:
        raise TooManyRequests(
            f"at most {limit} returns an hour; try again later", max(int(wait.total_seconds()), 1)
        )
    return now


# --- read -----------------------------------------------------------------------------------------


async def _document(
    session: AsyncSession, gateway: Gateway, return_id: str, principal: Principal
) -> ReturnState:
    """The return from the read model; one whose workflow started but has not been picked up by
    a worker yet is answered from the workflow's input. Another customer's return answers like
    one that does not exist."""
    async with session.begin():
        state = await get_return_document(session, return_id)
    if state is None:
        start = await gateway.started(return_id)
        if start is None or await gateway.ended(return_id):
            # (A run that ended with nothing in the read model was never made: its units were
            # taken by another return while it was requested.)
            raise NotFound(f"return {return_id} does not exist")
        state = start.initial_state()
    elif not principal.may_see_return(state):
        # As long as for a return that does not exist (which asks Temporal too), so that the
        # time of the answer does not tell whether someone else's return has this id.
        await gateway.started(return_id)
    principal.require_return(state, f"return {return_id}")
    return state


@router.get("", response_model=ReturnPage)
async def search_returns(
    read: SessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
    status: Annotated[list[Status], Query()] = [],  # noqa: B006
    customer_email: Annotated[OneLine | None, Query(min_length=1, max_length=EMAIL_LENGTH)] = None,
    order_id: Annotated[OneLine | None, Query(min_length=1, max_length=ID_LENGTH)] = None,
    reason: Reason | None = None,
    number: Annotated[OneLine | None, Query(min_length=1, max_length=32)] = None,
    tracking_number: Annotated[
        OneLine | None, Query(min_length=1, max_length=TRACKING_LENGTH)
    ] = None,
    created_after: Annotated[Moment | None, Query()] = None,
    created_before: Annotated[Moment | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[OneLine | None, Query(min_length=1, max_length=500)] = None,
) -> ReturnPage:
    if cursor is not None:
        try:
            decode_cursor(cursor)
        except ValueError as error:
            raise InvalidInput("cursor", str(error)) from error
    gift: bool | None = None
    if principal.is_gift:
        # A gift's recipient's list: the returns of that gift, whatever else it asks for.
        if customer_email is not None or order_id not in (None, principal.order_id):
            return ReturnPage(data=[], next_cursor=None)
        order_id, gift = principal.order_id, True
    elif principal.is_customer:
        # A customer's list is their own (not the returns of gifts they gave), whatever else it
        # asks for.
        if customer_email is not None and not principal.may_see(customer_email):
            return ReturnPage(data=[], next_cursor=None)
        customer_email, gift = principal.email, False
    filters = ReturnFilter(
        gift=gift,
        statuses=[s.value for s in status],
        customer_email=customer_email,
        order_id=order_id,
        reason=reason.value if reason else None,
        number=number,
        tracking_number=tracking_number,
        created_after=created_after,
        created_before=created_before,
    )
    async with read.begin():
        states, next_cursor = await list_returns(read, filters, limit, cursor)
    return ReturnPage(
        data=[ReturnOut.build(s, principal.is_customer) for s in states], next_cursor=next_cursor
    )


@router.get("/{return_id}", response_model=ReturnOut)
async def read_return(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> ReturnOut:
    """The live state from the workflow; the read model (at most a moment behind) once the
    return is finished, or when no worker answers right now."""
    state = await _document(read, gateway, return_id, principal)
    if state.status not in TERMINAL:
        state = await gateway.live_state(return_id, LIVE_STATE_SECONDS) or state
    return ReturnOut.build(state, principal.is_customer)


@router.get(
    "/{return_id}/label",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
async def read_label(
    return_id: ReturnId,
    read: SessionDep,
    write: WriteSessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> Response:
    """The label's PDF; the built-in carrier's is rendered on the first download and kept."""
    return await label_response(read, write, return_id, principal)


@router.get(
    "/{return_id}/label/qr",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
async def read_label_qr(
    return_id: ReturnId,
    read: SessionDep,
    principal: Annotated[Principal, _by(*STAFF, CUSTOMER)],
) -> Response:
    """A `qr_drop_off` return's drop-off code as a QR image, to show at the drop-off point."""
    return await qr_response(read, return_id, principal)


async def qr_response(read: AsyncSession, return_id: str, principal: Principal | None) -> Response:
    """The return's drop-off QR as a PNG, for the API and the portal: NotFound as for a label."""
    label = await _valid_label(read, return_id, principal)
    if label.drop_off_code is None:
        raise NotFound(f"return {return_id} is sent with a printed label, not a drop-off code")
    # The carrier's own QR image where it made one (EasyPost), else drawn from the code.
    carriers = label.pdf if label.pdf and label.pdf.startswith(b"\x89PNG") else None
    return Response(
        carriers or qr_png(label.drop_off_code),
        media_type="image/png",
        headers={"Cache-Control": "private, max-age=3600"},
    )


async def _valid_label(read: AsyncSession, return_id: str, principal: Principal | None) -> LabelRow:
    """The return's label: NotFound when it has none, it is someone else's, or it is void (the
    return will not be sent). No principal: asked by a signed link, checked by its caller."""
    async with read.begin():
        label = await get_label(read, return_id)
        state = await get_return_document(read, return_id) if label is not None else None
    allowed = principal is None or (state is not None and principal.may_see_return(state))
    if label is None or state is None or not allowed:
        raise NotFound(f"return {return_id} has no label")
    if state.status in RELEASED:  # it will not be sent: its label must not be printed and posted
        raise NotFound(
            f"the label of return {return_id} is void: the return is {state.status.value}"
        )
    return label


async def label_response(
    read: AsyncSession,
    write: AsyncSession,
    return_id: str,
    principal: Principal | None,
    disposition: str = "inline",
) -> Response:
    """The return's label as a PDF, for the API and the portal: NotFound when it has none, it
    is someone else's, or it is void (the return will not be sent)."""
    label = await _valid_label(read, return_id, principal)
    if label.drop_off_code is not None:
        raise NotFound(f"return {return_id} has nothing to print: show its drop-off QR code")
    pdf = label.pdf
    if pdf is None:
        pdf = await asyncio.to_thread(label_pdf, label)
        async with write.begin():
            await keep_label_pdf(write, label.id, pdf)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'{disposition}; filename="label-{label.tracking_number}.pdf"'
        },
    )


@router.get("/{return_id}/photos", response_model=list[PhotoOut])
async def list_photos(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by("agent", "ops", CUSTOMER)],
) -> list[PhotoOut]:
    """The customer's photos of the returned items (from the portal), oldest first."""
    await _document(read, gateway, return_id, principal)
    async with read.begin():
        rows = await photos_of(read, return_id)
    return [
        PhotoOut(
            id=row.id,
            item_id=row.item_id,
            content_type=row.content_type,
            size=row.size,
            url=f"/v1/returns/{return_id}/photos/{row.id}",
            created_at=row.created_at,
        )
        for row in rows
    ]


@router.get(
    "/{return_id}/photos/{photo_id}",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
async def read_photo(
    return_id: ReturnId,
    photo_id: Annotated[str, Path(min_length=1, max_length=64, pattern=r"^ph_[0-9a-f]+$")],
    read: SessionDep,
    gateway: GatewayDep,
    principal: Annotated[Principal, _by("agent", "ops", CUSTOMER)],
) -> Response:
    """One photo, as the image it was checked to be."""
    await _document(read, gateway, return_id, principal)
    answer = await photo_answer(read, return_id, photo_id)
    if answer is None:
        raise NotFound(f"return {return_id} has no photo {photo_id}")
    return answer


async def photo_answer(read: AsyncSession, return_id: str, photo_id: str) -> Response | None:
    """A kept photo as the image it was checked to be, for the API and the pages; None when the
    return has no such photo."""
    async with read.begin():
        kept = await get_photo(read, return_id, photo_id)
    if kept is None:
        return None
    return Response(
        kept.data,
        media_type=kept.content_type,
        headers={
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": "inline",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/{return_id}/history", response_model=History)
async def read_return_history(
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    principal: Annotated[Principal, _by("agent", "ops")],
) -> History:
    state = await _document(read, gateway, return_id, principal)
    history = await read_history(gateway, settings, workflow_id(return_id))
    # Notes kept after the workflow ended are in the store, not in its history.
    async with read.begin():
        after = await notes_after_end(read, state)
    history.events.extend(
        HistoryEvent(
            at=note.at,
            kind="note",
            summary=f"note by {note.actor.label()} after the workflow ended: {note.note}",
            actor=note.actor.label(),
        )
        for note in after
    )
    return history


# --- actions --------------------------------------------------------------------------------------


@dataclass
class Actions:
    """What every action route needs: the store, the gateway to Temporal and the request's
    Idempotency-Key."""

    sessions: Sessions
    gateway: Gateway
    idempotency: Idempotency

    async def document(self, return_id: str, principal: Principal) -> ReturnState:
        """The return as the read model has it, in a session of its own (a bulk action reads
        several at once)."""
        async with self.sessions() as read:
            return await _document(read, self.gateway, return_id, principal)

    async def act(
        self, return_id: str, action: Action[Any, Any], body: Request, principal: Principal
    ) -> Response:
        """Deliver the decision once per Idempotency-Key. The action's `done_already` tells a
        refusal that only says "this has happened" (answered 200 with the return) from a real
        one."""

        async def work() -> Answer:
            try:
                out = await self.deliver(return_id, action, body, principal)
            except Conflict:
                current = await self.document(return_id, principal)
                if action.done_already is None or not action.done_already(current, body):
                    raise
                out = ReturnOut.build(current, principal.is_customer)
            return Answer(200, out.model_dump(mode="json"), {})

        return await self.idempotency.run(principal, body, work)

    async def deliver(
        self, return_id: str, action: Action[Any, Any], body: Request, principal: Principal
    ) -> ReturnOut:
        """Deliver a person's decision to the return's workflow as an Update. The request bodies
        carry the same fields as the Update inputs, less the actor, which is the caller."""
        current = await self.document(return_id, principal)
        actor = principal.actor_on(current)
        message = action.message.model_validate({"actor": actor, **body.model_dump()})
        try:
            state = await self.gateway.decide(return_id, action.update, message)
        except NoAnswer as error:
            raise Unavailable(str(error)) from None
        except Refused as refusal:
            raise _refusal(refusal, current) from refusal
        except (Finished, Unreachable) as error:
            current = await self.document(return_id, principal)
            if current.status in TERMINAL and isinstance(message, AddNote):
                return await self.note_after_end(current, message, principal)
            if current.status in TERMINAL:
                raise Conflict(
                    f"the return is {current.status.value}",
                    current_status=current.status.value,
                    available_actions=current.actions(),
                ) from error
            raise Unavailable(str(error)) from error
        return ReturnOut.build(state, principal.is_customer)

    async def note_after_end(
        self, current: ReturnState, message: AddNote, principal: Principal
    ) -> ReturnOut:
        """A note on a return whose workflow has ended (rejected, cancelled, closed): the team
        still writes down what a caller said; kept in the store, read into the timeline."""
        if not message.text.strip():
            raise InvalidInput("text", "write the note")
        async with self.idempotency.sessions() as write, write.begin():
            await add_note(write, current.id, message.actor, message.text, datetime.now(UTC))
        return ReturnOut.build(current, principal.is_customer)


def get_actions(
    sessions: ReadSessionsDep, gateway: GatewayDep, idempotency: IdempotencyDep
) -> Actions:
    return Actions(sessions, gateway, idempotency)


ActionsDep = Annotated[Actions, Depends(get_actions)]


def _refusal(refusal: Refused, current: ReturnState) -> Exception:
    details = refusal.details
    if refusal.kind is None:
        return Conflict(refusal.message)
    if refusal.kind == "InvalidInput":
        return InvalidInput(details.get("field", "body"), refusal.message.split(": ", 1)[-1])
    extra = {k: v for k, v in details.items() if k not in ("current_status", "available_actions")}
    return Conflict(
        refusal.message,
        code=refusal.kind,
        current_status=details.get("current_status", current.status.value),
        available_actions=details.get("available_actions", current.actions()),
        **extra,
    )


M = TypeVar("M", bound=BaseModel)
B = TypeVar("B", bound=Request)


@dataclass(frozen=True)
class Action(Generic[M, B]):
    """One action people take on a return: its path, the Update it becomes, the request body,
    who may take it, and (for bulk) how a note makes its body."""

    name: str
    update: Decision[M]
    message: type[M]
    body: type[B]
    roles: tuple[str, ...]
    description: str
    # For bulk actions: the request a bulk note makes.
    from_note: Callable[[str | None], B] | None = None
    # A refusal that only says "this has happened already" (answered 200 with the return).
    done_already: Callable[[ReturnState, B], bool] | None = None


def _reported(current: ReturnState, body: ReplacementIn) -> bool:
    """The same report again (the same status, and no other order than the one reported)."""
    sent = current.replacement
    return (
        sent is not None
        and sent.status == body.status
        and not (body.order_reference and sent.order_reference != body.order_reference)
    )


ACTIONS: dict[str, Action[Any, Any]] = {
    action.name: action
    for action in (
        Action(
            "approve",
            ReturnWorkflow.approve,
            ApproveReturn,
            ApproveIn,
            ("agent",),
            "Approve a return waiting for review.",
            from_note=lambda note: ApproveIn(note=note),
        ),
        Action(
            "reject",
            ReturnWorkflow.reject,
            RejectReturn,
            RejectIn,
            ("agent",),
            "Reject a return under review, or one received that will not be paid back.",
            from_note=lambda note: RejectIn(reason=note),
        ),
        Action(
            "cancel",
            ReturnWorkflow.cancel,
            CancelReturn,
            CancelIn,
            ("agent", CUSTOMER),
            "Cancel a return before its parcel is on its way.",
            from_note=lambda note: CancelIn(reason=note),
        ),
        Action(
            "ship",
            ReturnWorkflow.ship,
            ShipReturn,
            ShipIn,
            ("integration", "agent", CUSTOMER),
            "The parcel is on its way. A tracking number belongs to one return: another"
            " return's parcel is refused, and a ship that is refused keeps no number.",
        ),
        Action(
            "receive",
            ReturnWorkflow.receive,
            ReceiveItems,
            ReceiveIn,
            ("warehouse", "agent"),
            "What arrived, and in what condition.",
        ),
        Action(
            "refund",
            ReturnWorkflow.refund_by_agent,
            RefundReturn,
            RefundIn,
            ("agent",),
            "Pay back an amount (default: what the policy pays back), up to what is left.",
        ),
        Action(
            "close",
            ReturnWorkflow.close,
            CloseReturn,
            CloseIn,
            ("agent",),
            "Close a received or refunded return.",
            from_note=lambda note: CloseIn(note=note),
        ),
        Action(
            "not-coming",
            ReturnWorkflow.not_coming,
            ReleaseMissing,
            NotComingIn,
            ("agent",),
            "The units a partial receipt left missing (`quantity_missing`) are not coming:"
            " released to their orders (returnable again) before `missing_until`, with the"
            " reason in the timeline; the customer is told.",
        ),
        Action(
            "note",
            ReturnWorkflow.note,
            AddNote,
            NoteIn,
            ("agent", "ops"),
            "An internal note on the return, in its timeline and history with its author; never"
            " shown to the customer.",
        ),
        Action(
            "label",
            ReturnWorkflow.reissue_label,
            ReissueLabel,
            ReissueIn,
            ("agent", CUSTOMER),
            "A new label for an expired return, within the policy's `label_reissue_days` after it"
            " expired: its units are held again and it is `label_sent` with a new expiry.",
        ),
        Action(
            "replacement",
            ReturnWorkflow.report_replacement,
            ReportReplacement,
            ReplacementIn,
            ("integration", "agent"),
            "The exchange's replacement order was fulfilled or cancelled (repeating it is"
            " harmless, even once the return has closed).",
            done_already=_reported,
        ),
    )
}


async def _ship(
    actions: Actions, write: AsyncSession, return_id: str, body: ShipIn, principal: Principal
) -> Response:
    """A tracking number belongs to one return: claimed before the Update, given back if the
    return refuses it for good (a 503 may still take effect)."""
    ship = ACTIONS["ship"]
    if body.tracking_number is None:
        return await actions.act(return_id, ship, body, principal)
    current = await actions.document(return_id, principal)
    if "ship" not in current.actions():
        return await actions.act(return_id, ship, body, principal)
    async with write.begin():
        owner, fresh = await claim_tracking_number(
            write, body.tracking_number, return_id, datetime.now(UTC)
        )
    if owner != return_id:
        raise InvalidInput("tracking_number", "is the tracking number of another return")
    try:
        return await actions.act(return_id, ship, body, principal)
    except (Conflict, InvalidInput):
        if fresh:
            async with write.begin():
                await release_tracking_number(write, body.tracking_number, return_id)
        raise


def _action_route(action: Action[Any, Any]) -> Callable[..., Awaitable[Response]]:
    """The route of one action: its body type and roles from the table."""

    async def route(
        return_id: str,
        body: Request,
        actions: Actions,
        write: AsyncSession,
        principal: Principal,
    ) -> Response:
        if action.name == "ship":
            return await _ship(actions, write, return_id, body, principal)  # type: ignore[arg-type]
        return await actions.act(return_id, action, body, principal)

    parameters = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=annotation)
        for name, annotation in (
            ("return_id", ReturnId),
            ("body", action.body),
            ("actions", ActionsDep),
            ("write", WriteSessionDep),
            ("principal", Annotated[Principal, _by(*action.roles)]),
        )
    ]
    route.__signature__ = inspect.Signature(parameters, return_annotation=Response)  # type: ignore[attr-defined]
    route.__name__ = {
        "replacement": "report_replacement",
        "label": "reissue_label",
        "not-coming": "release_missing",
    }.get(action.name, f"{action.name}_return")
    route.__doc__ = action.description
    return route


for _action in ACTIONS.values():
    router.add_api_route(
        f"/{{return_id}}/{_action.name}",
        _action_route(_action),
        methods=["POST"],
        response_model=ReturnOut,
    )


ADD_ITEMS: Action[AddItems, AddedItems] = Action(
    "items",
    ReturnWorkflow.add_items,
    AddItems,
    AddedItems,
    ("agent", CUSTOMER),
    "Add forgotten items.",
)


@router.post("/{return_id}/items", response_model=ReturnOut)
async def add_items(
    return_id: ReturnId,
    body: AddItemsIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent", CUSTOMER)],
) -> Response:
    """Items the customer forgot, from their orders, added while the return is `approved` or
    `label_sent`: their eligibility is decided as for a new return (what it refuses, or for a
    customer sends to an agent, adds nothing: 422 on `items`); the estimate grows and the label
    stays the parcel's."""

    async def work() -> Answer:
        out = await add_to_return(actions, return_id, body, principal)
        return Answer(200, out.model_dump(mode="json"), {})

    return await actions.idempotency.run(principal, body, work)


async def add_to_return(
    actions: Actions,
    return_id: str,
    body: AddItemsIn,
    principal: Principal,
    photographed: list[str] | None = None,
) -> ReturnOut:
    """The items checked against the orders (the customer's, in the return's currency, not in
    it yet, with a reason the shop offers), then given to the workflow, which decides them; for
    the API and the portal."""
    current = await actions.document(return_id, principal)
    async with actions.sessions() as read, read.begin():
        items, orders, _ = await _items_of(read, body.items, principal, len(current.items))
        policy = await current_policy(read)
    lines = {(item.order_id, item.line_id) for item in current.items}
    for index, item in enumerate(items):
        order = orders[item.order_id]
        if order.customer.email.lower() != current.customer.email.lower():
            raise InvalidInput(f"items[{index}].order_id", "is not the customer's order")
        if current.recipient_email is not None and order.id not in current.order_ids:
            raise InvalidInput(f"items[{index}].order_id", "is not the gift's order")
        if order.currency != current.currency:
            raise InvalidInput(f"items[{index}].order_id", "is in another currency")
        if (item.order_id, item.line_id) in lines:
            raise InvalidInput(f"items[{index}].line_id", "is in the return already")
        if principal.role not in BEYOND_POLICY and item.reason not in policy.reasons:
            offered = ", ".join(r.value for r in policy.reasons)
            raise InvalidInput(f"items[{index}].reason", f"the shop's reasons are {offered}")
    added = AddedItems(items=items, policy=policy, photographed=photographed or [])
    return await actions.deliver(return_id, ADD_ITEMS, added, principal)


@router.post("/actions", response_model=BulkActionOut)
async def bulk_action(
    body: BulkActionIn,
    actions: ActionsDep,
    principal: Annotated[Principal, _by("agent")],
) -> Response:
    """One action on many returns; each gets its own result, and one failure stops nothing."""
    action = ACTIONS[body.action]
    assert action.from_note is not None
    request = action.from_note(body.note)

    async def work() -> Answer:
        results = await act_on_many(actions, action, request, principal, body.return_ids)
        return Answer(200, BulkActionOut(results=results).model_dump(mode="json"), {})

    return await actions.idempotency.run(principal, body, work)


async def act_on_many(
    actions: Actions,
    action: Action[Any, Any],
    request: Request,
    principal: Principal,
    return_ids: list[str],
) -> list[BulkResult]:
    """One action on many returns, for the API and the console: a result each, and one failure
    stops nothing. Several at once, so that returns whose workflows do not answer cost one
    deadline, not one each; what has not answered by the request's own deadline is said so."""

    async def one(return_id: str) -> BulkResult:
        try:
            out = await actions.deliver(return_id, action, request, principal)
        except Problem as problem:
            return _failed(return_id, problem)
        return BulkResult(id=return_id, ok=True, status=out.status)

    room = asyncio.Semaphore(BULK_AT_ONCE)

    async def in_turn(return_id: str) -> BulkResult:
        async with room:
            return await one(return_id)

    ids = list(dict.fromkeys(return_ids))
    tasks = [asyncio.ensure_future(in_turn(r)) for r in ids]
    await asyncio.wait(tasks, timeout=actions.gateway.answer_seconds + BULK_GRACE_SECONDS)
    late = [task for task in tasks if not task.done()]
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    results = []
    for return_id, task in zip(ids, tasks, strict=True):
        if not task.cancelled():
            results.append(task.result())
            continue
        unanswered = Unavailable(
            "no answer within the request's deadline; the action may still take effect:"
            " read the return before repeating it"
        )
        results.append(_failed(return_id, unanswered))
    return results


def _failed(return_id: str, problem: Problem) -> BulkResult:
    return BulkResult(
        id=return_id,
        ok=False,
        error=BulkError(
            status=problem.status,
            title=problem.title,
            detail=problem.detail,
            code=problem.extra.get("code"),
            current_status=problem.extra.get("current_status"),
        ),
    )
