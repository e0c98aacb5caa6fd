"""Labels from a carrier's API, through the workflow: the return carries the carrier's tracking
number; a label the carrier refuses leaves the return approved with the reason, and the parcel
can still be received and refunded."""

from __future__ import annotations

import asyncio
import uuid

from returns_service.activities.carrier import HttpCarrier
from returns_service.activities.labels import StoreCarrier
from returns_service.domain.messages import ReturnUpdate
from returns_service.domain.models import Address, ReturnState
from tests.api.conftest import serving
from tests.factories import order_payload
from tests.fakes.carrier import FakeCarrier
from tests.workflows.conftest import finished, received_in_good_condition

WAREHOUSE = Address(name="Returns Centre", line1="Lagerstrasse 5", postal_code="20095",
                    city="Hamburg", country="DE")  # fmt: skip


async def test_a_carrier_label_and_a_refused_one(env, harness):
    carrier = FakeCarrier(failure_rate=0.3)
    async with serving(carrier.app()) as url:
        labels = StoreCarrier(harness.sessions, HttpCarrier(url, carrier.api_key), WAREHOUSE)
        async with harness.with_adapters(carrier=labels):
            ann = {"name": "Ann Lee", "line1": "1 Main St", "postal_code": "75002",
                   "city": "Paris", "country": "FR"}  # fmt: skip
            payload = order_payload(now=await harness.now())
            good = await harness.put_order(
                {**payload, "shipping_address": ann}, order_id=f"o_{uuid.uuid4().hex[:8]}"
            )
            handle = await harness.start(good)
            sent = await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
            for _ in range(200):
                sent = await handle.query("state", result_type=ReturnState)
                if sent.status == "label_sent":
                    break
                await asyncio.sleep(0.025)
            assert sent.status == "label_sent"
            [shipment] = carrier.shipments.values()
            assert sent.tracking_number == shipment["tracking_number"]
            assert sent.label is not None and sent.label.carrier == "FakePost"
            assert shipment["reference"] == sent.number

            nowhere = {**ann, "postal_code": "00000"}
            bad = await harness.put_order(
                {**payload, "shipping_address": nowhere}, order_id=f"o_{uuid.uuid4().hex[:8]}"
            )
            refused = await harness.start(bad)
            await refused.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
            for _ in range(200):
                state = await refused.query("state", result_type=ReturnState)
                if state.errors:
                    break
                await asyncio.sleep(0.025)
            assert state.status == "approved" and state.label is None
            assert state.errors[0].code == "LabelRefused"
            assert "no such postal code" in state.errors[0].detail
            # The customer sent it anyway: the warehouse receives it and it is refunded.
            await received_in_good_condition(refused)
            final = await finished(refused)
    assert final.status == "closed" and final.refunded_amount == 2725
    assert len(carrier.shipments) == 1
