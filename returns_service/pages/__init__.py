"""The web pages for people (the customer portal; the staff console to come), served by the API
process from the same code paths as the API: templates and static files ship in the package,
nothing is built at install and nothing loads from another host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from returns_service.pages import brand, console, ops, portal, portal_items, rules, team
from returns_service.pages.render import render
from returns_service.pages.security import PageHeaders

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    app.include_router(portal.router)
    app.include_router(portal_items.router)
    app.include_router(console.router)
    app.include_router(ops.router)
    app.include_router(rules.router)
    app.include_router(team.router)
    app.include_router(brand.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_middleware(PageHeaders, image_hosts=app.state.settings.image_hosts)

    # A person in a browser gets a page, never problem+json: a mistyped or cut-off address is
    # "not found" (as another customer's return is), anything else says what to do.
    api_http: Any = app.exception_handlers[StarletteHTTPException]
    api_invalid: Any = app.exception_handlers[RequestValidationError]
    api_unexpected: Any = app.exception_handlers[Exception]

    def for_people(request: Request) -> bool:
        return request.url.path.startswith(("/portal", "/console"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if not for_people(request):
            return await api_http(request, error)
        if error.status_code == 404:
            return portal.not_found(request)
        kind = "unreadable" if error.status_code == 400 else "missing"
        return render(request, "portal/error.html", status_code=error.status_code, kind=kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> Response:
        if not for_people(request):
            return await api_invalid(request, error)
        if any(part.get("loc", ("",))[0] == "path" for part in error.errors()):
            return portal.not_found(request)
        return render(request, "portal/error.html", status_code=400, kind="missing")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception) -> Response:
        answer: Response = await api_unexpected(request, error)
        if not for_people(request):
            return answer
        return render(request, "portal/error.html", status_code=500, kind="unreadable")

    @app.exception_handler(console.StaffNotSignedIn)
    async def staff_sign_in_first(request: Request, _: Exception) -> Response:
        return console.to_sign_in(request)

    @app.exception_handler(console.RoleRefused)
    async def role_refused(request: Request, _: Exception) -> HTMLResponse:
        return render(request, "console/refused.html", status_code=403)

    @app.exception_handler(portal.NotSignedIn)
    async def sign_in_first(request: Request, _: Exception) -> Response:
        return portal.to_sign_in(request)

    @app.exception_handler(portal.CsrfRefused)
    async def csrf_refused(request: Request, _: Exception) -> HTMLResponse:
        return render(request, "portal/refused.html", status_code=403)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/portal", status_code=303)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse("/portal/favicon.svg", status_code=301)
