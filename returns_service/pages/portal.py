"""The customer returns portal (`/portal`): find an order, choose what to send back, follow and
cancel a return. Every page calls the same code as the API (the gateway to Temporal, the store),
never the API over HTTP, so a return made here is the same return the API sees."""

from __future__ import annotations

import posixpath
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from returns_service import i18n
from returns_service.activities.emails import carrier_name
from returns_service.api import sessions
from returns_service.api.auth import Principal, customer_claims, principal_of
from returns_service.api.deps import GatewayDep, SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import InvalidInput, NotFound, Problem, TooManyRequests
from returns_service.api.idempotency import Idempotency
from returns_service.api.routes.sessions import CustomerSessionIn, open_customer_session
from returns_service.api.schemas import CancelIn, ReissueIn
from returns_service.config import Settings
from returns_service.domain.models import (
    Order,
    Policy,
    ReturnState,
)
from returns_service.domain.status import TERMINAL
from returns_service.gateway import Gateway
from returns_service.operations.act import ACTIONS, Actions
from returns_service.operations.documents import (
    LIVE_STATE_SECONDS,
    document,
    label_response,
    photo_answer,
    qr_response,
)
from returns_service.pages.render import (
    render,
    secure_cookies,
    signed_in_to,
)
from returns_service.pages.security import CSRF_COOKIE, CSRF_FIELD, csrf_valid
from returns_service.store.entitlements import breakdown
from returns_service.store.orders import current_policy, get_orders, orders_of
from returns_service.store.photos import photos_of
from returns_service.store.returns import ReturnFilter, list_returns
from returns_service.store.revoked import revoke

router = APIRouter(prefix="/portal", include_in_schema=False)

SESSION_COOKIE = "returns_session"
ReturnId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


class NotSignedIn(Exception):
    """The page needs a customer session; the answer is the sign-in page, then back here."""


async def customer_of(request: Request) -> Principal:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotSignedIn
    try:
        claims = await customer_claims(request, token)
    except sessions.InvalidToken:
        raise NotSignedIn from None
    return principal_of(claims)


def signed_in(customer: Principal) -> dict[str, Any]:
    """Who the page is for, as the layout shows it: a customer by email, a gift's recipient as
    such (they never see the buyer's email)."""
    return {"email": customer.email, "gift": customer.is_gift}


async def orders_for(read: AsyncSession, customer: Principal) -> list[Order]:
    """The orders a customer may return from: their own, or a gift's recipient the gift."""
    if customer.order_id is not None:
        order = (await get_orders(read, [customer.order_id])).get(customer.order_id)
        return [order] if order is not None and customer.may_see_order(order) else []
    assert customer.email is not None
    return await orders_of(read, customer.email)


