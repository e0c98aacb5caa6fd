"""Stripe's events about refunds, through the API and the worker with Stripe's SDK pointed at a
local server that behaves as Stripe documents: a refund that fails after Stripe accepted it opens
the closed return again for an agent, who pays it once more; forged, repeated and late events
change nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from returns_service.store.tables import LedgerEntryRow
from tests.api.conftest import STRIPE_SECRET, Providers, configured
from tests.fakes.stripe import FakeStripe

PATH = "/v1/payment-events/stripe"


@pytest.fixture
def stripe_api(providers: Providers) -> tuple[FakeStripe, Providers]:
    return providers.stripe, providers


async def send(
    stack: Providers, event: dict[str, Any], secret: str = STRIPE_SECRET, **headers: str
) -> Any:
    body = FakeStripe.body(event)
    signature = {"Stripe-Signature": FakeStripe.signed(body, secret), **headers}
    return await stack.api.http.post(
        PATH, content=body, headers={"content-type": "application/json", **signature}
    )


async def ledger(stack: Providers, return_id: str) -> list[tuple[int, str]]:
    async with stack.api.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntryRow)
            .where(LedgerEntryRow.return_id == return_id)
            .order_by(LedgerEntryRow.sequence)
        )
        return [(row.amount, row.status) for row in rows]


async def test_a_refund_that_fails_after_stripe_paid_it_opens_the_return_for_an_agent(stripe_api):
    fake, stack = stripe_api
    created = (await stack.api.create(await stack.paid_order())).json()
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await stack.api.act(created["id"], "receive", "warehouse", receipt)).status_code == 200
    closed = await stack.api.wait_for(created["id"], "closed")
    assert closed["status"] == "closed" and closed["refunded_amount"] == 2725
    [paid] = closed["refunds"]
    assert paid["status"] == "succeeded" and paid["reference"].startswith("re_")
    charge = fake.charges[paid["capture_id"]]
    assert charge.amount_refunded == 2725

    # Days later the customer's card turns out closed: Stripe tells us the refund failed.
    failed = fake.fail(paid["reference"])
    told = await send(stack, failed)
    assert told.status_code == 200, told.text
    assert told.json() == {
        "id": failed["id"], "return_id": created["id"], "duplicate": False, "settled": True,
        "forwarded": True,
    }  # fmt: skip
    reopened = await stack.api.wait_for(created["id"], "refunded")
    assert reopened["status"] == "refunded" and reopened["refunded_amount"] == 0
    assert [r["status"] for r in reopened["refunds"]] == ["failed"]
    assert reopened["errors"][-1]["code"] == "PaymentFailed"
    assert "expired_or_canceled_card" in reopened["errors"][-1]["detail"]
    history = await stack.api.http.get(
        f"/v1/returns/{created['id']}/history", headers=stack.api.auth("ops")
    )
    assert any(
        "failed after the payment processor accepted it: 2725 to cap_" in e["summary"]
        for e in history.json()["events"]
    ), history.json()["events"][-3:]
    assert "refund" in reopened["available_actions"]
    assert await ledger(stack, created["id"]) == [(2725, "failed")]

    # Stripe sends it again, and an older word of the refund arrives late: nothing changes.
    again = await send(stack, failed)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["settled"] is False
    late = await send(
        stack,
        fake.event("charge.refund.updated", {**failed["data"]["object"], "status": "succeeded"}),
    )
    assert late.status_code == 200 and late.json()["settled"] is False
    assert await ledger(stack, created["id"]) == [(2725, "failed")]
    still = await stack.api.wait_for(created["id"], "refunded")
    assert len(still["errors"]) == len(reopened["errors"]) and still["refunded_amount"] == 0

    # The agent pays it again (the customer gave another card to the charge's account): once.
    answer = await stack.api.act(created["id"], "refund", "agent", {})
    assert answer.status_code == 200, answer.text
    final = await stack.api.wait_for(created["id"], "closed")
    assert final["status"] == "closed" and final["refunded_amount"] == 2725
    assert await ledger(stack, created["id"]) == [(2725, "failed"), (2725, "succeeded")]
    # Two refunds of this charge at Stripe: the failed one and the one paid again.
    mine = [r["status"] for r in fake.refunds.values() if r["charge"] == charge.id]
    assert charge.amount_refunded == 2725 and mine == ["failed", "succeeded"]


async def test_forged_stale_or_malformed_events_are_refused_and_change_nothing(stripe_api):
    fake, stack = stripe_api
    created = (await stack.api.create(await stack.paid_order())).json()
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    await stack.api.act(created["id"], "receive", "warehouse", receipt)
    [paid] = (await stack.api.wait_for(created["id"], "closed"))["refunds"]
    event = fake.event("refund.failed", {**fake.refunds[paid["reference"]], "status": "failed"})
    body = FakeStripe.body(event)
    plain = {"content-type": "application/json"}

    unsigned = await stack.api.http.post(PATH, content=body, headers=plain)
    forged = await send(stack, event, secret="whsec_someone_else")
    stale = await stack.api.http.post(
        PATH,
        content=body,
        headers={
            **plain,
            "Stripe-Signature": FakeStripe.signed(body, STRIPE_SECRET, at=1_700_000_000),
        },
    )
    tampered = await stack.api.http.post(
        PATH,
        content=body.replace(b'"failed"', b'"succeeded"'),
        headers={**plain, "Stripe-Signature": FakeStripe.signed(body, STRIPE_SECRET)},
    )
    for refused in (unsigned, forged, stale, tampered):
        assert refused.status_code == 401, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert "signature" in refused.json()["detail"]
    not_json = b"{not json"
    malformed = await stack.api.http.post(
        PATH,
        content=not_json,
        headers={**plain, "Stripe-Signature": FakeStripe.signed(not_json, STRIPE_SECRET)},
    )
    assert malformed.status_code == 422 and malformed.json()["errors"][0]["field"] == "body"
    shapeless = await send(stack, {"id": "evt_x", "type": "refund.failed", "data": {}})
    assert shapeless.status_code == 422
    assert await ledger(stack, created["id"]) == [(2725, "succeeded")]
    assert (await stack.api.wait_for(created["id"], "closed"))["status"] == "closed"

    # An event about something that is not ours: kept, nothing else.
    stranger = await send(
        stack,
        fake.event("refund.failed", {"id": "re_elsewhere", "object": "refund", "status": "failed"}),
    )
    assert stranger.status_code == 200 and stranger.json()["return_id"] is None


async def test_without_a_signing_secret_stripe_events_are_refused(api):
    with configured(api.app, stripe_webhook_secret=None):
        answer = await api.http.post(PATH, content=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert answer.status_code == 503
    assert "RETURNS_STRIPE_WEBHOOK_SECRET" in answer.json()["detail"]
