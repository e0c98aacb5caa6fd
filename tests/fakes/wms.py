"""A local stand-in for a warehouse system's stock-receipt API, served over real HTTP, behaving as
`returns_service/activities/wms.py` documents: Bearer key, `Idempotency-Key` replayed as the first
answer and booked once, 422 for a SKU it does not know, and `failure_rate` of requests failing the
way infrastructure does (500 before booking, 500 after it, or no answer in time after it)."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class FakeWms:
    api_key: str = "wms_test_returns"
    unknown_skus: set[str] = field(default_factory=set)
    stock: dict[tuple[str, str], int] = field(default_factory=dict)
    receipts: dict[str, dict[str, Any]] = field(default_factory=dict)
    failure_rate: float = 0.0
    hang_seconds: float = 1.0
    rng: random.Random = field(default_factory=lambda: random.Random(3))
    faults: dict[str, int] = field(default_factory=dict)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/stock-receipts")
        async def receive(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "bad API key")
            key = request.headers.get("idempotency-key")
            if not key:
                return _error(400, "Idempotency-Key is required")
            body = await request.json()
            fault = self._fault()
            if fault == "500 before":
                return _error(500, "try again")
            if key in self.receipts:
                status = 200
            elif body["sku"] in self.unknown_skus:
                return _error(422, f"unknown SKU {body['sku']}")
            else:
                status = 201
                self.receipts[key] = body
                place = (body["sku"], body["location"])
                self.stock[place] = self.stock.get(place, 0) + body["quantity"]
            if fault == "500 after":
                return _error(500, "try again")
            if fault == "no answer":
                await asyncio.sleep(self.hang_seconds)
            return JSONResponse({"id": key, **self.receipts[key]}, status_code=status)

        return app

    def _fault(self) -> str | None:
        if self.rng.random() >= self.failure_rate:
            return None
        kinds = ["500 before", "500 after", "no answer"]
        fault = kinds[sum(self.faults.values()) % 3]  # each kind in turn
        self.faults[fault] = self.faults.get(fault, 0) + 1
        return fault


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message}}, status_code=status)
