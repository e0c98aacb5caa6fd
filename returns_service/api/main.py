"""The HTTP API v1: one app factory, routes per resource, one lifespan for shared clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from returns_service.api.errors import install_error_handlers
from returns_service.api.limits import BodyLimit, SlidingWindow
from returns_service.api.routes import orders, policy, returns, sessions
from returns_service.api.schemas import Health
from returns_service.config import Settings
from returns_service.store.db import create_engine, read_session_factory, session_factory
from returns_service.temporal import connect


def create_app(
    settings: Settings, temporal: Client | None = None, engine: AsyncEngine | None = None
) -> FastAPI:
    """The app; given a Temporal client and an engine it uses them, otherwise it opens its own
    from settings when it starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = engine or create_engine(settings.store_url())
        app.state.sessions = read_session_factory(app.state.engine)
        app.state.write_sessions = session_factory(app.state.engine)
        app.state.temporal = temporal or await connect(settings)
        yield
        if own_engine:
            await app.state.engine.dispose()

    app = FastAPI(
        title="Returns service",
        version="1.0.0",
        description="Returns (RMA) as durable Temporal workflows. Money in minor units.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.session_failures = SlidingWindow(settings.session_failures_per_15_minutes, 15 * 60)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(orders.router)
    app.include_router(returns.router)
    app.include_router(policy.router)
    app.include_router(sessions.router)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Health, tags=["health"])
    async def readyz(request: Request) -> JSONResponse:
        checks = {}
        try:
            async with request.app.state.sessions() as session:
                await session.execute(text("SELECT 1"))
            checks["store"] = "ok"
        except Exception as error:  # noqa: BLE001 - any failure means not ready
            checks["store"] = f"unavailable: {type(error).__name__}"
        try:
            await request.app.state.temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as error:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(error).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body = Health(status="ok" if ready else "unavailable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    return app
