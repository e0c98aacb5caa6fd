"""Webhook delivery: the events a return emits, to every endpoint that wants them, signed as
Standard Webhooks. Each endpoint has a queue (its deliveries) and one workflow draining it, so a
receiver that is down costs one failing attempt now and then, not one per event. A delivery keeps
its `webhook-id` (the event's id) across attempts, so receivers can drop repeats; every attempt is
logged; a 410 disables the endpoint; redirects are never followed, and the URL is checked again
before each attempt."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from standardwebhooks import Webhook
from temporalio import activity

from returns_service import metrics
from returns_service.domain.ids import derived
from returns_service.domain.messages import (
    KEEP_TRYING,
    Drained,
    DrainWebhooks,
    WebhookActivity,
)
from returns_service.domain.models import ReturnState
from returns_service.domain.retries import webhook_retry
from returns_service.domain.steps import WebhookSteps
from returns_service.domain.views import ReturnOut
from returns_service.net import ForbiddenUrl, check_url
from returns_service.store.db import Sessions
from returns_service.store.tables import (
    ReturnEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
    WebhookEndpointRow,
)
from returns_service.store.upsert import insert_once

# After this many failed attempts in a row, a drain takes the endpoint for down and stops.
DOWN_AFTER = 3
# A drain ends after this long so that its progress is in the history, and starts again.
DRAIN_BUDGET = 120.0
BATCH = 100


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return "whd_" + derived(f"{event_id}:{endpoint_id}", 24)


async def plan_deliveries(session: AsyncSession, event: ReturnEventRow) -> list[str]:
    """A delivery for each enabled endpoint that wants this event (once, however often asked);
    answers the endpoints that have a delivery to make."""
    endpoints = await session.execute(
        select(WebhookEndpointRow.id, WebhookEndpointRow.events).where(WebhookEndpointRow.enabled)
    )
    planned = []
    for endpoint_id, events in endpoints:
        if event.type not in events:
            continue
        planned.append(endpoint_id)
        await insert_once(
            session,
            WebhookDeliveryRow,
            {
                "id": delivery_id(event.id, endpoint_id),
                "endpoint_id": endpoint_id,
                "event_id": event.id,
                "event_type": event.type,
                "return_id": event.return_id,
                "status": "pending",
                "attempts": 0,
                "created_at": event.created_at,
                "next_attempt_at": event.created_at,
                "give_up_at": event.created_at + KEEP_TRYING,
            },
        )
    return planned


def next_in_line(endpoint_id: str) -> tuple[ColumnElement[bool], ...]:
    """The endpoint's pending deliveries that are next for their return: a return's events go
    out in the order they happened, so one waits while an earlier one of its return is pending
    (being tried again later). Needs `return_events` joined."""
    earlier = aliased(WebhookDeliveryRow)
    earlier_event = aliased(ReturnEventRow)
    return (
        WebhookDeliveryRow.endpoint_id == endpoint_id,
        WebhookDeliveryRow.status == "pending",
        ~exists()
        .where(
            earlier.endpoint_id == endpoint_id,
            earlier.return_id == WebhookDeliveryRow.return_id,
            earlier.status == "pending",
            earlier_event.id == earlier.event_id,
            or_(
                earlier_event.version < ReturnEventRow.version,
                and_(
                    earlier_event.version == ReturnEventRow.version,
                    earlier.id < WebhookDeliveryRow.id,
                ),
            ),
        )
        .correlate(WebhookDeliveryRow, ReturnEventRow),
    )


def payload(event: ReturnEventRow) -> str:
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


class WebhookActivities(WebhookSteps):
    def __init__(self, sessions: Sessions, allow_private: bool = False, timeout: float = 15.0):
        self.sessions = sessions
        self.allow_private = allow_private
        self.timeout = timeout

    @activity.defn(name=WebhookActivity.DRAIN)
    async def drain(self, request: DrainWebhooks) -> Drained:
        """Deliver what is due to one endpoint, oldest first, until nothing is due, the endpoint
        looks down (several failures in a row) or the time budget is spent."""
        started = time.monotonic()
        now = request.now

        def clock() -> datetime:  # the workflow's time, moved on by what this drain took
            return now + timedelta(seconds=time.monotonic() - started)

        async with self.sessions.begin() as session:
            endpoint = await session.get(WebhookEndpointRow, request.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                await self._settle_pending(session, request.endpoint_id, "endpoint_removed")
                return Drained(closed=True)
            await session.execute(
                update(WebhookDeliveryRow)
                .where(
                    WebhookDeliveryRow.endpoint_id == endpoint.id,
                    WebhookDeliveryRow.status == "pending",
                    WebhookDeliveryRow.give_up_at <= now,
                )
                .values(status="failed")
            )
            url, keys = endpoint.url, signing_secrets(endpoint, now)
        drained = Drained()
        failures = 0
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as http:
            while True:
                async with self.sessions() as session:
                    due = (
                        await session.execute(
                            select(WebhookDeliveryRow.id, ReturnEventRow)
                            .join(ReturnEventRow, ReturnEventRow.id == WebhookDeliveryRow.event_id)
                            .where(
                                *next_in_line(request.endpoint_id),
                                WebhookDeliveryRow.next_attempt_at <= clock(),
                            )
                            .order_by(WebhookDeliveryRow.created_at, WebhookDeliveryRow.id)
                            .limit(BATCH)
                        )
                    ).all()
                if not due:
                    break
                for delivery, event in due:
                    activity.heartbeat(delivery)
                    answer = await self._attempt(http, url, keys, event)
                    await self._log(delivery, answer, clock())
                    if answer.status_code == 410:
                        await self._gone(request.endpoint_id)
                        return Drained(delivered=drained.delivered, closed=True)
                    if answer.ok:
                        drained.delivered += 1
                        failures = 0
                    else:
                        failures += 1
                    if failures >= DOWN_AFTER:
                        drained.down = True
                        break
                    if time.monotonic() - started > DRAIN_BUDGET:
                        drained.more = True
                        break
                if drained.down or drained.more:
                    break
        async with self.sessions() as session:
            drained.next_due = await session.scalar(
                select(func.min(WebhookDeliveryRow.next_attempt_at))
                .join(ReturnEventRow, ReturnEventRow.id == WebhookDeliveryRow.event_id)
                .where(*next_in_line(request.endpoint_id))
            )
        return drained

    async def _attempt(
        self, http: httpx.AsyncClient, url: str, keys: list[str], event: ReturnEventRow
    ) -> Attempt:
        return await post_signed(
            http, url, keys, event.id, lambda: payload(event), self.timeout, self.allow_private
        )

    async def _log(self, delivery: str, attempt: Attempt, at: datetime) -> None:
        """The attempt and what it means for the delivery, in one transaction."""
        async with self.sessions.begin() as session:
            session.add(
                WebhookAttemptRow(
                    delivery_id=delivery,
                    at=at,
                    status_code=attempt.status_code,
                    error=attempt.error,
                    duration_ms=attempt.duration_ms,
                )
            )
            row = await session.get(WebhookDeliveryRow, delivery)
            assert row is not None
            row.attempts += 1
            if attempt.ok:
                row.status, row.delivered_at = "delivered", at
            elif attempt.status_code == 410:
                row.status = "endpoint_gone"
            else:
                row.next_attempt_at = at + webhook_retry(row.attempts)
        outcome = "delivered" if attempt.ok else "gone" if attempt.status_code == 410 else "retried"
        metrics.WEBHOOK_ATTEMPTS.labels(outcome).inc()

    async def _gone(self, endpoint_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(WebhookEndpointRow)
                .where(WebhookEndpointRow.id == endpoint_id)
                .values(enabled=False, disabled_reason="the endpoint answered 410 Gone")
            )
            await self._settle_pending(session, endpoint_id, "endpoint_gone")

    @staticmethod
    async def _settle_pending(session: AsyncSession, endpoint_id: str, status: str) -> None:
        await session.execute(
            update(WebhookDeliveryRow)
            .where(
                WebhookDeliveryRow.endpoint_id == endpoint_id,
                WebhookDeliveryRow.status == "pending",
            )
            .values(status=status)
        )

    def all(self) -> list[Any]:
        return [self.drain]


def signing_secrets(endpoint: WebhookEndpointRow, now: datetime) -> list[str]:
    """The secrets a delivery is signed with: the endpoint's, and for a day after it was rotated
    the one before (Standard Webhooks' several signatures), so a receiver that has not taken
    the new secret yet still verifies."""
    keys = [endpoint.secret]
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and now < until:
        keys.append(endpoint.previous_secret)
    return keys


async def post_signed(
    http: httpx.AsyncClient,
    url: str,
    keys: list[str],
    message_id: str,
    body: Callable[[], str],
    seconds: float,
    allow_private: bool,
) -> Attempt:
    """One signed POST, within one deadline however the receiver answers (a receiver that
    trickles its answer cannot hold the queue). Only the status is read, never the body: a huge
    or endless one cannot fill the worker's memory. What went wrong is said in words."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(seconds):
            await check_url(url, allow_private=allow_private)
            content = body()
            now = datetime.now(UTC)  # the receiver checks it against its own clock
            signature = " ".join(Webhook(key).sign(message_id, now, content) for key in keys)
            async with http.stream(
                "POST",
                url,
                content=content,
                headers={
                    "content-type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": signature,
                    "user-agent": "returns-service-webhooks/1",
                },
            ) as answer:
                return Attempt(answer.status_code, None, started)
    except TimeoutError:
        return Attempt(None, f"no answer within {seconds:g} s", started)
    except ForbiddenUrl as failure:
        return Attempt(None, f"the address is not allowed: {failure}"[:500], started)
    except httpx.HTTPError as failure:
        return Attempt(None, failure_words(repr(failure)), started)


# What went wrong on the way to an endpoint, in words ops act on; by what the failure says
# (attempts kept before the words were, as a Python repr, read the same).
FAILURES = (
    ("CERTIFICATE_VERIFY_FAILED", "the endpoint's TLS certificate is not trusted"),
    ("SSL", "the TLS handshake with the endpoint failed"),
    ("Name or service not known", "the endpoint's host name does not resolve"),
    ("nodename nor servname", "the endpoint's host name does not resolve"),
    ("Temporary failure in name resolution", "the endpoint's host name does not resolve"),
    ("Connection refused", "the endpoint's server refused the connection"),
    ("ConnectTimeout", "the endpoint's server did not accept a connection in time"),
    ("ConnectError", "could not connect to the endpoint"),
    ("ReadTimeout", "the endpoint did not answer in time"),
    ("RemoteProtocolError", "the endpoint closed the connection without an answer"),
    ("ReadError", "the connection to the endpoint broke before an answer"),
    ("TooManyRedirects", "the endpoint redirects; webhooks are not redirected"),
)


def failure_words(error: str) -> str:
    """A failed attempt's error in words: a known failure's sentence, else what was kept."""
    for marker, words in FAILURES:
        if marker in error:
            return words
    return error[:500]


class Attempt:
    def __init__(self, status_code: int | None, error: str | None, started: float) -> None:
        self.status_code = status_code
        self.error = error
        self.duration_ms = int((time.monotonic() - started) * 1000)

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
