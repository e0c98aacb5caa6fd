"""Webhook endpoints: where the shop's other systems want return events. The signing secret
(Standard Webhooks: `whsec_` and base64 of 24 random bytes) is shown once, when it is made."""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AfterValidator, BaseModel, Field
from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.activities.webhooks import post_signed, signing_secrets
from returns_service.api.auth import Principal, allow
from returns_service.api.deps import GatewayDep, SessionDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import Conflict, InvalidInput, NotFound, Unavailable
from returns_service.api.ids import new_id
from returns_service.api.schemas import Request
from returns_service.domain.messages import KEEP_TRYING
from returns_service.domain.status import EVENT_TYPES
from returns_service.domain.types import ShortText
from returns_service.gateway import Gateway, Unreachable
from returns_service.net import ForbiddenUrl, check_url
from returns_service.store.tables import (
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)

router = APIRouter(prefix="/v1/webhook-endpoints", tags=["webhooks"])


def _known_event(value: str) -> str:
    if value not in EVENT_TYPES:
        raise ValueError(f"not an event type; one of {', '.join(EVENT_TYPES)}")
    return value


EventType = Annotated[
    str, Field(json_schema_extra={"enum": EVENT_TYPES}), AfterValidator(_known_event)
]
EndpointId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
DeliveryId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]
Ops = Annotated[Principal, Depends(allow("ops"))]


class EndpointIn(Request):
    url: Annotated[str, Field(min_length=8, max_length=2000)]
    events: Annotated[list[EventType], Field(min_length=1, max_length=len(EVENT_TYPES))]
    description: ShortText | None = None


class EndpointOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabled_reason: str | None
    created_at: datetime

    @classmethod
    def build(cls, row: WebhookEndpointRow) -> EndpointOut:
        return cls(
            id=row.id,
            url=row.url,
            events=list(row.events),
            description=row.description,
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            created_at=row.created_at,
        )


class EndpointCreated(EndpointOut):
    secret: str = Field(description="Shown once: verify each delivery's signature with it.")


class EndpointPage(BaseModel):
    data: list[EndpointOut]


class AttemptOut(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    return_id: str
    status: str
    created_at: datetime
    delivered_at: datetime | None
    # When a pending delivery is tried next.
    next_attempt_at: datetime | None = None
    attempts: list[AttemptOut]


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]


@router.post("", status_code=201, response_model=EndpointCreated)
async def create_endpoint(
    body: EndpointIn, session: WriteSessionDep, settings: SettingsDep, _: Ops
) -> EndpointCreated:
    """Refuses URLs on loopback, private, link-local or cloud metadata addresses, in any form
    (unless `RETURNS_WEBHOOKS_ALLOW_PRIVATE`, which still refuses metadata addresses)."""
    return await make_endpoint(session, body, settings.webhooks_allow_private)


async def make_endpoint(
    session: AsyncSession, body: EndpointIn, allow_private: bool
) -> EndpointCreated:
    """A new endpoint with its secret (the API's and the console's)."""
    try:
        await check_url(body.url, allow_private=allow_private)
    except ForbiddenUrl as error:
        raise InvalidInput("url", str(error)) from None
    row = WebhookEndpointRow(
        id=new_id("we"),
        url=body.url,
        events=sorted(set(body.events)),
        description=body.description,
        secret=new_secret(),
        enabled=True,
        created_at=datetime.now(UTC),
    )
    async with session.begin():
        session.add(row)
    return EndpointCreated(**EndpointOut.build(row).model_dump(), secret=row.secret)


@router.get("", response_model=EndpointPage)
async def list_endpoints(session: SessionDep, _: Ops) -> EndpointPage:
    async with session.begin():
        rows = (
            await session.scalars(
                select(WebhookEndpointRow).order_by(WebhookEndpointRow.created_at.desc())
            )
        ).all()
    return EndpointPage(data=[EndpointOut.build(row) for row in rows])


@router.delete("/{endpoint_id}", status_code=204, response_class=Response)
async def delete_endpoint(endpoint_id: EndpointId, session: WriteSessionDep, _: Ops) -> Response:
    """No more deliveries: what is queued for it is settled as `endpoint_removed`."""
    await remove_endpoint(session, endpoint_id)
    return Response(status_code=204)


