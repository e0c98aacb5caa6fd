"""Who is calling: staff and system keys from settings, as a dependency per route."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from returns_service.api.errors import Forbidden, Unauthorized
from returns_service.domain.models import Actor

STAFF = ("integration", "agent", "warehouse", "ops", "admin")


@dataclass(frozen=True)
class Principal:
    role: str

    @property
    def actor(self) -> Actor:
        return Actor(kind=self.role)  # type: ignore[arg-type]


def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise Unauthorized("send Authorization: Bearer <key>")
    keys: dict[str, str] = request.app.state.settings.api_keys
    for role, key in keys.items():
        if key and hmac.compare_digest(key.encode(), secret.strip().encode()):
            return Principal(role=role)
    raise Unauthorized("unknown or expired credentials")


def allow(*roles: str) -> Callable[[Principal], Principal]:
    """A dependency that lets `roles` (and admin) through and answers 403 to anyone else."""

    def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role != "admin" and principal.role not in roles:
            raise Forbidden(f"the {principal.role} role may not do this")
        return principal

    return check


Staff = Annotated[Principal, Depends(allow(*STAFF))]
Agent = Annotated[Principal, Depends(allow("agent"))]
