"""Customer session tokens: the customer's email (or, for a gift's recipient, the one order
they may return) and an expiry, signed with HMAC-SHA256.

`cs.<payload>.<signature>`, both base64url; the payload is
`{"email": ..., "exp": <unix time>, "sid": <random>}` (a gift's: `"order"` instead of `"email"`).
Stateless, so any API instance that shares the signing key accepts it; signing out keeps its
`sid` as revoked until it would have expired.
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


def postal_key(code: str) -> str:
    """A postal code as compared: without spaces or dashes, in one case ("SW1A 1AA")."""
    return "".join(c for c in code if c not in " -").casefold()


def postal_digest(code: str) -> str:
    """What a gift's token keeps of the postal code it was opened with (to notice a change)."""
    return hashlib.sha256(postal_key(code).encode()).hexdigest()[:16]


def issue(
    key: bytes,
    email: str | None,
    expires_at: datetime,
    order_id: str | None = None,
    postal_code: str | None = None,
) -> str:
    """A token for the customer `email`, or for the recipient of the gift `order_id` sent to
    `postal_code`."""
    if (email is None) == (order_id is None):
        raise ValueError("a token is for an email or for a gift's order")
    who: dict[str, str | None] = {"email": email}
    if order_id is not None:
        who = {"order": order_id, "postal": postal_digest(postal_code or "")}
    claims = {**who, "exp": int(expires_at.timestamp()), "sid": secrets.token_hex(12)}
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{payload}.{signature}"


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class Claims:
    # The customer's email; None in a gift's recipient's token, which names its `order_id`.
    email: str | None
    expires_at: datetime
    # Tokens issued before sign-out could end a session have none.
    sid: str | None
    order_id: str | None = None
    # A gift's token: the digest of the postal code it was opened with.
    postal: str | None = None


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
        email = str(claims["email"]) if "email" in claims else None
        order_id = str(claims["order"]) if "order" in claims else None
        expires = int(claims["exp"])
        sid = str(claims["sid"]) if "sid" in claims else None
        postal = str(claims["postal"]) if "postal" in claims else None
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidToken("damaged token") from error
    if (email is None) == (order_id is None):
        raise InvalidToken("damaged token")
    if (now or datetime.now(UTC)).timestamp() >= expires:
        raise InvalidToken("expired token")
    return Claims(email, datetime.fromtimestamp(expires, UTC), sid, order_id, postal)
