"""Tracking events from the carrier: signed (Standard Webhooks, with the carrier's secret from
`RETURNS_CARRIER_WEBHOOK_SECRET`), posted with an integration key, each kept once by its id. An
event that says the parcel is in the carrier's hands signals the return's workflow, which moves
a return waiting with its label to `shipped`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field, ValidationError
from sqlalchemy import select
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
from returns_service.gateway import Unreachable
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
        if return_id is not None:
            status = await session.scalar(select(ReturnRow.status).where(ReturnRow.id == return_id))
    # Told to the return after the event is kept, outside the transaction (a stalled Temporal
    # holds no lock). If it does not get through, the carrier is answered an error and sends
    # the event again; the return still waits for its parcel, so the repeat is told again (the
    # workflow takes a second word of the same parcel as the first).
    forward = status in AWAITING_PARCEL and kept.status in IN_CARRIERS_HANDS
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
            raise Unavailable(str(error)) from None
    return CarrierEventOut(id=body.id, return_id=return_id, duplicate=not fresh, forwarded=forward)
