"""Limits that keep the API up: request body size, and rate limits kept in the API process as a
sliding window of recent events per key."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from fnmatch import fnmatchcase
from html import escape
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from returns_service import i18n
from returns_service.api.errors import TooLarge, problem_response


class SlidingWindow:
    def __init__(
        self, limit: int, seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.seconds = seconds
        self.clock = clock
        self.events: dict[str, deque[float]] = {}

    def retry_after(self, key: str) -> int | None:
        """Seconds until `key` may try again, or None when it may now."""
        now = self.clock()
        recent = self.events.get(key)
        if recent is None:
            return None
        while recent and recent[0] <= now - self.seconds:
            recent.popleft()
        if not recent:
            del self.events[key]
            return None
        if len(recent) < self.limit:
            return None
        return max(1, math.ceil(recent[0] + self.seconds - now))

    def hit(self, key: str) -> None:
        if len(self.events) > 100_000:  # forget idle keys rather than grow without bound
            for stale in [k for k, v in self.events.items() if not v][:50_000]:
                del self.events[stale]
        self.events.setdefault(key, deque()).append(self.clock())


class BodyLimit:
    """ASGI middleware: a body larger than `max_bytes` is refused with 413 before it is read
    (by its Content-Length) or as soon as it grows past the limit (when streamed)."""

    def __init__(self, app: Any, max_bytes: int, uploads: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Paths that take files (the portal's new-return form with photos), and their limit.
        self.uploads = uploads or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next(
            (most for pattern, most in self.uploads.items() if fnmatchcase(path, pattern)),
            self.max_bytes,
        )
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            if declared.isdigit() and int(declared) <= limit:
                await self.app(scope, receive, send)
            else:
                await self._refuse(scope, receive, send, limit)
            return
        # Streamed without a length: read it here, up to the limit, then hand it on.
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Any:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Any, receive: Any, send: Any, limit: int) -> None:
        response: Any
        if str(scope.get("path", "")).startswith("/portal"):
            response = too_large_page(Request(scope), limit)
        else:
            response = problem_response(
                413,
                TooLarge.title,
                f"the request body is larger than {limit} bytes",
                TooLarge("").type,
            )
        await response(scope, receive, send)


def too_large_page(request: Request, limit: int) -> HTMLResponse:
    """A person's answer when a form is too large to read (refused before the app reads it),
    in their language."""
    language = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language"))
    gettext = i18n.translations(language).gettext
    size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit // 1024} KB"
    title = escape(gettext("Too large"))
    text = escape(
        gettext(
            "The form with its photos is larger than %(size)s, so nothing was sent. Go back and"
            " choose smaller or fewer photos."
        )
        % {"size": size}
    )
    return HTMLResponse(
        f'<!doctype html><html lang="{language}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title></head><body><main><h1>{title}</h1>"
        f'<p role="alert">{text}</p></main></body></html>',
        413,
    )
