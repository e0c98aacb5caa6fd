"""Return methods (label, QR drop-off, in store, keep the item), the policy's rules and the shop's
block and allow lists, on the time-skipping test server with the real activities over SQLite."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import zxingcpp
from PIL import Image
from sqlalchemy import select

from returns_service.documents.qr import qr_png
from returns_service.domain.messages import (
    ApproveReturn,
    ReceiveItems,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import Actor, Policy, ReturnMethod, ReturnState
from returns_service.store import lists
from returns_service.store.orders import held_quantities
from returns_service.store.tables import LedgerEntryRow, ReturnInputRow, StockLevelRow
from tests.factories import expensive_line, order_payload
from tests.workflows.conftest import finished

AGENT = Actor(kind="agent", id="maria@shop.example")
SHOP = {"id": "berlin-mitte", "name": "Berlin Mitte", "address": "Torstraße 1, 10119 Berlin"}


async def update(handle, name, message=None):
    args = [] if message is None else [message]
    return await handle.execute_update(name, args=args, result_type=ReturnState)


async def money_moved(harness, return_id):
    async with harness.sessions() as session:
        rows = await session.scalars(
            select(LedgerEntryRow).where(LedgerEntryRow.return_id == return_id)
        )
        return sum(row.amount for row in rows)


async def stock(harness):
    async with harness.sessions() as session:
        return {
            (r.sku, r.location): r.quantity for r in await session.scalars(select(StockLevelRow))
        }


# --- methods ------------------------------------------------------------------------------------


async def test_a_kept_item_is_paid_back_at_once_and_closed_with_nothing_shipped(harness):
    policy = Policy(return_methods=["label", "keep_item"], keep_item_below_amount=3000)
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy, method=ReturnMethod.KEEP_ITEM)
    final = await finished(handle)
    assert final.status == "closed"
    assert final.method == "keep_item"
    assert final.refunded_amount == final.estimated_refund_amount == 2725
    assert final.label is None and final.tracking_number is None
    assert [item.quantity_received for item in final.items] == [0]
    assert [(e.status, e.note) for e in final.timeline] == [
        ("requested", None),
        ("approved", None),
        ("refunded", "the customer keeps the items"),
        ("closed", None),
    ]
    assert await money_moved(harness, final.id) == 2725
    assert await stock(harness) == {}


async def test_keeping_an_item_above_the_policy_limit_waits_for_an_agent(harness):
    policy = Policy(return_methods=["label", "keep_item"], keep_item_below_amount=1000)
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy, method=ReturnMethod.KEEP_ITEM)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "pending_review"
    [method] = [r for r in decided.eligibility if r.rule == "return_method"]
    assert method.outcome == "review" and "2725" in method.detail
    assert "refund" not in decided.actions() and "receive" not in decided.actions()
    await update(handle, ReturnUpdate.APPROVE, ApproveReturn(actor=AGENT))
    final = await finished(handle)
    assert [e.status for e in final.timeline][-2:] == ["refunded", "closed"]
    assert await money_moved(harness, final.id) == 2725


async def test_a_qr_drop_off_return_has_a_code_whose_qr_decodes_to_it(harness):
    policy = Policy(return_methods=["qr_drop_off"])
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy, method=ReturnMethod.QR_DROP_OFF)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent"
    code = decided.label.drop_off_code
    assert code and code.startswith("DO")
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr_png(code))))
    assert found.text == code and found.format == zxingcpp.BarcodeFormat.QRCode
    await update(handle, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))
    receipt = ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    )
    await update(handle, ReturnUpdate.RECEIVE, receipt)
    assert (await finished(handle)).refunded_amount == 2725


async def test_an_in_store_return_has_no_label_and_is_received_at_its_store(harness):
    policy = Policy(return_methods=["label", "in_store"], stores=[SHOP])
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(
        order, policy=policy, method=ReturnMethod.IN_STORE, store_id="berlin-mitte"
    )
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "approved" and decided.label is None
    assert decided.store_id == "berlin-mitte"
    assert "receive" in decided.actions() and "refund" not in decided.actions()
    receipt = ReceiveItems(
        actor=Actor(kind="warehouse", id="store@shop.example"),
        location="berlin-mitte",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    )
    await update(handle, ReturnUpdate.RECEIVE, receipt)
    final = await finished(handle)
    assert final.status == "closed" and final.receiving_location == "berlin-mitte"
    assert [e.status for e in final.timeline] == [
        "requested", "approved", "received", "refunded", "closed"
    ]  # fmt: skip
    assert await stock(harness) == {("SKU-001", "berlin-mitte"): 1}


async def test_items_not_brought_to_the_store_in_time_expire_and_are_returnable_again(harness, env):
    policy = Policy(return_methods=["in_store"], stores=[SHOP], label_expiry_days=3)
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(
        order, policy=policy, method=ReturnMethod.IN_STORE, store_id="berlin-mitte"
    )
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "approved"
    assert decided.bring_by - decided.timestamps.approved_at == timedelta(days=3)
    await env.sleep(timedelta(days=3, seconds=1))
    final = await finished(handle)
    assert final.status == "expired" and final.actions() == []
    assert final.timeline[-1].note == "not brought to the store in time"
    async with harness.sessions() as session:
        assert await held_quantities(session, [order.id]) == {}
    # The shirts can be returned again.
    again = await harness.start(order, policy=Policy(), quantity=2)
    assert (await update(again, ReturnUpdate.WAIT_DECIDED)).status == "label_sent"


async def test_an_in_store_return_an_agent_approves_gets_its_day_from_the_approval(harness):
    policy = Policy(
        return_methods=["in_store"], stores=[SHOP], label_expiry_days=5, review_above_amount=100
    )
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(
        order, policy=policy, method=ReturnMethod.IN_STORE, store_id="berlin-mitte"
    )
    waiting = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert waiting.status == "pending_review" and waiting.bring_by is None
    approved = await update(handle, ReturnUpdate.APPROVE, ApproveReturn(actor=AGENT))
    assert approved.status == "approved"
    assert approved.bring_by - approved.timestamps.approved_at == timedelta(days=5)


async def test_a_store_the_shop_does_not_have_is_rejected(harness):
    policy = Policy(return_methods=["in_store"], stores=[SHOP])
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy, method=ReturnMethod.IN_STORE, store_id="x")
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "rejected"
    assert "store x is not one of the shop's stores" in decided.decision.reason


# --- rules ----------------------------------------------------------------------------------------


async def test_a_rule_that_rejects_says_why_on_the_return(harness):
    policy = Policy(
        rules=[
            {
                "name": "worn-shirts",
                "when": {"reasons": ["wrong_size"], "categories": ["apparel"]},
                "then": {"reject": "Worn shirts cannot be returned."},
            },
            {"name": "tvs", "when": {"categories": ["electronics"]}, "then": {"review": True}},
        ]
    )
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "rejected"
    [rule] = [r for r in decided.eligibility if r.rule.startswith("policy_rule:")]
    assert (rule.rule, rule.outcome, rule.item_id) == (
        "policy_rule:worn-shirts", "ineligible", "ri_1"
    )  # fmt: skip
    assert rule.detail == "Shirt: Worn shirts cannot be returned."
    assert "Worn shirts cannot be returned." in decided.decision.reason
    assert await money_moved(harness, decided.id) == 0


async def test_a_rule_that_asks_for_review_sends_the_return_to_an_agent(harness):
    policy = Policy(
        review_above_amount=None,
        rules=[
            {"name": "pricey", "when": {"amount_above": 2000}, "then": {"review": True}},
            {"name": "defects", "when": {"reasons": ["defective"]}, "then": {"reject": "no"}},
        ],
    )
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "pending_review"
    rules = [(r.rule, r.outcome) for r in decided.eligibility if r.rule.startswith("policy_")]
    assert rules == [("policy_rule:pricey", "review")]
    cheap = await harness.start(order, policy=policy.model_copy(update={"rules": policy.rules[:1]}))
    # One unit is worth 2725, above 2000; the rule is about the item's value, not the order's.
    assert (await update(cheap, ReturnUpdate.WAIT_DECIDED)).status == "pending_review"


async def test_a_rule_changes_the_fees_of_the_items_it_matches(harness):
    """Apparel returns cost 10 % restocking and 300 shipping; the refund is the rest."""
    policy = Policy(
        restocking_fee_percent=50,
        return_shipping_fee=100,
        rules=[
            {
                "name": "apparel-fees",
                "when": {"categories": ["apparel"]},
                "then": {"restocking_fee_percent": 10, "return_shipping_fee": 300},
            }
        ],
    )
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order, policy=policy)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    # 2725 worth, less 273 restocking (10 %, rounded for the customer), less 300 shipping.
    assert decided.estimated_refund_amount == 2725 - 273 - 300
    [rule] = [r for r in decided.eligibility if r.rule == "policy_rule:apparel-fees"]
    assert rule.outcome == "eligible"
    assert rule.detail == "Shirt: restocking fee 10 %; return shipping fee 300"
    receipt = ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    )
    await update(handle, ReturnUpdate.RECEIVE, receipt)
    final = await finished(handle)
    assert final.refunded_amount == 2152
    assert await money_moved(harness, final.id) == 2152


async def test_a_rule_window_lets_an_item_back_after_the_policy_window(harness):
    policy = Policy(
        return_window_days=30,
        rules=[
            {"name": "long-apparel", "when": {"skus": ["SKU-001"]}, "then": {"window_days": 60}}
        ],
    )
    order = await harness.put_order(order_payload(now=await harness.now(), delivered_days_ago=45))
    decided = await update(await harness.start(order, policy=policy), ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent"
    assert not [r for r in decided.eligibility if r.rule == "return_window"]
    late = await harness.put_order(
        order_payload(number="1002", now=await harness.now(), delivered_days_ago=61), "o_2"
    )
    refused = await update(await harness.start(late, policy=policy), ReturnUpdate.WAIT_DECIDED)
    assert refused.status == "rejected"
    assert "60-day return window has closed" in refused.decision.reason


# --- lists ----------------------------------------------------------------------------------------


async def test_a_blocked_customer_waits_for_an_agent_who_reads_why(harness):
    async with harness.sessions.begin() as session:
        await lists.add_entry(
            session, "cl_1", "blocked", "Ann@Example.com", "chargebacks in 2025", "ops",
            datetime.now(UTC),
        )  # fmt: skip
    order = await harness.put_order(order_payload(now=await harness.now()))
    handle = await harness.start(order)
    decided = await update(handle, ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "pending_review"
    [blocked] = [r for r in decided.eligibility if r.rule == "blocked_customer"]
    assert (blocked.outcome, blocked.detail) == ("review", "chargebacks in 2025")
    # The decision's reason is what the customer may read: not why they are blocked.
    assert decided.decision.reason is None
    async with harness.sessions() as session:
        recorded = await session.get(ReturnInputRow, decided.id)
    assert recorded.facts["registered"]["customer_list"] == "blocked"
    assert recorded.facts["customer_email"] == "ann@example.com"


async def test_an_allowed_customer_skips_the_review_threshold(harness):
    async with harness.sessions.begin() as session:
        await lists.add_entry(
            session, "cl_2", "allowed", "ann@example.com", None, "ops", datetime.now(UTC)
        )
    order = await harness.put_order(
        order_payload(now=await harness.now(), lines=[expensive_line()])
    )
    decided = await update(await harness.start(order), ReturnUpdate.WAIT_DECIDED)
    assert decided.status == "label_sent"
    [threshold] = [r for r in decided.eligibility if r.rule == "review_threshold"]
    assert threshold.detail == "the customer is on the allowed list"
    assert decided.estimated_refund_amount > Policy().review_above_amount
