"""The Stripe payments adapter against a local server that behaves like Stripe's refunds API,
with the ledger in front of it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.ports import PaymentUnavailable, ProcessorRefund
from returns_service.activities.stripe import StripeRefunds
from returns_service.domain.messages import IssueRefund, OrderAmount
from returns_service.domain.models import Order
from returns_service.store.orders import put_order
from returns_service.store.tables import LedgerEntryRow
from tests.api.conftest import serving
from tests.conftest import free_port
from tests.factories import order_payload
from tests.fakes.stripe import FakeStripe

NOW = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture
async def stripe() -> AsyncIterator[tuple[FakeStripe, str]]:
    fake = FakeStripe()
    async with serving(fake.app()) as url:
        yield fake, url


def part(key: str, capture_id: str = "ch_1", amount: int = 1000) -> ProcessorRefund:
    return ProcessorRefund(
        key=key, capture_id=capture_id, amount=amount, currency="EUR", metadata={"return_id": "r"}
    )


async def test_a_refund_asked_twice_with_its_key_is_made_once(stripe):
    fake, url = stripe
    fake.add_charge("ch_1", 5000)
    client = StripeRefunds(fake.api_key, url)
    first = await client.refund(part("k1"))
    again = await client.refund(part("k1"))
    assert first.status == "succeeded" and first == again
    # The same key with other parameters: Stripe refuses, but that says nothing about the first.
    with pytest.raises(PaymentUnavailable):
        await client.refund(part("k1", amount=999))
    assert len(fake.refunds) == 1 and fake.charges["ch_1"].amount_refunded == 1000
    assert fake.refunds[first.reference]["metadata"] == {"return_id": "r"}


async def test_refusals_are_definite_failures_with_stripes_reason(stripe):
    fake, url = stripe
    fake.add_charge("ch_1", 500)
    fake.add_charge("ch_2", 5000, disputed=True)
    fake.add_charge("ch_3", 5000, payment_intent="pi_3")
    client = StripeRefunds(fake.api_key, url)
    too_large = await client.refund(part("k1", "ch_1", 501))
    assert too_large.status == "failed" and too_large.failure.startswith("amount_too_large")
    disputed = await client.refund(part("k2", "ch_2"))
    assert disputed.status == "failed" and disputed.failure.startswith("charge_disputed")
    by_intent = await client.refund(part("k3", "pi_3"))
    assert by_intent.status == "succeeded" and fake.charges["ch_3"].amount_refunded == 1000
    wrong_key = await StripeRefunds("sk_test_wrong", url).refund(part("k4", "ch_3"))
    assert wrong_key.status == "failed" and fake.charges["ch_3"].amount_refunded == 1000


async def test_an_unreachable_stripe_leaves_the_outcome_open():
    client = StripeRefunds("sk_test_x", f"http://127.0.0.1:{free_port()}")
    with pytest.raises(PaymentUnavailable):
        await client.refund(part("k1"))


async def test_the_ledger_asks_again_with_the_same_key_after_a_lost_answer(stripe, sessions):
    fake, url = stripe
    order = Order.model_validate(
        {"id": f"o_{uuid.uuid4().hex[:8]}", **order_payload(number="S1", now=NOW)}
    )
    capture = order.captures[0].model_copy(update={"id": f"ch_{uuid.uuid4().hex[:8]}"})
    order = order.model_copy(update={"captures": [capture]})
    async with sessions.begin() as session:
        await put_order(session, order, NOW)
    fake.add_charge(capture.id, capture.amount)
    request = IssueRefund(
        return_id=f"ret_{uuid.uuid4().hex}",
        sequence=1,
        currency="EUR",
        method="original_payment",
        amounts=[OrderAmount(order_id=order.id, amount=2725, maximum=2725)],
        requested_at=NOW,
    )
    lost: list[dict] = []

    async def lose_the_first_answer(refund: dict, arrived: float) -> None:
        if not lost:
            lost.append(refund)
            raise ConnectionResetError("the answer never arrives")

    fake.on_accepted = lose_the_first_answer
    payments = LedgerPayments(sessions, StripeRefunds(fake.api_key, url))
    with pytest.raises(PaymentUnavailable):
        await payments.refund(request)
    async with sessions() as session:
        [row] = (
            await session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.return_id == request.return_id)
            )
        ).all()
    assert row.status == "pending" and row.provider_ref is None
    result = await payments.refund(request)
    assert [(r.amount, r.status) for r in result.refunds] == [(2725, "succeeded")]
    assert result.refunds[0].capture_id == capture.id
    assert len(fake.refunds) == 1 and fake.charges[capture.id].amount_refunded == 2725

    # A new refund of the same return beyond what it may refund: refused before Stripe is asked.
    more = request.model_copy(update={"sequence": 2})
    refused = await payments.refund(more)
    assert refused.failures and len(fake.refunds) == 1

    # A disputed charge refuses: the part is failed, with Stripe's reason, and nothing moved.
    fake.charges[capture.id].disputed = True
    other = request.model_copy(
        update={
            "return_id": f"ret_{uuid.uuid4().hex}",
            "amounts": [OrderAmount(order_id=order.id, amount=100, maximum=2725)],
        }
    )
    declined = await payments.refund(other)
    assert [r.status for r in declined.refunds] == ["failed"]
    assert "charge_disputed" in declined.failures[0]
    assert len(fake.refunds) == 1


async def an_order_paid_by(sessions, stripe: FakeStripe, **charge: Any) -> Order:
    order = Order.model_validate(
        {"id": f"o_{uuid.uuid4().hex[:8]}", **order_payload(number="S2", now=NOW)}
    )
    capture = order.captures[0].model_copy(update={"id": f"ch_{uuid.uuid4().hex[:10]}"})
    order = order.model_copy(update={"captures": [capture]})
    async with sessions.begin() as session:
        await put_order(session, order, NOW)
    stripe.add_charge(capture.id, capture.amount, **charge)
    return order


def refund_of(order: Order, amount: int = 2725) -> IssueRefund:
    return IssueRefund(
        return_id=f"ret_{uuid.uuid4().hex}",
        sequence=1,
        currency="EUR",
        method="original_payment",
        amounts=[OrderAmount(order_id=order.id, amount=amount, maximum=amount)],
        requested_at=NOW,
    )


async def test_refunds_survive_a_processor_failing_30_percent_of_calls(stripe, sessions):
    fake, url = stripe
    fake.failure_rate, fake.hang_seconds = 0.3, 0.6
    payments = LedgerPayments(sessions, StripeRefunds(fake.api_key, url, timeout=0.3))
    orders = [await an_order_paid_by(sessions, fake) for _ in range(40)]
    requests = [refund_of(order) for order in orders]
    for request in requests:
        for _ in range(40):  # as the activity's retries would
            try:
                result = await payments.refund(request)
                break
            except PaymentUnavailable:
                continue
        else:
            raise AssertionError("never got through")
        assert [(r.amount, r.status) for r in result.refunds] == [(2725, "succeeded")]
    # Every kind of failure happened, and still every refund was made exactly once.
    assert set(fake.faults) == {"500 before", "500 after", "no answer"}, fake.faults
    assert len(fake.refunds) == 40
    assert all(c.amount_refunded == 2725 for c in fake.charges.values())
    async with sessions() as session:
        rows = (await session.scalars(select(LedgerEntryRow))).all()
    assert len(rows) == 40 and {r.status for r in rows} == {"succeeded"}
    assert {r.provider_ref for r in rows} == set(fake.refunds)


async def test_a_pending_refund_is_followed_until_it_succeeds_or_fails(stripe, sessions):
    fake, url = stripe
    payments = LedgerPayments(sessions, StripeRefunds(fake.api_key, url), pending_wait=10)
    slow = await an_order_paid_by(sessions, fake, pending_reads=2)
    result = await payments.refund(refund_of(slow))
    assert [r.status for r in result.refunds] == ["succeeded"] and not result.failures
    closed_card = await an_order_paid_by(sessions, fake, pending_reads=1, fails_later=True)
    result = await payments.refund(refund_of(closed_card))
    assert [r.status for r in result.refunds] == ["failed"]
    assert "expired_or_canceled_card" in result.failures[0]
    # Not followed long enough: it stays pending (counted as paid) and settles on a later look.
    patient = LedgerPayments(sessions, StripeRefunds(fake.api_key, url), pending_wait=0)
    later = await an_order_paid_by(sessions, fake, pending_reads=2)
    request = refund_of(later)
    assert [r.status for r in (await patient.refund(request)).refunds] == ["pending"]
    assert [r.status for r in (await payments.refund(request)).refunds] == ["succeeded"]
