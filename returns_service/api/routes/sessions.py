"""Customer sessions: an order number and the email that placed it give a signed, expiring token
for that email (guests and registered customers alike); a gift order's number and its shipping
address's postal code give its recipient a token for that one order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service import metrics
from returns_service.api import sessions
from returns_service.api.auth import bearer, customer_claims
from returns_service.api.deps import SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import InvalidInput, NotFound, TooManyRequests, Unauthorized
from returns_service.api.schemas import Request as RequestBody
from returns_service.config import Settings
from returns_service.domain.types import Email, OrderNumber, PostalCode
from returns_service.store.revoked import revoke
from returns_service.store.tables import OrderRow

router = APIRouter(prefix="/v1/customer-sessions", tags=["customers"])


class CustomerSessionIn(RequestBody):
    order_number: OrderNumber
    email: Email | None = Field(
        default=None, description="The email the order was placed with (or `postal_code`)."
    )
    postal_code: PostalCode | None = Field(
        default=None,
        description="A gift's recipient: the postal code the gift was sent to (instead of"
        " `email`); the session is for that one order.",
    )


class CustomerSessionOut(BaseModel):
    token: str
    email: str | None = Field(description="The customer's; null in a gift recipient's session.")
    gift: bool = Field(
        default=False, description="A gift recipient's session, for the one order it names."
    )
    expires_at: datetime


def _one_way_in(body: CustomerSessionIn) -> None:
    """An email or a gift's postal code, not both nor neither: a 422 naming the field."""
    if body.email is None and body.postal_code is None:
        raise InvalidInput("email", "the order's email, or a gift's postal code")
    if body.email is not None and body.postal_code is not None:
        raise InvalidInput("postal_code", "send the order's email or a gift's postal code")


@router.post(
    "",
    status_code=201,
    response_model=CustomerSessionOut,
    responses={404: {"description": "No order with that number and email"}, 429: {}},
)
async def start_customer_session(
    body: CustomerSessionIn, request: Request, read: SessionDep, settings: SettingsDep
) -> CustomerSessionOut:
    """A wrong pair answers exactly like an unknown order; too many from one client: 429."""
    _one_way_in(body)
    token, expires_at = await open_customer_session(request, read, settings, body)
    gift = body.postal_code is not None
    return CustomerSessionOut(token=token, email=body.email, gift=gift, expires_at=expires_at)


@router.delete("/current", status_code=204, responses={401: {}})
async def end_customer_session(
    request: Request,
    write: WriteSessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Response:
    """Sign out: the customer token sent is refused from now on, wherever it was copied."""
    token = credentials.credentials.strip() if credentials else ""
    try:
        claims = await customer_claims(request, token)
    except sessions.InvalidToken as error:
        raise Unauthorized(f"{error}: send the customer token to end") from None
    if claims.sid is not None:
        async with write.begin():
            await revoke(write, claims.sid, claims.expires_at, datetime.now(UTC))
    return Response(status_code=204)


async def open_customer_session(
    request: Request, read: AsyncSession, settings: Settings, body: CustomerSessionIn
) -> tuple[str, datetime]:
    """A customer's token for the pair, for the API and the portal alike: NotFound for a wrong
    pair (never saying which half). Wrong pairs are counted per client address and order
    number, and per client address and email: one who guesses at an order or an email is
    stopped there (TooManyRequests), while other customers behind the same address still get
    in with their own."""
    failures = request.app.state.session_failures
    per_address = request.app.state.session_address_failures
    client = request.client.host if request.client else "unknown"
    postal = sessions.postal_key(body.postal_code) if body.postal_code is not None else None
    if postal == "":
        raise InvalidInput("postal_code", "holds no letter or digit")
    second = f"postal:{postal}" if postal is not None else f"email:{body.email}"
    counted = (f"{client}|order:{body.order_number.lower()}", f"{client}|{second}")
    waits = [wait for key in counted if (wait := failures.retry_after(key)) is not None]
    if (wait := per_address.retry_after(client)) is not None:
        waits.append(wait)
    if waits:
        raise TooManyRequests(
            "too many wrong order numbers, emails or postal codes; try again later", max(waits)
        )
    async with read.begin():
        if postal is not None:
            gift = await _gift_order(read, body.order_number, postal)
            found = gift is not None
        else:
            found = bool(
                await read.scalar(
                    select(func.count())
                    .select_from(OrderRow)
                    .where(
                        OrderRow.number == body.order_number, OrderRow.customer_email == body.email
                    )
                )
            )
    if not found:
        metrics.SIGN_IN_FAILURES.labels("customer").inc()
        for key in counted:
            failures.hit(key)
        per_address.hit(client)
        what = "email" if postal is None else "postal code"
        raise NotFound(f"no order with that number and {what}")
    expires_at = datetime.now(UTC) + timedelta(hours=settings.customer_session_hours)
    signing = settings.session_key()
    if postal is not None:
        token = sessions.issue(signing, None, expires_at, gift, body.postal_code)
        return token, expires_at
    return sessions.issue(signing, body.email, expires_at), expires_at


async def _gift_order(read: AsyncSession, number: str, postal: str) -> str | None:
    """The id of the one gift order with that number sent to that postal code; None when there
    is none, or several (orders of one number: which gift is whose cannot be told, so neither
    opens rather than one recipient landing in another's gift)."""
    snapshots = (
        await read.scalars(select(OrderRow.snapshot).where(OrderRow.number == number))
    ).all()
    found = [
        str(snapshot["id"])
        for snapshot in snapshots
        if snapshot.get("gift")
        and isinstance(code := (snapshot.get("shipping_address") or {}).get("postal_code"), str)
        and sessions.postal_key(code) == postal
    ]
    return found[0] if len(found) == 1 else None
