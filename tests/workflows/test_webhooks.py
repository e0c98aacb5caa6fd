"""Webhooks to a receiver that is down for the first 48 (simulated) hours: every event arrives
afterwards, signed as Standard Webhooks, and a receiver that drops repeats by `webhook-id` processes
each once; the delivery log shows the failed attempts. On the time-skipping server."""

from __future__ import annotations

import asyncio
import os
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from standardwebhooks import Webhook
from temporalio.worker import Worker

from returns_service.activities.webhooks import delivery_id, plan_deliveries
from returns_service.config import Settings
from returns_service.domain.messages import EndpointQueue, ReturnUpdate, webhook_workflow_id
from returns_service.domain.models import Customer, ReturnState
from returns_service.gateway import wake_endpoints
from returns_service.store.tables import (
    ReturnEventRow,
    WebhookAttemptRow,
    WebhookDeliveryRow,
)
from returns_service.worker.main import build_activities
from returns_service.workflows.returns import ReturnWorkflow
from returns_service.workflows.webhooks import WebhookEndpointWorkflow
from tests.api.conftest import serving
from tests.factories import endpoint_row, order_payload, webhook_secret
from tests.workflows.clock import Clock
from tests.workflows.conftest import finished, received_in_good_condition

EVENTS = int(os.environ.get("RETURNS_WEBHOOK_EVENTS", "500"))


@dataclass
class Receiver:
    secret: str
    down: bool = True
    processed: dict[str, dict] = field(default_factory=dict)
    repeats: int = 0
    refused: int = 0
    bad_signatures: int = 0
    dead_calls: int = 0

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/dead")
        async def dead() -> Response:  # an endpoint that never recovers
            self.dead_calls += 1
            return Response(status_code=500)

        @app.post("/hooks")
        async def hooks(request: Request) -> Response:
            if self.down:
                self.refused += 1
                return Response(status_code=503)
            body = await request.body()
            try:
                event = Webhook(self.secret).verify(body, dict(request.headers))
            except Exception:  # noqa: BLE001 - any verification failure
                self.bad_signatures += 1
                return Response(status_code=400)
            webhook_id = request.headers["webhook-id"]
            if webhook_id in self.processed:
                self.repeats += 1
            else:
                self.processed[webhook_id] = event
            return Response(status_code=204)

        return app


async def skip(env, task_queue: str, hours: int) -> None:
    await env.client.execute_workflow(
        Clock.run, hours, id=f"clock-{uuid.uuid4().hex}", task_queue=task_queue
    )


async def test_a_receiver_down_for_48_hours_gets_every_event_afterwards_once(
    env, harness, tmp_path
):
    secret = webhook_secret()
    receiver = Receiver(secret)
    settings = Settings(data_dir=tmp_path, webhooks_allow_private=True)
    activities = build_activities(settings, harness.sessions)
    harness.task_queue = f"hooks-{uuid.uuid4().hex[:8]}"
    async with (
        serving(receiver.app()) as url,
        Worker(
            env.client,
            task_queue=harness.task_queue,
            workflows=[ReturnWorkflow, WebhookEndpointWorkflow, Clock],
            activities=activities.all(),
            max_concurrent_activities=100,
        ),
    ):
        async with harness.sessions.begin() as session:
            session.add(endpoint_row("we_dead", f"{url}/dead", ["return.approved"], secret))
            session.add(
                endpoint_row(
                    f"we_{uuid.uuid4().hex[:12]}",
                    f"{url}/hooks",
                    [
                        "return.requested",
                        "return.approved",
                        "return.label_sent",
                        "return.received",
                        "return.refunded",
                        "return.closed",
                        "return.shipped",
                    ],
                    secret,
                )
            )
        # A real return: its status changes emit events as they are recorded.
        order = await harness.put_order(order_payload(now=await harness.now()), order_id="o_hooks")
        handle = await harness.start(order)
        await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
        await received_in_good_condition(handle)
        real = await finished(handle)
        # And many more events, recorded and dispatched the same way.
        template = real.model_copy(update={"customer": Customer(email="many@example.com")})
        # Stamped on the workflows' clock, as the return workflow stamps its events (earlier
        # tests may have moved the time-skipping server's clock far past the wall clock).
        now = await harness.now()
        async with harness.sessions.begin() as session:
            planned = []
            for n in range(EVENTS):
                event = ReturnEventRow(
                    id=f"evt_many_{n:05d}",
                    return_id=f"ret_many_{n:05d}",
                    type="return.closed",
                    version=1,
                    created_at=now,
                    data=template.model_copy(update={"id": f"ret_many_{n:05d}"}).model_dump(
                        mode="json"
                    ),
                )
                session.add(event)
                await session.flush()
                planned += await plan_deliveries(session, event)
        await wake_endpoints(env.client, harness.task_queue, sorted(set(planned)))

        await skip(env, harness.task_queue, hours=48)
        assert receiver.processed == {}
        receiver.down = False
        # Every delivery is due again within 6 hours; the dead endpoint's is given up at 72.
        await skip(env, harness.task_queue, hours=30)
        async with harness.sessions() as session:
            expected = int(
                await session.scalar(
                    select(func.count())
                    .select_from(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.endpoint_id != "we_dead")
                )
            )
        for _ in range(600):
            if len(receiver.processed) >= expected:
                break
            await asyncio.sleep(0.1)

    assert expected >= EVENTS + 5
    assert len(receiver.processed) == expected and receiver.bad_signatures == 0
    kinds = {e["type"] for e in receiver.processed.values()}
    assert {
        "return.requested",
        "return.approved",
        "return.label_sent",
        "return.received",
        "return.closed",
    } <= kinds
    assert (
        receiver.processed[f"evt_many_{EVENTS - 1:05d}"]["data"]["id"]
        == f"ret_many_{EVENTS - 1:05d}"
    )
    async with harness.sessions() as session:
        rows = (await session.scalars(select(WebhookDeliveryRow))).all()
        failed_attempts = await session.scalar(
            select(func.count())
            .select_from(WebhookAttemptRow)
            .where(WebhookAttemptRow.status_code == 503)
        )
    assert {r.status for r in rows if r.endpoint_id != "we_dead"} == {"delivered"}
    # While the receiver was down its queue was tried now and then (not every event each time),
    # and the log keeps each failed attempt.
    assert failed_attempts == receiver.refused and 10 <= failed_attempts < expected
    assert max(r.attempts for r in rows if r.endpoint_id != "we_dead") >= 2
    # The endpoint that never answered well: tried a dozen times over 72 hours, then given up.
    [dead] = [r for r in rows if r.endpoint_id == "we_dead"]
    assert dead.status == "failed" and dead.attempts == receiver.dead_calls >= 10


