"""Record histories of finished returns for the replay test: `python -m tests.replay.record`.

Run it when the workflow changes or gains a path. Each run adds a set stamped with the time;
older sets stay, so that returns started under older code keep replaying."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.config import Settings
from returns_service.domain.messages import (
    CARRIER_EVENT_SIGNAL,
    ApproveReturn,
    CarrierEvent,
    CloseReturn,
    ReceiveItems,
    RefundReturn,
    ReportReplacement,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, Resolution, ReturnState
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.worker.main import build_activities
from returns_service.workflows.returns import ReturnWorkflow
from tests.conftest import binary
from tests.factories import expensive_line, order_payload
from tests.workflows.conftest import Harness, finished

HERE = Path(__file__).parent / "histories"


def receive(condition: str) -> ReceiveItems:
    return ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": condition}],
    )


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{folder / 'store.db'}"
    await migrate_async(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    activities = build_activities(Settings(data_dir=folder), sessions)
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    ) as env:
        harness = Harness(env, env.client, sessions, activities, "record")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
        now = await harness.now()
        async with Worker(
            env.client, task_queue="record", workflows=[ReturnWorkflow], activities=activities.all()
        ):

            async def start(
                name: str, lines: list[Any] | None, policy: Policy, **options: Any
            ) -> Any:
                payload = order_payload(number=name, now=now, lines=lines)
                order = await harness.put_order(payload, order_id=f"o_{name}")
                return await harness.start(order, policy=policy, **options)

            async def keep(handle: Any, name: str) -> None:
                await finished(handle)
                history = await handle.fetch_history()
                (HERE / f"{name}-{stamp}.json").write_text(history.to_json())
                print("recorded", name, len(history.events), "events")

            u = ReturnUpdate
            happy = await start("refunded", None, Policy())
            await happy.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await happy.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await happy.execute_update(u.RECEIVE, receive("good"))
            await keep(happy, "refunded")

            review = await start(
                "reviewed_expired", [expensive_line()], Policy(label_expiry_days=3)
            )
            await review.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await review.execute_update(u.APPROVE, ApproveReturn(actor=Actor(kind="agent")))
            await env.sleep(timedelta(days=3, seconds=1))
            await keep(review, "reviewed_expired")

            # Requested by an agent for a customer who called (the console's new return).
            damaged = await start(
                "damaged_agent_refund", None, Policy(),
                actor=Actor(kind="agent", id="maria@shop.example"),
                note="on behalf of ann@example.com",
            )  # fmt: skip
            await damaged.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await damaged.execute_update(u.RECEIVE, receive("damaged"))
            refund = RefundReturn(actor=Actor(kind="agent"), amount=1000)
            await damaged.execute_update(u.REFUND, refund)
            # A part paid back leaves the rest refundable until the agent closes the return.
            await damaged.execute_update(
                u.REFUND, RefundReturn(actor=Actor(kind="agent"), amount=500)
            )
            await damaged.execute_update(u.CLOSE, CloseReturn(actor=Actor(kind="agent")))
            await keep(damaged, "damaged_agent_refund")

            exchange = await start(
                "exchange_fulfilled",
                None,
                Policy(),
                resolution=Resolution.EXCHANGE,
                replacement_items=[{"sku": "SKU-001-L", "quantity": 1}],
            )
            await exchange.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await exchange.execute_update(u.RECEIVE, receive("good"))
            while (await exchange.query("state", result_type=ReturnState)).replacement is None:
                await asyncio.sleep(0.05)
            report = ReportReplacement(actor=Actor(kind="integration"), status="fulfilled")
            await exchange.execute_update(u.REPLACEMENT, report)
            await keep(exchange, "exchange_fulfilled")

            tracked = await start("carrier_shipped", None, Policy())
            sent = await tracked.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            event = CarrierEvent(
                id="evt_record_1",
                tracking_number=sent.tracking_number or "",
                status="in_transit",
                occurred_at=now,
            )
            await tracked.signal(CARRIER_EVENT_SIGNAL, event)
            while (await tracked.query("state", result_type=ReturnState)).status != "shipped":
                await asyncio.sleep(0.05)
            await tracked.execute_update(u.RECEIVE, receive("good"))
            await keep(tracked, "carrier_shipped")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
