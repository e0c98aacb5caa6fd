"""Making a return: the items checked against the orders and the policy (whose they are, how
many are left, the methods and resolutions offered), the workflow started and its decision
awaited; and items added to a return later. For the API's routes and the pages alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from returns_service import metrics
from returns_service.api.auth import Principal
from returns_service.api.errors import Conflict, InvalidInput, TooManyRequests, Unavailable
from returns_service.api.idempotency import Idempotency, key_seed
from returns_service.api.ids import new_id
from returns_service.api.schemas import (
    AddedItems,
    AddItemsIn,
    ReturnCreate,
    ReturnItemIn,
    ReturnOut,
)
from returns_service.config import Settings
from returns_service.domain import rules
from returns_service.domain.messages import StartReturn
from returns_service.domain.models import (
    BEYOND_POLICY,
    Actor,
    Customer,
    Order,
    Policy,
    ReplacementItem,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
    still_returnable,
)
from returns_service.domain.status import Status
from returns_service.domain.types import NAME_LENGTH, blank
from returns_service.gateway import Finished, Gateway, KeyUsed, Unreachable
from returns_service.i18n import languages
from returns_service.operations.act import ADD_ITEMS, Actions
from returns_service.operations.documents import document
from returns_service.store.limits import give_back_slot, take_slot
from returns_service.store.orders import current_policy, get_orders, held_quantities


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


async def create(
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
        labels_made_here=settings.carrier == "builtin",
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
    current = await document(read, gateway, return_id, principal)
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
