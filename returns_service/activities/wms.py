"""The WMS relay: tells a warehouse system what was restocked, over HTTP, in the worker process
(an outbox relay, see `relay.py`: the restock is written with the return's stock movement and
sent afterwards, so a WMS that is down never holds a return up).

The contract: `POST {base}/v1/stock-receipts`, JSON, `Authorization: Bearer <key>`,
`Idempotency-Key: restock:<return id>:<item id>`, body `{"reference", "return_id", "sku",
"location", "quantity", "reason": "customer_return"}`. 200 or 201: booked (a key it has seen is
answered as the first time and booked once); 409 (the same key still running), 429 and 5xx: try
again later; any other 4xx (an unknown SKU or location): refused, kept as failed with the WMS's
reason for someone to look at.
"""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.activities.http import json_object
from returns_service.activities.relay import Refused, Relay
from returns_service.store.tables import WmsOutboxRow


class WmsUnavailable(Exception):
    """No definite answer: ask again later with the same key."""


class WmsRelay(Relay):
    table = WmsOutboxRow
    retryable = (WmsUnavailable, httpx.HTTPError)
    name = "wms"

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
    ) -> None:
        super().__init__(sessions)
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    async def send(self, row: WmsOutboxRow) -> None:
        answer = await self.client.post(
            "/v1/stock-receipts",
            json={
                "reference": row.idempotency_key,
                "return_id": row.return_id,
                "sku": row.sku,
                "location": row.location,
                "quantity": row.quantity,
                "reason": "customer_return",
            },
            headers={"Idempotency-Key": row.idempotency_key},
        )
        if answer.status_code in (200, 201):
            return
        if answer.status_code in (409, 429) or answer.status_code >= 500:
            raise WmsUnavailable(f"the WMS answered {answer.status_code}")
        error = json_object(answer).get("error") or {}
        raise Refused(f"the WMS refused it ({answer.status_code}): {error.get('message', '')}")

    async def close(self) -> None:
        await self.client.aclose()
