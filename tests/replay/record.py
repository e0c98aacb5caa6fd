"""Record histories of finished returns for the replay test: `python -m tests.replay.record`.

Run it when the workflow changes or gains a path. Each run adds a set stamped with the time;
older sets stay, so that returns started under older code keep replaying."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowUpdateStage
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.activities.ledger import LedgerPayments
from returns_service.activities.stripe import StripeRefunds
from returns_service.config import Settings
from returns_service.domain.messages import (
    CARRIER_EVENT_SIGNAL,
    PAYMENT_EVENT_SIGNAL,
    AddItems,
    ApproveReturn,
    CarrierEvent,
    CloseReturn,
    PaymentEvent,
    ReceiveItems,
    RefundReturn,
    ReissueLabel,
    ReleaseMissing,
    ReportReplacement,
    ReturnUpdate,
    ShipReturn,
)
from returns_service.domain.models import (
    Actor,
    Policy,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
)
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.store.payments import refund_by_reference, settle_refund
from returns_service.worker.main import build_activities
from returns_service.workflows.returns import ReturnWorkflow
from tests.api.conftest import serving
from tests.conftest import SERVER_STARTUP, binary
from tests.factories import expensive_line, order_payload
from tests.fakes.stripe import FakeStripe
from tests.workflows.conftest import Harness, finished

HERE = Path(__file__).parent / "histories"
# What the API starts a return with when the shop's labels are the built-in ones.
BUILTIN: dict[str, Any] = {"labels_made_here": True}


def receive(condition: str) -> ReceiveItems:
    return ReceiveItems(
        actor=Actor(kind="warehouse"),
        location="WH1",
        items=[{"item_id": "ri_1", "quantity": 1, "condition": condition}],
    )


async def main() -> None:
    folder = Path(tempfile.mkdtemp())
    url = f"sqlite+aiosqlite:///{folder / 'store.db'}"
    await migrate_async(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    activities = build_activities(Settings(data_dir=folder), sessions)
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
        test_server_startup_timeout=SERVER_STARTUP,
    ) as env:
        harness = Harness(env, env.client, sessions, activities, "record")
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M")
        now = await harness.now()
        async with Worker(
            env.client, task_queue="record", workflows=[ReturnWorkflow], activities=activities.all()
        ):

            async def start(
                name: str, lines: list[Any] | None, policy: Policy, **options: Any
            ) -> Any:
                # A customer of their own each: none is a frequent returner.
                payload = order_payload(
                    number=name, now=now, lines=lines, email=f"{name.replace('_', '-')}@example.com"
                )
                order = await harness.put_order(payload, order_id=f"o_{name}")
                return await harness.start(order, policy=policy, **(BUILTIN | options))

            async def keep(handle: Any, name: str) -> None:
                await finished(handle)
                history = await handle.fetch_history()
                (HERE / f"{name}-{stamp}.json").write_text(history.to_json())
                print("recorded", name, len(history.events), "events")

            async def until(handle: Any, status: str) -> None:
                for _ in range(200):
                    state = await handle.query("state", result_type=ReturnState)
                    if state.status == status:
                        return
                    await asyncio.sleep(0.05)
                raise AssertionError(f"{handle.id} is {state.status} at {await harness.now()}")

            u = ReturnUpdate
            customer = Actor(kind="customer", id="ann@example.com")
            happy = await start("refunded", None, Policy())
            await happy.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await happy.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await happy.execute_update(u.RECEIVE, receive("good"))
            await keep(happy, "refunded")

            review = await start(
                "reviewed_expired",
                [expensive_line()],
                Policy(label_expiry_days=3, label_reissue_days=0),
            )
            await review.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await review.execute_update(u.APPROVE, ApproveReturn(actor=Actor(kind="agent")))
            await env.sleep(timedelta(days=3, seconds=1))
            await keep(review, "reviewed_expired")

            # Requested by an agent for a customer who called (the console's new return).
            damaged = await start(
                "damaged_agent_refund", None, Policy(),
                actor=Actor(kind="agent", id="maria@shop.example"),
                note="on behalf of ann@example.com",
            )  # fmt: skip
            await damaged.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await damaged.execute_update(u.RECEIVE, receive("damaged"))
            refund = RefundReturn(actor=Actor(kind="agent"), amount=1000, note="goodwill")
            await damaged.execute_update(u.REFUND, refund)
            # A part paid back leaves the rest refundable until the agent closes the return.
            # The second, below what the policy pays, tells the customer why.
            told = {"amount": 500, "reason": "The pot came back dented: half its price."}
            await damaged.execute_update(u.REFUND, refund.model_copy(update=told))
            await damaged.execute_update(u.CLOSE, CloseReturn(actor=Actor(kind="agent")))
            await keep(damaged, "damaged_agent_refund")

            # An agent takes a return 60 days after delivery (the window is 30), saying why.
            late_payload = order_payload(
                number="late_by_exception", now=now, email="late@example.com",
                delivered_days_ago=60,
            )  # fmt: skip
            late_order = await harness.put_order(late_payload, order_id="o_late_by_exception")
            late = await harness.start(
                late_order, actor=Actor(kind="agent", id="maria@shop.example"),
                note="on behalf of late@example.com; taken after the return window: abroad",
                window_exception="abroad for six weeks", **BUILTIN,
            )  # fmt: skip
            await late.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await late.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await late.execute_update(u.RECEIVE, receive("good"))
            await keep(late, "late_by_exception")

            # An agent waives the fees for a caller (the policy takes 10 % and €3.00).
            waived = await start(
                "fees_waived", None, Policy(restocking_fee_percent=10, return_shipping_fee=300),
                actor=Actor(kind="agent", id="maria@shop.example"),
                note="on behalf of fees-waived@example.com; fees waived: goodwill",
                fees_waived="goodwill",
            )  # fmt: skip
            await waived.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await waived.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await waived.execute_update(u.RECEIVE, receive("good"))
            await keep(waived, "fees_waived")

            # Store credit with the shop's 10 % bonus, under amounts per currency.
            per_currency = Policy(
                store_credit_bonus_percent=10,
                return_shipping_fee={"EUR": 300, "JPY": 9000},
                review_above_amount={"EUR": 20000, "*": 30000},
            )
            credit = await start(
                "store_credit_bonus", None, per_currency, resolution=Resolution.STORE_CREDIT
            )
            await credit.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await credit.execute_update(u.SHIP, ShipReturn(actor=Actor(kind="customer")))
            await credit.execute_update(u.RECEIVE, receive("good"))
            await keep(credit, "store_credit_bonus")

            exchange = await start(
                "exchange_fulfilled",
                None,
                Policy(),
                resolution=Resolution.EXCHANGE,
                replacement_items=[{"sku": "SKU-001-L", "quantity": 1}],
            )
            await exchange.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await exchange.execute_update(u.RECEIVE, receive("good"))
            while (await exchange.query("state", result_type=ReturnState)).replacement is None:
                await asyncio.sleep(0.05)
            report = ReportReplacement(actor=Actor(kind="integration"), status="fulfilled")
            await exchange.execute_update(u.REPLACEMENT, report)
            await keep(exchange, "exchange_fulfilled")

            tracked = await start("carrier_shipped", None, Policy())
            sent = await tracked.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            event = CarrierEvent(
                id="evt_record_1",
                tracking_number=sent.tracking_number or "",
                status="in_transit",
                occurred_at=now,
            )
            await tracked.signal(CARRIER_EVENT_SIGNAL, event)
            while (await tracked.query("state", result_type=ReturnState)).status != "shipped":
                await asyncio.sleep(0.05)
            await tracked.execute_update(u.RECEIVE, receive("good"))
            await keep(tracked, "carrier_shipped")

            # Shipped by the carrier's scan, then delivered to the warehouse (noted on the
            # timeline), then received.
            door = await start("carrier_delivered", None, Policy())
            await door.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            for n, status in enumerate(("in_transit", "delivered")):
                moved = CarrierEvent(
                    id=f"ev_door_{n}",
                    tracking_number="T",
                    status=status,
                    occurred_at=await harness.now(),
                )
                await door.signal(CARRIER_EVENT_SIGNAL, moved)
                for _ in range(200):
                    state = await door.query("state", result_type=ReturnState)
                    if len(state.timeline) > 3 + n:
                        break
                    await asyncio.sleep(0.05)
            await door.execute_update(u.RECEIVE, receive("good"))
            await keep(door, "carrier_delivered")

            # Paid back at the carrier's first scan (`refund_on: first_scan`), before anything
            # is back; the receipt then restocks and pays nothing more.
            early = await start("first_scan_refund", None, Policy(refund_on="first_scan"))
            await early.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            scan = CarrierEvent(
                id="ev_1", tracking_number="T", status="in_transit", occurred_at=await harness.now()
            )
            await early.signal(CARRIER_EVENT_SIGNAL, scan)
            for _ in range(200):
                if (await early.query("state", result_type=ReturnState)).refunded_amount:
                    break
                await asyncio.sleep(0.05)
            await early.execute_update(u.RECEIVE, receive("good"))
            await keep(early, "first_scan_refund")

            # An expired return that gets a new label and is sent back with it.
            relabelled = await start(
                "expired_new_label", None, Policy(label_expiry_days=2, label_reissue_days=5)
            )
            await relabelled.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await env.sleep(timedelta(days=2, seconds=1))
            await until(relabelled, "expired")
            await relabelled.execute_update(u.REISSUE_LABEL, ReissueLabel(actor=customer))
            await relabelled.execute_update(u.SHIP, ShipReturn(actor=customer))
            await relabelled.execute_update(u.RECEIVE, receive("good"))
            await keep(relabelled, "expired_new_label")

            # One whose time for a new label runs out.
            lapsed = await start(
                "expired_window_over", None, Policy(label_expiry_days=1, label_reissue_days=2)
            )
            await lapsed.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await env.sleep(timedelta(days=1, seconds=1))
            await until(lapsed, "expired")
            await env.sleep(timedelta(days=2, seconds=1))
            await keep(lapsed, "expired_window_over")

            # A forgotten item added to the parcel.
            socks = {"id": "l2", "sku": "SKU-SOCK", "name": "Socks", "quantity": 3,
                     "unit_amount": 900, "tax_amount": 513, "category": "apparel"}  # fmt: skip
            two = await start("item_added", [order_payload()["lines"][0], socks], Policy())
            await two.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            forgotten = ReturnItem(
                id="ri_2", order_id="o_item_added", line_id="l2", sku="SKU-SOCK", name="Socks",
                quantity=1, reason="wrong_size",
            )  # fmt: skip
            await two.execute_update(u.ADD_ITEMS, AddItems(actor=customer, items=[forgotten]))
            await two.execute_update(u.SHIP, ShipReturn(actor=customer))
            both = ReceiveItems(
                actor=Actor(kind="warehouse"),
                location="WH1",
                items=[
                    {"item_id": i, "quantity": 1, "condition": "good"} for i in ("ri_1", "ri_2")
                ],
            )
            await two.execute_update(u.RECEIVE, both)
            await keep(two, "item_added")

            # The customer keeps the item and is paid back at once.
            kept = await start(
                "kept_item",
                None,
                Policy(return_methods=["label", "keep_item"], keep_item_below_amount=5000),
                method=ReturnMethod.KEEP_ITEM,
            )
            await keep(kept, "kept_item")

            # Dropped off with a QR code, nothing printed.
            qr = await start(
                "qr_drop_off", None, Policy(return_methods=["qr_drop_off"]),
                method=ReturnMethod.QR_DROP_OFF,
            )  # fmt: skip
            await qr.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await qr.execute_update(u.SHIP, ShipReturn(actor=customer))
            await qr.execute_update(u.RECEIVE, receive("good"))
            await keep(qr, "qr_drop_off")

            # Brought to a store, and received there.
            store = {"id": "berlin-mitte", "name": "Berlin Mitte", "address": "Torstr. 1"}
            in_store = await start(
                "in_store", None, Policy(return_methods=["in_store"], stores=[store]),
                method=ReturnMethod.IN_STORE, store_id="berlin-mitte",
            )  # fmt: skip
            await in_store.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            at_store = receive("good").model_copy(update={"location": "berlin-mitte"})
            await in_store.execute_update(u.RECEIVE, at_store)
            await keep(in_store, "in_store")

            # Approved to be brought to a store, never brought: it expires.
            not_brought = await start(
                "in_store_expired", None,
                Policy(return_methods=["in_store"], stores=[store], label_expiry_days=2),
                method=ReturnMethod.IN_STORE, store_id="berlin-mitte",
            )  # fmt: skip
            await not_brought.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await env.sleep(timedelta(days=2, seconds=1))
            await keep(not_brought, "in_store_expired")

            # A rule's fees on the refund.
            fee = {"name": "apparel-fee", "when": {"categories": ["apparel"]},
                   "then": {"restocking_fee_percent": 10, "return_shipping_fee": 300}}  # fmt: skip
            ruled = await start("ruled_fee", None, Policy(rules=[fee]))
            await ruled.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await ruled.execute_update(u.RECEIVE, receive("good"))
            await keep(ruled, "ruled_fee")

            # A gift returned by its recipient: store credit of their own, emails to them.
            address = {"name": "Grace", "line1": "1 High St", "postal_code": "SW1A 1AA",
                       "city": "London", "country": "GB"}  # fmt: skip
            payload = order_payload(
                number="gift", now=now, email="gift-buyer@example.com", gift=True,
                shipping_address=address,
            )  # fmt: skip
            gift_order = await harness.put_order(payload, order_id="o_gift")
            recipient = Actor(kind="customer", id="grace@example.com")
            gift = await harness.start(
                gift_order, resolution=Resolution.STORE_CREDIT, actor=recipient,
                recipient_email="grace@example.com", **BUILTIN,
            )  # fmt: skip
            await gift.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await gift.execute_update(u.SHIP, ShipReturn(actor=recipient))
            await gift.execute_update(u.RECEIVE, receive("good"))
            await keep(gift, "gift_store_credit")

            # Prices pushed again after the approval: the policy pays what was approved, an
            # agent pays more with a reason and closes.
            mug = {"id": "l1", "sku": "MUG", "name": "Mug", "quantity": 1, "unit_amount": 1000}
            repriced = await start("prices_pushed_again", [mug], Policy())
            await repriced.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            dearer = order_payload(
                number="prices_pushed_again", now=now, lines=[{**mug, "unit_amount": 100000}],
                email="prices-pushed-again@example.com",
            )  # fmt: skip
            await harness.put_order(dearer, order_id="o_prices_pushed_again")
            await repriced.execute_update(u.RECEIVE, receive("good"))
            await until(repriced, "refunded")
            more = RefundReturn(actor=Actor(kind="agent"), amount=500, note="goodwill")
            await repriced.execute_update(u.REFUND, more)
            await repriced.execute_update(u.CLOSE, CloseReturn(actor=Actor(kind="agent")))
            await keep(repriced, "prices_pushed_again")

            # An exchange whose replacement names the shirt it replaces; a cap added later is
            # paid back once the replacement is fulfilled; a third item never arrives.
            cap = {"id": "l2", "sku": "CAP", "name": "Cap", "quantity": 1, "unit_amount": 900}
            scarf = {"id": "l3", "sku": "SCARF", "name": "Scarf", "quantity": 1,
                     "unit_amount": 1400}  # fmt: skip
            by_item = await start(
                "exchange_by_item", [order_payload()["lines"][0], cap, scarf], Policy(),
                resolution=Resolution.EXCHANGE,
                replacement_items=[{"sku": "SKU-001-L", "quantity": 1, "item_id": "ri_1"}],
            )  # fmt: skip
            await by_item.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            added = [
                ReturnItem(
                    id=f"ri_{n}",
                    order_id="o_exchange_by_item",
                    line_id=line["id"],
                    sku=line["sku"],
                    name=line["name"],
                    quantity=1,
                    reason="wrong_size",
                )  # fmt: skip
                for n, line in ((2, cap), (3, scarf))
            ]
            await by_item.execute_update(
                u.ADD_ITEMS, AddItems(actor=customer, items=added, policy=Policy())
            )
            part = ReceiveItems(
                actor=Actor(kind="warehouse"),
                location="WH1",
                items=[
                    {"item_id": i, "quantity": n, "condition": "good"}
                    for i, n in (("ri_1", 1), ("ri_2", 1), ("ri_3", 0))
                ],
            )
            await by_item.execute_update(u.RECEIVE, part)
            while (await by_item.query("state", result_type=ReturnState)).replacement is None:
                await asyncio.sleep(0.05)
            await by_item.execute_update(u.REPLACEMENT, report)
            await env.sleep(timedelta(days=14, seconds=1))  # the scarf is released
            await keep(by_item, "exchange_by_item")

            # An exchange of two shirts, one in the parcel: its replacement is made for it; the
            # other comes while the replacement is open and is restocked and paid back.
            two_for_two = await start(
                "exchange_late", None, Policy(), quantity=2, resolution=Resolution.EXCHANGE,
                replacement_items=[{"sku": "SKU-001-L", "quantity": 2, "item_id": "ri_1"}],
            )  # fmt: skip
            await two_for_two.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
            await two_for_two.execute_update(u.RECEIVE, receive("good"))
            while (await two_for_two.query("state", result_type=ReturnState)).replacement is None:
                await asyncio.sleep(0.05)
            await two_for_two.execute_update(u.RECEIVE, receive("good"))
            await two_for_two.execute_update(u.REPLACEMENT, report)
            await keep(two_for_two, "exchange_late")

            # Two caps sent back, one arrives: paid for it, the other waited for. One return's
            # second cap arrives late and is paid; another's never does and is released when
            # the policy's days are over; an agent marks a third's "not coming".
            caps = {"id": "l1", "sku": "CAP", "name": "Cap", "quantity": 2, "unit_amount": 900}
            for name in ("missing_not_coming", "missing_late", "missing_released"):
                parcel = await start(name, [caps], Policy(missing_after_days=3), quantity=2)
                await parcel.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
                await parcel.execute_update(u.SHIP, ShipReturn(actor=customer))
                await parcel.execute_update(u.RECEIVE, receive("good"))
                await until(parcel, "refunded")
                if name == "missing_late":
                    await env.sleep(timedelta(days=1))
                    await parcel.execute_update(u.RECEIVE, receive("good"))
                elif name == "missing_not_coming":
                    gone = ReleaseMissing(actor=Actor(kind="agent"), reason="lost by the carrier")
                    # Answered as the return closes: the test server may have let go of the
                    # answer by then (update not found), so only its acceptance is awaited.
                    await parcel.start_update(
                        u.RELEASE_MISSING, gone, wait_for_stage=WorkflowUpdateStage.ACCEPTED
                    )
                else:
                    await env.sleep(timedelta(days=3, seconds=1))
                await keep(parcel, name)

            # Paid through Stripe (a local server that behaves as Stripe's API): one refund
            # pending until Stripe's word six hours on; one that fails after Stripe paid it,
            # opening the closed return again for an agent, who pays it once more. Each then
            # listens for a late failure for 30 days.
            stripe = FakeStripe()
            async with serving(stripe.app()) as stripe_url:
                processor = StripeRefunds(stripe.api_key, stripe_url)
                payments = LedgerPayments(sessions, processor, pending_wait=0)
                async with harness.with_adapters(payments=payments):
                    for name in ("stripe_pending", "stripe_failed_later"):
                        # Ordered days ago on the clock as it is now (it skipped ahead above).
                        payload = order_payload(
                            number=name,
                            now=await harness.now(),
                            email=f"{name.replace('_', '-')}@example.com",
                        )
                        capture = payload["captures"][0]
                        pending = 2 if name == "stripe_pending" else 0
                        stripe.add_charge(capture["id"], capture["amount"], pending_reads=pending)
                        order = await harness.put_order(payload, order_id=f"o_{name}")
                        paid = await harness.start(order, policy=Policy(), **BUILTIN)
                        await paid.execute_update(u.WAIT_DECIDED, result_type=ReturnState)
                        # Only its acceptance is awaited: a client waiting for an answer lets
                        # the test server skip ahead past the pending refund's six hours.
                        await paid.start_update(
                            u.RECEIVE, receive("good"), wait_for_stage=WorkflowUpdateStage.ACCEPTED
                        )
                        if name == "stripe_pending":
                            await until(paid, "refunded")
                            await env.sleep(timedelta(hours=7))
                        else:
                            await until(paid, "closed")
                            state = await paid.query("state", result_type=ReturnState)
                            reference = str(state.refunds[0].reference)
                            stripe.fail(reference)
                            async with sessions.begin() as session:
                                row = await refund_by_reference(session, reference)
                                assert row is not None
                                settle_refund(row, "failed", "expired_or_canceled_card")
                            event = PaymentEvent(id="evt_1", reference=reference, status="failed")
                            await paid.signal(PAYMENT_EVENT_SIGNAL, event)
                            await until(paid, "refunded")
                            again = RefundReturn(actor=Actor(kind="agent"))
                            await paid.start_update(
                                u.REFUND, again, wait_for_stage=WorkflowUpdateStage.ACCEPTED
                            )
                        await until(paid, "closed")
                        await env.sleep(timedelta(days=31))
                        await keep(paid, name)
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
