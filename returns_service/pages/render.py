"""Rendering a page: the request's language, the Jinja2 templates with that language's catalog,
the CSRF token of its forms, and the shop's name."""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache, partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)

from returns_service import i18n
from returns_service.config import Settings
from returns_service.pages.security import CSRF_COOKIE, CSRF_FIELD, csrf_token, new_secret

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=16)
def environment(language: str) -> Environment:
    """One environment per language, its catalog installed (never swapped under a request)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(language), newstyle=True)  # type: ignore[attr-defined]
    # Moments and days where the reader is: the render's `time_zone` (the browser's).
    env.filters["day"] = pass_context(
        lambda context, value: i18n.day(value, language, context.get("time_zone"))
    )
    env.filters["moment"] = pass_context(
        lambda context, value: i18n.moment(value, language, context.get("time_zone"))
    )
    env.globals["money"] = partial(i18n.money, language=language)
    env.globals["amount_text"] = partial(i18n.amount_text, language=language)
    env.filters["reason_words"] = partial(reason_words, env)
    env.filters["status_words"] = partial(status_words, env)
    env.globals["window_parts"] = window_parts
    return env


_WITHIN = re.compile(
    r"^order (?P<number>.+): within (?P<days>\d+) days of being"
    r" (?P<basis>delivered|fulfilled|placed) \(until (?P<until>\d{4}-\d{2}-\d{2})\)$"
)


def window_parts(detail: str) -> dict[str, Any] | None:
    """The parts of a return window's eligibility as the domain writes it ("order 1001: within
    30 days of being delivered (until 2026-12-31)"), for the pages to say in their language;
    None for any other text."""
    found = _WITHIN.match(detail)
    if found is None:
        return None
    return {**found.groupdict(), "until": date.fromisoformat(found["until"])}


def reason_words(env: Environment, reason: str) -> str:
    """A return reason in the page's words (the same macro the pages use)."""
    return str(env.get_template("portal/status.html").module.reason(reason)).strip()  # type: ignore[attr-defined]


def status_words(env: Environment, status: str) -> str:
    """A return's status in the page's words."""
    return str(env.get_template("portal/status.html").module.words(status)).strip()  # type: ignore[attr-defined]


def shown_image(hosts: list[str], url: str | None) -> str | None:
    """A product image's address when the pages may show it (its host is one the settings
    allow, and so the Content-Security-Policy); else None."""
    if not url or not hosts:
        return None
    host = urlsplit(url).netloc.lower()
    return url if host in hosts else None


def language_of(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))


def secure_cookies(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


def signed_in_to(
    target: str, settings: Settings, cookie: str, token: str, path: str, max_age: int | None = None
) -> RedirectResponse:
    """The answer to a good sign-in: to `target`, with the session in an HttpOnly cookie."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        cookie,
        token,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(settings),
        path=path,
    )
    return response


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    language = language_of(request)
    secret = request.cookies.get(CSRF_COOKIE) or new_secret()
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    html = (
        environment(language)
        .get_template(template)
        .render(
            lang=language,
            languages=i18n.languages(),
            here=here,
            shop_name=settings.shop_name,
            has_logo=settings.shop_logo is not None,
            csrf_field=CSRF_FIELD,
            csrf=csrf_token(settings.session_key(), secret),
            time_zone=request.cookies.get(i18n.TIME_ZONE_COOKIE),
            image=partial(shown_image, settings.image_hosts),
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["cache-control"] = "no-store"
    if request.cookies.get(CSRF_COOKIE) != secret:
        response.set_cookie(
            CSRF_COOKIE,
            secret,
            httponly=True,
            samesite="lax",
            secure=secure_cookies(settings),
            path="/",
        )
    return response


def typed_money(request: Request, value: object, currency: str) -> int | str | None:
    """An amount typed in a form ("69.75", "69,75" as the person's language writes it) in minor
    units; empty: None; anything else as the text it is, for the request's model to refuse."""
    text = str(value or "").strip()
    if not text:
        return None
    try:
        return i18n.parse_money(text, currency, language_of(request))
    except ValueError:
        return text


def whole_number(value: object) -> int | str:
    """A form's whole number: plain ASCII digits, not absurdly long, as an int; anything else
    as the text it is, for the request's model to refuse on its field."""
    text = str(value or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 12 else text
