"""Webhook delivery: the events a return emits, to every endpoint that wants them, signed as
Standard Webhooks. A delivery keeps its `webhook-id` (the event's id) across attempts, so receivers
can drop repeats; every attempt is logged; a 410 disables the endpoint; redirects are never
followed, and the URL is checked again before each attempt."""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standardwebhooks import Webhook
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from returns_service.domain.messages import WEBHOOK_WORKFLOW, DeliverWebhook, WebhookActivity
from returns_service.domain.models import ReturnState
from returns_service.net import ForbiddenUrl, check_url
from returns_service.store.tables import (
    ReturnEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from returns_service.store.upsert import insert_once

Sessions = async_sessionmaker[AsyncSession]


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return "whd_" + hashlib.sha256(f"{event_id}:{endpoint_id}".encode()).hexdigest()[:24]


async def plan_deliveries(session: AsyncSession, event: ReturnEventRow) -> list[str]:
    """A delivery for each enabled endpoint that wants this event (once, however often asked)."""
    endpoints = (
        await session.scalars(select(WebhookEndpointRow).where(WebhookEndpointRow.enabled))
    ).all()
    planned = []
    for endpoint in endpoints:
        if event.type not in endpoint.events:
            continue
        planned.append(delivery_id(event.id, endpoint.id))
        await insert_once(
            session,
            WebhookDeliveryRow,
            {
                "id": planned[-1],
                "endpoint_id": endpoint.id,
                "event_id": event.id,
                "event_type": event.type,
                "return_id": event.return_id,
                "status": "pending",
                "attempts": 0,
                "created_at": event.created_at,
            },
        )
    return planned


async def start_deliveries(client: Client, task_queue: str, delivery_ids: list[str]) -> None:
    for delivery in delivery_ids:
        try:
            await client.start_workflow(
                WEBHOOK_WORKFLOW,
                DeliverWebhook(delivery_id=delivery),
                id=delivery,
                task_queue=task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
        except WorkflowAlreadyStartedError:
            pass  # delivered (or given up) already: a repeat of the same step


def payload(event: ReturnEventRow) -> str:
    from returns_service.api.schemas import ReturnOut  # the API's shape of a return

    data = ReturnOut.build(ReturnState.model_validate(event.data)).model_dump(mode="json")
    return json.dumps(
        {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "data": data,
        },
        separators=(",", ":"),
    )


class WebhookActivities:
    def __init__(self, sessions: Sessions, allow_private: bool = False, timeout: float = 15.0):
        self.sessions = sessions
        self.allow_private = allow_private
        self.timeout = timeout

    @activity.defn(name=WebhookActivity.DELIVER)
    async def deliver(self, request: DeliverWebhook) -> str:
        async with self.sessions() as session:
            delivery = await session.get(WebhookDeliveryRow, request.delivery_id)
            if delivery is None:
                return "unknown"
            endpoint = await session.get(WebhookEndpointRow, delivery.endpoint_id)
            event = await session.scalar(
                select(ReturnEventRow).where(ReturnEventRow.id == delivery.event_id)
            )
        if endpoint is None or not endpoint.enabled or event is None:
            await self._settle(request.delivery_id, "endpoint_removed")
            return "endpoint_removed"
        started = time.monotonic()
        status_code: int | None = None
        error: str | None = None
        try:
            await check_url(endpoint.url, allow_private=self.allow_private)
            body = payload(event)
            now = datetime.now(UTC)
            signature = Webhook(endpoint.secret).sign(event.id, now, body)
            async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
                answer = await http.post(
                    endpoint.url,
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "webhook-id": event.id,
                        "webhook-timestamp": str(int(now.timestamp())),
                        "webhook-signature": signature,
                        "user-agent": "returns-service-webhooks/1",
                    },
                )
            status_code = answer.status_code
        except (ForbiddenUrl, httpx.HTTPError) as failure:
            error = repr(failure)[:500]
        await self._log(request.delivery_id, status_code, error, started)
        if status_code is not None and 200 <= status_code < 300:
            await self._settle(request.delivery_id, "delivered")
            return "delivered"
        if status_code == 410:
            async with self.sessions.begin() as session:
                await session.execute(
                    update(WebhookEndpointRow)
                    .where(WebhookEndpointRow.id == endpoint.id)
                    .values(enabled=False, disabled_reason="the endpoint answered 410 Gone")
                )
            await self._settle(request.delivery_id, "endpoint_gone")
            return "endpoint_gone"
        raise ApplicationError(
            f"{endpoint.url} answered {status_code}" if status_code else f"not delivered: {error}"
        )

    @activity.defn(name=WebhookActivity.GIVE_UP)
    async def give_up(self, request: DeliverWebhook) -> str:
        await self._settle(request.delivery_id, "failed")
        return "failed"

    async def _log(
        self, delivery: str, status_code: int | None, error: str | None, started: float
    ) -> None:
        async with self.sessions.begin() as session:
            session.add(
                WebhookAttemptRow(
                    delivery_id=delivery,
                    at=datetime.now(UTC),
                    status_code=status_code,
                    error=error,
                    duration_ms=int((time.monotonic() - started) * 1000),
                )
            )
            await session.execute(
                update(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.id == delivery)
                .values(attempts=WebhookDeliveryRow.attempts + 1)
            )

    async def _settle(self, delivery: str, status: str) -> None:
        values: dict[str, Any] = {"status": status}
        if status == "delivered":
            values["delivered_at"] = datetime.now(UTC)
        async with self.sessions.begin() as session:
            await session.execute(
                update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery).values(**values)
            )

    def all(self) -> list[Any]:
        return [self.deliver, self.give_up]
