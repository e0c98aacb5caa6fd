"""What every page carries: a CSRF token on each form (signed double submit: a random value in an
HttpOnly cookie, and its HMAC under the service's key in the form), and the security headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSRF_COOKIE = "returns_csrf"
CSRF_FIELD = "csrf_token"

# No inline script or style at all; everything the pages use is served by the service itself.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}
PAGE_PREFIXES = ("/portal", "/console", "/static")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(key: bytes, secret: str) -> str:
    digest = hmac.new(key, f"csrf:{secret}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_valid(key: bytes, secret: str | None, token: str | None) -> bool:
    if not secret or not token:
        return False
    return hmac.compare_digest(csrf_token(key, secret), token)


class PageHeaders:
    """Adds the security headers to every page and static file (pure ASGI, so a streamed answer
    stays streamed)."""

    def __init__(self, app: ASGIApp, image_hosts: Sequence[str] = ()) -> None:
        self.app = app
        self.headers = dict(HEADERS)
        if image_hosts:  # the shop's product images, from its CDN and nowhere else
            sources = " ".join(f"https://{host}" for host in image_hosts)
            self.headers["content-security-policy"] = POLICY.replace(
                "img-src 'self' data:", f"img-src 'self' data: {sources}"
            )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(PAGE_PREFIXES):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in self.headers.items()
                    if name.encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