async def test_a_redelivery_is_tried_at_once_though_the_endpoint_looks_down(env, harness, tmp_path):
    secret = webhook_secret()
    receiver = Receiver(secret)
    activities = build_activities(
        Settings(data_dir=tmp_path, webhooks_allow_private=True), harness.sessions
    )
    task_queue = f"hurry-{uuid.uuid4().hex[:8]}"
    template = ReturnState.model_validate(
        {
            "id": "ret_x", "status": "closed", "customer": {"email": "x@example.com"},
            "currency": "EUR", "resolution": "refund", "items": [], "order_ids": ["o_x"],
            "created_at": await harness.now(), "updated_at": await harness.now(),
        }
    )  # fmt: skip
    async with (
        serving(receiver.app()) as url,
        Worker(
            env.client,
            task_queue=task_queue,
            workflows=[WebhookEndpointWorkflow],
            activities=activities.all(),
        ),
    ):
        now = await harness.now()
        async with harness.sessions.begin() as session:
            session.add(endpoint_row("we_hurry", f"{url}/hooks", ["return.closed"], secret))
            for n in range(3):  # three failures in a row: the endpoint looks down
                event = ReturnEventRow(
                    id=f"evt_hurry_{n}", return_id=f"ret_hurry_{n}", type="return.closed",
                    version=1, created_at=now,
                    data=template.model_copy(update={"id": f"ret_hurry_{n}"}).model_dump(
                        mode="json"
                    ),
                )  # fmt: skip
                session.add(event)
                await session.flush()
                await plan_deliveries(session, event)
        # The endpoint has been down twice before: this round's failure pauses it 4.5 minutes, so
        # that a delivery within the minute below can only be the person's asking again.
        await env.client.start_workflow(
            WebhookEndpointWorkflow.run,
            EndpointQueue(endpoint_id="we_hurry", down=2),
            id=webhook_workflow_id("we_hurry"),
            task_queue=task_queue,
        )
        for _ in range(100):
            if receiver.refused >= 3:
                break
            await asyncio.sleep(0.05)
        assert receiver.refused == 3
        receiver.down = False

        async def ask_again() -> None:  # what POST .../redeliver does
            async with harness.sessions.begin() as session:
                delivery = await session.get(
                    WebhookDeliveryRow, delivery_id("evt_hurry_0", "we_hurry")
                )
                delivery.next_attempt_at = await harness.now()

        # The other two are not asked again (a day from now), so that on a slow machine, where
        # the endpoint's pause can pass while this test waits, only the asked one is due.
        async with harness.sessions.begin() as session:
            for n in (1, 2):
                later = await session.get(
                    WebhookDeliveryRow, delivery_id(f"evt_hurry_{n}", "we_hurry")
                )
                later.next_attempt_at = await harness.now() + timedelta(days=1)

        # A new event's wake does not hurry an endpoint that is down (it waits its pause) ...
        await ask_again()
        await wake_endpoints(env.client, task_queue, ["we_hurry"])
        await asyncio.sleep(1.5)
        assert receiver.processed == {}
        # ... a person asking again does, at once: not after the endpoint's pause (a hurry
        # that came while a drain ran used to be lost, and the queue waited the pause out).
        await wake_endpoints(env.client, task_queue, ["we_hurry"], hurry=True)
        for _ in range(1200):
            if receiver.processed:
                break
            await asyncio.sleep(0.05)
        assert list(receiver.processed) == ["evt_hurry_0"]
        await env.client.get_workflow_handle("webhooks-we_hurry").terminate("test over")
