"""A local stand-in for EasyPost's API (v2), served over real HTTP, behaving as EasyPost
documents what this project uses:

- `Authorization: Bearer <key>` (the SDK's), else 401 `{"error": {"code":
  "APIKEY.INACTIVE", "message"}}`;
- `POST /v2/shipments` `{"shipment": {"to_address", "from_address", "parcel", "is_return",
  "reference", "options"}}`: an unbought shipment (`shp_...`) with `rates` (one per carrier and
  service of the account); an address without street1, city, zip or country (or with zip
  00000, where nothing is delivered) is 422 `ADDRESS.VERIFY.FAILURE`, a parcel without weight
  422 `PARCEL.WEIGHT.MISSING`;
- `GET /v2/shipments/{id}`; `POST /v2/shipments/{id}/buy` `{"rate": {"id"}}`: `selected_rate`,
  `tracking_code`, `postage_label` (`label_url` PNG, `label_pdf_url` PDF when `label_format` is
  PDF), a `tracker`; buying a bought one is 422 `SHIPMENT.POSTAGE.EXISTS`;
- `POST /v2/shipments/{id}/refund`: `refund_status: "submitted"` (once bought, not yet used);
- webhooks: `event(tracking_code, status)` is a `tracker.updated` Event and `signed(body,
  secret)` its `X-Hmac-Signature` (`hmac-sha256-hex=` and the HMAC-SHA256 of the raw body with
  the webhook's secret, as the SDK's `validate_webhook` checks it).

`on_bought` runs after a purchase is recorded and before its answer is sent: a test raises
there to lose the answer, as a worker killed between buying and recording does.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import segno
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]"
    b"/Count 1>>endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 288 432]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)
RATES = [
    ("USPS", "Priority", "7.58"),
    ("USPS", "GroundAdvantage", "5.93"),
    ("UPS", "Ground", "9.10"),
]


@dataclass
class FakeEasyPost:
    api_key: str = "EZTK_test_returns"
    rates: list[tuple[str, str, str]] = field(default_factory=lambda: list(RATES))
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)
    purchases: int = 0
    refunds: list[str] = field(default_factory=list)
    forms_made: int = 0
    on_bought: Callable[[dict[str, Any]], None] | None = None
    base_url: str = ""
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.middleware("http")
        async def authorized(request: Request, call_next: Any) -> Any:
            # The label and form files are public addresses, as EasyPost serves them.
            if request.url.path.startswith(("/labels/", "/forms/")):
                return await call_next(request)
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "APIKEY.INACTIVE", "This api key is no longer active.")
            return await call_next(request)

        @app.post("/v2/shipments")
        async def create(request: Request) -> JSONResponse:
            body = (await request.json()).get("shipment") or {}
            for side in ("to_address", "from_address"):
                address = body.get(side) or {}
                missing = [k for k in ("street1", "city", "zip", "country") if not address.get(k)]
                if address.get("zip") == "00000":  # one no carrier delivers to
                    missing = ["a deliverable zip"]
                if missing:
                    return _error(
                        422,
                        "ADDRESS.VERIFY.FAILURE",
                        f"Unable to verify address: {side} lacks {', '.join(missing)}.",
                    )
            if not (body.get("parcel") or {}).get("weight"):
                return _error(422, "PARCEL.WEIGHT.MISSING", "Parcel weight is required.")
            shipment_id = f"shp_{next(self._ids):08d}"
            shipment = {
                "id": shipment_id,
                "object": "Shipment",
                "mode": "test",
                "created_at": datetime.now(UTC).isoformat(),
                "reference": body.get("reference"),
                "is_return": bool(body.get("is_return")),
                "to_address": body["to_address"],
                "from_address": body["from_address"],
                "parcel": body["parcel"],
                "options": body.get("options") or {},
                "rates": [
                    {
                        "id": f"rate_{shipment_id}_{n}",
                        "object": "Rate",
                        "carrier": carrier,
                        "service": service,
                        "rate": rate,
                        "currency": "USD",
                        "shipment_id": shipment_id,
                    }
                    for n, (carrier, service, rate) in enumerate(self.rates)
                ],
                "selected_rate": None,
                "postage_label": None,
                "tracking_code": None,
                "tracker": None,
                "refund_status": None,
                "status": "unknown",
                "forms": [],
            }
            self.shipments[shipment_id] = shipment
            return JSONResponse(shipment, status_code=201)

        @app.get("/v2/shipments/{shipment_id}")
        async def retrieve(shipment_id: str) -> JSONResponse:
            if shipment_id not in self.shipments:
                return _error(404, "NOT_FOUND", "The requested resource could not be found.")
            return JSONResponse(self.shipments[shipment_id])

        @app.post("/v2/shipments/{shipment_id}/buy")
        async def buy(shipment_id: str, request: Request) -> JSONResponse:
            shipment = self.shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "NOT_FOUND", "The requested resource could not be found.")
            if shipment["postage_label"] is not None:
                return _error(422, "SHIPMENT.POSTAGE.EXISTS", "Shipment already has postage.")
            rate_id = ((await request.json()).get("rate") or {}).get("id")
            rate = next((r for r in shipment["rates"] if r["id"] == rate_id), None)
            if rate is None:
                return _error(422, "SHIPMENT.RATE.INVALID", "Rate is not valid for shipment.")
            self.purchases += 1
            number = next(self._ids)
            pdf = shipment["options"].get("label_format") == "PDF"
            shipment.update(
                selected_rate=rate,
                tracking_code=f"9400{number:018d}",
                postage_label={
                    "object": "PostageLabel",
                    "label_file_type": "application/pdf" if pdf else "image/png",
                    "label_url": f"{self.base_url}/labels/{shipment_id}.png",
                    "label_pdf_url": f"{self.base_url}/labels/{shipment_id}.pdf" if pdf else None,
                },
                tracker={"id": f"trk_{number:08d}", "object": "Tracker"},
                status="unknown",
            )
            if self.on_bought is not None:
                self.on_bought(shipment)
            return JSONResponse(shipment)

        @app.post("/v2/shipments/{shipment_id}/forms")
        async def form(shipment_id: str, request: Request) -> JSONResponse:
            """A form for a bought shipment; `label_qr_code` (a drop-off QR) for USPS only."""
            shipment = self.shipments.get(shipment_id)
            if shipment is None:
                return _error(404, "NOT_FOUND", "The requested resource could not be found.")
            kind = ((await request.json()).get("form") or {}).get("type")
            if shipment["postage_label"] is None:
                return _error(422, "FORM.SHIPMENT.NOT_PURCHASED", "Shipment must be purchased.")
            if kind != "label_qr_code" or shipment["selected_rate"]["carrier"] != "USPS":
                return _error(422, "FORM.UNSUPPORTED", f"{kind} is not supported for it.")
            self.forms_made += 1
            shipment["forms"] = [
                *(f for f in shipment["forms"] if f["form_type"] != kind),
                {
                    "object": "Form",
                    "id": f"form_{shipment_id}",
                    "form_type": kind,
                    "form_url": f"{self.base_url}/forms/{shipment_id}.png",
                    "submitted_electronically": None,
                },
            ]
            return JSONResponse(shipment, status_code=201)

        @app.get("/forms/{name}")
        async def form_image(name: str) -> Response:
            shipment_id = name.removesuffix(".png")
            if shipment_id not in self.shipments:
                return Response(status_code=404)
            return Response(qr_image(shipment_id), media_type="image/png")

        @app.post("/v2/shipments/{shipment_id}/refund")
        async def refund(shipment_id: str) -> JSONResponse:
            shipment = self.shipments.get(shipment_id)
            if shipment is None or shipment["postage_label"] is None:
                return _error(422, "SHIPMENT.REFUND.INVALID", "Shipment has no postage to refund.")
            if shipment["refund_status"] is None:
                shipment["refund_status"] = "submitted"
                self.refunds.append(shipment_id)
            return JSONResponse(shipment)

        @app.get("/labels/{name}")
        async def label(name: str) -> Response:
            shipment_id, _, kind = name.partition(".")
            if shipment_id not in self.shipments or kind not in ("pdf", "png"):
                return Response(status_code=404)
            return Response(
                PDF if kind == "pdf" else b"\x89PNG\r\n", media_type=f"application/{kind}"
            )

        return app

    def event(self, tracking_code: str, status: str) -> dict[str, Any]:
        shipment = next(s for s in self.shipments.values() if s["tracking_code"] == tracking_code)
        return {
            "object": "Event",
            "id": f"evt_{next(self._ids):08d}",
            "mode": "test",
            "description": "tracker.updated",
            "created_at": datetime.now(UTC).isoformat(),
            "result": {
                **shipment["tracker"],
                "tracking_code": tracking_code,
                "status": status,
                "carrier": shipment["selected_rate"]["carrier"],
                "shipment_id": shipment["id"],
                "tracking_details": [],
            },
        }

    @staticmethod
    def signed(body: bytes, secret: str) -> dict[str, str]:
        mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return {"X-Hmac-Signature": f"hmac-sha256-hex={mac}", "content-type": "application/json"}

    @staticmethod
    def body(event: dict[str, Any]) -> bytes:
        return json.dumps(event).encode()


def qr_image(shipment_id: str) -> bytes:
    """The drop-off QR image of a shipment (a PNG, as USPS's Label Broker makes them)."""
    out = io.BytesIO()
    segno.make(f"USPS-LABEL-BROKER:{shipment_id}").save(out, kind="png", scale=4)
    return out.getvalue()


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "errors": []}}, status)
