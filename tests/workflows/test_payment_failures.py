"""A refund Stripe refuses, through the workflow: shown on the return, and paid once when an agent
tries again after the cause is gone."""

from __future__ import annotations

import asyncio
import uuid

from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.stripe import StripeRefunds
from returns_service.domain.messages import RefundReturn, ReturnUpdate
from returns_service.domain.models import Actor, ReturnState
from tests.api.conftest import serving
from tests.factories import order_payload
from tests.fakes.stripe import FakeStripe
from tests.workflows.conftest import finished, received_in_good_condition


async def test_a_refund_stripe_refuses_waits_for_an_agent_whose_retry_pays_once(env, harness):
    stripe = FakeStripe()
    async with serving(stripe.app()) as url:
        payments = LedgerPayments(harness.sessions, StripeRefunds(stripe.api_key, url))
        charge = f"ch_{uuid.uuid4().hex[:10]}"
        payload = order_payload(now=await harness.now())
        payload["captures"][0]["id"] = charge
        stripe.add_charge(charge, payload["captures"][0]["amount"], disputed=True)
        async with harness.with_adapters(payments=payments):
            order = await harness.put_order(payload, order_id=f"o_{uuid.uuid4().hex[:8]}")
            handle = await harness.start(order)
            await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
            await received_in_good_condition(handle)
            for _ in range(200):
                state = await handle.query("state", result_type=ReturnState)
                if state.errors:
                    break
                await asyncio.sleep(0.025)
            assert state.status == "received" and state.refunded_amount == 0
            assert state.errors[0].code == "PaymentFailed"
            [failed] = state.refunds
            assert failed.status == "failed" and "charge_disputed" in failed.failure_reason
            assert "refund" in state.actions()

            # The dispute is settled in the shop's favour; the agent tries again.
            stripe.charges[charge].disputed = False
            agent = RefundReturn(actor=Actor(kind="agent"))
            refunded = await handle.execute_update(
                ReturnUpdate.REFUND, agent, result_type=ReturnState
            )
            assert refunded.status == "refunded" and refunded.refunded_amount == 2725
            final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 2725
    assert [(r.status, r.amount) for r in final.refunds] == [("failed", 2725), ("succeeded", 2725)]
    assert len(stripe.refunds) == 1 and stripe.charges[charge].amount_refunded == 2725
