"""Labels from a carrier's HTTP API, in the style of EasyPost and Shippo.

The contract this adapter speaks (and `tests/fakes/carrier.py` serves):

- `POST {base}/v1/return-labels`, JSON, `Authorization: Bearer <key>`, `Idempotency-Key:
  label:<return id>`, body `{"reference", "from_address", "to_address", "parcel": {"items":
  [{"sku", "name", "quantity"}]}, "expires_at"}`, and `"method": "qr_drop_off"` for a parcel
  dropped off without a printed label. It answers 201 (or, for a key it has seen, the first
  answer again) `{"id", "carrier", "tracking_number", "label_url"}` (for `qr_drop_off`:
  `"drop_off_code"` instead of a label to fetch); 422 with
  `{"error": {"code", "message", "field"}}` when it will not ship (an address it cannot read);
  409 while a request with the same key is still running; 429 and 5xx when it is struggling.
- `GET {label_url}` with the same key: the label, `application/pdf`.
- Tracking events come back the other way, signed: see `POST /v1/carrier-events`.

A lost answer is asked again with the same key and buys nothing twice.
"""

from __future__ import annotations

from typing import Any

import httpx
from temporalio.exceptions import ApplicationError

from returns_service.activities.http import json_object
from returns_service.activities.labels import label_key
from returns_service.activities.ports import BoughtLabel, CarrierUnavailable
from returns_service.domain.messages import CreateLabel
from returns_service.domain.models import ReturnMethod


class HttpCarrier:
    name = "http"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout,
            transport=transport,
        )

    async def buy(self, request: CreateLabel) -> BoughtLabel:
        body: dict[str, Any] = {
            "reference": request.number,
            "from_address": _address(request.from_address),
            "to_address": _address(request.to_address),
            "parcel": {
                "items": [
                    {"sku": item.sku, "name": item.name, "quantity": item.quantity}
                    for item in request.items
                ]
            },
            "expires_at": request.expires_at.isoformat().replace("+00:00", "Z"),
        }
        if request.method is ReturnMethod.QR_DROP_OFF:
            body["method"] = request.method.value
        try:
            answer = await self.client.post(
                "/v1/return-labels",
                json=body,
                headers={"Idempotency-Key": f"label:{label_key(request)}"},
            )
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"the carrier could not be reached: {error!r}") from error
        shipment = json_object(answer)
        if answer.status_code in (200, 201) and request.method is ReturnMethod.QR_DROP_OFF:
            if not shipment.get("drop_off_code"):
                raise CarrierUnavailable("the carrier answered no drop-off code")
            return BoughtLabel(
                carrier=str(shipment.get("carrier") or "carrier"),
                tracking_number=str(shipment["tracking_number"]),
                pdf=None,
                reference=str(shipment["id"]),
                drop_off_code=str(shipment["drop_off_code"])[:64],
            )
        if answer.status_code in (200, 201):
            return await self._with_pdf(shipment)
        if answer.status_code in (409, 429) or answer.status_code >= 500:
            raise CarrierUnavailable(f"the carrier answered {answer.status_code}")
        refusal = shipment.get("error") or {}
        raise ApplicationError(
            f"the carrier refused the label: {refusal.get('message') or answer.status_code}",
            {"code": refusal.get("code"), "field": refusal.get("field")},
            type="LabelRefused",
            non_retryable=True,
        )

    async def _with_pdf(self, shipment: dict[str, Any]) -> BoughtLabel:
        try:
            pdf = await self.client.get(str(shipment["label_url"]))
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"the label could not be fetched: {error!r}") from error
        if pdf.status_code != 200 or not pdf.content.startswith(b"%PDF"):
            raise CarrierUnavailable(f"the label could not be fetched: {pdf.status_code}")
        return BoughtLabel(
            carrier=str(shipment.get("carrier") or "carrier"),
            tracking_number=str(shipment["tracking_number"]),
            pdf=pdf.content,
            reference=str(shipment["id"]),
        )

    async def close(self) -> None:
        await self.client.aclose()


def _address(address: Any) -> dict[str, Any] | None:
    return address.model_dump(exclude_none=True) if address is not None else None
