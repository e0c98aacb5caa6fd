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
from returns_service.domain.models import Actor
from returns_service.store.revoked import is_revoked

STAFF = ("integration", "agent", "warehouse", "ops", "admin")
CUSTOMER = "customer"


@dataclass(frozen=True)
class Principal:
    role: str
    # A customer's email, from their session token.
    email: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.role, id=self.email)  # type: ignore[arg-type]

    @property
    def is_customer(self) -> bool:
        return self.role == CUSTOMER

    @property
    def scope(self) -> str:
        """Whose requests these are, for idempotency keys and limits."""
        return f"{self.role}:{self.email}" if self.email else self.role

    def may_see(self, customer_email: str) -> bool:
        """Staff see every customer; a customer sees their own, and nobody else's."""
        return not self.is_customer or customer_email.lower() == (self.email or "")

    def require_owner(self, customer_email: str, what: str) -> None:
        """Another customer's object answers like one that does not exist."""
        if not self.may_see(customer_email):
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
        return Principal(role=CUSTOMER, email=claims.email.lower())
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
