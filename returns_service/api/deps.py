"""Dependencies every route declares in its signature: the store session and the gateway to
Temporal."""

from __future__ import annotations

import types
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.api.errors import InvalidInput
from returns_service.config import Settings
from returns_service.gateway import Gateway
from returns_service.store.db import Sessions


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


SessionDep = Annotated[AsyncSession, Depends(get_session)]
GatewayDep = Annotated[Gateway, Depends(get_gateway)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_write_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.write_sessions() as session:
        yield session


WriteSessionDep = Annotated[AsyncSession, Depends(get_write_session)]


def get_read_sessions(request: Request) -> Sessions:
    """The read sessions' factory, for a route that reads several things at once."""
    return request.app.state.sessions  # type: ignore[no-any-return]


ReadSessionsDep = Annotated[Sessions, Depends(get_read_sessions)]


def _takes_many(annotation: Any) -> bool:
    """Whether a query parameter of this type may be given several times (`status=a&status=b`)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, Annotated):
        return any(_takes_many(part) for part in get_args(annotation))
    return isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str


async def one_value_each(request: Request) -> None:
    """A query parameter that takes one value, given more than once, is refused on its name
    (rather than quietly taking the last): every API route declares this."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    for field in dependant.query_params:
        name = field.alias
        if len(request.query_params.getlist(name)) > 1 and not _takes_many(
            field.field_info.annotation
        ):
            raise InvalidInput(name, "given more than once; give it once")
