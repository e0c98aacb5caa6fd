"""Return labels through EasyPost, with EasyPost's own SDK (`easypost`).

A label is an EasyPost return shipment (`is_return: true`) from the customer's address on the
order to the shop's return address (`RETURNS_RETURN_ADDRESS`), bought at the lowest rate among
the carriers and services the shop accepts, as a PDF (`label_format: PDF`). The SDK is
synchronous (`requests`): its calls run on threads of their own, never on the worker's event
loop.

Bought once per label, even when a worker is killed between buying and recording it: the
shipment is created (free until bought) and its id kept (`carrier_shipments`, keyed by the label)
before it is bought; the next attempt finds it, reads it back, and takes the label already bought
instead of buying another. (EasyPost cannot look shipments up by our reference, so the id is
kept on our side.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

import easypost
import httpx
from easypost.errors import (
    FilteringError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
)
from sqlalchemy import select
from temporalio.exceptions import ApplicationError

from returns_service.activities.labels import label_key
from returns_service.activities.ports import BoughtLabel, CarrierUnavailable
from returns_service.config import EASYPOST_QR_CARRIER as QR_CARRIER
from returns_service.domain.messages import CreateLabel
from returns_service.domain.models import Address, ReturnMethod
from returns_service.store.db import Sessions
from returns_service.store.tables import CarrierShipmentRow
from returns_service.store.upsert import insert_once

T = TypeVar("T")
# What EasyPost says when it will not ship: an address or parcel it cannot take, no rate among
# the accepted carriers. Anything else (not reached, throttled, failing, a key or balance to fix)
# leaves the label to be asked for again.
REFUSALS = (InvalidRequestError, FilteringError, NotFoundError, ForbiddenError)


class EasyPostLabels:
    name = "easypost"

    def __init__(
        self,
        sessions: Sessions,
        api_key: str,
        api_base: str = "https://api.easypost.com/v2",
        carriers: list[str] | None = None,
        services: list[str] | None = None,
        parcel: dict[str, float] | None = None,
        timeout: int = 30,
    ) -> None:
        self.sessions = sessions
        self.client = easypost.EasyPostClient(
            api_key, api_base=api_base.rstrip("/"), timeout=timeout
        )
        self.carriers = carriers or []
        self.services = services or []
        self.parcel = parcel or {"length": 12.0, "width": 9.0, "height": 4.0, "weight": 32.0}
        self.threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="easypost")
        self.http = httpx.AsyncClient(timeout=timeout)

    async def buy(self, request: CreateLabel) -> BoughtLabel:
        if request.to_address is None:
            raise refused("no return address is set (RETURNS_RETURN_ADDRESS)", "to_address")
        if request.from_address is None:
            raise refused(
                "the order has no shipping address to send the parcel from", "from_address"
            )
        key = label_key(request)
        shipment_id = await self._kept(key)
        if shipment_id is None:
            created = await self._call(self._create, request)
            async with self.sessions.begin() as session:
                await insert_once(
                    session,
                    CarrierShipmentRow,
                    {
                        "label_key": key,
                        "return_id": request.return_id,
                        "carrier": self.name,
                        "shipment_id": created["id"],
                        "created_at": datetime.now(UTC),
                    },
                )
            # Another worker's, if two raced: one shipment is bought, the other never is.
            shipment_id = await self._kept(key)
            assert shipment_id is not None
        qr = request.method is ReturnMethod.QR_DROP_OFF
        if qr and self.carriers and QR_CARRIER not in self.carriers:
            raise refused(
                f"a drop-off QR code needs {QR_CARRIER}, which is not among the carriers"
                " accepted (RETURNS_EASYPOST_CARRIERS)",
                "method",
            )
        shipment = await self._call(self._bought, shipment_id, qr)
        if qr:
            return await self._with_qr(shipment, shipment_id)
        label = shipment["postage_label"] or {}
        url = label.get("label_pdf_url") or label.get("label_url")
        return BoughtLabel(
            carrier=str((shipment.get("selected_rate") or {}).get("carrier") or "EasyPost"),
            tracking_number=str(shipment["tracking_code"]),
            pdf=await self._file(url, "the label", b"%PDF"),
            reference=shipment_id,
        )

    async def _file(self, url: object, what: str, magic: bytes) -> bytes:
        """A file EasyPost made (a label PDF, a QR image), fetched from its address."""
        try:
            found = await self.http.get(str(url))
        except httpx.HTTPError as error:
            raise CarrierUnavailable(f"{what} could not be fetched: {error!r}") from error
        if found.status_code != 200 or not found.content.startswith(magic):
            raise CarrierUnavailable(f"{what} could not be fetched: {found.status_code}")
        return found.content

    async def _with_qr(self, shipment: dict[str, Any], shipment_id: str) -> BoughtLabel:
        """A drop-off return: the carrier's QR code (EasyPost's `label_qr_code` form, made once
        for the shipment) instead of a label to print; its tracking code is the code shown."""
        form = _qr_form(shipment)
        if form is None:
            made = await self._call(
                lambda: self.client.shipment.generate_form(shipment_id, "label_qr_code").to_dict()
            )
            form = _qr_form(made)
        if form is None:
            raise CarrierUnavailable("EasyPost made no QR code for the shipment")
        return BoughtLabel(
            carrier=str((shipment.get("selected_rate") or {}).get("carrier") or QR_CARRIER),
            tracking_number=str(shipment["tracking_code"]),
            pdf=await self._file(form, "the QR code", b"\x89PNG"),
            reference=shipment_id,
            drop_off_code=str(shipment["tracking_code"]),
        )

    async def refund(self, shipment_id: str) -> str:
        """Ask for the money of a label never used back; answers EasyPost's refund status."""
        shipment = await self._call(lambda: self.client.shipment.refund(shipment_id).to_dict())
        return str(shipment.get("refund_status") or "submitted")

    async def _kept(self, key: str) -> str | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(CarrierShipmentRow.shipment_id).where(CarrierShipmentRow.label_key == key)
            )

    def _create(self, request: CreateLabel) -> dict[str, Any]:
        assert request.from_address is not None and request.to_address is not None
        shipment = self.client.shipment.create(
            is_return=True,
            reference=request.number,
            from_address=_address(request.from_address, request.customer.email),
            to_address=_address(request.to_address, None),
            parcel=self.parcel,
            options={"label_format": "PDF", "print_custom_1": request.number},
        )
        return shipment.to_dict()  # type: ignore[no-any-return]

    def _bought(self, shipment_id: str, qr: bool = False) -> dict[str, Any]:
        """The shipment bought: read back first (bought already, by an attempt whose worker
        died before it recorded the label), else bought now at the lowest accepted rate (a
        drop-off return's: the QR carrier's)."""
        shipment = self.client.shipment.retrieve(shipment_id)
        if shipment.get("postage_label") and shipment.get("tracking_code"):
            return shipment.to_dict()  # type: ignore[no-any-return]
        rate = shipment.lowest_rate([QR_CARRIER] if qr else self.carriers, self.services)
        return self.client.shipment.buy(shipment_id, rate={"id": rate.id}).to_dict()  # type: ignore[no-any-return]

    async def _call(self, call: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self.threads, call, *args)
        except REFUSALS as error:
            raise refused(f"EasyPost will not ship it: {error.message}", None) from error
        except easypost.errors.EasyPostError as error:
            raise CarrierUnavailable(f"EasyPost answered: {error.message}") from error

    async def close(self) -> None:
        await self.http.aclose()
        self.threads.shutdown(wait=False)


def _qr_form(shipment: dict[str, Any]) -> str | None:
    """The address of the shipment's drop-off QR image, if EasyPost made one."""
    for form in shipment.get("forms") or []:
        if form.get("form_type") == "label_qr_code" and form.get("form_url"):
            return str(form["form_url"])
    return None


def refused(message: str, field: str | None) -> ApplicationError:
    return ApplicationError(
        f"the carrier refused the label: {message}",
        {"code": "easypost", "field": field},
        type="LabelRefused",
        non_retryable=True,
    )


def _address(address: Address, email: str | None) -> dict[str, Any]:
    found = {
        "name": address.name,
        "company": address.company,
        "street1": address.line1,
        "street2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
        "phone": address.phone,
        "email": email,
    }
    return {key: value for key, value in found.items() if value}
