"""Every branch of the return workflow, on the time-skipping test server with the real activities
over a real SQLite store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowUpdateFailedError

from returns_service.activities.ledger import LedgerPayments
from returns_service.domain import search
from returns_service.domain.messages import (
    ApproveReturn,
    CancelReturn,
    CloseReturn,
    ReceiveItems,
    RefundReturn,
    RejectReturn,
    ReportReplacement,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, Resolution, ReturnState
from returns_service.gateway import register_search_attributes
from returns_service.store.tables import (
    LedgerEntryRow,
    OutboxEmailRow,
    ReplacementOrderRow,
    ReturnLineRow,
    ReturnRow,
    StockLevelRow,
)
from tests.factories import expensive_line, order_payload
from tests.workflows.conftest import finished

AGENT = Actor(kind="agent")
WAREHOUSE = Actor(kind="warehouse")


async def update(handle, name, message=None):
    args = [] if message is None else [message]
    return await handle.execute_update(name, args=args, result_type=ReturnState)


def receive(*conditions):
    return ReceiveItems(
        actor=WAREHOUSE,
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": c} for c in conditions],
    )


async def ledger(sessions, return_id):
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.return_id == return_id)
            )
        ).all()
    return rows


async def test_approved_return_is_labelled_shipped_received_restocked_refunded_and_closed(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent"
    assert decided.number.startswith("R-")
    assert decided.estimated_refund_amount == 2725
    assert decided.label.tracking_number
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    final = await finished(handle)
    assert final.status == "closed"
    assert final.refunded_amount == 2725
    assert [r.capture_id for r in final.refunds] == ["cap_1001"]
    assert final.items[0].quantity_restocked == 1
    assert [e.status for e in final.timeline] == [
        "requested",
        "approved",
        "label_sent",
        "shipped",
        "received",
        "refunded",
        "closed",
    ]
    async with harness.sessions() as session:
        stock = await session.get(StockLevelRow, ("SKU-001", "WH1"))
        emails = await session.scalar(
            select(func.count())
            .select_from(OutboxEmailRow)
            .where(OutboxEmailRow.return_id == final.id)
        )
        projected = await session.scalar(select(ReturnRow).where(ReturnRow.id == final.id))
    assert stock.quantity == 1
    assert emails == 6  # approved, label_sent, shipped, received, refunded, closed
    assert projected.status == "closed"


async def test_a_return_keeps_the_search_attributes_that_find_it_in_temporal(harness):
    """Registered on the namespace (as the API does when it may), they follow the return: its
    number, status, customer and orders; a return started without them runs the same."""
    assert await register_search_attributes(harness.client)
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, indexed=True)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    found = (await handle.describe()).typed_search_attributes
    assert found.get(search.RETURN_NUMBER) == decided.number
    assert found.get(search.RETURN_STATUS) == "label_sent"
    assert found.get(search.CUSTOMER_EMAIL) == order.customer.email.lower()
    assert found.get(search.ORDER_IDS) == [order.id]
    await update(handle, ReturnUpdate.CANCEL, CancelReturn(actor=Actor(kind="customer")))
    await finished(handle)
    assert (await handle.describe()).typed_search_attributes.get(search.RETURN_STATUS) == (
        "cancelled"
    )
    plain = await harness.start(order)
    await update(plain, ReturnUpdate.WAIT_DECIDED)
    assert (await plain.describe()).typed_search_attributes.get(search.RETURN_STATUS) is None


async def test_a_new_returns_history_takes_every_patch_of_its_release_at_once(harness):
    """Issue 24: a return started under this release records one patch marker (and Temporal's
    one TemporalChangeVersion upsert with it), not one of each per patch its path asks: its
    happy path asks five; and where the shop's labels are the built-in ones, the label is made
    by a local activity rather than an activity task. Returns started before replay as they
    ran (tests/replay). (The whole history's length varies with how the worker batches its
    tasks; bench/lifecycle.py prints it: 50 events through the API, 60 before.)"""
    assert await register_search_attributes(harness.client)
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, indexed=True, labels_made_here=True)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent" and decided.label is not None
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    assert (await finished(handle)).status == "closed"
    events = (await handle.fetch_history()).events
    # A built-in label is a write to the store: made by a local activity, no task of its own.
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    assert scheduled == ["issue_refund"], scheduled
    markers = [
        e.marker_recorded_event_attributes
        for e in events
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
    ]
    patches = [
        m.details["patch-data"].payloads[0].data for m in markers if m.marker_name == "core_patch"
    ]
    assert patches == [b'{"id":"release-2026-12","deprecated":false}'], patches
    versions = [
        e for e in events
        if e.event_type == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES
        and "TemporalChangeVersion"
        in e.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
    ]  # fmt: skip
    assert len(versions) == 1


async def test_expensive_return_waits_for_an_agent_who_approves(harness):
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[expensive_line()])
    )
    handle = await harness.start(order)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "pending_review"
    assert any(r.rule == "review_threshold" and r.outcome == "review" for r in decided.eligibility)
    approved = await update(handle, ReturnUpdate.APPROVE, ApproveReturn(actor=AGENT, note="ok"))
    assert approved.status == "label_sent"
    assert approved.decision.outcome == "approved" and not approved.decision.automatic


async def test_agent_rejects_a_return_under_review(harness):
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[expensive_line()])
    )
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.REJECT, RejectReturn(actor=AGENT, reason="used"))
    final = await finished(handle)
    assert final.status == "rejected" and final.decision.reason == "used"


async def test_return_after_the_window_is_rejected_by_policy(harness):
    order = await harness.put_order(order_payload(now=await harness.now(), delivered_days_ago=40))
    handle = await harness.start(order)
    final = await finished(handle)
    assert final.status == "rejected"
    assert "window closed" in final.decision.reason


async def test_final_sale_item_is_rejected(harness):
    line = {**order_payload()["lines"][0], "final_sale": True}
    order = await harness.put_order(order_payload(now=await harness.now(), lines=[line]))
    final = await finished(await harness.start(order))
    assert final.status == "rejected"
    assert any(r.rule == "final_sale" and r.outcome == "ineligible" for r in final.eligibility)


async def test_customer_cancels_before_shipment_and_the_units_are_returnable_again(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    first = await harness.start(order, quantity=2)
    await update(first, ReturnUpdate.WAIT_DECIDED)
    await update(
        first,
        ReturnUpdate.CANCEL,
        CancelReturn(actor=Actor(kind="customer"), reason="changed mind"),
    )
    assert (await finished(first)).status == "cancelled"
    second = await harness.start(order, quantity=2)
    decided = await update(second, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent", decided.eligibility


async def test_cancel_after_receipt_is_refused_and_leaves_no_trace_in_history(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=Policy(auto_refund=False))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, ReturnUpdate.CANCEL, CancelReturn(actor=AGENT))
    assert refused.value.cause.type == "InvalidTransition"
    assert refused.value.cause.details[0]["current_status"] == "received"
    history = await handle.fetch_history()
    accepted = [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    assert "cancel" not in accepted and "receive" in accepted


async def test_label_expires_after_the_policy_days_without_shipment(harness, env):
    order = await harness.put_order(order_payload(now=await harness.now()))
    # (No new label after expiry: tests/workflows/test_reissue_and_added_items.py has those.)
    handle = await harness.start(order, policy=Policy(label_expiry_days=7, label_reissue_days=0))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await env.sleep(timedelta(days=7, seconds=1))  # the time-skipping server jumps over them
    final = await finished(handle)
    assert final.status == "expired"
    lifetime = final.label.expires_at - final.timestamps.approved_at
    assert timedelta(days=7) <= lifetime < timedelta(days=7, seconds=5)
    assert (
        timedelta(0) <= final.timestamps.expired_at - final.label.expires_at < timedelta(minutes=1)
    )


async def test_shipped_return_does_not_expire(harness, env):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=Policy(label_expiry_days=2))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))
    await env.sleep(timedelta(days=5))
    state = await handle.query("state", result_type=ReturnState)
    assert state.status == "shipped"
    await update(handle, ReturnUpdate.RECEIVE, receive("new"))
    assert (await finished(handle)).status == "closed"


async def test_damaged_item_waits_for_the_agent_who_refunds_part(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert (await handle.query("state", result_type=ReturnState)).estimated_refund_amount == 2725
    received = await update(handle, ReturnUpdate.RECEIVE, receive("damaged"))
    assert received.status == "received" and received.estimated_refund_amount == 0
    await asyncio.sleep(0.2)
    state = await handle.query("state", result_type=ReturnState)
    assert state.status == "received" and state.refunded_amount == 0
    assert state.items[0].quantity_restocked == 0
    with pytest.raises(WorkflowUpdateFailedError) as too_much:
        await update(handle, ReturnUpdate.REFUND, RefundReturn(actor=AGENT, amount=2726))
    assert too_much.value.cause.type == "RefundTooLarge"
    assert await ledger(harness.sessions, state.id) == []
    # Damaged goods: the policy pays nothing, so the agent says why they pay.
    with pytest.raises(WorkflowUpdateFailedError) as unexplained:
        await update(handle, ReturnUpdate.REFUND, RefundReturn(actor=AGENT, amount=1000))
    assert unexplained.value.cause.type == "InvalidInput"
    goodwill = RefundReturn(actor=AGENT, amount=1000, note="goodwill")
    refunded = await update(handle, ReturnUpdate.REFUND, goodwill)
    assert refunded.status == "refunded" and refunded.refunded_amount == 1000
    # A part paid back leaves the rest refundable until the agent closes the return.
    await asyncio.sleep(0.2)
    state = await handle.query("state", result_type=ReturnState)
    assert state.status == "refunded" and state.refundable_amount == 1725
    assert "refund" in state.actions() and "close" in state.actions()
    more = await update(handle, ReturnUpdate.REFUND, goodwill.model_copy(update={"amount": 500}))
    assert more.refunded_amount == 1500
    with pytest.raises(WorkflowUpdateFailedError):
        await update(handle, ReturnUpdate.REFUND, RefundReturn(actor=AGENT, amount=1226))
    await update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT))
    final = await finished(handle)
    assert final.status == "closed" and final.refunded_amount == 1500
    assert [r.amount for r in await ledger(harness.sessions, state.id)] == [1000, 500]


async def test_wrong_items_are_rejected_after_receipt(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.RECEIVE, receive("wrong_item"))
    await update(handle, ReturnUpdate.REJECT, RejectReturn(actor=AGENT, reason="not our product"))
    final = await finished(handle)
    assert final.status == "rejected" and final.refunded_amount == 0


async def test_agent_closes_a_received_return_without_refund(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=Policy(auto_refund=False))
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    await update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT))
    final = await finished(handle)
    assert final.status == "closed" and final.refunds == []


async def test_store_credit_resolution_refunds_as_store_credit(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, resolution=Resolution.STORE_CREDIT)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    final = await finished(handle)
    assert [(r.method, r.capture_id, r.amount) for r in final.refunds] == [
        ("store_credit", None, 2725)
    ]


async def test_receipt_of_an_unknown_item_is_refused(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    bad = ReceiveItems(
        actor=WAREHOUSE,
        location="WH1",
        items=[{"item_id": "ri_9", "quantity": 1, "condition": "good"}],
    )
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, ReturnUpdate.RECEIVE, bad)
    assert refused.value.cause.details[0]["field"] == "items[0].item_id"


async def test_two_returns_for_the_last_units_exactly_one_gets_them(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    first, second = await asyncio.gather(
        harness.start(order, quantity=2), harness.start(order, quantity=2)
    )
    decided = await asyncio.gather(
        update(first, ReturnUpdate.WAIT_DECIDED), update(second, ReturnUpdate.WAIT_DECIDED)
    )
    assert sorted(s.status for s in decided) == ["label_sent", "rejected"]
    [lost] = [s for s in decided if s.status == "rejected"]
    # The one that lost the race was never made: no number, nothing in the read model (the API
    # answers 409), its units held by the other.
    assert lost.void and lost.number is None
    async with harness.sessions() as session:
        assert await session.get(ReturnRow, lost.id) is None
        assert not (
            await session.scalars(select(ReturnLineRow).where(ReturnLineRow.return_id == lost.id))
        ).all()


class LostAcknowledgement:
    """The payment side accepts the refund, then the worker loses the answer once (as if it died
    before reporting back): the activity is retried."""

    def __init__(self, payments):
        self.payments = payments
        self.calls = 0

    async def refund(self, request):
        self.calls += 1
        refunds = await self.payments.refund(request)
        if self.calls == 1:
            raise ConnectionError("worker lost the payment side's answer")
        return refunds


async def test_refund_retried_after_a_lost_answer_pays_once(env, harness):
    flaky = LostAcknowledgement(LedgerPayments(harness.sessions))
    async with harness.with_adapters(payments=flaky):
        order = await harness.put_order(order_payload(now=await harness.now()))
        handle = await harness.start(order)
        await update(handle, ReturnUpdate.WAIT_DECIDED)
        await update(handle, ReturnUpdate.RECEIVE, receive("good"))
        final = await finished(handle)
    assert flaky.calls == 2
    assert final.status == "closed" and final.refunded_amount == 2725
    rows = await ledger(harness.sessions, final.id)
    assert [(r.amount, r.capture_id) for r in rows] == [(2725, "cap_1001")]


class HeldPayments:
    """A payment side that holds each refund until the test lets it go."""

    def __init__(self, payments):
        self.payments = payments
        self.called = asyncio.Event()
        self.release = asyncio.Event()

    async def refund(self, request):
        self.called.set()
        await self.release.wait()
        return await self.payments.refund(request)


async def test_a_close_that_arrives_while_a_refund_is_in_flight_waits_for_it(env, harness):
    held = HeldPayments(LedgerPayments(harness.sessions))
    async with harness.with_adapters(payments=held):
        order = await harness.put_order(order_payload(now=await harness.now()))
        handle = await harness.start(order, policy=Policy(auto_refund=False))
        await update(handle, ReturnUpdate.WAIT_DECIDED)
        await update(handle, ReturnUpdate.RECEIVE, receive("good"))
        refund = asyncio.create_task(
            update(handle, ReturnUpdate.REFUND, RefundReturn(actor=AGENT, amount=2000))
        )
        await held.called.wait()
        close = asyncio.create_task(update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT)))
        await asyncio.sleep(0.3)
        held.release.set()
        refunded, closed = await asyncio.gather(refund, close)
        final = await finished(handle)
    assert refunded.status == "refunded" and closed.status == "closed"
    assert final.status == "closed" and final.refunded_amount == 2000
    assert [r.amount for r in await ledger(harness.sessions, final.id)] == [2000]


LARGER = [{"sku": "SKU-001-L", "name": "Shirt (L)", "quantity": 1}]


async def replacement_row(sessions, return_id):
    async with sessions() as session:
        return await session.scalar(
            select(ReplacementOrderRow).where(ReplacementOrderRow.return_id == return_id)
        )


async def test_an_exchange_closes_only_once_its_replacement_order_is_fulfilled(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, resolution=Resolution.EXCHANGE, replacement_items=LARGER)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    with pytest.raises(WorkflowUpdateFailedError):
        await update(
            handle, ReturnUpdate.REPLACEMENT, ReportReplacement(actor=AGENT, status="fulfilled")
        )
    await update(handle, ReturnUpdate.RECEIVE, receive("good"))
    for _ in range(100):
        state = await handle.query("state", result_type=ReturnState)
        if state.replacement is not None:
            break
        await asyncio.sleep(0.02)
    assert state.replacement.status == "created"
    assert [i.sku for i in state.replacement.items] == ["SKU-001-L"]
    assert "close" not in state.actions() and "replacement" in state.actions()
    assert (await replacement_row(harness.sessions, state.id)).status == "created"
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT))
    assert "replacement order" in refused.value.cause.message
    report = ReportReplacement(
        actor=Actor(kind="integration"), status="fulfilled", order_reference="1001-X"
    )
    reported = await update(handle, ReturnUpdate.REPLACEMENT, report)
    assert reported.replacement.status == "fulfilled"
    assert reported.replacement.order_reference == "1001-X"
    final = await finished(handle)
    assert final.status == "closed" and final.refunds == [] and final.refunded_amount == 0
    assert final.items[0].quantity_restocked == 1
    assert (await replacement_row(harness.sessions, final.id)).status == "fulfilled"


async def test_an_exchange_whose_replacement_is_cancelled_is_paid_back(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, resolution=Resolution.EXCHANGE, replacement_items=LARGER)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    await update(handle, ReturnUpdate.RECEIVE, receive("new"))
    for _ in range(100):
        if (await handle.query("state", result_type=ReturnState)).replacement is not None:
            break
        await asyncio.sleep(0.02)
    await update(
        handle,
        ReturnUpdate.REPLACEMENT,
        ReportReplacement(actor=AGENT, status="cancelled", note="size L sold out"),
    )
    with pytest.raises(WorkflowUpdateFailedError):
        await update(
            handle, ReturnUpdate.REPLACEMENT, ReportReplacement(actor=AGENT, status="fulfilled")
        )
    final = await finished(handle)
    assert final.status == "closed" and final.replacement.status == "cancelled"
    assert [(r.method, r.amount) for r in final.refunds] == [("original_payment", 2725)]


async def test_an_exchange_received_damaged_makes_no_replacement_and_waits_for_an_agent(harness):
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, resolution=Resolution.EXCHANGE, replacement_items=LARGER)
    await update(handle, ReturnUpdate.WAIT_DECIDED)
    received = await update(handle, ReturnUpdate.RECEIVE, receive("damaged"))
    assert received.status == "received"
    await asyncio.sleep(0.2)
    state = await handle.query("state", result_type=ReturnState)
    assert state.replacement is None and state.status == "received"
    await update(handle, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT, note="no exchange"))
    assert (await finished(handle)).status == "closed"
