"""Webhook receivers that misbehave cannot hurt the worker or their own queue (issue 11): one that
answers an endless body is answered for its status without the body being read; one that
trickles its answer a byte at a time is given up on at the attempt's deadline and the attempt is
logged; one that fails the first event of a return gets that return's events in order all the
same. Real HTTP on loopback, raw sockets for the misbehaviour."""

from __future__ import annotations

import asyncio
import json
import resource
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select
from temporalio.testing import ActivityEnvironment

from returns_service.activities.webhooks import WebhookActivities, plan_deliveries
from returns_service.domain.messages import DrainWebhooks
from returns_service.domain.models import Status
from returns_service.domain.status import status_event
from returns_service.store.returns import record_event
from returns_service.store.tables import WebhookAttemptRow, WebhookDeliveryRow
from tests.factories import a_return_state, endpoint_row, webhook_secret

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)
# When the drains run: after every event happened.
LATER = NOW + timedelta(hours=1)
LIFE = [Status.REQUESTED, Status.APPROVED, Status.LABEL_SENT, Status.SHIPPED]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def receiver(handle: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}/hooks"
        server.close()


async def request_body(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return await reader.readexactly(length)


async def events_for(sessions, url: str, returns: list[str]) -> str:
    """An endpoint at `url`, and each return's life so far as events waiting for it."""
    endpoint = f"we_{abs(hash(url)) % 10**8}"
    async with sessions.begin() as session:
        session.add(
            endpoint_row(endpoint, url, [status_event(s) for s in Status], webhook_secret())
        )
    for return_id in returns:
        for version, status in enumerate(LIFE, start=1):
            async with sessions.begin() as session:
                event = await record_event(
                    session, a_return_state(return_id, status, version), status_event(status)
                )
                assert event is not None
                await plan_deliveries(session, event)
    return endpoint


async def drain(sessions, endpoint: str, timeout: float, now: datetime = LATER):
    activities = WebhookActivities(sessions, allow_private=True, timeout=timeout)
    return await ActivityEnvironment().run(
        activities.drain, DrainWebhooks(endpoint_id=endpoint, now=now)
    )


async def test_an_endless_answer_is_not_read(sessions):
    sent = 0

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal sent
        await request_body(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n")
        chunk = b"x" * 1_000_000
        try:
            while True:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)
        except (ConnectionError, OSError):
            pass

    counted = REGISTRY.get_sample_value("returns_webhook_attempts_total", {"outcome": "delivered"})
    async with receiver(endless) as url:
        endpoint = await events_for(sessions, url, ["ret_a"])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        drained = await drain(sessions, endpoint, timeout=10)
        took = time.monotonic() - started
        grew_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert drained.delivered == len(LIFE)
    # Each delivery counted in the worker's metrics (issue 24).
    now = REGISTRY.get_sample_value("returns_webhook_attempts_total", {"outcome": "delivered"})
    assert (now or 0) - (counted or 0) == len(LIFE)
    assert took < 5, took
    # What the receiver managed to push before the connection closed is what the kernel buffers.
    assert sent < 50_000_000 and grew_mb < 50, (sent, grew_mb)


async def test_a_trickling_answer_meets_the_deadline_and_is_logged(sessions):
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await request_body(reader)
        try:
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n":
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.4)
        except (ConnectionError, OSError):
            pass

    async with receiver(trickle) as url:
        endpoint = await events_for(sessions, url, ["ret_t"])
        started = time.monotonic()
        drained = await drain(sessions, endpoint, timeout=1.0)
        took = time.monotonic() - started
    # Only the first event of the return is tried (the others wait their turn), three times
    # would be three deadlines; one attempt, then the endpoint is tried again later.
    async with sessions() as session:
        attempts = (await session.scalars(select(WebhookAttemptRow))).all()
    assert drained.delivered == 0
    assert len(attempts) == 1 and attempts[0].error is not None
    assert "within 1 s" in attempts[0].error and attempts[0].duration_ms < 2000
    assert took < 3, took


async def test_a_return_whose_first_event_failed_gets_its_events_in_order(sessions):
    received: list[tuple[str, str]] = []
    failed_once: set[str] = set()

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                body = json.loads(await request_body(reader))
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            return_id, kind = body["data"]["id"], body["type"]
            if kind == "return.requested" and return_id not in failed_once:
                failed_once.add(return_id)
                writer.write(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
            else:
                received.append((return_id, kind))
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
            await writer.drain()

    async with receiver(flaky) as url:
        endpoint = await events_for(sessions, url, ["ret_1", "ret_2"])
        first = await drain(sessions, endpoint, timeout=5)
        # Every return waits for its first event; nothing else of theirs went out.
        assert first.delivered == 0 and received == []
        assert first.next_due is not None and first.next_due > LATER
        again = await drain(
            sessions, endpoint, timeout=5, now=first.next_due + timedelta(minutes=1)
        )
    assert again.delivered == 2 * len(LIFE)
    for return_id in ("ret_1", "ret_2"):
        assert [kind for r, kind in received if r == return_id] == [status_event(s) for s in LIFE]
    async with sessions() as session:
        pending = (
            await session.scalars(
                select(WebhookDeliveryRow).where(WebhookDeliveryRow.status != "delivered")
            )
        ).all()
    assert pending == []
