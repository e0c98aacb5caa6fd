"""A refund Stripe refuses, through the workflow: shown on the return, and paid once when an agent
tries again after the cause is gone."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from temporalio.client import WorkflowExecutionStatus

from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.stripe import StripeRefunds
from returns_service.domain.messages import RefundReturn, ReturnUpdate
from returns_service.domain.models import Actor, ReturnState
from tests.api.conftest import serving
from tests.factories import order_payload
from tests.fakes.stripe import FakeStripe
from tests.workflows.conftest import finished, received_in_good_condition, until_state


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
            closed = await until_state(handle, lambda s: s.status == "closed", "closed")
            # Paid through Stripe, it still hears of a refund failing for 30 days; then it ends.
            assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
            await env.sleep(timedelta(days=31))
            final = await finished(handle)
    assert closed.refunded_amount == 2725
    assert final.status == "closed" and final.refunded_amount == 2725
    assert [(r.status, r.amount) for r in final.refunds] == [("failed", 2725), ("succeeded", 2725)]
    assert len(stripe.refunds) == 1 and stripe.charges[charge].amount_refunded == 2725


@pytest.mark.parametrize("fails", [False, True], ids=["settles", "fails"])
async def test_a_pending_refund_keeps_the_return_open_until_stripe_settles_it(env, harness, fails):
    stripe = FakeStripe()
    async with serving(stripe.app()) as url:
        # Stripe answers `pending` and settles it on the second look; the worker does not wait.
        payments = LedgerPayments(
            harness.sessions, StripeRefunds(stripe.api_key, url), pending_wait=0
        )
        charge = f"ch_{uuid.uuid4().hex[:10]}"
        payload = order_payload(now=await harness.now())
        payload["captures"][0]["id"] = charge
        stripe.add_charge(
            charge, payload["captures"][0]["amount"], pending_reads=2, fails_later=fails
        )
        async with harness.with_adapters(payments=payments):
            order = await harness.put_order(payload, order_id=f"o_{uuid.uuid4().hex[:8]}")
            handle = await harness.start(order)
            await handle.execute_update(ReturnUpdate.WAIT_DECIDED, result_type=ReturnState)
            await received_in_good_condition(handle)
            paying = await until_state(handle, lambda s: bool(s.refunds), "was paid")
            assert paying.status == "refunded" and paying.refunded_amount == 2725
            assert [r.status for r in paying.refunds] == ["pending"]
            # Not closed while the money may still fail to arrive.
            await asyncio.sleep(0.5)
            state = await handle.query("state", result_type=ReturnState)
            assert state.status == "refunded"

            # Six hours on, the workflow asks Stripe again.
            await env.sleep(timedelta(hours=7))
            if not fails:
                closed = await until_state(handle, lambda s: s.status == "closed", "closed")
                assert [r.status for r in closed.refunds] == ["succeeded"]
                assert closed.refunded_amount == 2725
                return
            failed = await until_state(handle, lambda s: bool(s.errors), "failed")
            assert failed.status == "refunded" and failed.refunded_amount == 0
            assert [r.status for r in failed.refunds] == ["failed"]
            assert "expired_or_canceled_card" in failed.errors[-1].detail
            assert "refund" in failed.actions()
            assert stripe.charges[charge].amount_refunded == 0
