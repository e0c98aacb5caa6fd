"""Dependencies every route declares in its signature: the store session and the gateway to
Temporal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

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
