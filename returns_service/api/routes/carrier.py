"""Tracking events from the carrier, each kept once by its id: from a carrier's own API, signed
(Standard Webhooks, with the carrier's secret from `RETURNS_CARRIER_WEBHOOK_SECRET`) and posted
with an integration key (`POST /v1/carrier-events`); from EasyPost, its `tracker.updated`
webhooks signed with the webhook's secret (`POST /v1/carrier-events/easypost`). An event that
says the parcel is in the carrier's hands signals the return's workflow, which moves a return
waiting with its label to `shipped`; repeats and later or earlier words change nothing twice."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from easypost.errors import SignatureVerificationError
from easypost.util import validate_webhook
from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook, WebhookVerificationError

from returns_service.api.auth import Principal, allow
from returns_service.api.deps import GatewayDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import InvalidInput, Unauthorized, Unavailable
from returns_service.api.schemas import Request as Body
from returns_service.domain.messages import (
    IN_CARRIERS_HANDS,
    TRACKING_STATUSES,
    CarrierEvent,
)
from returns_service.domain.types import Moment, TrackingNumber
from returns_service.gateway import Gateway, Unreachable
from returns_service.store.tables import CarrierEventRow, ReturnRow, TrackingNumberRow
from returns_service.store.upsert import insert_once

router = APIRouter(prefix="/v1/carrier-events", tags=["carrier"])

Token = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


def _known_status(value: str) -> str:
    if value not in TRACKING_STATUSES:
        raise ValueError(f"not a tracking status; one of {', '.join(TRACKING_STATUSES)}")
    return value


TrackingStatus = Annotated[
    str, Field(json_schema_extra={"enum": list(TRACKING_STATUSES)}), AfterValidator(_known_status)
]
# A return waiting for its parcel to be handed to the carrier.
AWAITING_PARCEL = ("label_sent",)


class CarrierEventIn(Body):
    id: Token = Field(description="The carrier's id of the event; a repeat is ignored.")
    tracking_number: TrackingNumber
    status: TrackingStatus
    occurred_at: Moment


class CarrierEventOut(BaseModel):
    id: str
    return_id: str | None = Field(description="The return the tracking number belongs to.")
    duplicate: bool = Field(description="The event was received before; nothing was done.")
    forwarded: bool = Field(
        description="The event was passed to the return, which it moves to `shipped`."
    )


@router.post(
    "",
    status_code=202,
    response_model=CarrierEventOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CarrierEventIn.model_json_schema()}},
        }
    },
)
async def receive_event(
    request: Request,
    session: WriteSessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    _: Annotated[Principal, Depends(allow("integration"))],
) -> CarrierEventOut:
    """Headers `webhook-id`, `webhook-timestamp` and `webhook-signature` must verify against the
    raw body with the carrier's secret (a timestamp more than 5 minutes off fails too)."""
    if settings.carrier_webhook_secret is None:
        raise Unavailable("carrier events are not configured: set RETURNS_CARRIER_WEBHOOK_SECRET")
    raw = await request.body()
    # The signature first: a tampered event is refused as such, whatever its body says.
    try:
        Webhook(settings.carrier_webhook_secret.get_secret_value()).verify(
            raw, dict(request.headers)
        )
    except WebhookVerificationError as error:
        raise Unauthorized(f"the event's signature does not verify: {error}") from None
    except (ValueError, RecursionError) as error:  # not UTF-8, or JSON no parser should take
        raise InvalidInput("body", f"not a JSON event: {error}"[:200]) from None
    try:
        body = CarrierEventIn.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    except (ValueError, RecursionError) as error:  # not UTF-8, or JSON no parser should take
        raise InvalidInput("body", f"not a JSON event: {error}"[:200]) from None
    return await take(session, gateway, body)


async def _told_before(
    session: AsyncSession, return_id: str, event_id: str, statuses: tuple[str, ...]
) -> bool:
    """Whether the carrier told of the return's parcel in one of `statuses` before."""
    earlier = await session.scalar(
        select(CarrierEventRow.id)
        .where(
            CarrierEventRow.return_id == return_id,
            CarrierEventRow.id != event_id,
            CarrierEventRow.status.in_(statuses),
        )
        .limit(1)
    )
    return earlier is not None


