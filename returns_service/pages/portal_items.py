"""The portal's forms for choosing what to send back (`/portal/new`, and items added to a return
later): the orders' lines with what is left of each, reasons, photos, a method and a
resolution, the estimate as the customer chooses, and every mistake shown beside its field. The
return is made by the same operation as the API's (operations/create.py)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData, UploadFile

from returns_service import i18n
from returns_service.api.auth import Principal
from returns_service.api.deps import GatewayDep, SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import InvalidInput, NotFound, Problem
from returns_service.api.idempotency import Answer, Idempotency
from returns_service.api.schemas import AddItemsIn, ReturnCreate, ReturnOut
from returns_service.config import Settings
from returns_service.documents.photos import (
    FORM_PIXELS,
    MAX_PIXELS,
    NotAPhoto,
    Photo,
    checked_photo,
)
from returns_service.domain import refunds, rules
from returns_service.domain.eligibility import window_start
from returns_service.domain.models import (
    Order,
    OrderLine,
    Policy,
    Reason,
    Resolution,
    ReturnItem,
    ReturnMethod,
)
from returns_service.gateway import Gateway
from returns_service.operations.act import Actions
from returns_service.operations.create import add_to_return, create, offered_here
from returns_service.operations.documents import (
    document,
)
from returns_service.pages.portal import (
    ReturnId,
    checked_form,
    customer_of,
    no_key,
    not_found,
    orders_for,
    signed_in,
    view,
)
from returns_service.pages.render import (
    language_of,
    render,
    whole_number,
)
from returns_service.store.orders import current_policy, get_orders, held_quantities
from returns_service.store.photos import keep_photos

router = APIRouter(prefix="/portal", include_in_schema=False)


@router.get("/returns/{return_id}/items", response_class=HTMLResponse)
async def add_items_page(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """What else of the customer's orders can join this return's parcel."""
    return await _add_items_form(request, return_id, read, gateway, {}, {})


async def _add_items_form(
    request: Request,
    return_id: str,
    read: AsyncSession,
    gateway: Gateway,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status_code: int = 200,
) -> Response:
    customer = await customer_of(request)
    try:
        state = await document(read, gateway, return_id, customer)
    except NotFound:
        return not_found(request)
    async with read.begin():
        orders = await orders_for(read, customer)
        held = await held_quantities(read, [order.id for order in orders])
        policy = await current_policy(read)
    taken = {(item.order_id, item.line_id) for item in state.items}
    now = datetime.now(UTC)
    lines = [
        {"order": order, "line": line, "left": left, "key": f"{order.id}{KEY_SEPARATOR}{line.id}"}
        for order in orders
        if order.currency == state.currency
        and (state.recipient_email is None or order.id in state.order_ids)
        for line in order.lines
        if (order.id, line.id) not in taken
        for left in [max(line.quantity - held.get((order.id, line.id), 0), 0)]
        if _not_returnable(order, line, left, policy, now) is None
    ]
    buyer = customer.email or state.customer.email
    return render(
        request, "portal/add_items.html", status_code=status_code, **signed_in(customer),
        ret=view(state, policy), lines=lines, reasons=[r.value for r in policy.reasons],
        values=values, errors=errors,
        photo_reasons=photo_reasons_of(policy, {o.id: o for o in orders}, buyer),
    )  # fmt: skip


@router.post("/returns/{return_id}/items", response_class=HTMLResponse)
async def add_items(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """Add the chosen items, checked and decided as `POST /v1/returns/{id}/items` does."""
    customer = await customer_of(request)
    form = await checked_form(request)
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    keys, asked = chosen_lines(values)
    if not asked:
        return await _add_items_form(request, return_id, read, gateway, values, {"": "choose"}, 422)
    settings: Settings = request.app.state.settings
    async with read.begin():
        policy = await current_policy(read)
        orders = await get_orders(read, [item["order_id"] for item in asked])
    email = customer.email or next((o.customer.email for o in orders.values()), "")
    photos, photo_errors = await _photos(
        form, keys, asked, photo_reasons_of(policy, orders, email), settings.photo_max_bytes
    )
    if photo_errors:
        errors = {"": "photos", **photo_errors}
        return await _add_items_form(request, return_id, read, gateway, values, errors, 422)
    try:
        body = AddItemsIn.model_validate({"items": asked})
        actions = Actions(request.app.state.sessions, gateway, no_key(request))
        state = await document(read, gateway, return_id, customer)
        # The added items are numbered after the return's own, in the order they were asked.
        after = len(state.items)
        photographed = sorted({f"ri_{after + keys.index(key) + 1}" for key, _ in photos})
        out = await add_to_return(actions, return_id, body, customer, photographed)
    except ValidationError:
        return await _add_items_form(request, return_id, read, gateway, values, {"": "check"}, 422)
    except NotFound:
        return not_found(request)
    except InvalidInput as refused:
        why = str(refused.extra.get("errors", [{}])[0].get("message", ""))
        # What the shop's rules said (a reason the customer may read), or what to check.
        shown = why if refused.detail.startswith("items:") else "check"
        return await _add_items_form(request, return_id, read, gateway, values, {"": shown}, 422)
    except Problem as refused:
        why = "moved" if refused.status == 409 else "unavailable"
        return await _add_items_form(
            request, return_id, read, gateway, values, {"": why}, refused.status
        )
    ids = {(item.order_id, item.line_id): item.id for item in out.items}
    kept = [
        (ids[(asked[keys.index(key)]["order_id"], asked[keys.index(key)]["line_id"])], photo)
        for key, photo in photos
    ]
    if kept:
        async with request.app.state.write_sessions() as write, write.begin():
            await keep_photos(write, return_id, kept, datetime.now(UTC), PHOTOS_PER_ITEM)
    return RedirectResponse(f"/portal/returns/{return_id}", status_code=303)


@router.get("/new", response_class=HTMLResponse)
async def new_return_page(request: Request, read: SessionDep) -> Response:
    customer = await customer_of(request)
    return await new_form(request, read, customer, {}, {})


async def new_form(
    request: Request,
    read: Any,
    who: Principal | str,
    values: Mapping[str, str],
    errors: Mapping[str, str],
    status_code: int = 200,
    template: str = "portal/new.html",
    **context: Any,
) -> HTMLResponse:
    """The new-return form with the orders of `who` (a customer, a gift's recipient, or for an
    agent a customer's email), what was chosen so far, and the refund that choice would bring
    (reckoned by the same code as the return's workflow)."""
    customer = who if isinstance(who, Principal) else Principal(role="customer", email=who)
    async with read.begin():
        orders = await orders_for(read, customer)
        held = await held_quantities(read, [order.id for order in orders])
        policy = await current_policy(read)
    # Rules that name customers match the buyer's email (a gift's recipient never reads it).
    email = customer.email or (orders[0].customer.email if orders else "")
    now = datetime.now(UTC)
    groups = []
    picks = []
    for order in orders:
        lines = []
        for line in order.lines:
            key = f"{order.id}{KEY_SEPARATOR}{line.id}"
            left = max(line.quantity - held.get((order.id, line.id), 0), 0)
            why = _not_returnable(order, line, left, policy, now)
            # What one unit was paid (its share of the line after discounts, with its tax):
            # what the estimate counts, not the list price.
            paid = refunds.units_value(order, line, 1) if line.quantity else 0
            lines.append({"line": line, "left": left, "why": why, "key": key, "paid": paid})
            chosen = values.get(f"quantity:{key}", "0")
            count = whole_number(chosen)
            # An agent may take items whose window closed, by exception: counted as well.
            late = isinstance(who, str) and why is not None and why["why"] == "window"
            if (why is None or late) and isinstance(count, int):
                picks.append((order.id, line.id, min(count, left)))
        groups.append({"order": order, "lines": lines})
    by_id = {order.id: order for order in orders}
    picked = [
        ReturnItem(
            id=f"ri_{index + 1}", order_id=order_id, line_id=line_id,
            sku=by_id[order_id].line(line_id).sku,  # type: ignore[union-attr]
            name=by_id[order_id].line(line_id).name,  # type: ignore[union-attr]
            quantity=count, reason=_reason(values, order_id, line_id, policy),
        )
        for index, (order_id, line_id, count) in enumerate(picks)
        if count > 0
    ]  # fmt: skip
    kept = values.get("return_method") == ReturnMethod.KEEP_ITEM.value
    matched, parts = rules.requested(policy, by_id, held, picked, email, kept=kept)
    offered = offered_here(
        rules.methods_offered(policy, picked, matched), request.app.state.settings
    )
    # What keeping the items would pay (no return fees), shown before the customer chooses it.
    keep_amount = (
        sum(p.amount for p in rules.requested(policy, by_id, held, picked, email, kept=True)[1])
        if ReturnMethod.KEEP_ITEM in offered and picked
        else None
    )
    currencies = {by_id[part.order_id].currency for part in parts}
    # Items of orders in different currencies cannot be one return: no sum of them is shown.
    currency = next(iter(currencies)) if len(currencies) == 1 else None
    return render(
        request,
        template,
        status_code=status_code,
        **signed_in(customer),
        groups=groups,
        reasons=[reason.value for reason in policy.reasons],
        # A gift is paid back as store credit to its recipient, whatever else the shop offers.
        methods=["store_credit"]
        if customer.is_gift
        else [method.value for method in policy.resolutions],
        photo_reasons=photo_reasons_of(policy, by_id, email),
        return_methods=[m.value for m in offered],
        keep_amount=keep_amount,
        stores=policy.stores,
        values=values,
        errors=errors,
        # A refused form gets a new key: its answer is kept under the old one, and the corrected
        # form is another request (a double click on it still makes one return).
        form_key=(not errors and values.get("form_key")) or secrets.token_urlsafe(16),
        estimate={
            "currency": currency,
            "items": sum(part.items_amount for part in parts),
            "shipping": sum(part.shipping_amount for part in parts),
            "restocking_fee": sum(part.restocking_fee for part in parts),
            "return_shipping_fee": sum(part.return_shipping_fee for part in parts),
            "amount": sum(part.amount for part in parts),
            "mixed": len(currencies) > 1,
            # Store credit the customer may choose comes with the shop's bonus on it.
            "bonus": sum(part.amount for part in parts) * policy.store_credit_bonus_percent // 100
            if Resolution.STORE_CREDIT in policy.resolutions or customer.is_gift
            else 0,
        },
        bonus_percent=policy.store_credit_bonus_percent,
        **{"form_action": "/portal/new", "on_behalf": None, **context},
    )


@router.post("/new/estimate", response_class=HTMLResponse)
async def new_return_estimate(request: Request, read: SessionDep) -> Response:
    """The estimate alone, for the page's script to show as the choice changes."""
    customer = await customer_of(request)
    form = await checked_form(request)
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    return await new_form(request, read, customer, values, {}, template="portal/estimate.html")


def _reason(values: Mapping[str, str], order_id: str, line_id: str, policy: Policy) -> Reason:
    """The reason chosen for a line so far (the shop's first until one is)."""
    chosen = values.get(f"reason:{order_id}{KEY_SEPARATOR}{line_id}")
    return Reason(chosen) if chosen in {r.value for r in policy.reasons} else policy.reasons[0]


def _not_returnable(
    order: Order, line: OrderLine, left: int, policy: Policy, now: datetime
) -> dict[str, Any] | None:
    """Why a line cannot be returned, for the words on the page; None when it can (the
    workflow decides again, by the same rules, when the return is requested)."""
    if line.final_sale:
        return {"why": "final_sale"}
    if line.sku in policy.non_returnable_skus or (
        line.category is not None and line.category in policy.non_returnable_categories
    ):
        return {"why": "not_returnable"}
    if left == 0:
        return {"why": "returned"}
    _, start = window_start(order, policy.window_basis)
    closes = start + timedelta(days=policy.return_window_days)
    if closes < now:
        return {"why": "window", "closed": closes}
    return None


@router.post("/new", response_class=HTMLResponse)
async def new_return(
    request: Request,
    read: SessionDep,
    write: WriteSessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
) -> Response:
    """Request the return: the same checks and the same workflow as `POST /v1/returns`, then
    the photos kept with it. Nothing is kept when anything is wrong."""
    customer = await customer_of(request)
    form = await checked_form(request)
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    if values.get("intent") == "estimate":  # "Update estimate", without the page's script
        return await new_form(request, read, customer, values, {})
    created, errors, status_code = await request_return(
        request,
        read,
        write,
        gateway,
        settings,
        customer,
        customer.email,
        form,
        language_of(request),
    )
    if created is None:
        return await new_form(request, read, customer, values, errors, status_code)
    return RedirectResponse(f"/portal/returns/{created}", status_code=303)


async def request_return(
    request: Request,
    read: AsyncSession,
    write: AsyncSession,
    gateway: Gateway,
    settings: Settings,
    principal: Principal,
    email: str | None,
    form: FormData,
    language: str | None,
) -> tuple[str | None, dict[str, str], int]:
    """Request the return a new-return form chose, of the customer's (`email`) orders, as
    `principal` (the customer, or an agent on their behalf; a gift's recipient, `email` None,
    of the gift): the same checks and the same workflow as `POST /v1/returns`, then the photos
    kept with it. Answers the new return's id, or (nothing kept) what was wrong with which
    field and the page's status."""
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    keys, items = chosen_lines(values)
    if not items:
        return None, {"items": "choose"}, 422
    async with read.begin():
        policy = await current_policy(read)
        orders = await get_orders(read, [item["order_id"] for item in items])
    lines = {(order.id, line.id): line for order in orders.values() for line in order.lines}
    gift = principal.is_gift
    offered = ["store_credit"] if gift else [resolution.value for resolution in policy.resolutions]
    method = values.get("method") or offered[0]
    errors: dict[str, str] = {}
    if method not in offered:
        errors["method"] = "method"
    recipient = values.get("recipient_email", "").strip()
    if gift and not recipient:
        errors["recipient_email"] = "required"
    # Staff may take items whose window closed, saying why (the customer's form has no field).
    exception = values.get("window_exception", "").strip() if principal.may_go_beyond else ""
    # And waive the fees, saying why (a box, and the reason).
    waive = principal.may_go_beyond and values.get("waive_fees") == "on"
    waived = values.get("fees_waived", "").strip() if waive else ""
    if waive and not waived:
        errors["fees_waived"] = "required"
    now = datetime.now(UTC)
    late = [
        item
        for item in items
        if (item["order_id"], item["line_id"]) in lines
        and (
            _not_returnable(
                orders[item["order_id"]], lines[(item["order_id"], item["line_id"])], 1, policy, now
            )
            or {}
        ).get("why")
        == "window"
    ]
    if late and principal.may_go_beyond and not exception:
        errors["window_exception"] = "required"
    buyer = email or next((order.customer.email for order in orders.values()), "")
    photos, photo_errors = await _photos(
        form, keys, items, photo_reasons_of(policy, orders, buyer), settings.photo_max_bytes
    )
    errors.update(photo_errors)
    replacements = (
        _instead(values, keys, items, lines, errors) if method == Resolution.EXCHANGE.value else []
    )
    replaced = [keys[replacement["item"]] for replacement in replacements]
    way = values.get("return_method") or policy.return_methods[0].value
    try:
        body = ReturnCreate.model_validate(
            {
                "items": items,
                "resolution": method,
                "replacement_items": replacements,
                "language": language if language in i18n.languages() else None,
                "customer_email": email,
                "recipient_email": (recipient or None) if gift else None,
                "window_exception": (exception or None) if late else None,
                "fees_waived": waived or None,
                "method": way,
                "store_id": (values.get("store_id") or None) if way == "in_store" else None,
            }
        )
    except ValidationError as invalid:
        return None, {**_field_errors(invalid, keys, replaced), **errors}, 422
    if errors:
        return None, errors, 422
    idempotency = Idempotency(
        request,
        values.get("form_key") or None,
        request.app.state.write_sessions,
        timedelta(seconds=settings.workflow_answer_seconds + 30),
    )

    # The items are numbered in the order they were asked for.
    photographed = sorted({f"ri_{keys.index(key) + 1}" for key, _ in photos})

    async def work() -> Answer:
        state, decided = await create(
            body, read, write, gateway, settings, principal, idempotency, photographed
        )
        out = ReturnOut.build(state, for_customer=principal.is_customer)
        return Answer(201 if decided else 202, out.model_dump(mode="json"), {})

    try:
        answer = await idempotency.run(principal, body, work)
    except InvalidInput as invalid:
        return None, _problem_errors(invalid.extra.get("errors", []), keys, replaced), 422
    except Problem as problem:
        return None, {"items": _trouble(problem.status)}, problem.status
    created = json.loads(bytes(answer.body))
    if answer.status_code >= 400:
        refused = _problem_errors(created.get("errors") or [], keys, replaced)
        return None, refused or {"items": _trouble(answer.status_code)}, answer.status_code
    if answer.headers.get("idempotent-replayed") != "true":
        # The return's items are numbered in the order they were asked for. A form sent again
        # (a double click, a reload) answers the return it made and keeps nothing more.
        kept = [(f"ri_{keys.index(key) + 1}", photo) for key, photo in photos]
        async with write.begin():
            await keep_photos(write, created["id"], kept, datetime.now(UTC), PHOTOS_PER_ITEM)
    return str(created["id"]), {}, 201


def chosen_lines(values: Mapping[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
    """The lines a form chose (a quantity above 0), as the API's items, and their form keys."""
    keys: list[str] = []
    items: list[dict[str, Any]] = []
    for name, value in values.items():
        if not name.startswith("quantity:") or value in ("", "0"):
            continue
        key = name.removeprefix("quantity:")
        order_id, _, line_id = key.partition(KEY_SEPARATOR)
        keys.append(key)
        items.append(
            {
                "order_id": order_id,
                "line_id": line_id,
                "quantity": whole_number(value),
                "reason": values.get(f"reason:{key}") or None,
                "comment": values.get(f"comment:{key}", "").strip() or None,
            }
        )
    return keys, items


def _trouble(status: int) -> str:
    """What a refusal that names no field means to the customer."""
    if status == 429:
        return "too_many_returns"
    if status == 409:
        return "taken"
    if status >= 500:
        return "unavailable"
    return "failed"


# Between an order's id and a line's id in a form field's name: ids never contain it.
KEY_SEPARATOR = "|"


# At most this many photos of one item.
PHOTOS_PER_ITEM = 3


def photo_reasons_of(
    policy: Policy, orders: Mapping[str, Order], email: str
) -> dict[str, list[str]]:
    """Per form key of an order line, the reasons for which the shop asks for photos of it:
    a rule that matches the line and says so decides, else the policy's reasons."""
    asked: dict[str, list[str]] = {}
    for order in orders.values():
        for line in order.lines:
            key = f"{order.id}{KEY_SEPARATOR}{line.id}"
            asked[key] = []
            for reason in policy.reasons:
                item = ReturnItem(
                    id="ri_1", order_id=order.id, line_id=line.id, sku=line.sku,
                    name=line.name, quantity=1, reason=reason,
                )  # fmt: skip
                matched = rules.matching(policy, {order.id: order}, [item], email)["ri_1"]
                if rules.photos_required(policy, reason, matched):
                    asked[key].append(reason.value)
    return asked


async def _photos(
    form: FormData,
    keys: list[str],
    items: list[dict[str, Any]],
    photo_reasons: Mapping[str, list[str]],
    max_bytes: int,
) -> tuple[list[tuple[str, Photo]], dict[str, str]]:
    """The photos of each chosen item, checked by their content; and, per item, why not."""
    photos: list[tuple[str, Photo]] = []
    errors: dict[str, str] = {}
    # The form's photos decode within one budget of pixels (one after the other, each's memory
    # given back before the next).
    budget = FORM_PIXELS
    for key, item in zip(keys, items, strict=True):
        uploads = [
            upload
            for upload in form.getlist(f"photos:{key}")
            if isinstance(upload, UploadFile) and upload.filename
        ]
        if len(uploads) > PHOTOS_PER_ITEM:
            errors[f"photos:{key}"] = "too_many"
            continue
        for upload in uploads:
            try:
                data = await upload.read(max_bytes + 1)
                limit = min(MAX_PIXELS, budget)
                photo = await asyncio.to_thread(checked_photo, data, max_bytes, limit)
                del data
                budget -= photo.pixels
                photos.append((key, photo))
            except NotAPhoto as refused:
                errors[f"photos:{key}"] = refused.reason
                break
        needed = item["reason"] in photo_reasons.get(key, [])
        if needed and not uploads and f"photos:{key}" not in errors:
            errors[f"photos:{key}"] = "required"
    return photos, errors


def _instead(
    values: dict[str, str],
    keys: list[str],
    items: list[dict[str, Any]],
    lines: dict[tuple[str, str], OrderLine],
    errors: dict[str, str],
) -> list[dict[str, Any]]:
    """An exchange's replacement per chosen item: one of its line's variants (or the same
    again), or where the line lists none, the customer's words; what is missing or not offered
    goes to `errors` under the item's `instead:` field."""
    made = []
    for index, (key, item) in enumerate(zip(keys, items, strict=True)):
        line = lines.get((item["order_id"], item["line_id"]))
        if line is None:
            continue  # not theirs: the request's own checks say so
        said = values.get(f"instead:{key}", "").strip()
        variant = line.exchangeable_for(said) if line.variants else None
        if line.variants and variant is None:
            errors[f"instead:{key}"] = "choose"
            continue
        if not said:
            errors[f"instead:{key}"] = "instead"
            continue
        made.append(
            {
                "sku": variant.sku if variant else line.sku,
                "name": variant.name if variant else f"{line.name}: {said}"[:200],
                "quantity": item["quantity"],
                "item": index,
            }
        )
    return made


def _instead_error(errors: dict[str, str], index: object, replaced: list[str]) -> None:
    """What was wrong with the replacement numbered `index`, on its item's `instead:` field."""
    at = index if isinstance(index, int) else -1
    errors[f"instead:{replaced[at]}" if 0 <= at < len(replaced) else "items"] = "instead_invalid"


def _field_errors(
    invalid: ValidationError,
    keys: list[str],
    replaced: list[str] = [],  # noqa: B006 - read only
) -> dict[str, str]:
    """The form's fields (`reason:<order>|<line>`...) and what was wrong with each, for what
    the request's model refused."""
    errors: dict[str, str] = {}
    for error in invalid.errors():
        location = error["loc"]
        if len(location) >= 2 and location[0] == "items" and isinstance(location[1], int):
            key = keys[location[1]]
            field = str(location[2]) if len(location) > 2 else ""
            if field in ("quantity", "reason"):
                errors[f"{field}:{key}"] = field
            elif field == "comment":
                errors[f"comment:{key}"] = "comment_invalid"
            elif field == "":  # the item's own rule: "other" needs a comment
                errors[f"comment:{key}"] = "comment_required"
            else:
                errors["items"] = "not_yours"
        elif location and location[0] == "resolution":
            errors["method"] = "method"
        elif location and location[0] in ("method", "store_id"):
            errors["return_method" if location[0] == "method" else "store_id"] = str(location[0])
        elif location and location[0] == "replacement_items":
            _instead_error(errors, location[1] if len(location) > 1 else None, replaced)
        elif location and location[0] == "recipient_email":
            errors["recipient_email"] = "invalid"
        elif location and location[0] in ("window_exception", "fees_waived"):
            errors[str(location[0])] = "invalid"
        else:
            errors["items"] = "failed"
    return errors


def _problem_errors(
    problems: list[dict[str, str]],
    keys: list[str],
    replaced: list[str] = [],  # noqa: B006 - read only
) -> dict[str, str]:
    """The same, for what the checks against the orders refused (each names its field)."""
    errors: dict[str, str] = {}
    for problem in problems:
        field = problem["field"]
        if field.startswith("items[") and "]." in field:
            key = keys[int(field[6 : field.index("]")])]
            name = field.split("].", 1)[1]
            if name in ("quantity", "reason"):
                errors[f"{name}:{key}"] = name
            else:
                errors["items"] = "not_yours"
        elif field == "resolution":
            errors["method"] = "method"
        elif field == "method":
            kept = "kept" in problem.get("message", "")
            errors["return_method"] = "keep" if kept else "return_method"
        elif field == "store_id":
            errors["store_id"] = "store_id"
        elif field.startswith("replacement_items"):
            number = field.removeprefix("replacement_items[").partition("]")[0]
            _instead_error(errors, int(number) if number.isdigit() else None, replaced)
        elif field == "recipient_email":
            errors["recipient_email"] = "invalid"
        elif field in ("window_exception", "fees_waived"):
            errors[field] = "invalid"
        elif field == "items":
            errors["items"] = "mixed"
        else:
            errors["items"] = "failed"
    return errors
