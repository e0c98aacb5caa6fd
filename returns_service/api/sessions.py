"""Customer session tokens: the customer's email and an expiry, signed with HMAC-SHA256.

`cs.<payload>.<signature>`, both base64url; the payload is `{"email": ..., "exp": <unix time>}`.
Stateless, so any API instance that shares the signing key accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

PREFIX = "cs."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, email: str, expires_at: datetime) -> str:
    payload = _b64(json.dumps({"email": email, "exp": int(expires_at.timestamp())}).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{payload}.{signature}"


class InvalidToken(Exception):
    pass


def verify(key: bytes, token: str, now: datetime | None = None) -> str:
    """The email the token was issued for; InvalidToken when it is forged, damaged or expired."""
    if not token.startswith(PREFIX):
        raise InvalidToken("not a customer token")
    payload, _, signature = token[len(PREFIX) :].partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(expected, signature):
        raise InvalidToken("forged or damaged token")
    try:
        claims = json.loads(_unb64(payload))
        email, expires = str(claims["email"]), int(claims["exp"])
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("damaged token") from error
    if (now or datetime.now(UTC)).timestamp() >= expires:
        raise InvalidToken("expired token")
    return email
