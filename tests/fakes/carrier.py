"""A local stand-in for a carrier's return-label API (EasyPost / Shippo style), served over real
HTTP, behaving as `returns_service/activities/carrier.py` documents:

- `POST /v1/return-labels` with a Bearer key and an `Idempotency-Key`: the first answer for a
  key is kept and replayed for the same body; another body under that key is a 422
  `idempotency_error`; the same key while its first request still runs is a 409;
- addresses are checked: a missing one, or a postal code of `00000`, is a 422 naming the field;
- `GET /v1/return-labels/{id}.pdf`: the label, a real PDF with the tracking number;
- `failure_rate`: that share of label requests fail the way infrastructure does (a 500 before the
  label is bought, a 500 after it was, or no answer in time after it was);
- `event(...)`: a tracking event for a shipment, signed as the carrier signs them (Standard
  Webhooks), to post to the returns service.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from reportlab.pdfgen import canvas
from standardwebhooks import Webhook


@dataclass
class FakeCarrier:
    api_key: str = "ck_test_returns"
    webhook_secret: str = field(
        default_factory=lambda: "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    )
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    saved: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    failure_rate: float = 0.0
    hang_seconds: float = 2.0
    rng: random.Random = field(default_factory=lambda: random.Random(11))
    faults: dict[str, int] = field(default_factory=dict)
    numbers: itertools.count = field(default_factory=lambda: itertools.count(1))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/return-labels")
        async def create(request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "unauthorized", "bad API key")
            key = request.headers.get("idempotency-key")
            if not key:
                return _error(400, "idempotency_key_missing", "Idempotency-Key is required")
            raw = await request.body()
            fault = self._fault()  # infrastructure fails replays as well as first requests
            if fault == "500 before":
                return _error(500, "internal", "try again")
            if key in self.saved:
                first_body, status, answer = self.saved[key]
                if first_body != raw.decode():
                    return _error(422, "idempotency_error", "another body under this key")
            elif key in self.running:
                return _error(409, "idempotency_key_in_use", "a request with this key runs")
            else:
                self.running.add(key)
                try:
                    status, answer = self._buy(json.loads(raw))
                    self.saved[key] = (raw.decode(), status, answer)
                finally:
                    self.running.discard(key)
            if fault == "500 after":
                return _error(500, "internal", "try again")
            if fault == "no answer":
                await asyncio.sleep(self.hang_seconds)
            return JSONResponse(answer, status_code=status)

        @app.get("/v1/return-labels/{shipment_id}.pdf")
        async def pdf(shipment_id: str, request: Request) -> Response:
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "unauthorized", "bad API key")
            shipment = self.shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "not_found", "no such shipment")
            return Response(_label_pdf(shipment), media_type="application/pdf")

        return app

    def _fault(self) -> str | None:
        if self.rng.random() >= self.failure_rate:
            return None
        fault = self.rng.choice(["500 before", "500 after", "no answer"])
        self.faults[fault] = self.faults.get(fault, 0) + 1
        return fault

    def _buy(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        for side in ("from_address", "to_address"):
            address = body.get(side)
            if not address:
                return 422, _problem("address_missing", f"{side} is required", side)
            if address.get("postal_code") == "00000":
                return 422, _problem(
                    "address_invalid", "no such postal code", f"{side}.postal_code"
                )
        number = next(self.numbers)
        shipment_id = f"shp_{number:06d}"
        shipment = {
            "id": shipment_id,
            "carrier": "FakePost",
            "tracking_number": f"FP{number:010d}",
            "label_url": f"/v1/return-labels/{shipment_id}.pdf",
            "reference": body.get("reference"),
            "method": body.get("method", "label"),
            "from_address": body["from_address"],
            "to_address": body["to_address"],
        }
        if shipment["method"] == "qr_drop_off":
            # Nothing to print: a code the drop-off point scans.
            shipment["label_url"] = None
            shipment["drop_off_code"] = f"FPDROP{number:08d}"
        self.shipments[shipment_id] = shipment
        return 201, shipment

    def event(
        self, tracking_number: str, status: str, event_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A tracking event and the headers that sign it."""
        return self.signed(
            {
                "id": event_id or f"evt_{secrets.token_hex(8)}",
                "tracking_number": tracking_number,
                "status": status,
                "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            }
        )

    def signed(self, event: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """Any event body, signed as the carrier signs (Standard Webhooks)."""
        body = json.dumps(event)
        now = datetime.now(UTC)
        return body.encode(), {
            "content-type": "application/json",
            "webhook-id": str(event.get("id")),
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(self.webhook_secret).sign(str(event.get("id")), now, body),
        }


def _problem(code: str, message: str, field_name: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field_name}}


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _label_pdf(shipment: dict[str, Any]) -> bytes:
    buffer = BytesIO()
    pdf = canvas.Canvas(buffer, invariant=True)
    pdf.drawString(72, 720, f"FakePost {shipment['tracking_number']}")
    pdf.drawString(72, 700, f"Ref {shipment['reference']}")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