async def remove_endpoint(session: AsyncSession, endpoint_id: str) -> None:
    async with session.begin():
        gone = await session.execute(
            delete(WebhookEndpointRow).where(WebhookEndpointRow.id == endpoint_id)
        )
    if not getattr(gone, "rowcount", 0):
        raise NotFound(f"webhook endpoint {endpoint_id} does not exist")


class SecretRotated(BaseModel):
    secret: str = Field(description="Shown once: the endpoint's new signing secret.")
    previous_secret_valid_until: datetime = Field(
        description="Until then each delivery is signed with the old secret too (two"
        " signatures in `webhook-signature`), so receivers can switch without losing one."
    )


class TestSent(BaseModel):
    """What the endpoint answered to a test event (`webhook.test`, signed as every delivery)."""

    delivered: bool
    status_code: int | None
    error: str | None = Field(description="What went wrong, in words; null when it answered.")
    duration_ms: int


ROTATION_OVERLAP = timedelta(hours=24)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


@router.post("/{endpoint_id}/secret", response_model=SecretRotated)
async def rotate_secret(endpoint_id: EndpointId, session: WriteSessionDep, _: Ops) -> SecretRotated:
    """A new signing secret (a leaked one, or routine): deliveries carry signatures by the new
    and the old secret for 24 hours, then by the new one only."""
    return await rotate(session, endpoint_id)


async def rotate(session: AsyncSession, endpoint_id: str) -> SecretRotated:
    now = datetime.now(UTC)
    async with session.begin():
        endpoint = await session.get(WebhookEndpointRow, endpoint_id, with_for_update=True)
        if endpoint is None:
            raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_until = now + ROTATION_OVERLAP
        endpoint.secret = new_secret()
    return SecretRotated(secret=endpoint.secret, previous_secret_valid_until=now + ROTATION_OVERLAP)


@router.post("/{endpoint_id}/test", response_model=TestSent)
async def send_test(
    endpoint_id: EndpointId, session: SessionDep, settings: SettingsDep, _: Ops
) -> TestSent:
    """Send the endpoint a `webhook.test` event now, signed as every delivery, and answer what
    it said; nothing is queued or tried again."""
    return await test_endpoint(session, endpoint_id, settings.webhooks_allow_private)


async def test_endpoint(session: AsyncSession, endpoint_id: str, allow_private: bool) -> TestSent:
    async with session.begin():
        endpoint = await session.get(WebhookEndpointRow, endpoint_id)
        if endpoint is None:
            raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
        url, keys = endpoint.url, signing_secrets(endpoint, datetime.now(UTC))
    event_id = new_id("evt_test")
    body = json.dumps(
        {
            "id": event_id,
            "type": "webhook.test",
            "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "data": {"endpoint_id": endpoint_id},
        },
        separators=(",", ":"),
    )
    async with httpx.AsyncClient(timeout=TEST_SECONDS, follow_redirects=False) as http:
        sent = await post_signed(
            http, url, keys, event_id, lambda: body, TEST_SECONDS, allow_private
        )
    return TestSent(
        delivered=sent.ok,
        status_code=sent.status_code,
        error=sent.error,
        duration_ms=sent.duration_ms,
    )


# A person waits for the answer: a test is given less time than a delivery.
TEST_SECONDS = 10.0


@router.get("/{endpoint_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    endpoint_id: EndpointId,
    session: SessionDep,
    _: Ops,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> DeliveryPage:
    """The newest deliveries to the endpoint, each with every attempt and its answer."""
    async with session.begin():
        if await session.get(WebhookEndpointRow, endpoint_id) is None:
            raise NotFound(f"webhook endpoint {endpoint_id} does not exist")
        deliveries = (
            await session.scalars(
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.endpoint_id == endpoint_id)
                .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc())
                .limit(limit)
            )
        ).all()
        attempts = (
            await session.scalars(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.delivery_id.in_([d.id for d in deliveries]))
                .order_by(WebhookAttemptRow.id)
            )
        ).all()
    return DeliveryPage(data=deliveries_out(deliveries, attempts))


