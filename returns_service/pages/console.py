"""The staff console (`/console`): people of the shop sign in with their own accounts, agents
review and decide returns. Every action goes through the same code as the API's, as the signed-in
person (`agent:maria@shop.example` in the return's timeline and history); a control the role may
not use is not shown, and its POST is 403."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service import metrics
from returns_service.api.auth import Principal
from returns_service.api.deps import GatewayDep, SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import NotFound, Problem
from returns_service.api.schemas import (
    ApproveIn,
    CancelIn,
    CloseIn,
    NotComingIn,
    NoteIn,
    ReceiveIn,
    RefundIn,
    ReissueIn,
    RejectIn,
    ReplacementIn,
)
from returns_service.config import Settings
from returns_service.domain.messages import workflow_id
from returns_service.domain.models import RESTOCKABLE, Condition, ReturnState
from returns_service.domain.status import TERMINAL, Status
from returns_service.operations.act import ACTIONS, Actions, act_on_many
from returns_service.operations.documents import (
    LIVE_STATE_SECONDS,
    document,
    label_response,
    photo_answer,
)
from returns_service.pages.portal import PhotoId, checked_form, no_key
from returns_service.pages.portal import safe_next as portal_next
from returns_service.pages.portal_items import new_form, request_return
from returns_service.pages.render import render, signed_in_to, typed_money, whole_number
from returns_service.store import staff
from returns_service.store.entitlements import breakdown
from returns_service.store.lists import entry_for
from returns_service.store.orders import customers_of_order
from returns_service.store.photos import photos_of
from returns_service.store.returns import ReturnFilter, list_returns

router = APIRouter(prefix="/console", include_in_schema=False)

COOKIE = "returns_staff"
ReturnId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
# Who may take each decision in the console (admins may take them all), as in the API.
DECIDES = {
    "approve": ("agent",),
    "reject": ("agent",),
    "refund": ("agent",),
    "close": ("agent",),
    "cancel": ("agent",),
    "reissue_label": ("agent",),
    "release_missing": ("agent",),
    "replacement": ("agent",),
    "receive": ("warehouse", "agent"),
    "note": ("agent", "ops"),
    "create": ("agent",),
    "dashboard": ("ops",),
    "webhooks": ("ops",),
    "policy": (),  # admins only
    "staff": (),  # admins only
    "queue": ("agent",),
    "lists": ("ops",),
}
# What else a decision's confirmation may say (an exchange's replacement sent or cancelled).
TOLD = ("sent", "replacement_cancelled")
NUMBER = re.compile(r"^R-\d+$", re.IGNORECASE)
# Claims the warehouse must look at before saying what came back: no condition is chosen for them.
INSPECT = ("damaged", "defective", "wrong_item", "not_as_described")
STATION_COOKIE = "returns_station"


class StaffNotSignedIn(Exception):
    """The page needs a staff session: the answer is the sign-in page, then back here."""


class RoleRefused(Exception):
    """The signed-in person's role may not do this: 403, nothing changed."""


class Staff:
    def __init__(self, row: staff.StaffUserRow) -> None:
        self.name = row.name
        self.role = row.role
        self.email = row.email
        self.principal = Principal(role=row.role, email=row.email)

    def may(self, action: str) -> bool:
        return self.role == "admin" or self.role in DECIDES.get(action, ())


async def staff_of(request: Request) -> Staff:
    token = request.cookies.get(COOKIE)
    if not token:
        raise StaffNotSignedIn
    settings: Settings = request.app.state.settings
    idle = timedelta(minutes=settings.staff_idle_minutes)
    async with request.app.state.write_sessions.begin() as session:
        row = await staff.signed_in(session, token, idle, datetime.now(UTC))
    if row is None:
        raise StaffNotSignedIn
    return Staff(row)


