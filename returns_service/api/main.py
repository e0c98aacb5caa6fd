"""The HTTP API v1: one factory, routes per resource, one lifespan for shared clients. The pages
are added above it (returns_service/app.py), so the API never imports them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from returns_service import i18n, metrics, tracing
from returns_service.api.deps import one_value_each
from returns_service.api.errors import InvalidInput, install_error_handlers
from returns_service.api.limits import BodyLimit, SlidingWindow
from returns_service.api.routes import (
    carrier,
    labels,
    lists,
    orders,
    payments,
    policy,
    returns,
    sessions,
    shopify,
    staff,
    webhooks,
)
from returns_service.api.schemas import PROBLEMS, Health
from returns_service.config import Settings
from returns_service.gateway import Gateway
from returns_service.runtime import freeze_startup_objects
from returns_service.store.db import create_engine, read_session_factory, session_factory
from returns_service.temporal import connect


def refuse_unknown_query_parameters(request: Request) -> None:
    """Unknown fields are refused everywhere, query parameters included: a misspelt filter is
    an error, not a list of everything."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    if not request.url.path.startswith("/v1/"):
        return  # a page ignores what it does not know (a link's tracking parameters)
    known = _query_names(route.dependant)
    for name in request.query_params:
        if name not in known:
            raise InvalidInput(f"query.{name}", "is not a parameter of this request")


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Timed:
    """Each request's duration, by its route's template (a path would make a series per id),
    method and status: `returns_http_request_duration_seconds`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            # The method is the client's word: any other than HTTP's own is one series, "other".
            method = scope["method"] if scope["method"] in HTTP_METHODS else "other"
            metrics.REQUESTS.labels(route, method, str(status)).observe(time.perf_counter() - began)


def create_api(
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
        app.state.gateway = Gateway(
            temporal or await connect(settings),
            settings.task_queue,
            answer_seconds=settings.workflow_answer_seconds,
        )
        freeze_startup_objects()
        # Returns per status and the backlogs, for ops' metrics (where this process serves them).
        watching = (
            asyncio.create_task(metrics.watch_backlogs(app.state.sessions))
            if settings.metrics_port is not None
            else None
        )
        yield
        if watching is not None:
            watching.cancel()
        if own_engine:
            await app.state.engine.dispose()

    app = FastAPI(
        dependencies=[Depends(refuse_unknown_query_parameters)],
        title="Returns service",
        version="1.0.0",
        description="Returns (RMA) as durable Temporal workflows. Money in minor units.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    i18n.configure(settings.locales_dir)
    app.state.session_failures = SlidingWindow(settings.session_failures_per_15_minutes, 15 * 60)
    # One client guessing at many orders and postal codes (or emails) at once: five times as many.
    app.state.session_address_failures = SlidingWindow(
        5 * settings.session_failures_per_15_minutes, 15 * 60
    )
    app.state.staff_failures = SlidingWindow(settings.staff_failures_per_15_minutes, 15 * 60)
    app.state.staff_address_failures = SlidingWindow(
        5 * settings.staff_failures_per_15_minutes, 15 * 60
    )
    install_error_handlers(app)
    app.add_middleware(Timed)
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.max_body_bytes,
        # The new-return forms carry photos (the portal's, and the console's for a customer).
        uploads=dict.fromkeys(
            ("/portal/new", "/console/returns/new", "/portal/returns/*/items"),
            settings.upload_max_bytes,
        ),
    )
    routers = (
        orders.router,
        returns.router,
        policy.router,
        sessions.router,
        webhooks.router,
        carrier.router,
        labels.router,
        payments.router,
        shopify.router,
        staff.router,
        lists.router,
    )
    for router in routers:
        app.include_router(router, responses=PROBLEMS, dependencies=[Depends(one_value_each)])

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
            await request.app.state.gateway.healthy()
            checks["temporal"] = "ok"
        except Exception as error:  # noqa: BLE001
            checks["temporal"] = f"unavailable: {type(error).__name__}"
        ready = all(v == "ok" for v in checks.values())
        body = Health(status="ok" if ready else "unavailable", checks=checks)
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    tracing.instrument(app)
    return app
