"""A label bought from EasyPost and never used is refunded to the shop when its return expires:
once, and the timeline says so (real money the shop gets back)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from returns_service.activities.easypost import EasyPostLabels
from returns_service.activities.labels import StoreCarrier
from returns_service.domain.messages import ReturnUpdate
from returns_service.domain.models import Address, Policy, ReturnState
from tests.api.conftest import CUSTOMER_ADDRESS, RETURN_ADDRESS, serving
from tests.factories import order_payload
from tests.fakes.easypost import FakeEasyPost
from tests.workflows.conftest import finished


async def test_an_expired_returns_easypost_label_is_refunded_once(env, harness):
    easypost = FakeEasyPost()
    async with serving(easypost.app()) as url:
        easypost.base_url = url
        labels = EasyPostLabels(harness.sessions, easypost.api_key, f"{url}/v2")
        carrier = StoreCarrier(harness.sessions, labels, Address(**RETURN_ADDRESS))
        async with harness.with_adapters(carrier=carrier):
            payload = order_payload(now=await harness.now())
            payload["shipping_address"] = CUSTOMER_ADDRESS
            order = await harness.put_order(payload, order_id=f"o_{uuid.uuid4().hex[:8]}")
            policy = Policy(label_expiry_days=2, label_reissue_days=0)
            handle = await harness.start(order, policy=policy)
            sent = await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
            assert sent.status == "label_sent" and sent.label is not None
            [shipment] = easypost.shipments.values()
            assert sent.label.tracking_number == shipment["tracking_code"]
            await env.sleep(timedelta(days=2, minutes=1))
            final = await finished(handle)
    assert final.status == "expired"
    assert easypost.refunds == [shipment["id"]]
    notes = [entry.note or "" for entry in final.timeline]
    assert any("unused label refunded" in note for note in notes), notes