def to_sign_in(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/portal?next={quote(here, safe='')}", status_code=303)


def safe_next(value: str | None, area: str = "/portal", home: str = "/portal/returns") -> str:
    """Only a page of this area itself: never another site, nor another part of this one."""
    if not value or "//" in value or "\\" in value:
        return home
    path = value.partition("?")[0]
    if path != area and not path.startswith(area + "/"):
        return home
    if posixpath.normpath(path) != path or any(c in value for c in '\r\n"<>'):
        return home
    return value


async def checked_form(request: Request) -> FormData:
    """The posted form, if its CSRF token matches the browser's cookie; otherwise 403."""
    form = await request.form()
    settings: Settings = request.app.state.settings
    token = form.get(CSRF_FIELD)
    if not csrf_valid(
        settings.session_key(),
        request.cookies.get(CSRF_COOKIE),
        token if isinstance(token, str) else None,
    ):
        raise CsrfRefused
    return form


class CsrfRefused(Exception):
    """A form posted without this browser's token: refused, nothing changed."""


def not_found(request: Request) -> HTMLResponse:
    return render(request, "portal/not_found.html", status_code=404)


# --- sign in and out ------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    try:
        await customer_of(request)
        return RedirectResponse(safe_next(next), status_code=303)
    except NotSignedIn:
        return render(request, "portal/sign_in.html", next=safe_next(next), values={}, error=None)


@router.post("", response_class=HTMLResponse)
async def sign_in(request: Request, read: SessionDep, settings: SettingsDep) -> Response:
    return await _open_session(request, read, settings, "email", "portal/sign_in.html")


async def _open_session(
    request: Request, read: AsyncSession, settings: Settings, second: str, template: str
) -> Response:
    """Sign in with the pair the form gave (the order number and an email, or a gift's postal
    code: `second`), as `POST /v1/customer-sessions` does; a wrong pair is the form again, never
    saying which half."""
    form = await checked_form(request)
    values = {name: str(form.get(name, "")).strip() for name in ("order_number", second)}
    target = safe_next(str(form.get("next", "")))
    try:
        body = CustomerSessionIn.model_validate(values)
        token, expires_at = await open_customer_session(request, read, settings, body)
    except (ValidationError, NotFound, InvalidInput):
        return render(
            request, template, status_code=400, next=target, values=values, error="no_match"
        )
    except TooManyRequests as limited:
        refused = render(
            request, template, status_code=429, next=target, values=values, error="too_many"
        )
        refused.headers.update(getattr(limited, "headers", None) or {})
        return refused
    if target == "/portal/returns" and body.email is not None:
        # Someone who found their order came to return something: with no return yet, the
        # items to choose from are the page they want, not an empty list.
        async with read.begin():
            mine, _ = await list_returns(
                read, ReturnFilter(customer_email=body.email, gift=False), 1
            )
        target = target if mine else "/portal/new"
    lasts = int((expires_at - datetime.now(UTC)).total_seconds())
    return signed_in_to(target, settings, SESSION_COOKIE, token, "/portal", lasts)


@router.get("/gift", response_class=HTMLResponse)
async def gift_sign_in_page(request: Request, next: str | None = None) -> Response:
    """A gift's recipient's way in: the order number and the postal code it was sent to."""
    return render(request, "portal/gift.html", next=safe_next(next), values={}, error=None)


@router.post("/gift", response_class=HTMLResponse)
async def gift_sign_in(request: Request, read: SessionDep, settings: SettingsDep) -> Response:
    return await _open_session(request, read, settings, "postal_code", "portal/gift.html")


@router.post("/sign-out")
async def sign_out(request: Request, write: WriteSessionDep) -> Response:
    """Ends the session for good: its token is refused from now on, wherever it was copied."""
    await checked_form(request)
    settings: Settings = request.app.state.settings
    token = request.cookies.get(SESSION_COOKIE)
    try:
        claims = sessions.claims_of(settings.session_key(), token) if token else None
    except sessions.InvalidToken:
        claims = None
    if claims is not None and claims.sid is not None:
        async with write.begin():
            await revoke(write, claims.sid, claims.expires_at, datetime.now(UTC))
    response = RedirectResponse("/portal", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


@router.get("/language")
async def choose_language(request: Request, to: str, next: str | None = None) -> Response:
    """The switcher: keeps the language in a cookie and goes back to the page."""
    back = "/portal"
    if next and next.startswith("/console"):
        back = safe_next(next, "/console", "/console/returns")
    elif next:
        back = safe_next(next)
    response = RedirectResponse(back, status_code=303)
    if to in i18n.languages():
        settings: Settings = request.app.state.settings
        response.set_cookie(
            i18n.COOKIE,
            to,
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(settings),
            path="/",
        )
    return response


# --- the customer's returns ---------------------------------------------------------------------


@router.get("/returns", response_class=HTMLResponse)
async def my_returns(request: Request, read: SessionDep) -> Response:
    customer = await customer_of(request)
    if customer.is_gift:
        mine = ReturnFilter(order_id=customer.order_id, gift=True)
    else:
        mine = ReturnFilter(customer_email=customer.email, gift=False)
    async with read.begin():
        states, _ = await list_returns(read, mine, 100)
    return render(request, "portal/returns.html", returns=states, **signed_in(customer))


@router.get("/returns/{return_id}", response_class=HTMLResponse)
async def one_return(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    return await _return_page(request, return_id, read, gateway, "portal/return.html")


async def _return_page(
    request: Request,
    return_id: str,
    read: AsyncSession,
    gateway: Gateway,
    template: str,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    """One of the customer's returns as the workflow has it now; anyone else's is not found."""
    customer = await customer_of(request)
    try:
        state = await document(read, gateway, return_id, customer)
    except NotFound:
        return not_found(request)
    if state.status not in TERMINAL:
        state = await gateway.live_state(return_id, LIVE_STATE_SECONDS) or state
    async with read.begin():
        photos = await photos_of(read, return_id)
        policy = await current_policy(read)
        parts = await breakdown(read, return_id)
    return render(
        request,
        template,
        status_code=status_code,
        ret=view(state, policy),
        error=error,
        photos=photos,
        parts=parts,
        **signed_in(customer),
    )


PhotoId = Annotated[str, Path(max_length=64, pattern=r"^ph_[0-9a-f]+$")]


@router.get("/returns/{return_id}/photos/{photo_id}")
async def photo(
    request: Request,
    return_id: ReturnId,
    photo_id: PhotoId,
    read: SessionDep,
    gateway: GatewayDep,
) -> Response:
    """One of the customer's own photos, as the image it was checked to be."""
    customer = await customer_of(request)
    try:
        await document(read, gateway, return_id, customer)
    except NotFound:
        return not_found(request)
    return await photo_answer(read, return_id, photo_id) or not_found(request)


@router.get("/returns/{return_id}/label")
async def label(
    request: Request, return_id: ReturnId, read: SessionDep, write: WriteSessionDep
) -> Response:
    customer = await customer_of(request)
    try:
        return await label_response(read, write, return_id, customer, "attachment")
    except NotFound:
        return not_found(request)


@router.get("/returns/{return_id}/qr")
async def drop_off_qr(request: Request, return_id: ReturnId, read: SessionDep) -> Response:
    """The drop-off code as a QR image, to show at the drop-off point."""
    customer = await customer_of(request)
    try:
        return await qr_response(read, return_id, customer)
    except NotFound:
        return not_found(request)


@router.post("/returns/{return_id}/label", response_class=HTMLResponse)
async def new_label(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """A new label for an expired return (while the shop allows one)."""
    return await _decide(request, return_id, read, gateway, "label", ReissueIn(), "relabel_refused")


@router.get("/returns/{return_id}/cancel", response_class=HTMLResponse)
async def cancel_page(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    """Asks before it cancels."""
    return await _return_page(request, return_id, read, gateway, "portal/cancel.html")


@router.post("/returns/{return_id}/cancel", response_class=HTMLResponse)
async def cancel(
    request: Request, return_id: ReturnId, read: SessionDep, gateway: GatewayDep
) -> Response:
    return await _decide(request, return_id, read, gateway, "cancel", CancelIn(), "moved")


async def _decide(
    request: Request,
    return_id: str,
    read: AsyncSession,
    gateway: Gateway,
    action: str,
    body: Any,
    refused_as: str,
) -> Response:
    """The customer's decision on their return; refused (the status moved on meanwhile: a
    second click, another tab) the page says so and shows the return as it is now."""
    customer = await customer_of(request)
    await checked_form(request)
    actions = Actions(request.app.state.sessions, gateway, no_key(request))
    try:
        await actions.deliver(return_id, ACTIONS[action], body, customer)
    except NotFound:
        return not_found(request)
    except Problem as refused:
        why = refused_as if refused.status == 409 else "unavailable"
        return await _return_page(
            request, return_id, read, gateway, "portal/return.html", why, refused.status
        )
    return RedirectResponse(f"/portal/returns/{return_id}", status_code=303)


def no_key(request: Request) -> Idempotency:
    return Idempotency(request, None, request.app.state.write_sessions, timedelta(seconds=60))


def view(state: ReturnState, policy: Policy | None = None) -> dict[str, Any]:
    """What the return's page shows, in the order a customer reads it."""
    return {
        "id": state.id,
        "number": state.number or state.id,
        "status": state.status.value,
        "state": state,
        "can_cancel": "cancel" in state.actions(),
        # Forgotten items join the parcel while it has not left.
        "can_add": state.status.value in ("approved", "label_sent")
        and state.method.value != "keep_item",
        # The page follows the workflow while something is still to happen by itself.
        "following": state.status not in TERMINAL,
        "has_label": state.label is not None and state.status.value in LABEL_SHOWN,
        "carrier": carrier_name(state),
        "can_relabel": "reissue_label" in state.actions(),
        "store": policy.store(state.store_id) if policy is not None else None,
    }


# A label is offered while it can still be used or shows where the parcel went.
LABEL_SHOWN = {"label_sent", "shipped"}


# --- a new return --------------------------------------------------------------------------------
