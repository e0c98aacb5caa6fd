"""Customer session tokens: the customer's email and an expiry, signed with HMAC-SHA256.

`cs.<payload>.<signature>`, both base64url; the payload is
`{"email": ..., "exp": <unix time>, "sid": <random>}`. Stateless, so any API instance that shares
the signing key accepts it; signing out keeps its `sid` as revoked until it would have expired.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

PREFIX = "cs."


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(key: bytes, email: str, expires_at: datetime) -> str:
    claims = {"email": email, "exp": int(expires_at.timestamp()), "sid": secrets.token_hex(12)}
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{payload}.{signature}"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Claims:
    email: str
    expires_at: datetime
    # Tokens issued before sign-out could end a session have none.
    sid: str | None


def verify(key: bytes, token: str, now: datetime | None = None) -> str:
    """The email the token was issued for; InvalidToken when it is forged, damaged or expired."""
    return claims_of(key, token, now).email


def claims_of(key: bytes, token: str, now: datetime | None = None) -> Claims:
    """What the token says; InvalidToken when it is forged, damaged or expired."""
    if not token.startswith(PREFIX):
        raise InvalidToken("not a customer token")
    payload, _, signature = token[len(PREFIX) :].partition(".")
    expected = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(expected, signature):
        raise InvalidToken("forged or damaged token")
    try:
        claims = json.loads(_unb64(payload))
        email, expires = str(claims["email"]), int(claims["exp"])
        sid = str(claims["sid"]) if "sid" in claims else None
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("damaged token") from error
    if (now or datetime.now(UTC)).timestamp() >= expires:
        raise InvalidToken("expired token")
    return Claims(email, datetime.fromtimestamp(expires, UTC), sid)