def deliveries_out(
    deliveries: Sequence[WebhookDeliveryRow], attempts: Sequence[WebhookAttemptRow]
) -> list[DeliveryOut]:
    by_delivery: dict[str, list[AttemptOut]] = {}
    for attempt in attempts:
        by_delivery.setdefault(attempt.delivery_id, []).append(
            AttemptOut(
                at=attempt.at,
                status_code=attempt.status_code,
                error=attempt.error,
                duration_ms=attempt.duration_ms,
            )
        )
    return [
        DeliveryOut(
            id=d.id,
            event_id=d.event_id,
            event_type=d.event_type,
            return_id=d.return_id,
            status=d.status,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
            attempts=by_delivery.get(d.id, []),
        )
        for d in deliveries
    ]


@router.post(
    "/{endpoint_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryOut
)
async def redeliver(
    endpoint_id: EndpointId,
    delivery_id: DeliveryId,
    session: WriteSessionDep,
    gateway: GatewayDep,
    settings: SettingsDep,
    _: Ops,
) -> DeliveryOut:
    """Send an event to the endpoint again (with the same `webhook-id`), whether it was
    delivered, given up or is still pending: it goes to the front of the endpoint's queue and is
    tried for another 72 hours."""
    return await redeliver_once_more(session, gateway, endpoint_id, delivery_id)


async def redeliver_once_more(
    session: AsyncSession, gateway: Gateway, endpoint_id: str, delivery_id: str
) -> DeliveryOut:
    """Queue the delivery again at the front of its endpoint's queue and wake the queue (the
    API's and the console's Redeliver)."""
    now = datetime.now(UTC)
    async with session.begin():
        endpoint = await session.get(WebhookEndpointRow, endpoint_id)
        delivery = await session.get(WebhookDeliveryRow, delivery_id)
        if endpoint is None or delivery is None or delivery.endpoint_id != endpoint_id:
            raise NotFound(
                f"delivery {delivery_id} of webhook endpoint {endpoint_id} does not exist"
            )
        if not endpoint.enabled:
            raise Conflict(f"the endpoint is disabled: {endpoint.disabled_reason}")
        delivery.status = "pending"
        delivery.delivered_at = None
        delivery.next_attempt_at = now
        delivery.give_up_at = now + KEEP_TRYING
        attempts = (
            await session.scalars(
                select(WebhookAttemptRow)
                .where(WebhookAttemptRow.delivery_id == delivery_id)
                .order_by(WebhookAttemptRow.id)
            )
        ).all()
        answer = deliveries_out([delivery], attempts)[0]
    try:
        await gateway.wake_endpoints([endpoint_id], hurry=True)
    except Unreachable as error:  # queued, but its queue may sleep: asking again wakes it
        raise Unavailable(f"the delivery is queued; its queue did not wake: {error}") from None
    return answer


async def failing_deliveries(
    session: AsyncSession, endpoint_id: str, limit: int = 50
) -> list[DeliveryOut]:
    """The endpoint's deliveries that did not get through: given up, refused for good (410),
    or still being tried after a failed attempt; newest first, each with its attempts."""
    query = (
        select(WebhookDeliveryRow)
        .where(
            WebhookDeliveryRow.endpoint_id == endpoint_id,
            or_(
                WebhookDeliveryRow.status.in_(("failed", "endpoint_gone")),
                and_(WebhookDeliveryRow.status == "pending", WebhookDeliveryRow.attempts > 0),
            ),
        )
        .order_by(WebhookDeliveryRow.created_at.desc(), WebhookDeliveryRow.id.desc())
        .limit(limit)
    )
    deliveries = (await session.scalars(query)).all()
    attempts = (
        await session.scalars(
            select(WebhookAttemptRow)
            .where(WebhookAttemptRow.delivery_id.in_([d.id for d in deliveries]))
            .order_by(WebhookAttemptRow.id)
        )
    ).all()
    return deliveries_out(deliveries, attempts)
