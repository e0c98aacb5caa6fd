"""The time-skipping test server, and a worker with the real workflow and activities over a
fresh SQLite store for each test."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.activities.returns import ReturnActivities
from returns_service.config import Settings
from returns_service.domain.messages import (
    STATE_QUERY,
    WORKFLOW_NAME,
    ReceivedItem,
    ReceiveItems,
    ReturnUpdate,
    StartReturn,
)
from returns_service.domain.models import (
    Actor,
    Condition,
    Customer,
    Order,
    Policy,
    Reason,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
)
from returns_service.store.orders import put_order
from returns_service.worker.main import build_activities
from returns_service.workflows.returns import ReturnWorkflow
from tests.conftest import SERVER_STARTUP, binary


@pytest.fixture(scope="session")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
        test_server_startup_timeout=SERVER_STARTUP,
    ) as environment:
        yield environment


@dataclass
class Harness:
    env: WorkflowEnvironment
    client: Client
    sessions: async_sessionmaker[AsyncSession]
    activities: ReturnActivities
    task_queue: str
    started: list[WorkflowHandle[Any, Any]] = field(default_factory=list)

    async def now(self) -> datetime:
        """The test server's clock, which time skipping moves ahead of the wall clock."""
        return (await self.env.get_current_time()).astimezone(UTC)

    async def put_order(self, payload: dict[str, Any], order_id: str = "o_1") -> Order:
        """`payload` is built with `now=await harness.now()` so that windows are measured
        against the test server's clock."""
        order = Order.model_validate({"id": order_id, **payload})
        async with self.sessions.begin() as session:
            await put_order(session, order, datetime.now(UTC))
        return order

    async def start(
        self,
        order: Order,
        quantity: int = 1,
        policy: Policy | None = None,
        resolution: Resolution = Resolution.REFUND,
        created_at: datetime | None = None,
        replacement_items: list[dict[str, Any]] | None = None,
        indexed: bool = False,
        actor: Actor | None = None,
        note: str | None = None,
        method: ReturnMethod = ReturnMethod.LABEL,
        store_id: str | None = None,
        reason: Reason = Reason.WRONG_SIZE,
        recipient_email: str | None = None,
        window_exception: str | None = None,
        fees_waived: str | None = None,
        labels_made_here: bool = False,
    ) -> WorkflowHandle[Any, Any]:
        line = order.lines[0]
        return_id = f"ret_{uuid.uuid4().hex}"
        start = StartReturn(
            return_id=return_id,
            customer=Customer(email=order.customer.email),
            currency=order.currency,
            resolution=resolution,
            items=[
                ReturnItem(
                    id="ri_1",
                    order_id=order.id,
                    line_id=line.id,
                    sku=line.sku,
                    name=line.name,
                    quantity=quantity,
                    reason=reason,
                )
            ],
            policy=policy or Policy(),
            created_at=created_at or await self.now(),
            actor=actor or Actor(kind="customer"),
            replacement_items=replacement_items or [],
            indexed=indexed,
            note=note,
            method=method,
            store_id=store_id,
            recipient_email=recipient_email,
            window_exception=window_exception,
            fees_waived=fees_waived,
            labels_made_here=labels_made_here,
        )
        handle = await self.client.start_workflow(
            WORKFLOW_NAME, start, id=return_id, task_queue=self.task_queue, result_type=ReturnState
        )
        self.started.append(handle)
        return handle

    @contextlib.asynccontextmanager
    async def with_adapters(self, **adapters: Any) -> AsyncIterator[None]:
        """A worker on a task queue of its own whose activities use `adapters` (carrier,
        payments, inventory, email) in place of the harness's; returns started meanwhile run
        there."""
        a = self.activities
        parts = {
            "carrier": a.carrier,
            "payments": a.payments,
            "inventory": a.inventory,
            "email": a.notifications.email,
            **adapters,
        }
        activities = ReturnActivities(a.sessions, public_url=a.notifications.public_url, **parts)
        self.task_queue = f"adapters-{uuid.uuid4().hex[:8]}"
        async with Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=[ReturnWorkflow],
            activities=activities.all(),
        ):
            yield

    async def terminate_unfinished(self) -> None:
        """A workflow left waiting after its test would keep the shared test server from
        skipping time in later tests."""
        for handle in self.started:
            with contextlib.suppress(RPCError):
                await handle.terminate("test finished")


@pytest.fixture
async def harness(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[Harness]:
    settings = Settings(data_dir=tmp_path)
    activities = build_activities(settings, sessions)
    task_queue = f"returns-{uuid.uuid4().hex[:8]}"
    async with Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ReturnWorkflow],
        activities=activities.all(),
    ):
        harness = Harness(env, env.client, sessions, activities, task_queue)
        yield harness
        await harness.terminate_unfinished()


async def received_in_good_condition(handle: WorkflowHandle[Any, Any]) -> ReturnState:
    """The warehouse receives the return's one item, in good condition."""
    receipt = ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[ReceivedItem(item_id="ri_1", quantity=1, condition=Condition.GOOD)],
    )
    return await handle.execute_update(ReturnUpdate.RECEIVE, receipt, result_type=ReturnState)


async def finished(handle: WorkflowHandle[Any, Any]) -> ReturnState:
    """The workflow's final state once it completed by itself. Awaiting `result()` on the
    time-skipping server lets it jump its clock ahead, so this polls and then queries."""
    for _ in range(400):
        if (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED:
            return await handle.query(STATE_QUERY, result_type=ReturnState)
        await asyncio.sleep(0.025)
    raise AssertionError(f"{handle.id} did not finish")


async def until_state(
    handle: WorkflowHandle[Any, Any], ok: Callable[[ReturnState], bool], what: str
) -> ReturnState:
    """The workflow's state once `ok` holds (polled: the workflow moves on by itself)."""
    for _ in range(400):
        state = await handle.query(STATE_QUERY, result_type=ReturnState)
        if ok(state):
            return state
        await asyncio.sleep(0.025)
    raise AssertionError(f"{handle.id} never {what}: {state.status}, {state.refunded_amount} paid")
