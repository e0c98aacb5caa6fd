"""Shopify's Admin GraphQL API over httpx, with its cost-based throttling.

Shopify meters GraphQL by query cost: each answer's `extensions.cost.throttleStatus` says how many
points the app's bucket holds now (`currentlyAvailable`), its size and how fast it refills
(`restoreRate` points a second). A query that costs more than the bucket holds is answered
`THROTTLED` (HTTP 200, an error with `extensions.code`). The client waits before a query the bucket
cannot pay for by the last answer's figures, and waits and asks again when it is throttled all the
same (another client of the same app drew on the bucket); a 429 waits its Retry-After.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import httpx


class ShopifyUnavailable(Exception):
    """Shopify could not be asked, or gave no definite answer: ask again later."""


class ShopifyRefused(Exception):
    """Shopify answered the request with an error (a token, a scope, a query it refuses)."""


class ShopifyClient:
    def __init__(
        self,
        url: str,
        access_token: str,
        timeout: float = 30.0,
        max_wait: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self.http = httpx.AsyncClient(
            headers={"X-Shopify-Access-Token": access_token, "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )
        # The longest a query waits for the bucket in all before it gives up.
        self.max_wait = max_wait
        # The bucket as Shopify last described it, and what the last query cost.
        self.available: float | None = None
        self.restore_rate: float = 50.0
        self.last_cost: float = 0.0
        # Seconds spent waiting for the bucket, and queries Shopify answered THROTTLED (for ops
        # and for the tests).
        self.waited = 0.0
        self.throttled = 0

    async def query(self, document: str, variables: dict[str, Any] | None = None) -> Any:
        """The query's `data`; raises ShopifyRefused on an error answer, ShopifyUnavailable when
        the outcome is unknown."""
        patience = self.max_wait
        while True:
            # Wait for what the bucket lacks for a query like the last one.
            if self.available is not None and self.last_cost > self.available:
                pause = (self.last_cost - self.available) / self.restore_rate
                patience = await self._pause(pause, patience)
                self.available = None
            try:
                answer = await self.http.post(
                    self.url, json={"query": document, "variables": variables or {}}
                )
            except httpx.HTTPError as error:
                raise ShopifyUnavailable(f"Shopify not reached: {error!r}"[:300]) from error
            if answer.status_code == 429:
                retry = _seconds(answer.headers.get("retry-after"), 1.0)
                patience = await self._pause(retry, patience)
                continue
            if answer.status_code >= 500:
                raise ShopifyUnavailable(f"Shopify answered HTTP {answer.status_code}")
            if answer.status_code >= 400:
                words = f"Shopify answered HTTP {answer.status_code}: {answer.text}"
                raise ShopifyRefused(words[:300])
            try:
                body = answer.json()
            except ValueError as error:
                raise ShopifyUnavailable("Shopify answered something other than JSON") from error
            cost = (body.get("extensions") or {}).get("cost") or {}
            self._remember(cost)
            errors = body.get("errors") or []
            if any(_code(error) == "THROTTLED" for error in errors):
                self.throttled += 1
                lacking = float(cost.get("requestedQueryCost") or self.last_cost or 1) - (
                    self.available or 0.0
                )
                self.available = None
                patience = await self._pause(max(lacking, 1.0) / self.restore_rate, patience)
                continue
            if any(str(_code(error)).startswith("IDEMPOTENCY_CONCURRENT") for error in errors):
                raise ShopifyUnavailable("Shopify is still running the same request (its key)")
            if errors:
                words = "; ".join(str(error.get("message", error)) for error in errors)
                raise ShopifyRefused(f"Shopify refused the query: {words}"[:500])
            return body.get("data")

    def _remember(self, cost: dict[str, Any]) -> None:
        status = cost.get("throttleStatus") or {}
        if "currentlyAvailable" in status:
            self.available = float(status["currentlyAvailable"])
        if status.get("restoreRate"):
            self.restore_rate = float(status["restoreRate"])
        spent = cost.get("actualQueryCost") or cost.get("requestedQueryCost")
        if spent:
            self.last_cost = float(spent)

    async def _pause(self, seconds: float, patience: float) -> float:
        if seconds > patience:
            why = f"Shopify's rate limit would keep this waiting {seconds:.0f} s"
            raise ShopifyUnavailable(why)
        await asyncio.sleep(seconds)
        self.waited += seconds
        return patience - seconds

    async def close(self) -> None:
        await self.http.aclose()


def _code(error: Any) -> str | None:
    extensions = error.get("extensions") if isinstance(error, dict) else None
    return extensions.get("code") if isinstance(extensions, dict) else None


def _seconds(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        return default
    return seconds if math.isfinite(seconds) and seconds >= 0 else default
