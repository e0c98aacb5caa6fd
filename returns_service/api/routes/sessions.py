"""Customer sessions: an order number and the email that placed it give a signed, expiring token
for that email (guests and registered customers alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api import sessions
from returns_service.api.auth import bearer, customer_claims
from returns_service.api.deps import SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import NotFound, TooManyRequests, Unauthorized
from returns_service.api.schemas import Request as RequestBody
from returns_service.config import Settings
from returns_service.domain.types import Email, OrderNumber
from returns_service.store.revoked import revoke
from returns_service.store.tables import OrderRow

router = APIRouter(prefix="/v1/customer-sessions", tags=["customers"])


class CustomerSessionIn(RequestBody):
    order_number: OrderNumber
    email: Email


class CustomerSessionOut(BaseModel):
    token: str
    email: str
    expires_at: datetime


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
    token, expires_at = await open_customer_session(request, read, settings, body)
    return CustomerSessionOut(token=token, email=body.email, expires_at=expires_at)


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
    client = request.client.host if request.client else "unknown"
    counted = (f"{client}|order:{body.order_number.lower()}", f"{client}|email:{body.email}")
    waits = [wait for key in counted if (wait := failures.retry_after(key)) is not None]
    if waits:
        raise TooManyRequests("too many wrong order numbers or emails; try again later", max(waits))
    async with read.begin():
        found = await read.scalar(
            select(func.count())
            .select_from(OrderRow)
            .where(OrderRow.number == body.order_number, OrderRow.customer_email == body.email)
        )
    if not found:
        for key in counted:
            failures.hit(key)
        raise NotFound("no order with that number and email")
    expires_at = datetime.now(UTC) + timedelta(hours=settings.customer_session_hours)
    return sessions.issue(settings.session_key(), body.email, expires_at), expires_at