async def take(session: AsyncSession, gateway: Gateway, body: CarrierEventIn) -> CarrierEventOut:
    """Keep a verified tracking event once, and tell the return it is about when the parcel is
    in the carrier's hands."""
    async with session.begin():
        found = (
            await session.execute(
                select(ReturnRow.id, ReturnRow.status)
                .join(TrackingNumberRow, TrackingNumberRow.return_id == ReturnRow.id)
                .where(TrackingNumberRow.tracking_number == body.tracking_number)
            )
        ).first()
        fresh = await insert_once(
            session,
            CarrierEventRow,
            {
                "id": body.id,
                "tracking_number": body.tracking_number,
                "status": body.status,
                "occurred_at": body.occurred_at,
                "return_id": found.id if found else None,
                "received_at": datetime.now(UTC),
            },
        )
        # A repeat is the event as first kept, whatever this copy says.
        kept = await session.get(CarrierEventRow, body.id)
        assert kept is not None
        return_id = kept.return_id
        status = None
        scanned_before = delivered_before = False
        if return_id is not None:
            status = await session.scalar(select(ReturnRow.status).where(ReturnRow.id == return_id))
            # A return shipped on the customer's word hears the carrier's first scan too (it
            # may be paid at it: `refund_on: first_scan`); later words change nothing.
            scanned_before = await _told_before(session, return_id, kept.id, IN_CARRIERS_HANDS)
            delivered_before = await _told_before(session, return_id, kept.id, ("delivered",))
    # Told to the return after the event is kept, outside the transaction (a stalled Temporal
    # holds no lock). If it does not get through, the carrier is answered an error and sends
    # the event again; the return still waits for its parcel, so the repeat is told again (the
    # workflow takes a second word of the same parcel as the first).
    first_scan = status == "shipped" and fresh and not scanned_before
    # ... and the word that it was delivered to the warehouse (once): the return says so.
    delivered = (
        status == "shipped" and fresh and kept.status == "delivered" and not delivered_before
    )
    forward = (
        status in AWAITING_PARCEL or first_scan or delivered
    ) and kept.status in IN_CARRIERS_HANDS
    if forward:
        assert return_id is not None
        event = CarrierEvent(
            id=kept.id,
            tracking_number=kept.tracking_number,
            status=kept.status,
            occurred_at=kept.occurred_at,
        )
        try:
            forward = await gateway.tell_carrier_event(return_id, event)
        except Unreachable as error:
            if first_scan or delivered:
                # Told only to a fresh event: forget it, so that the carrier's repeat is.
                async with session.begin():
                    await session.execute(
                        delete(CarrierEventRow).where(CarrierEventRow.id == kept.id)
                    )
            raise Unavailable(str(error)) from None
    return CarrierEventOut(id=body.id, return_id=return_id, duplicate=not fresh, forwarded=forward)


# EasyPost's tracker statuses, as ours (its `error` is a failure to track).
EASYPOST_STATUS = {
    "pre_transit": "pre_transit",
    "in_transit": "in_transit",
    "out_for_delivery": "out_for_delivery",
    "available_for_pickup": "available_for_pickup",
    "delivered": "delivered",
    "return_to_sender": "return_to_sender",
    "failure": "failure",
    "error": "failure",
    "cancelled": "cancelled",
    "unknown": "unknown",
}


class EasyPostTracker(BaseModel):
    model_config = ConfigDict(extra="ignore")
    tracking_code: TrackingNumber
    status: str = Field(max_length=40)
    updated_at: Moment | None = None


class EasyPostEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Token
    description: str = Field(max_length=64)
    created_at: Moment
    result: dict[str, Any]


@router.post("/easypost", status_code=202, response_model=CarrierEventOut)
async def easypost_event(
    request: Request, session: WriteSessionDep, gateway: GatewayDep, settings: SettingsDep
) -> CarrierEventOut:
    """EasyPost's webhook: `X-Hmac-Signature` (`hmac-sha256-hex=` and the HMAC-SHA256 of the raw
    body with the webhook's secret) is checked with EasyPost's SDK before anything is read.
    `tracker.updated` events are tracking events of the return whose label has the tracking
    code; other events are answered and ignored."""
    if settings.easypost_webhook_secret is None:
        raise Unavailable("EasyPost events are not configured: set RETURNS_EASYPOST_WEBHOOK_SECRET")
    raw = await request.body()
    signature = request.headers.get("x-hmac-signature")
    try:
        validate_webhook(
            raw,
            {"X-Hmac-Signature": signature} if signature else {},
            settings.easypost_webhook_secret.get_secret_value(),
        )
    except SignatureVerificationError as error:
        raise Unauthorized(f"the event's signature does not verify: {error.message}") from None
    except (ValueError, RecursionError) as error:  # not UTF-8, or not JSON
        raise InvalidInput("body", f"not a JSON event: {error}"[:200]) from None
    try:
        event = EasyPostEvent.model_validate_json(raw)
        if event.description != "tracker.updated":
            return CarrierEventOut(id=event.id, return_id=None, duplicate=False, forwarded=False)
        tracker = EasyPostTracker.model_validate(event.result)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    body = CarrierEventIn(
        id=event.id,
        tracking_number=tracker.tracking_code,
        status=EASYPOST_STATUS.get(tracker.status, "unknown"),
        occurred_at=tracker.updated_at or event.created_at,
    )
    return await take(session, gateway, body)
