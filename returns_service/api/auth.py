"""Who is calling: staff and system keys from settings, or a customer's session token; checked
per route by a dependency, before anything else runs."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from returns_service.api import sessions
from returns_service.api.errors import Forbidden, NotFound, Unauthorized
from returns_service.domain.models import BEYOND_POLICY, Actor, Order, ReturnState
from returns_service.store.revoked import is_revoked

STAFF = ("integration", "agent", "warehouse", "ops", "admin")
CUSTOMER = "customer"


@dataclass(frozen=True)
class Principal:
    role: str
    # A customer's email, from their session token.
    email: str | None = None
    # A gift's recipient's session: the one order they may return (and no email), and the
    # digest of the postal code it was opened with.
    order_id: str | None = None
    postal: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.role, id=self.email)  # type: ignore[arg-type]

    def actor_on(self, state: ReturnState) -> Actor:
        """Who acts on the return: a gift's recipient by the email they gave it."""
        if self.is_gift:
            return Actor(kind="customer", id=state.recipient_email)
        return self.actor

    @property
    def may_go_beyond(self) -> bool:
        """Whether they may go beyond the policy for a customer (agents and admins)."""
        return self.role in BEYOND_POLICY

    @property
    def is_customer(self) -> bool:
        return self.role == CUSTOMER

    @property
    def is_gift(self) -> bool:
        """A gift's recipient, who may return that one order and knows nobody's email."""
        return self.is_customer and self.order_id is not None

    @property
    def scope(self) -> str:
        """Whose requests these are, for idempotency keys and limits."""
        if self.is_gift:
            return f"{self.role}:gift:{self.order_id}"
        return f"{self.role}:{self.email}" if self.email else self.role

    def may_see(self, customer_email: str) -> bool:
        """Staff see every customer; a customer sees their own, and nobody else's (a gift's
        recipient nobody's: they see one order)."""
        if self.is_gift:
            return False
        return not self.is_customer or customer_email.lower() == (self.email or "")

    def may_see_order(self, order: Order) -> bool:
        """Staff see every order; a customer their own; a gift's recipient the gift's."""
        if self.is_gift:
            # Sent elsewhere since (the shop corrected the address): the session no longer fits.
            address = order.shipping_address
            return (
                order.gift
                and order.id == self.order_id
                and address is not None
                and sessions.postal_digest(address.postal_code) == self.postal
            )
        return self.may_see(order.customer.email)

    def may_see_return(self, state: ReturnState) -> bool:
        """Staff see every return; a customer their own, except the returns of gifts they gave
        (the recipients' business); a gift's recipient the returns of that gift."""
        if self.is_gift:
            return state.recipient_email is not None and state.order_ids == [self.order_id]
        return self.may_see(state.customer.email) and (
            not self.is_customer or state.recipient_email is None
        )

    def require_return(self, state: ReturnState, what: str) -> None:
        """Another customer's return answers like one that does not exist."""
        if not self.may_see_return(state):
            raise NotFound(f"{what} does not exist")


# Declared in the OpenAPI document (a staff key or a customer token); checked below.
bearer = HTTPBearer(auto_error=False, description="A staff or system key, or a customer token.")


async def customer_claims(request: Request, token: str) -> sessions.Claims:
    """A customer token's claims, for the API and the portal alike; InvalidToken when it is
    forged, damaged, expired, or its session was ended by signing out."""
    claims = sessions.claims_of(request.app.state.settings.session_key(), token)
    if claims.sid is not None:
        async with request.app.state.sessions() as session:
            if await is_revoked(session, claims.sid):
                raise sessions.InvalidToken("ended session (signed out)")
    return claims


def principal_of(claims: sessions.Claims) -> Principal:
    """The customer a token is for: by email, or as the recipient of one gift order."""
    if claims.order_id is not None:
        return Principal(role=CUSTOMER, order_id=claims.order_id, postal=claims.postal)
    return Principal(role=CUSTOMER, email=(claims.email or "").lower())


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    secret = credentials.credentials.strip() if credentials else ""
    if not secret:
        raise Unauthorized("send Authorization: Bearer <key or customer token>")
    settings = request.app.state.settings
    if secret.startswith(sessions.PREFIX):
        try:
            claims = await customer_claims(request, secret)
        except sessions.InvalidToken as error:
            raise Unauthorized(f"{error}: start a new customer session") from None
        return principal_of(claims)
    keys: dict[str, str] = settings.api_keys
    for role, key in keys.items():
        if key and hmac.compare_digest(key.encode(), secret.encode()):
            return Principal(role=role)
    raise Unauthorized("unknown or expired credentials")


def allow(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets `roles` (and admin) through and answers 403 to anyone else."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this")
        return principal

    return check
