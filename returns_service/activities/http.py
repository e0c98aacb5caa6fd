"""What the HTTP adapters (payments, carrier, warehouse) share."""

from __future__ import annotations

from typing import Any

import httpx


def json_object(answer: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; empty when it has none (an HTML error page, a bare 502)."""
    try:
        body = answer.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