def to_sign_in(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/console/login?next={quote(here, safe='')}", status_code=303)


def safe_next(value: str | None) -> str:
    return portal_next(value, "/console", "/console")


# --- sign in and out ------------------------------------------------------------------------------


# Where each role starts: the work it is there for.
HOMES = {
    "agent": "/console/returns?status=pending_review",
    "warehouse": "/console/receive",
    "ops": "/console/dashboard",
    "admin": "/console/returns",
}


@router.get("", include_in_schema=False)
async def home(request: Request) -> RedirectResponse:
    person = await staff_of(request)
    return RedirectResponse(HOMES.get(person.role, "/console/returns"), status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "console/login.html", next=safe_next(next), email_value="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, write: WriteSessionDep, settings: SettingsDep) -> Response:
    form = await checked_form(request)
    email = str(form.get("email", "")).strip().lower()[:320]
    password = str(form.get("password", ""))[:200]
    target = safe_next(str(form.get("next", "")))
    client = request.client.host if request.client else "unknown"
    # Per address and email (one account guessed at), and per address (one password tried on
    # many accounts), five times as many.
    windows = (
        (request.app.state.staff_failures, f"{client}|{email}"),
        (request.app.state.staff_address_failures, client),
    )
    waits = [wait for window, key in windows if (wait := window.retry_after(key)) is not None]
    if waits:
        refused = render(
            request, "console/login.html", status_code=429, next=target, email_value=email,
            error="too_many",
        )  # fmt: skip
        refused.headers["Retry-After"] = str(max(waits))
        return refused
    async with write.begin():
        found = await staff.sign_in(write, email, password, datetime.now(UTC))
    if found is None:
        metrics.SIGN_IN_FAILURES.labels("staff").inc()
        for window, key in windows:
            window.hit(key)
        return render(
            request,
            "console/login.html",
            status_code=400,
            next=target,
            email_value=email,
            error="wrong",
        )
    _, token = found
    return signed_in_to(target, settings, COOKIE, token, "/console")


@router.post("/sign-out")
async def sign_out(request: Request, write: WriteSessionDep) -> Response:
    await checked_form(request)
    token = request.cookies.get(COOKIE)
    if token:
        async with write.begin():
            await staff.sign_out(write, token, datetime.now(UTC))
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE, path="/console")
    return response


# --- returns -------------------------------------------------------------------------------------


@router.get("/returns", response_class=HTMLResponse)
async def returns_list(
    request: Request,
    read: SessionDep,
    status: str | None = None,
    q: str | None = None,
    cursor: str | None = None,
) -> Response:
    """Every return, or those of one status; `pending_review` is the review queue, oldest first.
    The search finds a return by its number, the customer's or recipient's email, the shop's
    order number or our order id, or a tracking number."""
    person = await staff_of(request)
    chosen = status if status in {s.value for s in Status} else None
    filters = ReturnFilter(statuses=[chosen] if chosen else [])
    search = (q or "").strip()[:200]
    if search and NUMBER.match(search):
        filters.number = search.upper()
    queue = chosen == Status.PENDING_REVIEW.value
    async with read.begin():
        if search and filters.number is None:
            # What people quote: the buyer's or the gift's recipient's email, the shop's order
            # number or our order id, the parcel's tracking number as printed.
            ways = (
                [{"customer_email": search}, {"recipient_email": search}]
                if "@" in search
                else [{"order_number": search}, {"order_id": search}, {"tracking_number": search}]
            )
            found: dict[str, ReturnState] = {}
            for way in ways:
                some, _ = await list_returns(read, _with(filters, **way), 50, None, queue)
                found.update((state.id, state) for state in some)
            states = sorted(found.values(), key=lambda s: s.created_at, reverse=not queue)[:50]
            next_cursor = None
        else:
            try:
                states, next_cursor = await list_returns(read, filters, 50, cursor, queue)
            except ValueError:
                states, next_cursor = await list_returns(read, filters, 50, None, queue)
    now = datetime.now(UTC)
    return render(
        request,
        "console/returns.html",
        person=person,
        returns=states,
        status=chosen,
        q=search,
        statuses=[s.value for s in Status],
        next_cursor=next_cursor,
        queue=queue,
        waited={state.id: now - state.created_at for state in states},
    )


def _with(filters: ReturnFilter, **changes: Any) -> ReturnFilter:
    return ReturnFilter(**{**filters.__dict__, **changes})


# --- a return on a customer's behalf -------------------------------------------------------------


@router.get("/returns/new", response_class=HTMLResponse)
async def new_return_page(request: Request, read: SessionDep, find: str | None = None) -> Response:
    """For a customer who calls or writes: their order by its number or their email, then the
    same choice as in the portal."""
    person = await staff_of(request)
    if not person.may("create"):
        raise RoleRefused
    find = (find or "").strip()[:320]
    if not find:
        return _finder(request, person, find)
    if "@" in find:
        emails = [find.lower()]
    else:
        async with read.begin():
            emails = await customers_of_order(read, find)
    if len(emails) != 1:
        return _finder(request, person, find, emails, 404 if not emails else 200)
    return await _customer_form(request, read, person, emails[0], {}, {})


def _finder(
    request: Request, person: Staff, find: str, emails: list[str] | None = None, status: int = 200
) -> HTMLResponse:
    """The search for the customer; when an order number is several customers', each of them."""
    return render(
        request, "console/new.html", status_code=status, person=person, find=find,
        customers=emails or [], customer=None,
    )  # fmt: skip


async def _customer_form(
    request: Request,
    read: AsyncSession,
    person: Staff,
    email: str,
    values: dict[str, str],
    errors: dict[str, str],
    status_code: int = 200,
    template: str = "console/new.html",
) -> HTMLResponse:
    return await new_form(
        request, read, email, values, errors, status_code, template,
        person=person, find=values.get("find", email), customers=[], customer=email,
        form_action="/console/returns/new", on_behalf=email,
    )  # fmt: skip


@router.post("/returns/new/estimate", response_class=HTMLResponse)
async def new_return_estimate(request: Request, read: SessionDep) -> Response:
    """The estimate alone, for the page's script to show as the choice changes."""
    person = await staff_of(request)
    form = await checked_form(request)
    if not person.may("create"):
        raise RoleRefused
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    email = values.get("customer", "").strip().lower()
    return await _customer_form(
        request, read, person, email, values, {}, template="portal/estimate.html"
    )


@router.post("/returns/new", response_class=HTMLResponse)
async def new_return(
    request: Request,
    read: SessionDep,
    write: WriteSessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
) -> Response:
    """Create the return as the agent, for the customer: the history names both."""
    person = await staff_of(request)
    form = await checked_form(request)
    if not person.may("create"):
        raise RoleRefused
    values = {name: str(value) for name, value in form.items() if isinstance(value, str)}
    email = values.get("customer", "").strip().lower()[:320]
    if "@" not in email:
        return _finder(request, person, "", status=422)
    if values.get("intent") == "estimate":
        return await _customer_form(request, read, person, email, values, {})
    created, errors, status_code = await request_return(
        request, read, write, gateway, settings, person.principal, email, form,
        values.get("language"),
    )  # fmt: skip
    if created is None:
        return await _customer_form(request, read, person, email, values, errors, status_code)
    return RedirectResponse(f"/console/returns/{created}", status_code=303)


@router.get("/returns/{return_id}", response_class=HTMLResponse)
async def return_page(
    request: Request,
    return_id: ReturnId,
    read: SessionDep,
    gateway: GatewayDep,
    done: str | None = None,
) -> Response:
    person = await staff_of(request)
    return await _page(request, person, return_id, read, gateway, done=done)


async def _page(
    request: Request,
    person: Staff,
    return_id: str,
    read: AsyncSession,
    gateway: Any,
    errors: dict[str, str] | None = None,
    done: str | None = None,
) -> Response:
    """The return's page; `errors` (field: what was wrong; "" the whole decision) when the last
    decision was refused, with the return as it is now; `done`, the decision just taken, said
    with the next return of the review queue to go on with."""
    try:
        state = await document(read, gateway, return_id, person.principal)
    except NotFound:
        return render(request, "console/not_found.html", status_code=404, person=person)
    if state.status not in TERMINAL:
        state = await gateway.live_state(return_id, LIVE_STATE_SECONDS) or state
    async with read.begin():
        photos = await photos_of(read, return_id)
        others, _ = await list_returns(read, ReturnFilter(customer_email=state.customer.email), 20)
        listed = await entry_for(read, state.customer.email)
        parts = await breakdown(read, return_id)
        done = done if (done in DECIDES or done in TOLD) and not errors else None
        waiting: list[ReturnState] = []
        if done:
            queue = ReturnFilter(statuses=[Status.PENDING_REVIEW.value])
            waiting, _ = await list_returns(read, queue, 2, None, True)
    settings: Settings = request.app.state.settings
    actions = set(state.actions())
    return render(
        request,
        "console/return.html",
        status_code=_status_of(errors),
        person=person,
        s=state,
        photos=photos,
        others=[other for other in others if other.id != state.id],
        listed=listed,
        parts=parts,
        can={
            **{name: name in actions and person.may(name) for name in DECIDES},
            "note": person.may("note"),
        },
        temporal_url=f"{settings.temporal_ui_url.rstrip('/')}/namespaces/"
        f"{settings.temporal_namespace}/workflows/{workflow_id(state.id)}",
        errors=errors or {},
        done=done,
        next_in_queue=next((w for w in waiting if w.id != state.id), None),
    )


@router.get("/returns/{return_id}/label")
async def label(
    request: Request, return_id: ReturnId, read: SessionDep, write: WriteSessionDep
) -> Response:
    """The return's label as a PDF, to send a caller again or print for them."""
    person = await staff_of(request)
    try:
        return await label_response(read, write, return_id, person.principal, "attachment")
    except NotFound:
        return render(request, "console/not_found.html", status_code=404, person=person)


@router.get("/returns/{return_id}/photos/{photo_id}")
async def photo(
    request: Request, return_id: ReturnId, photo_id: PhotoId, read: SessionDep
) -> Response:
    await staff_of(request)
    return await photo_answer(read, return_id, photo_id) or Response(status_code=404)


def _status_of(errors: dict[str, str] | None) -> int:
    """The page's status for what was refused: 409 moved on, 503 no answer, 422 a field."""
    if not errors:
        return 200
    return {"moved": 409, "unavailable": 503}.get(errors.get("", ""), 422)


def refusal(refused: Problem) -> dict[str, str]:
    """What a refused decision means, as a code the page puts in words: on a field where it
    names one, else for the whole decision."""
    code = refused.extra.get("code")
    if code == "InvalidTransition" or refused.status == 409 and code is None:
        return {"": "moved"}
    if code == "RefundTooLarge":
        return {"amount": "too_much"}
    fields = {}
    for problem in refused.extra.get("errors", []):
        field = problem["field"]
        if field.startswith("items[") and "]." in field:
            fields[f"items[{field[6 : field.index(']')]}].{field.split('].', 1)[1]}"] = "invalid"
        else:
            fields[field] = "invalid"
    if fields:
        return fields
    return {"": "unavailable" if refused.status >= 500 else "refused"}


@router.post("/returns/bulk", response_class=HTMLResponse)
async def bulk(request: Request, gateway: GatewayDep) -> Response:
    """Approve or reject the returns selected in the queue: a result for each."""
    person = await staff_of(request)
    form = await checked_form(request)
    action = str(form.get("action", ""))
    if action not in ("approve", "reject") or not person.may(action):
        raise RoleRefused
    ids = [str(i) for i in form.getlist("ids") if isinstance(i, str) and RETURN_ID.match(i)][:100]
    reason = str(form.get("reason", "")).strip()[:1000]
    problem = None if ids else "none"
    if action == "reject" and not reason:
        problem = "reason"
    if problem:
        return render(
            request, "console/bulk.html", status_code=422, person=person, results=[],
            problem=problem, action=action,
        )  # fmt: skip
    handler = ACTIONS[action]
    assert handler.from_note is not None
    actions = Actions(request.app.state.sessions, gateway, no_key(request))
    results = await act_on_many(
        actions, handler, handler.from_note(reason or None), person.principal, ids
    )
    async with request.app.state.sessions() as read, read.begin():
        numbers = {
            state.id: state.number or state.id
            for state in (await list_returns(read, ReturnFilter(ids=ids), len(ids)))[0]
        }
    return render(
        request, "console/bulk.html", person=person, action=action, problem=None,
        results=[(numbers.get(r.id, r.id), r) for r in results],
    )  # fmt: skip


RETURN_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


BODIES: dict[str, Any] = {
    "note": NoteIn,
    "approve": ApproveIn,
    "reject": RejectIn,
    "refund": RefundIn,
    "close": CloseIn,
    "label": ReissueIn,
    "not-coming": NotComingIn,
    "cancel": CancelIn,
    "replacement": ReplacementIn,
}


@router.post("/returns/{return_id}/{action}", response_class=HTMLResponse)
async def decide(
    request: Request,
    return_id: ReturnId,
    action: Annotated[
        str,
        Path(pattern=r"^(approve|reject|refund|close|note|label|not-coming|cancel|replacement)$"),
    ],
    read: SessionDep,
    gateway: GatewayDep,
) -> Response:
    """A decision as the signed-in person; refused (the status moved meanwhile) it says why and
    shows the return as it is now."""
    person = await staff_of(request)
    form = await checked_form(request)
    role_action = {"label": "reissue_label", "not-coming": "release_missing"}.get(action, action)
    if not person.may(role_action):
        raise RoleRefused
    fields: dict[str, Any] = {}
    note = str(form.get("note", "")).strip()
    if action == "reject":
        fields["reason"] = str(form.get("reason", "")).strip()
        if not fields["reason"]:  # the customer reads it: an agent says why
            return await _page(request, person, return_id, read, gateway, {"reason": "required"})
    if action == "cancel" and str(form.get("reason", "")).strip():
        fields["reason"] = str(form.get("reason", "")).strip()
    if action == "not-coming":
        fields["reason"] = str(form.get("reason", "")).strip()
        if not fields["reason"]:
            return await _page(request, person, return_id, read, gateway, {"reason": "required"})
    if note and action in ("approve", "reject", "close", "refund"):
        fields["note"] = note
    if action == "replacement":  # sent (with the shop's order), or cancelled: paid back
        fields["status"] = str(form.get("status", ""))
        if str(form.get("order_reference", "")).strip():
            fields["order_reference"] = str(form.get("order_reference", "")).strip()
        if note:
            fields["note"] = note
    if action == "note":
        fields["text"] = str(form.get("text", "")).strip()
        if not fields["text"]:
            return await _page(request, person, return_id, read, gateway, {"text": "required"})
    try:
        if action == "refund":  # typed in the return's currency, as the person writes numbers
            current = await document(read, gateway, return_id, person.principal)
            fields["amount"] = typed_money(request, form.get("amount"), current.currency)
            told = str(form.get("customer_reason", "")).strip()
            if told:
                fields["reason"] = told
            less = isinstance(fields["amount"], int) and fields["amount"] < (
                current.due_amount or 0
            )
            if less and not told:  # paid less than the policy would: the customer is told why
                return await _page(
                    request, person, return_id, read, gateway, {"refund_reason": "required"}
                )
        body = BODIES[action].model_validate(fields)
        await Actions(request.app.state.sessions, gateway, no_key(request)).deliver(
            return_id, ACTIONS[action], body, person.principal
        )
    except ValidationError as invalid:
        wrong = {
            (
                "refund_reason"
                if e["loc"][0] == "reason" and action == "refund"
                else str(e["loc"][0])
            ): ("invalid")
            for e in invalid.errors()
            if e["loc"]
        }
        return await _page(request, person, return_id, read, gateway, wrong or {"": "invalid"})
    except NotFound:
        return render(request, "console/not_found.html", status_code=404, person=person)
    except Problem as refused:
        return await _page(request, person, return_id, read, gateway, refusal(refused))
    if action == "replacement":
        role_action = "sent" if fields["status"] == "fulfilled" else "replacement_cancelled"
    return RedirectResponse(f"/console/returns/{return_id}?done={role_action}", status_code=303)


# --- the receiving station -----------------------------------------------------------------------


@router.get("/receive", response_class=HTMLResponse)
async def receive_page(
    request: Request, read: SessionDep, gateway: GatewayDep, code: str | None = None
) -> Response:
    """A station for a barcode scanner: the return number or the label's tracking number, then
    what arrived of each item."""
    person = await staff_of(request)
    if not person.may("receive"):
        raise RoleRefused
    code = (code or "").strip()[:64]
    if not code:
        return render(
            request, "console/receive.html", person=person, code="", found=None, problem=None,
            errors={}, values={}, counted=_counted(request),
        )  # fmt: skip
    filters = (
        ReturnFilter(number=code.upper())
        if NUMBER.match(code)
        else ReturnFilter(ids=[code])
        if code.startswith("ret_")  # the confirm form's own address, opened again
        else ReturnFilter(tracking_number=code)
    )
    async with read.begin():
        states, _ = await list_returns(read, filters, 1)
    if not states:
        return render(
            request, "console/receive.html", status_code=404, person=person, code=code,
            found=None, problem="unknown", errors={}, values={}, counted=_counted(request),
        )  # fmt: skip
    state = await gateway.live_state(states[0].id, LIVE_STATE_SECONDS) or states[0]
    problem = None if "receive" in state.actions() else "not_receivable"
    return await _station(request, read, person, state, code=code, problem=problem)


async def _station(
    request: Request,
    read: AsyncSession,
    person: Staff,
    state: ReturnState,
    code: str,
    problem: str | None = None,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """The station with a return found: each item with the customer's claim (reason, comment,
    photos) and the agents' notes in view, so what was claimed broken is looked at first."""
    async with read.begin():
        photos = await photos_of(read, state.id)
    return render(
        request, "console/receive.html", status_code=status_code, person=person, code=code,
        found=state, problem=problem, conditions=[c.value for c in Condition],
        inspect=INSPECT, photos=photos, notes=[e for e in state.timeline if e.internal],
        errors=errors or {}, values=values or {}, counted=_counted(request),
    )  # fmt: skip


def _counted(request: Request) -> int:
    """Parcels received at this station since the browser opened it (a session cookie)."""
    try:
        return max(0, min(int(request.cookies.get(STATION_COOKIE, "0")), 100_000))
    except ValueError:
        return 0


@router.post("/receive/{return_id}", response_class=HTMLResponse)
async def receive(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """Confirm what arrived; the answer says what to do with each item."""
    person = await staff_of(request)
    form = await checked_form(request)
    if not person.may("receive"):
        raise RoleRefused
    try:
        state = await document(read, gateway, return_id, person.principal)
    except NotFound:
        return render(request, "console/not_found.html", status_code=404, person=person)
    items = []
    for item in state.items:
        quantity = whole_number(form.get(f"quantity:{item.id}"))
        condition = str(form.get(f"condition:{item.id}", ""))
        # None came of an item left to inspect: there is nothing to say of its condition.
        items.append(
            {
                "item_id": item.id,
                "quantity": quantity,
                "condition": condition or ("good" if quantity == 0 else ""),
            }
        )
    location = str(form.get("location", "")).strip()
    errors: dict[str, str] = {}
    try:
        body = ReceiveIn.model_validate({"location": location, "items": items})
        after = await Actions(request.app.state.sessions, gateway, no_key(request)).deliver(
            return_id, ACTIONS["receive"], body, person.principal
        )
    except ValidationError as invalid:
        for error in invalid.errors():
            place = [str(part) for part in error["loc"]]
            errors[".".join(place) if place[0] != "items" else f"items[{place[1]}].{place[-1]}"] = (
                "invalid"
            )
    except Problem as refused:
        errors = refusal(refused)
    if errors:
        # Each item's fields by its id, as the form names them.
        by_item = {
            f"{field.split('.')[-1]}:{state.items[int(field[6 : field.index(']')])].id}": code
            for field, code in errors.items()
            if field.startswith("items[")
        }
        other = {k: v for k, v in errors.items() if not k.startswith("items[")}
        return await _station(
            request, read, person, state, code=state.number or state.id,
            errors={**other, **by_item}, values=dict(form.items()),
            status_code=409 if "" in other else 422,
        )  # fmt: skip
    # Post/redirect/get: the result has an address of its own, which a reload or the back button
    # opens again without receiving twice.
    receipt = [("location", location)] + [
        (f"{item.item_id}", f"{item.quantity}:{item.condition.value}")
        for item in body.items
        if item.quantity
    ]
    answer = RedirectResponse(
        f"/console/receive/{after.id}/done?{urlencode(receipt)}", status_code=303
    )
    answer.set_cookie(
        STATION_COOKIE, str(_counted(request) + 1), path="/console/receive",
        httponly=True, samesite="strict", secure=request.url.scheme == "https",
    )  # fmt: skip
    return answer


@router.get("/receive/{return_id}", response_class=HTMLResponse)
async def receive_address(return_id: ReturnId) -> Response:
    """The confirm form's address opened again: the station, with the return looked up."""
    return RedirectResponse(f"/console/receive?{urlencode({'code': return_id})}", status_code=303)


@router.get("/receive/{return_id}/done", response_class=HTMLResponse)
async def received_page(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """What to do with each item of the parcel just received; then the next parcel."""
    person = await staff_of(request)
    if not person.may("receive"):
        raise RoleRefused
    try:
        state = await document(read, gateway, return_id, person.principal)
    except NotFound:
        return render(request, "console/not_found.html", status_code=404, person=person)
    received: dict[str, tuple[int, str]] = {}
    conditions = {c.value for c in Condition}
    for item in state.items:
        quantity, _, condition = request.query_params.get(item.id, "").partition(":")
        if quantity.isdigit() and 0 < int(quantity) <= item.quantity and condition in conditions:
            received[item.id] = (int(quantity), condition)
    return render(
        request, "console/received.html", person=person, s=state,
        location=request.query_params.get("location", "")[:64], received=received,
        restockable=[c.value for c in RESTOCKABLE], counted=_counted(request),
    )  # fmt: skip
