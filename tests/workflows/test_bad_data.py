"""A store step that can never succeed (data the store cannot keep) fails once, shows on the
return, and the return goes on: it is refunded and closed, not held for ever (issue 10, item 12:
a SKU over 64 characters made the restock step fail for good on PostgreSQL, and with it the
refund and the close)."""

from __future__ import annotations

import uuid

from returns_service.activities.stock import StoreInventory
from returns_service.domain.messages import WORKFLOW_NAME, ReturnUpdate, StartReturn
from returns_service.domain.models import Actor, Customer, Policy, ReturnItem, ReturnState
from returns_service.store.db import create_engine, migrate_async, session_factory
from tests.factories import order_payload
from tests.workflows.conftest import finished, received_in_good_condition


async def test_a_restock_the_store_refuses_is_shown_and_the_refund_still_made(
    harness, postgres_url
):
    await migrate_async(postgres_url)
    engine = create_engine(postgres_url)
    order = await harness.put_order(order_payload(now=await harness.now()))
    line = order.lines[0]
    async with harness.with_adapters(inventory=StoreInventory(session_factory(engine))):
        start = StartReturn(
            return_id=f"ret_{uuid.uuid4().hex}",
            customer=Customer(email=order.customer.email),
            currency=order.currency,
            resolution="refund",
            # As a return requested before SKUs were checked at the edge might hold it.
            items=[
                ReturnItem(
                    id="ri_1",
                    order_id=order.id,
                    line_id=line.id,
                    sku="S" * 100,
                    name=line.name,
                    quantity=1,
                    reason="wrong_size",
                )
            ],
            policy=Policy(),
            created_at=await harness.now(),
            actor=Actor(kind="customer"),
        )
        handle = await harness.client.start_workflow(
            WORKFLOW_NAME, start, id=start.return_id, task_queue=harness.task_queue
        )
        harness.started.append(handle)
        await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
        await received_in_good_condition(handle)
        final = await finished(handle)
    await engine.dispose()
    assert final.status == "closed" and final.refunded_amount == 2725
    assert [error.code for error in final.errors] == ["RestockFailed"]
    assert "value too long" in final.errors[0].detail
    assert final.items[0].quantity_restocked == 0
