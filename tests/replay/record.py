"""Record histories of finished returns for the replay test: `python -m tests.replay.record`.

Run it when the workflow gains a new path; keep the files it wrote before, so that returns
started under older code keep replaying."""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.config import Settings
from returns_service.domain.messages import (
    WORKFLOW_NAME,
    ApproveReturn,
    ReceiveItems,
    RefundReturn,
    ReturnUpdate,
    ShipReturn,
    StartReturn,
)
from returns_service.domain.models import (
    Actor,
    Customer,
    Order,
    Policy,
    Resolution,
    ReturnItem,
    ReturnState,
)
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.store.orders import put_order
from returns_service.worker.main import build_activities
from returns_service.workflows.returns import ReturnWorkflow
from tests.conftest import binary
from tests.factories import expensive_line, order_payload

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
    settings = Settings(data_dir=folder)
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
    ) as env:
        now = (await env.get_current_time()).astimezone(UTC)
        async with Worker(
            env.client,
            task_queue="record",
            workflows=[ReturnWorkflow],
            activities=build_activities(settings, sessions).all(),
        ):

            async def start(name: str, lines: list | None, policy: Policy):
                order = Order.model_validate(
                    {"id": f"o_{name}", **order_payload(number=name, now=now, lines=lines)}
                )
                async with sessions.begin() as session:
                    await put_order(session, order, now)
                line = order.lines[0]
                return await env.client.start_workflow(
                    WORKFLOW_NAME,
                    StartReturn(
                        return_id=f"ret_{name}_{uuid.uuid4().hex[:6]}",
                        customer=Customer(email=order.customer.email),
                        currency="EUR",
                        resolution=Resolution.REFUND,
                        items=[
                            ReturnItem(
                                id="ri_1",
                                order_id=order.id,
                                line_id=line.id,
                                sku=line.sku,
                                name=line.name,
                                quantity=1,
                                reason="wrong_size",
                            )
                        ],
                        policy=policy,
                        created_at=now,
                        actor=Actor(kind="integration"),
                    ),
                    id=f"ret_{name}_{uuid.uuid4().hex[:6]}",
                    task_queue="record",
                    result_type=ReturnState,
                )

            async def done(handle) -> None:
                for _ in range(400):
                    if (await handle.describe()).status.name == "COMPLETED":
                        break
                    await asyncio.sleep(0.025)
                history = await handle.fetch_history()
                name = handle.id.rsplit("_", 1)[0]
                (HERE / f"{name}.json").write_text(history.to_json())
                print("recorded", name, len(history.events), "events")

            u = ReturnUpdate
            happy = await start("refunded", None, Policy())
            await happy.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await happy.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await happy.execute_update(u.RECEIVE, receive("good"))
            await done(happy)

            review = await start(
                "reviewed_expired", [expensive_line()], Policy(label_expiry_days=3)
            )
            await review.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await review.execute_update(u.APPROVE, ApproveReturn(actor=Actor(kind="agent")))
            await env.sleep(timedelta(days=3, seconds=1))
            await done(review)

            damaged = await start("damaged_agent_refund", None, Policy())
            await damaged.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await damaged.execute_update(u.RECEIVE, receive("damaged"))
            await damaged.execute_update(
                u.REFUND, RefundReturn(actor=Actor(kind="agent"), amount=1000)
            )
            await done(damaged)
    await engine.dispose()
    print("at", datetime.now(UTC).isoformat())


if __name__ == "__main__":
    asyncio.run(main())
