"""With the Temporal server stalled (SIGSTOP), every request still answers within its deadline
(issue 11): a read from the read model, a carrier event and a new return with a 503 that says
why, a bulk action with a result per return; once the server runs again, so does everything.
Real dev server process, real HTTP on loopback."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from returns_service.app import create_app
from returns_service.config import Settings
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.worker.main import build_activities, build_worker
from tests.api.conftest import CARRIER_SECRET, KEYS, serving
from tests.conftest import binary, free_port
from tests.factories import order_payload
from tests.fakes.carrier import FakeCarrier

ANSWER_SECONDS = 3.0


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, subprocess.Popen]]:
    port = free_port()
    server = subprocess.Popen(  # noqa: ASYNC220 - started once, before anything runs
        [
            binary("temporal"),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = None
        for _ in range(100):
            try:
                client = await Client.connect(
                    f"127.0.0.1:{port}", data_converter=pydantic_data_converter
                )
                break
            except RuntimeError:
                await asyncio.sleep(0.2)
        assert client is not None, "the dev server did not come up"
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
        await migrate_async(url)
        settings = Settings(
            data_dir=tmp_path,
            database_url=url,
            api_keys=KEYS,
            task_queue=f"stall-{uuid.uuid4().hex[:8]}",
            carrier_webhook_secret=CARRIER_SECRET,
            workflow_answer_seconds=ANSWER_SECONDS,
        )
        engine = create_engine(url)
        worker = build_worker(client, settings, build_activities(settings, session_factory(engine)))
        app = create_app(settings, client, engine)
        async with worker, serving(app) as base_url:
            async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
                yield http, server
        await engine.dispose()
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.kill()
        server.wait()


def staff(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[role]}"}


async def timed(request) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await request
    return answer, time.monotonic() - started


async def test_every_request_keeps_its_deadline_while_temporal_is_stalled(stack):
    http, server = stack
    order = order_payload(number=uuid.uuid4().hex[:8])
    order_id = f"o_{uuid.uuid4().hex[:8]}"
    assert (
        await http.put(f"/v1/orders/{order_id}", json=order, headers=staff("integration"))
    ).status_code in (200, 201)
    line = order["lines"][0]["id"]

    async def create() -> httpx.Response:
        return await http.post(
            "/v1/returns",
            json={
                "items": [
                    {"order_id": order_id, "line_id": line, "quantity": 1, "reason": "wrong_size"}
                ],
                "resolution": "refund",
            },
            headers=staff("agent"),
        )

    created = await create()
    assert created.status_code == 201, created.text
    ret = created.json()
    assert ret["status"] == "label_sent", ret

    carrier = FakeCarrier(webhook_secret=CARRIER_SECRET)
    tracking = ret["label"]["tracking_number"]
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    body, signed = carrier.event(tracking, "in_transit", event_id)
    headers = {**signed, **staff("integration")}
    os.kill(server.pid, signal.SIGSTOP)
    try:
        (
            (read, read_took),
            (event, event_took),
            (new, new_took),
            (bulk, bulk_took),
        ) = await asyncio.gather(
            timed(http.get(f"/v1/returns/{ret['id']}", headers=staff("agent"))),
            timed(http.post("/v1/carrier-events", content=body, headers=headers)),
            timed(create()),
            timed(
                http.post(
                    "/v1/returns/actions",
                    json={
                        "action": "cancel",
                        "return_ids": [ret["id"]] + [f"ret_missing{n}" for n in range(40)],
                    },
                    headers=staff("agent"),
                )
            ),
        )
    finally:
        os.kill(server.pid, signal.SIGCONT)
    # The read model answers the read; the workflow is not waited for beyond a moment.
    assert read.status_code == 200 and read.json()["status"] == "label_sent"
    assert read_took < 10, read_took
    # The carrier is told to send the event again; the new return that nothing was created.
    assert event.status_code == 503, event.text
    assert event.headers["content-type"].startswith("application/problem+json")
    assert event_took < 15, event_took
    assert new.status_code in (503, 202), new.text
    assert new_took < 2 * ANSWER_SECONDS + 10, new_took
    # Each return of the bulk action has its own result, all within one deadline.
    assert bulk.status_code == 200, bulk.text
    results = bulk.json()["results"]
    assert len(results) == 41 and not results[0]["ok"]
    assert bulk_took < ANSWER_SECONDS + 15, bulk_took

    # Running again: the carrier sends the same event again; it is told to the return now.
    body, signed = carrier.event(tracking, "in_transit", event_id)
    again = await http.post(
        "/v1/carrier-events", content=body, headers={**signed, **staff("integration")}
    )
    assert again.status_code == 202, again.text
    assert again.json()["duplicate"] is True and again.json()["forwarded"] is True
    for _ in range(100):
        current = (await http.get(f"/v1/returns/{ret['id']}", headers=staff("agent"))).json()
        if current["status"] == "shipped":
            break
        await asyncio.sleep(0.2)
    assert current["status"] == "shipped"
