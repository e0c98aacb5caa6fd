"""The service's web app: the HTTP API (api/) with the pages (pages/) on it, one FastAPI app and
one lifespan. It stands above both, so that the API never imports the pages; the operations both
call live below them (operations/)."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client

from returns_service import pages
from returns_service.api.main import create_api
from returns_service.config import Settings


def create_app(
    settings: Settings, temporal: Client | None = None, engine: AsyncEngine | None = None
) -> FastAPI:
    """The API and the pages; given a Temporal client and an engine it uses them, otherwise it
    opens its own from settings when it starts."""
    app = create_api(settings, temporal, engine)
    pages.install(app)
    return app
