"""The web pages for people (the customer portal; the staff console to come), served by the API
process from the same code paths as the API: templates and static files ship in the package,
nothing is built at install and nothing loads from another host."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from returns_service.pages import brand, portal
from returns_service.pages.render import render
from returns_service.pages.security import PageHeaders

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(portal.router)
    app.include_router(brand.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(PageHeaders)

    @app.exception_handler(portal.NotSignedIn)
    async def sign_in_first(request: Request, _: Exception) -> Response:
        return portal.to_sign_in(request)

    @app.exception_handler(portal.CsrfRefused)
    async def csrf_refused(request: Request, _: Exception) -> HTMLResponse:
        return render(request, "portal/refused.html", status_code=403)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/portal", status_code=303)
