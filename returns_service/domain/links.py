"""Links that open one thing without signing in: a return's label (its PDF, or its drop-off QR)
from the label email, until the label expires. The link names the label and its expiry and is
signed with the service's key (HMAC-SHA256), so it opens that label only, only until then, and a
new label of the return (another id) is not opened by the old link."""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from urllib.parse import urlencode


def _signature(key: bytes, label_id: str, expires: int) -> str:
    message = f"label:{label_id}:{expires}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def label_link(
    public_url: str, key: bytes, label_id: str, expires_at: datetime, kind: str = "label.pdf"
) -> str:
    """`<public_url>/v1/labels/<label id>/<kind>?expires=..&signature=..`; kind `label.pdf` or
    `qr.png`."""
    expires = int(expires_at.timestamp())
    query = urlencode({"expires": expires, "signature": _signature(key, label_id, expires)})
    return f"{public_url.rstrip('/')}/v1/labels/{label_id}/{kind}?{query}"


def label_link_holds(
    key: bytes, label_id: str, expires: int, signature: str, label_expires_at: datetime
) -> bool:
    """The link was made for this label, with its expiry as it is now."""
    good = hmac.compare_digest(_signature(key, label_id, expires), signature)
    return good and expires == int(label_expires_at.timestamp())
