"""Model-based test of the core promise: money is paid back as the policy says and never twice,
whatever people and systems do in whatever order.

A hypothesis state machine drives the real workflow (time-skipping server, real activities over
SQLite) through random sequences over several orders and two customers: orders pushed and pushed
again (captures removed, lowered, added; emails changed), policies changed, returns created (over
one or two orders, refund, store credit or exchange, keyed and repeated), approved, rejected,
cancelled, shipped, reported by the carrier, received in any condition, refunded by policy or by
an agent (in full, in part, beyond what is left), at the carrier's first scan where the policy
says so, refunds failing after they were paid,
exchanges fulfilled or cancelled, closed, days passing, and the worker restarted. After every
step it checks the invariants in the store:

- per capture, refunded <= captured; per order, everything paid back (store credit too) <= what
  was paid for it;
- per order line, the units claimed by returns <= the units bought, their value <= what the line
  cost, each return's share <= its units' share rounded up;
- the original shipping in at most one entitlement per order, and only once every unit is back
  (and there once every unit is back on returns refunded under policies that pay it);
- per return and order, paid back <= its entitlement; restocked <= received, and stock levels add
  up to their movements;
- orders paid through Shopify (a local stand-in of its Admin GraphQL API) are paid back there:
  what Shopify paid from a transaction is what the ledger says it paid (give or take what is on
  its way), each entry by one refund of its own, and no other capture is refunded there;
- for the return the step touched, once it settles: the workflow's refunded amount is the
  ledger's, the read model agrees with the workflow, and a return not finished has an action
  that can move it; no return records a store failure.

`RETURNS_MODEL_EXAMPLES` sets the number of sequences (the suite runs 24; `bench/
money_model.py` runs thousands). Failing examples are kept in `tests/workflows/model-examples/`
and replayed first on the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.activities.returns import ReturnActivities
from returns_service.domain.messages import (
    CARRIER_EVENT_SIGNAL,
    PAYMENT_EVENT_SIGNAL,
    STATE_QUERY,
    WORKFLOW_NAME,
    AddItems,
    ApproveReturn,
    CancelReturn,
    CarrierEvent,
    CloseReturn,
    PaymentEvent,
    ReceivedItem,
    ReceiveItems,
    RefundReturn,
    RejectReturn,
    ReleaseMissing,
    ReportReplacement,
    ReturnUpdate,
    ShipReturn,
    StartReturn,
)
from returns_service.domain.models import (
    RESTOCKABLE,
    Actor,
    Capture,
    Condition,
    Customer,
    Order,
    OrderLine,
    Policy,
    RefundMethod,
    ReplacementItem,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
)
from returns_service.domain.refunds import line_paid
from returns_service.domain.status import RELEASED, TERMINAL
from returns_service.shopify.orders import gid, paid_through_shopify
from returns_service.store.orders import OrderChangeRefused, put_order
from returns_service.store.payments import settle_refund
from returns_service.store.tables import (
    CaptureRow,
    LedgerEntryRow,
    RefundClaimRow,
    RefundEntitlementRow,
    ReturnLineRow,
    ReturnRow,
    StockLevelRow,
    StockMovementRow,
    StoreCreditBonusRow,
)
from returns_service.workflows.returns import ReturnWorkflow
from tests.api.conftest import serving
from tests.fakes.shopify import FakeShopify

EXAMPLES = int(os.environ.get("RETURNS_MODEL_EXAMPLES", "24"))
STEPS = int(os.environ.get("RETURNS_MODEL_STEPS", "25"))
EXAMPLES_DB = Path(__file__).parent / "model-examples"
# The suite's run is the same every time; a run given its own count (the long run) explores and
# keeps what fails in EXAMPLES_DB.
SUITE = "RETURNS_MODEL_EXAMPLES" not in os.environ

AGENT = Actor(kind="agent")
WAREHOUSE = Actor(kind="warehouse")
CUSTOMERS = ("ann@example.com", "bob@example.com")
# Refusals a person can meet; anything else failing an Update is a defect. (ItemsChanged: a
# receipt built on the item list as it was before items were added; it moves nothing.)
REFUSALS = {
    "InvalidTransition",
    "RefundTooLarge",
    "InvalidInput",
    "InsufficientCaptures",
    "ItemsChanged",
}
# Errors a return may show (a processor that refused); a store failure never.
RETURN_ERRORS = {"InsufficientCaptures", "PaymentFailed", "LabelRefused"}

PRICEY_FEES = {
    "name": "pricey-fees",
    "when": {"amount_above": 1000},
    "then": {"restocking_fee_percent": 20, "return_shipping_fee": 500},
}
# The same per currency: the returns here are in euros, so a yen amount taken for a euro one
# (90000 as €900.00) would pay far less back than the policy says.
PRICEY_FEES_PER_CURRENCY = {
    "name": "pricey-fees",
    "when": {"amount_above": {"EUR": 1000, "JPY": 100}},
    "then": {"restocking_fee_percent": 20, "return_shipping_fee": {"EUR": 500, "JPY": 90000}},
}
# A rule about yen only: it never matches a euro item.
YEN_ONLY = {
    "name": "yen-only",
    "when": {"amount_above": {"JPY": 0}},
    "then": {"return_shipping_fee": {"JPY": 90000}, "restocking_fee_percent": 100},
}


def in_euros(amount: Any) -> int | None:
    """A policy amount in euros, read here on its own (the test's oracle, not the service's)."""
    if amount is None or isinstance(amount, int):
        return amount
    return amount.get("EUR", amount.get("*"))


def fee_ceiling(policy: Policy) -> int:
    """The most return shipping fee a euro return under `policy` may pay."""
    fees = [in_euros(policy.return_shipping_fee) or 0]
    fees += [in_euros(rule.then.return_shipping_fee) or 0 for rule in policy.rules]
    return max(fees)


policies = st.builds(
    Policy,
    return_window_days=st.sampled_from([3, 30, 30]),
    # Amounts as one number for every currency, or per currency (euros named, or not: every
    # euro return reviewed, no fee, never kept).
    review_above_amount=st.sampled_from([None, 4000, {"EUR": 4000, "JPY": 400}, {"JPY": 400000}]),
    review_if_returns_in_90_days_over=st.none(),
    restocking_fee_percent=st.sampled_from([0, 10, 33]),
    return_shipping_fee=st.sampled_from([0, 300, {"EUR": 300, "JPY": 90000}, {"JPY": 90000}]),
    refund_original_shipping=st.booleans(),
    label_expiry_days=st.sampled_from([2, 30]),
    auto_refund=st.booleans(),
    # Kept items are paid back at once; a rule's fees replace the policy's for what it matches.
    return_methods=st.just([ReturnMethod.LABEL, ReturnMethod.KEEP_ITEM]),
    keep_item_below_amount=st.sampled_from([None, 3000, {"*": 3000, "JPY": 300}, {"JPY": 9000}]),
    rules=st.sampled_from([[], [PRICEY_FEES], [PRICEY_FEES_PER_CURRENCY], [YEN_ONLY]]),
    missing_after_days=st.sampled_from([2, 14]),
    # Paid at the warehouse's receipt, or when the carrier first reports the parcel moving.
    refund_on=st.sampled_from(["receipt", "receipt", "first_scan"]),
    # Store credit the customer chose comes with the shop's bonus.
    store_credit_bonus_percent=st.sampled_from([0, 0, 10, 25]),
)


@st.composite
def order_lines(draw: st.DrawFn) -> list[OrderLine]:
    lines = []
    for n in range(draw(st.integers(1, 3))):
        quantity = draw(st.integers(1, 3))
        unit = draw(st.integers(1, 3000))
        lines.append(
            OrderLine(
                id=f"l{n}" if n else "l:0",
                sku=f"SKU-{n}",
                name=f"Item {n}",
                quantity=quantity,
                unit_amount=unit,
                discount_amount=draw(st.integers(0, unit * quantity // 3)),
                tax_amount=draw(st.integers(0, 500)),
            )
        )
    return lines


def some_of(data: st.DataObject, order: Order, line: OrderLine, number: int) -> ReturnItem:
    """Some units of an order line, as the return's item `ri_<number>`."""
    return ReturnItem(
        id=f"ri_{number}",
        order_id=order.id,
        line_id=line.id,
        sku=line.sku,
        name=line.name,
        quantity=data.draw(st.integers(1, line.quantity)),
        reason="wrong_size",
    )


class Model:
    """What the machine knows between steps, and the bridge to the event loop the worker runs
    on (the machine runs in a thread of its own)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        env: WorkflowEnvironment,
        sessions: async_sessionmaker[AsyncSession],
        activities: ReturnActivities,
    ) -> None:
        self.loop = loop
        self.env = env
        self.sessions = sessions
        self.activities = activities
        self.task_queue = f"model-{uuid.uuid4().hex[:8]}"
        self.worker: Worker | None = None
        self.worker_run: asyncio.Future[None] | None = None
        # Shopify, for the orders paid through it (the ledger refunds those there).
        self.shopify: FakeShopify | None = None

    def run(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=120)

    async def start_worker(self) -> None:
        self.worker = Worker(
            self.env.client,
            task_queue=self.task_queue,
            workflows=[ReturnWorkflow],
            activities=self.activities.all(),
            # No cache: every workflow task replays the return's history, so each step also
            # proves the workflow deterministic, and a restart leaves no sticky queue behind
            # (which the test server would never time out).
            max_cached_workflows=0,
        )
        self.worker_run = asyncio.ensure_future(self.worker.run())

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.shutdown()
            assert self.worker_run is not None
            with contextlib.suppress(Exception):
                await self.worker_run
            self.worker = None


MODEL: Model | None = None


class ReturnsMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        assert MODEL is not None
        self.m = MODEL
        self.prefix = uuid.uuid4().hex[:6]
        self.orders: dict[str, Order] = {}
        self.returns: dict[str, WorkflowHandle[Any, Any]] = {}
        self.starts: dict[str, StartReturn] = {}
        # Each return as it was when it last settled.
        self.seen: dict[str, ReturnState] = {}
        # The most return shipping fee any policy of the sequence set for a euro return.
        self.most_fee = 0
        self.policy = Policy(review_if_returns_in_90_days_over=None)
        # Every snapshot each order was pushed with (what was paid is the most any said).
        self.snapshots: dict[str, list[Order]] = {}
        # Returns a person paid back an amount of their choosing (beyond the approval, maybe).
        self.named: set[str] = set()
        # Returns whose parcel the carrier reported moving.
        self.scanned: set[str] = set()

    @property
    def policy(self) -> Policy:
        """The policy new returns start under."""
        return self._policy

    @policy.setter
    def policy(self, policy: Policy) -> None:
        self._policy = policy
        self.most_fee = max(self.most_fee, fee_ceiling(policy))

    # --- orders and policy --------------------------------------------------------------------

    @initialize(
        lines=st.lists(order_lines(), min_size=2, max_size=3),
        policy=policies,
        one_customer=st.booleans(),
    )
    def shop(self, lines: list[list[OrderLine]], policy: Policy, one_customer: bool) -> None:
        """Every sequence starts with a few orders (of one customer or two) and a policy."""
        self.policy = policy
        for n, order_lines_ in enumerate(lines):
            customer = CUSTOMERS[0 if one_customer else n % 2]
            # The second order was paid through Shopify (and is refunded there).
            split = "shopify" if n == 1 else "one"
            self.push_order(customer, order_lines_, 490, 0, split, n % 2 == 1)

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        lines=order_lines(),
        shipping=st.sampled_from([0, 490, 990]),
        order_discount=st.sampled_from([0, 0, 150]),
        split=st.sampled_from(["one", "two", "short", "shopify"]),
        colon=st.booleans(),
    )
    def push_order(
        self,
        customer: str,
        lines: list[OrderLine],
        shipping: int,
        order_discount: int,
        split: str,
        colon: bool,
    ) -> None:
        n = len(self.orders)
        # Ids with `:` in them, as in the ledger-key defect: order `P` with capture `s:c`, order
        # `P:s` with capture `c`.
        order_id = f"{self.prefix}P" + (":s" if colon else "") + str(n)
        now = self.m.run(self.now())
        draft = Order(
            id=order_id,
            number=f"{self.prefix}-{n}",
            customer=Customer(email=customer),
            currency="EUR",
            placed_at=now - timedelta(days=2),
            delivered_at=now - timedelta(days=1),
            lines=lines,
            shipping_amount=shipping,
            order_discount_amount=min(
                order_discount,
                sum(ln.unit_amount * ln.quantity - ln.discount_amount for ln in lines),
            ),
        )
        paid = self.paid(draft)
        at = now - timedelta(days=2)
        if split == "two" and paid > 1:
            captures = [
                Capture(id="c" if colon else "s:c", amount=paid // 2, captured_at=at),
                Capture(id="c2", amount=paid - paid // 2, captured_at=at + timedelta(minutes=1)),
            ]
        elif split == "shopify" and self.m.shopify is not None:
            # Paid through Shopify: refunded there, by refundCreate.
            captures = [Capture(id=f"shopify:{order_id}", amount=paid, captured_at=at)]
        else:
            short = paid // 3 if split == "short" else 0
            captures = [Capture(id="c" if colon else "s:c", amount=paid - short, captured_at=at)]
        order = draft.model_copy(update={"captures": captures})
        self.m.run(self.put(order))
        self.orders[order_id] = order
        self.snapshots[order_id] = [order]

    @rule(
        data=st.data(),
        change=st.sampled_from(
            ["drop_capture", "lower", "add", "email", "raise_prices", "cut_prices"]
        ),
    )
    def push_order_again(self, data: st.DataObject, change: str) -> None:
        """The shop pushes an order again: captures removed, lowered or added, another email,
        or its prices raised (x10, the capture raised with them) or cut in half after returns
        were decided on the old ones."""
        if not self.orders:
            return
        order = self.orders[data.draw(st.sampled_from(list(self.orders)))]
        captures = list(order.captures)
        customer = order.customer
        lines = order.lines
        if change in ("raise_prices", "cut_prices"):
            factor = (10, 1) if change == "raise_prices" else (1, 2)
            lines = [
                line.model_copy(
                    update={
                        "unit_amount": line.unit_amount * factor[0] // factor[1],
                        "discount_amount": line.discount_amount * factor[0] // factor[1],
                        "tax_amount": line.tax_amount * factor[0] // factor[1],
                    }
                )
                for line in order.lines
            ]
            if change == "raise_prices":
                repriced = order.model_copy(update={"lines": lines})
                more = self.paid(repriced) - self.paid(order)
                at = captures[0].captured_at if captures else order.placed_at
                captures.append(Capture(id=f"r{len(captures)}", amount=more, captured_at=at))
        elif change == "drop_capture":
            captures = captures[1:]
        elif change == "lower" and captures:
            captures[0] = captures[0].model_copy(update={"amount": captures[0].amount // 2})
        elif change == "add":
            captures.append(
                Capture(id=f"x{len(captures)}", amount=500, captured_at=captures[0].captured_at)
                if captures
                else Capture(id="x0", amount=500, captured_at=order.placed_at)
            )
        else:
            other = [c for c in CUSTOMERS if c != customer.email][0]
            customer = Customer(email=other)
        changed = order.model_copy(
            update={"captures": captures, "customer": customer, "lines": lines}
        )
        try:
            self.m.run(self.put(changed))
        except OrderChangeRefused:
            return
        self.orders[order.id] = changed
        self.snapshots[order.id].append(changed)

    @rule(policy=policies)
    def change_policy(self, policy: Policy) -> None:
        self.policy = policy

    # --- returns ------------------------------------------------------------------------------

    @rule(
        data=st.data(),
        resolution=st.sampled_from(list(Resolution)),
        keyed_repeat=st.booleans(),
        waive=st.integers(0, 4),
    )
    def create_return(
        self, data: st.DataObject, resolution: Resolution, keyed_repeat: bool, waive: int = 1
    ) -> None:
        """A return of some lines of one or two orders; now and then one whose items the
        customer keeps (paid back at once where the policy allows it, else an agent decides)."""
        if not self.orders:
            return
        first = self.orders[data.draw(st.sampled_from(list(self.orders)))]
        same_customer = list(
            o
            for o, order in self.orders.items()
            if order.customer.email == first.customer.email and o != first.id
        )
        chosen = [first]
        if same_customer and data.draw(st.booleans()):
            chosen.append(self.orders[data.draw(st.sampled_from(same_customer))])
        items = []
        for order in chosen:
            for line in order.lines:
                if data.draw(st.booleans()) or not items:
                    items.append(some_of(data, order, line, len(items) + 1))
        kept = data.draw(st.integers(0, 3)) == 0
        method = ReturnMethod.KEEP_ITEM if kept else ReturnMethod.LABEL
        older = resolution is Resolution.EXCHANGE and data.draw(st.integers(0, 4)) == 0
        # Now and then an agent's, on the customer's behalf, with the fees waived.
        waived = waive == 0
        self.begin(items, first.customer.email, resolution, keyed_repeat, method, older, waived)

    @rule(data=st.data(), whole=st.sampled_from(["rest", "one line"]))
    def return_the_rest(self, data: st.DataObject, whole: str) -> None:
        """A return of every unit of an order that no open return holds (or of one whole line):
        the sequences where "the whole order is back" and unit values depend on what other
        returns did meanwhile."""
        order = self.orders[data.draw(st.sampled_from(list(self.orders)))]
        held: dict[str, int] = {}
        for return_id, start in self.starts.items():
            seen = self.seen.get(return_id)
            if seen is not None and seen.status.value in ("rejected", "cancelled", "expired"):
                continue
            for item in start.items:
                if item.order_id == order.id:
                    held[item.line_id] = held.get(item.line_id, 0) + item.quantity
        lines = [ln for ln in order.lines if ln.quantity > held.get(ln.id, 0)]
        if not lines:
            return
        if whole == "one line":
            lines = [data.draw(st.sampled_from(lines))]
        items = [
            ReturnItem(
                id=f"ri_{n + 1}",
                order_id=order.id,
                line_id=line.id,
                sku=line.sku,
                name=line.name,
                quantity=line.quantity - held.get(line.id, 0),
                reason="wrong_size",
            )
            for n, line in enumerate(lines)
        ]
        self.begin(items, order.customer.email, Resolution.REFUND, False)

    def begin(
        self,
        items: list[ReturnItem],
        email: str,
        resolution: Resolution,
        keyed_repeat: bool,
        method: ReturnMethod = ReturnMethod.LABEL,
        older_exchange: bool = False,
        waived: bool = False,
    ) -> None:
        return_id = f"ret_{uuid.uuid4().hex}"
        start = StartReturn(
            return_id=return_id,
            customer=Customer(email=email),
            currency="EUR",
            resolution=resolution,
            items=items,
            policy=self.policy,
            created_at=self.m.run(self.now()),
            actor=Actor(kind="agent", id="agent") if waived else Actor(kind="customer", id=email),
            fees_waived="a goodwill gesture" if waived else None,
            # Each replacement names the item it replaces (now and then the older kind, which
            # sends the whole replacement once everything is back in good order).
            replacement_items=(
                [
                    ReplacementItem(sku="SKU-X", quantity=item.quantity, item_id=item.id)
                    for item in items
                ]
                if resolution is Resolution.EXCHANGE and not older_exchange
                else [ReplacementItem(sku="SKU-X", quantity=1)]
                if resolution is Resolution.EXCHANGE
                else []
            ),
            method=method,
        )
        handle = self.m.run(self.start(start))
        if keyed_repeat:
            # The same create again (a keyed repeat): it finds the same workflow.
            again = self.m.run(self.start(start))
            assert again.result_run_id == handle.result_run_id
        self.returns[return_id] = handle
        self.starts[return_id] = start
        self.m.run(self.act(handle, ReturnUpdate.WAIT_DECIDED, None))
        self.settle(return_id)

    @rule(
        data=st.data(),
        resolution=st.sampled_from(list(Resolution)),
        keyed_repeat=st.booleans(),
        waive=st.integers(0, 4),
    )
    def create_another_return(
        self, data: st.DataObject, resolution: Resolution, keyed_repeat: bool, waive: int
    ) -> None:
        self.create_return(data, resolution, keyed_repeat, waive)

    def pick(self, data: st.DataObject, action: str) -> str | None:
        """A return, mostly one whose state allows `action` (else any: a refusal is tried)."""
        # In the order they were created (their ids are random): a replayed sequence picks the same.
        able = [r for r in self.returns if r in self.seen and action in self.seen[r].actions()]
        if able and data.draw(st.integers(0, 5)):
            return data.draw(st.sampled_from(able))
        if not self.returns:
            return None
        return data.draw(st.sampled_from(list(self.returns)))

    def decide(self, data: st.DataObject, action: str, message: Any) -> None:
        return_id = self.pick(data, action)
        if return_id is None:
            return
        self.m.run(self.act(self.returns[return_id], action, message))
        self.settle(return_id)

    @rule(data=st.data())
    def approve(self, data: st.DataObject) -> None:
        self.decide(data, ReturnUpdate.APPROVE, ApproveReturn(actor=AGENT))

    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        self.decide(data, ReturnUpdate.REJECT, RejectReturn(actor=AGENT, reason="no"))

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        self.decide(data, ReturnUpdate.CANCEL, CancelReturn(actor=Actor(kind="customer")))

    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        self.decide(data, ReturnUpdate.CLOSE, CloseReturn(actor=AGENT))

    @rule(data=st.data())
    def ship(self, data: st.DataObject) -> None:
        self.decide(data, ReturnUpdate.SHIP, ShipReturn(actor=Actor(kind="customer")))

    @rule(data=st.data(), status=st.sampled_from(["in_transit", "delivered", "failure"]))
    def carrier_reports(self, data: st.DataObject, status: str) -> None:
        return_id = self.pick(data, "ship")
        if return_id is None:
            return
        event = CarrierEvent(
            id=uuid.uuid4().hex,
            tracking_number="T",
            status=status,
            occurred_at=self.m.run(self.now()),  # the test server's clock, which skips ahead
        )
        with contextlib.suppress(RPCError):
            self.m.run(self.signalled(self.returns[return_id], CARRIER_EVENT_SIGNAL, event))
            if status != "failure":
                self.scanned.add(return_id)
        self.settle(return_id)

    @staticmethod
    async def signalled(handle: WorkflowHandle[Any, Any], name: str, arg: Any) -> None:
        """Signal, then wait for the workflow task that took it to complete: the server may not
        show that task pending at once, and what it starts (a refund at the first scan) would
        otherwise be checked before it ran."""
        before = (await handle.describe()).raw_description.workflow_execution_info.history_length
        await handle.signal(name, arg)
        for _ in range(500):
            info = (await handle.describe()).raw_description
            # Signalled and a task scheduled, started and completed (or the workflow ended).
            if info.workflow_execution_info.history_length >= before + 4:
                return
            await asyncio.sleep(0.01)

    @rule(data=st.data(), now=st.booleans())
    def receive(self, data: st.DataObject, now: bool = False) -> None:
        return_id = self.pick(data, "receive")
        if return_id is None:
            return
        # Most parcels arrive as sent; the others short, or in any condition. The warehouse
        # reads the return's items now, or as they were when it was requested (items added
        # since are then not in the receipt).
        seen = self.seen.get(return_id)
        if seen is not None and seen.missing() and data.draw(st.booleans()):
            # Units a partial receipt left missing arrive, graded as the first ones were (as
            # they come, for a line none of whose units had come).
            late = [
                ReceivedItem(
                    item_id=item.id,
                    quantity=data.draw(st.integers(1, seen.missing()[item.id])),
                    condition=item.condition or data.draw(st.sampled_from(list(Condition))),
                )
                for item in seen.items
                if item.id in seen.missing()
            ]
            receipt = ReceiveItems(actor=WAREHOUSE, location="WH1", items=late)
            self.m.run(self.act(self.returns[return_id], ReturnUpdate.RECEIVE, receipt))
            self.settle(return_id)
            return
        as_sent = data.draw(st.booleans())
        listed = self.m.run(self.state(return_id)).items if now else self.starts[return_id].items
        items = [
            ReceivedItem(item_id=item.id, quantity=item.quantity, condition=Condition.GOOD)
            if as_sent
            else ReceivedItem(
                item_id=item.id,
                quantity=data.draw(st.integers(0, item.quantity)),
                condition=data.draw(st.sampled_from(list(Condition))),
            )
            for item in listed
        ]
        receipt = ReceiveItems(actor=WAREHOUSE, location="WH1", items=items)
        self.m.run(self.act(self.returns[return_id], ReturnUpdate.RECEIVE, receipt))
        self.settle(return_id)

    @rule(
        data=st.data(),
        how=st.sampled_from(["default", "part", "beyond", "store_credit", "all", "above_due"]),
        why=st.booleans(),
    )
    def refund(self, data: st.DataObject, how: str, why: bool = False) -> None:
        """An agent's refund: what the policy pays, part of what is left, all of it, more than
        the policy pays (which needs a reason), or more than is left."""
        return_id = self.pick(data, "refund")
        if return_id is None:
            return
        state = self.m.run(self.state(return_id))
        left = state.refundable_amount or 0
        due = state.due_amount or 0
        amount = {
            "default": None,
            "part": left // 2,
            "beyond": left + data.draw(st.integers(1, 1000)),
            "store_credit": None,
            "all": left or None,
            "above_due": min(due + 1, left) or None,
        }[how]
        request = RefundReturn(
            actor=AGENT,
            amount=amount,
            method="store_credit" if how == "store_credit" else None,
            note="the agent's reason" if why else None,
        )
        if amount is not None:
            self.named.add(return_id)
        self.m.run(self.act(self.returns[return_id], ReturnUpdate.REFUND, request))
        self.settle(return_id)

    @rule(data=st.data())
    def not_coming(self, data: st.DataObject) -> None:
        """An agent: the units a partial receipt left missing are not coming."""
        release = ReleaseMissing(actor=AGENT, reason="the customer kept them")
        self.decide(data, ReturnUpdate.RELEASE_MISSING, release)

    @rule(data=st.data(), who=st.sampled_from(["customer", "agent"]))
    def add_items(self, data: st.DataObject, who: str) -> None:
        """Items the customer forgot, added to an open return of theirs (a refund, store credit
        or exchange one) under the shop's policy as it is now."""
        return_id = self.pick(data, "cancel")
        if return_id is None:
            return
        start = self.starts[return_id]
        email = start.customer.email
        taken = {(i.order_id, i.line_id) for i in self.m.run(self.state(return_id)).items}
        free = [
            (order, line)
            for order in self.orders.values()
            if order.customer.email == email
            for line in order.lines
            if (order.id, line.id) not in taken
        ]
        if not free:
            return
        order, line = data.draw(st.sampled_from(free))
        item = some_of(data, order, line, len(taken) + 1)
        actor = AGENT if who == "agent" else Actor(kind="customer", id=email)
        request = AddItems(actor=actor, items=[item], policy=self.policy)
        self.m.run(self.act(self.returns[return_id], ReturnUpdate.ADD_ITEMS, request))
        self.settle(return_id)

    @rule(data=st.data(), status=st.sampled_from(["fulfilled", "cancelled"]))
    def report_replacement(self, data: st.DataObject, status: str) -> None:
        return_id = self.pick(data, "replacement")
        if return_id is None:
            return
        report = ReportReplacement(actor=Actor(kind="integration"), status=status)
        self.m.run(self.act(self.returns[return_id], ReturnUpdate.REPLACEMENT, report))
        self.settle(return_id)

    @rule(data=st.data())
    def refund_fails_later(self, data: st.DataObject) -> None:
        """The payment side reports that a refund it paid failed after all (Stripe's
        `refund.failed`: a closed card): the ledger's entry fails, as the API's event endpoint
        records it, and the return's workflow is told. The money is owed again."""
        failable = {
            return_id: [
                r.id
                for r in state.refunds
                if r.status == "succeeded" and r.method is RefundMethod.ORIGINAL_PAYMENT
            ]
            for return_id, state in self.seen.items()
            if state.status not in TERMINAL
        }
        failable = {return_id: ids for return_id, ids in failable.items() if ids}
        if not failable:
            return
        return_id = data.draw(st.sampled_from(sorted(failable)))
        refund_id = data.draw(st.sampled_from(failable[return_id]))
        self.m.run(self.fail_refund(return_id, refund_id))
        self.settle(return_id)

    async def fail_refund(self, return_id: str, refund_id: str) -> None:
        async with self.m.sessions.begin() as session:
            row = await session.get(LedgerEntryRow, refund_id, with_for_update=True)
            assert row is not None and settle_refund(row, "failed", "expired_or_canceled_card")
            if paid_through_shopify(row.capture_id):
                # Shopify's refund transaction failed (the card bank sent it back).
                assert self.m.shopify is not None
                for paid in self.m.shopify.refunds_of(gid("OrderTransaction", row.capture_id)):
                    if paid["id"] in self.m.shopify.transactions_of(row.provider_ref):
                        paid["status"] = "FAILURE"
        event = PaymentEvent(id=f"evt_{refund_id}", reference=refund_id, status="failed")
        version = (await self.state(return_id)).version
        await self.returns[return_id].signal(PAYMENT_EVENT_SIGNAL, event)
        # The workflow reads its refunds again and records what changed: wait for that (the
        # server may not show the signal's task at once).
        for _ in range(500):
            if (await self.state(return_id)).version > version:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"{return_id} never heard of its failed refund")

    @rule(days=st.sampled_from([0, 0, 1, 3, 40]))
    def days_pass(self, days: int) -> None:
        if not days:
            return
        self.m.run(self.m.env.sleep(timedelta(days=days)))
        for return_id in self.returns:
            self.settle(return_id)

    @precondition(lambda self: len(self.returns) > 0)
    @rule(now=st.integers(0, 3))
    def restart_worker(self, now: int) -> None:
        """A new worker takes over every return (replaying each from its history)."""
        if now:
            return
        self.m.run(self.m.stop_worker())
        self.m.run(self.m.start_worker())

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def money_and_stock_add_up(self) -> None:
        if self.orders:
            self.m.run(self.check_store())

    def teardown(self) -> None:
        for return_id in self.returns:
            with contextlib.suppress(RPCError):
                self.m.run(self.returns[return_id].terminate("sequence finished"))

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def paid(order: Order) -> int:
        return sum(line_paid(order, line) for line in order.lines) + order.shipping_amount

    async def now(self) -> datetime:
        return (await self.m.env.get_current_time()).astimezone(UTC)

    async def put(self, order: Order) -> None:
        async with self.m.sessions.begin() as session:
            await put_order(session, order, datetime.now(UTC))
        if self.m.shopify is not None and any(paid_through_shopify(c.id) for c in order.captures):
            self.m.shopify.mirror(order)

    async def start(self, start: StartReturn) -> WorkflowHandle[Any, Any]:
        return await self.m.env.client.start_workflow(
            WORKFLOW_NAME,
            start,
            id=start.return_id,
            task_queue=self.m.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            result_type=ReturnState,
        )

    async def act(self, handle: WorkflowHandle[Any, Any], update: str, message: Any) -> None:
        try:
            if message is None:
                await handle.execute_update(update, result_type=ReturnState)
            else:
                await handle.execute_update(update, message, result_type=ReturnState)
        except WorkflowUpdateFailedError as failure:
            cause = failure.cause
            assert isinstance(cause, ApplicationError), repr(cause)
            assert cause.type in REFUSALS | RETURN_ERRORS, (cause.type, cause.message)
        except RPCError:
            # The workflow has finished: nothing can be asked of it any more.
            state = await handle.query(STATE_QUERY, result_type=ReturnState)
            assert state.status in TERMINAL

    async def state(self, return_id: str) -> ReturnState:
        return await self.returns[return_id].query(STATE_QUERY, result_type=ReturnState)  # type: ignore[no-any-return]

    def settle(self, return_id: str) -> None:
        self.m.run(self.settled(return_id))

    async def settled(self, return_id: str) -> None:
        """Wait until the return stops moving by itself (no workflow task, no activity pending,
        and the read model at the workflow's version), then check it against the store."""
        previous = None
        handle = self.returns[return_id]
        for _ in range(500):
            raw = (await handle.describe()).raw_description
            idle = not raw.pending_activities and not raw.HasField("pending_workflow_task")
            state = await self.state(return_id)
            async with self.m.sessions() as session:
                row = await session.scalar(select(ReturnRow).where(ReturnRow.id == return_id))
            key = (state.version, state.status, row.version if row else None)
            if idle and row is not None and row.version == state.version:
                break
            if idle and state.void:
                # It lost the race for its units: nothing of it is kept, nothing holds them.
                assert row is None and state.refunded_amount == 0, (row, state)
                async with self.m.sessions() as session:
                    lines = await session.scalar(
                        select(func.count())
                        .select_from(ReturnLineRow)
                        .where(ReturnLineRow.return_id == return_id)
                    )
                assert not lines
                self.seen[return_id] = state
                return
            previous = key
            await asyncio.sleep(0.01)
        else:
            raise AssertionError(f"{return_id} never settled: {previous}")
        assert row.status == state.status.value, (row.status, state.status)
        self.seen[return_id] = state
        if state.status not in TERMINAL:
            assert state.actions(), f"{return_id} is {state.status} with nothing to move it"
        codes = {error.code for error in state.errors}
        assert codes <= RETURN_ERRORS, state.errors
        async with self.m.sessions() as session:
            paid = await session.scalar(
                select(func.coalesce(func.sum(LedgerEntryRow.amount), 0)).where(
                    LedgerEntryRow.return_id == return_id, LedgerEntryRow.status != "failed"
                )
            )
            ledger = dict(
                (
                    await session.execute(
                        select(LedgerEntryRow.id, LedgerEntryRow.status).where(
                            LedgerEntryRow.return_id == return_id
                        )
                    )
                ).all()
            )
            moved = dict(
                (
                    await session.execute(
                        select(StockMovementRow.idempotency_key, StockMovementRow.quantity).where(
                            StockMovementRow.return_id == return_id
                        )
                    )
                ).all()
            )
            lines = {
                row.item_id: row
                for row in await session.scalars(
                    select(ReturnLineRow).where(ReturnLineRow.return_id == return_id)
                )
            }
            due, fees, restocking = (
                await session.execute(
                    select(
                        func.sum(RefundEntitlementRow.due_amount),
                        func.coalesce(func.sum(RefundEntitlementRow.return_shipping_fee), 0),
                        func.coalesce(func.sum(RefundEntitlementRow.restocking_fee), 0),
                    ).where(RefundEntitlementRow.return_id == return_id)
                )
            ).one()
        # The return shipping fee is the policy's in the return's currency (euros), one per
        # parcel: never another currency's amount, never more than any euro fee it set.
        assert fees <= self.most_fee, f"{return_id}: a fee of {fees}, at most {self.most_fee}"
        # The shop's bonus: only on store credit the customer chose, once per refund, the
        # return's own policy's percent of what that refund paid in store credit (rounded
        # down), and never part of what the orders pay back.
        async with self.m.sessions() as session:
            bonuses = (
                await session.scalars(
                    select(StoreCreditBonusRow).where(StoreCreditBonusRow.return_id == return_id)
                )
            ).all()
            credit = dict(
                (
                    await session.execute(
                        select(LedgerEntryRow.sequence, func.sum(LedgerEntryRow.amount))
                        .where(
                            LedgerEntryRow.return_id == return_id,
                            LedgerEntryRow.method == "store_credit",
                        )
                        .group_by(LedgerEntryRow.sequence)
                    )
                ).all()
            )
        start = self.starts[return_id]
        assert state.store_credit_bonus == sum(b.amount for b in bonuses), return_id
        for bonus in bonuses:
            assert start.resolution is Resolution.STORE_CREDIT, return_id
            assert bonus.percent == start.policy.store_credit_bonus_percent, return_id
            assert bonus.base_amount == credit.get(bonus.sequence), (return_id, bonus.sequence)
        if bonuses:  # the bonus of all the credit, however many refunds it came in
            whole = sum(credit.values()) * start.policy.store_credit_bonus_percent // 100
            assert sum(b.amount for b in bonuses) == whole, return_id
        # Fees an agent waived are not taken, whatever the policy or its rules say.
        if self.starts[return_id].fees_waived:
            assert fees == restocking == 0, f"{return_id}: waived, yet {fees} + {restocking}"
        assert state.refunded_amount == paid, (state.refunded_amount, paid)
        # Each refund as the payment side knows it (one that failed later too).
        known = {r.id: r.status for r in state.refunds if not r.id.startswith("rf_failed_")}
        assert known == ledger, (known, ledger)
        for item in state.items:
            # A late receipt restocks what it adds under a key of its own (the line's total).
            mine = f"restock:{return_id}:{item.id}"
            restocked = sum(q for k, q in moved.items() if k == mine or k.startswith(mine + ":"))
            assert restocked <= item.quantity_received
            if restocked:
                assert item.condition in (Condition.NEW, Condition.GOOD)
        # Paid as decided: never more than the approval fixed, unless a person named more.
        if state.approved_amount is not None and return_id not in self.named:
            assert state.refunded_amount <= state.approved_amount, (
                f"{return_id}: {state.refunded_amount} paid, {state.approved_amount} approved"
            )
        # A return the workflow closed by itself paid what the policy owed (within what was
        # approved): nothing that came back good is left unpaid and unreplaced.
        closer = state.timeline[-1].actor.kind if state.timeline else None
        older = state.replacement is not None and any(
            line.item_id is None for line in state.replacement.items
        )  # (an exchange of the older kind closes once sent, as it always did)
        if state.status.value == "closed" and closer == "system" and due and not older:
            approved = state.approved_amount
            owed = min(int(due), approved if approved is not None else int(due))
            assert paid >= owed, f"{return_id} closed by itself: {paid} paid, {owed} owed"
        # Replaced units <= units received in a condition the policy accepts.
        if state.replacement is not None:
            for item in state.items:
                replaced = sum(
                    line.quantity for line in state.replacement.items if line.item_id == item.id
                )
                good = item.quantity_received if item.condition in RESTOCKABLE else 0
                assert replaced <= good, f"{item.id}: {replaced} replaced, {good} came back good"
            assert all(line.item_id for line in state.replacement.items) or not all(
                line.item_id for line in state.replacement_items
            )
        # Every unit claimed ends received or released (returnable again), never held by a
        # return that will not bring it; after a partial receipt the units still awaited are
        # held until they come, the policy's days are over or an agent says they are not coming.
        missing = state.missing()
        if state.status in TERMINAL:
            assert not missing and state.missing_until is None, (return_id, missing)
        if missing:
            assert state.missing_until is not None
            assert state.missing_until <= state.timestamps.received_at + timedelta(
                days=self.starts[return_id].policy.missing_after_days
            )
        # Money before the goods are back only for items kept, or at the carrier's first scan
        # of a return whose policy said so (a label's parcel, paid in money, not an exchange).
        if state.refunded_amount and state.timestamps.received_at is None:
            assert state.method is ReturnMethod.KEEP_ITEM or state.refund_due_at_first_scan, (
                return_id
            )
        if state.refund_due_at_first_scan is not None:
            start = self.starts[return_id]
            assert start.policy.refund_on == "first_scan", return_id
            assert return_id in self.scanned, f"{return_id} paid without the carrier's scan"
            assert state.method is ReturnMethod.LABEL
            assert state.resolution is not Resolution.EXCHANGE
            assert state.timestamps.shipped_at is not None
        if state.timestamps.received_at is not None and state.status not in RELEASED:
            for item in state.items:
                # A grade is what the warehouse saw of units that came: none came, none.
                assert (item.condition is None) == (item.quantity_received == 0), item
                if state.refund_due_at_first_scan is not None:
                    # Paid for at the scan: every unit stays the return's, come or not, and
                    # none is given back to be returned (and paid) again.
                    row = lines[item.id]
                    assert item.quantity_released == 0 and row.holds, item
                    assert row.quantity == item.quantity, (item, row.quantity)
                    continue
                awaited = missing.get(item.id, 0)
                assert item.quantity_received + item.quantity_released + awaited == item.quantity, (
                    item
                )
                row = lines[item.id]
                held = row.quantity if row.holds else 0
                assert held == item.quantity_received + awaited, (item.id, held, awaited)

    async def check_store(self) -> None:
        ids = sorted(self.orders)
        async with self.m.sessions() as session:
            mine = (
                await session.scalars(
                    select(LedgerEntryRow).where(
                        LedgerEntryRow.status != "failed", LedgerEntryRow.order_id.in_(ids)
                    )
                )
            ).all()
            captures = (
                await session.scalars(select(CaptureRow).where(CaptureRow.order_id.in_(ids)))
            ).all()
            claims = (
                await session.scalars(
                    select(RefundClaimRow).where(RefundClaimRow.order_id.in_(ids))
                )
            ).all()
            entitlements = (
                await session.scalars(
                    select(RefundEntitlementRow).where(RefundEntitlementRow.order_id.in_(ids))
                )
            ).all()
            moved = {
                (sku, location): int(quantity)
                for sku, location, quantity in (
                    await session.execute(
                        select(
                            StockMovementRow.sku,
                            StockMovementRow.location,
                            func.sum(StockMovementRow.quantity),
                        ).group_by(StockMovementRow.sku, StockMovementRow.location)
                    )
                ).all()
            }
            levels = (await session.scalars(select(StockLevelRow))).all()
            documents = (
                await session.scalars(
                    select(ReturnRow.document).where(
                        ReturnRow.id.in_(
                            select(ReturnLineRow.return_id).where(ReturnLineRow.order_id.in_(ids))
                        )
                    )
                )
            ).all()
        # Units each line got back, by every return, whatever became of it; the units of a
        # return whose items the customer keeps count as back (they are paid as if they were).
        received: dict[tuple[str, str], int] = {}
        for document in documents:
            if document is None:
                continue
            state = ReturnState.model_validate(document)
            # Paid for without the goods: kept, or at the carrier's first scan.
            kept = (
                state.method is ReturnMethod.KEEP_ITEM or state.refund_due_at_first_scan is not None
            )
            for item in state.items:
                key = (item.order_id, item.line_id)
                back = item.quantity if kept else item.quantity_received
                received[key] = received.get(key, 0) + back
        for capture in captures:
            if capture.order_id not in self.orders:
                continue
            taken = sum(
                e.amount
                for e in mine
                if e.order_id == capture.order_id and e.capture_id == capture.id
            )
            assert taken <= capture.amount, f"capture {capture.id}: {taken} > {capture.amount}"
        for order_id, order in self.orders.items():
            # A capture without refunds may have been removed; the ones with refunds are kept.
            kept = {c.id for c in captures if c.order_id == order_id}
            assert all(
                e.capture_id in kept for e in mine if e.order_id == order_id and e.capture_id
            )
            total = sum(e.amount for e in mine if e.order_id == order_id)
            captured = sum(c.amount for c in captures if c.order_id == order_id)
            assert total <= captured, f"order {order_id}: {total} paid back, {captured} captured"
            # Prices pushed again: what was paid for the order is the most any snapshot said.
            snapshots = self.snapshots[order_id]
            most = max(self.paid(snapshot) for snapshot in snapshots)
            assert total <= most, f"order {order_id}: {total} > {most}"
            line_most = {
                ln.id: max(
                    line_paid(snapshot, snapshot.line(ln.id) or ln) for snapshot in snapshots
                )
                for ln in order.lines
            }
            # However it was reckoned: no more than the units that came back are worth, and the
            # original shipping only once every unit is back.
            back = {
                ln.id: min(received.get((order_id, ln.id), 0), ln.quantity) for ln in order.lines
            }
            worth = sum(line_most[ln.id] * back[ln.id] // ln.quantity for ln in order.lines)
            if all(back[ln.id] == ln.quantity for ln in order.lines):
                worth += order.shipping_amount
            assert total <= worth, f"order {order_id}: {total} paid back for goods worth {worth}"
            for line in order.lines:
                of_line = [c for c in claims if c.order_id == order_id and c.line_id == line.id]
                paid = line_most[line.id]
                assert sum(c.back for c in of_line) <= line.quantity
                assert sum(c.amount for c in of_line) <= paid
                for claim in of_line:
                    assert claim.amount <= -(-paid * claim.back // line.quantity)
            shipped_back = [
                e for e in entitlements if e.order_id == order_id and e.shipping_amount > 0
            ]
            assert len(shipped_back) <= 1
            if shipped_back:
                assert all(
                    sum(c.back for c in claims if c.order_id == order_id and c.line_id == ln.id)
                    == ln.quantity
                    for ln in order.lines
                ), f"order {order_id}: shipping paid back before every unit came back"
            # And paid back once every unit is back on returns refunded under policies that pay
            # it (the last of them to pay finds the others settled).
            holders = {c.return_id for c in claims if c.order_id == order_id}
            if (
                order.shipping_amount
                and holders
                and all(
                    sum(c.back for c in claims if c.order_id == order_id and c.line_id == ln.id)
                    == ln.quantity
                    for ln in order.lines
                )
                and all(
                    r in self.seen
                    and self.seen[r].status.value == "refunded"
                    and self.starts[r].policy.refund_original_shipping
                    for r in holders
                )
            ):
                assert shipped_back, f"order {order_id}: all back and refunded, shipping not"
            for entitlement in (e for e in entitlements if e.order_id == order_id):
                spent = sum(
                    e.amount
                    for e in mine
                    if e.order_id == order_id and e.return_id == entitlement.return_id
                )
                assert spent <= entitlement.amount
            assert not [
                e
                for e in mine
                if e.order_id == order_id
                and not any(
                    x.return_id == e.return_id and x.order_id == order_id for x in entitlements
                )
            ], "money moved without an entitlement"
        assert {(lv.sku, lv.location): lv.quantity for lv in levels} == moved
        if self.m.shopify is not None:
            self.check_shopify(mine, captures)

    def check_shopify(self, mine: Any, captures: Any) -> None:
        """Orders paid through Shopify are paid back there, each ledger entry by one refund of
        its own for its amount, from its capture's transaction: what Shopify paid from a
        transaction is what the ledger says it paid, give or take what is still on its way."""
        assert self.m.shopify is not None
        references = [e.provider_ref for e in mine if e.provider_ref]
        assert len(references) == len(set(references)), "two entries on one processor refund"
        for capture in captures:
            if capture.order_id not in self.orders:
                continue
            entries = [
                e for e in mine if e.order_id == capture.order_id and e.capture_id == capture.id
            ]
            if not paid_through_shopify(capture.id):
                assert not any(
                    (e.provider_ref or "").startswith("gid://shopify/") for e in entries
                ), f"capture {capture.id} was refunded through Shopify"
                continue
            paid = self.m.shopify.refunds_of(gid("OrderTransaction", capture.id))
            shopify = sum(
                int(Decimal(t["amountSet"]["shopMoney"]["amount"]) * 100)
                for t in paid
                if t["status"] == "SUCCESS"
            )
            succeeded = sum(e.amount for e in entries if e.status == "succeeded")
            pending = sum(e.amount for e in entries if e.status == "pending")
            assert succeeded <= shopify <= succeeded + pending, (
                f"capture {capture.id}: Shopify paid {shopify}, the ledger {succeeded}"
                f" (+{pending} pending)"
            )
            for entry in entries:
                if entry.status == "succeeded":
                    made = self.m.shopify.transactions_of(entry.provider_ref)
                    assert len(made) == 1, f"{entry.id}: {len(made)} Shopify refunds"


ReturnsMachine.TestCase.settings = settings(
    max_examples=EXAMPLES,
    derandomize=SUITE,
    stateful_step_count=STEPS,
    deadline=None,
    database=None if SUITE else DirectoryBasedExampleDatabase(str(EXAMPLES_DB)),
    suppress_health_check=list(HealthCheck),
)


@contextlib.asynccontextmanager
async def model_with_shopify(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> Any:
    """The model's worker, its orders paid through Shopify refunded on a local stand-in."""
    global MODEL
    from returns_service.config import Settings
    from returns_service.worker.main import build_activities

    shopify = FakeShopify()
    async with serving(shopify.app()) as shopify_url:
        configured = Settings(
            data_dir=tmp_path,
            shopify_shop=shopify.shop,
            shopify_access_token=shopify.access_token,
            shopify_api_base=shopify_url,
            shopify_location_id="gid://shopify/Location/1",
        )
        MODEL = Model(
            asyncio.get_running_loop(), env, sessions, build_activities(configured, sessions)
        )
        MODEL.shopify = shopify
        await MODEL.start_worker()
        try:
            yield shopify
        finally:
            await MODEL.stop_worker()
            MODEL = None


async def test_money_stays_right_whatever_the_sequence(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with model_with_shopify(env, sessions, tmp_path):
        await asyncio.to_thread(ReturnsMachine.TestCase("runTest").runTest)


class Drawn:
    """Draws given in advance: a sequence the attacker found, replayed through the machine."""

    def __init__(self, *values: Any) -> None:
        self.values = list(values)

    def draw(self, strategy: Any) -> Any:
        return self.values.pop(0)


async def test_the_sequences_the_attacker_found_keep_the_invariants(
    env: WorkflowEnvironment, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Random search reaches these only now and then; here they run through the same rules and
    invariants every time. Two lines of 5000 with 990 shipping, refunded when all is back:
    return A takes Y, return B the rest (X), A is cancelled, B arrives. Then Y comes back on a
    return of its own."""

    def two_lines(auto_refund: bool) -> tuple[ReturnsMachine, str, OrderLine]:
        """Lines X and Y at 5000 each, 990 shipping, paid back when the whole order is back."""
        machine = ReturnsMachine()
        machine.policy = Policy(
            refund_original_shipping=True,
            auto_refund=auto_refund,
            review_above_amount=None,
            review_if_returns_in_90_days_over=None,
        )
        x = OrderLine(id="x", sku="SX", name="X", quantity=1, unit_amount=5000)
        y = OrderLine(id="y", sku="SY", name="Y", quantity=1, unit_amount=5000)
        machine.push_order(CUSTOMERS[0], [x, y], 990, 0, "one", False)
        return machine, next(iter(machine.orders)), y

    def sequence() -> None:
        machine, order_id, y = two_lines(auto_refund=True)
        machine.return_the_rest(Drawn(order_id, y), "one line")
        machine.money_and_stock_add_up()
        machine.return_the_rest(Drawn(order_id), "rest")
        a, b = list(machine.returns)
        machine.cancel(Drawn(1, a))
        machine.money_and_stock_add_up()
        machine.receive(Drawn(1, b, True))
        machine.money_and_stock_add_up()
        assert machine.seen[b].refunded_amount == 5000
        machine.return_the_rest(Drawn(order_id), "rest")
        c = list(machine.returns)[-1]
        machine.receive(Drawn(1, c, True))
        machine.money_and_stock_add_up()
        assert machine.seen[c].refunded_amount == 5990
        machine.teardown()

    def waiting_for_a_decision(then: str) -> None:
        """Found by the long run (`--hypothesis-seed=20261238`): D holds Y, received and waiting
        for an agent; C brings X and is refunded. C must not take the shipping counting D's Y,
        which the agent then rejects; the shipping goes to the return that completes the order
        for good."""
        machine, order_id, y = two_lines(auto_refund=False)
        machine.return_the_rest(Drawn(order_id, y), "one line")
        d = list(machine.returns)[-1]
        machine.receive(Drawn(1, d, True))
        machine.return_the_rest(Drawn(order_id), "rest")
        c = list(machine.returns)[-1]
        machine.receive(Drawn(1, c, True))
        machine.refund(Drawn(1, c, 1), "default")
        machine.money_and_stock_add_up()
        assert machine.seen[c].refunded_amount == 5000
        if then == "reject":
            machine.reject(Drawn(1, d))
            machine.money_and_stock_add_up()
            machine.return_the_rest(Drawn(order_id), "rest")
            e = list(machine.returns)[-1]
            machine.receive(Drawn(1, e, True))
            machine.refund(Drawn(1, e, 1), "default")
            machine.money_and_stock_add_up()
            assert machine.seen[e].refunded_amount == 5990
        else:
            machine.refund(Drawn(1, d, 1), "default")
            machine.money_and_stock_add_up()
            assert machine.seen[d].refunded_amount == 5990
        machine.teardown()

    def shop(*lines: OrderLine, split: str = "one", **policy: Any) -> tuple[ReturnsMachine, str]:
        machine = ReturnsMachine()
        machine.policy = Policy(review_if_returns_in_90_days_over=None, **policy)
        machine.push_order(CUSTOMERS[0], list(lines), 0, 0, split, False)
        return machine, next(iter(machine.orders))

    def paid_through_shopify() -> None:
        """Issue 22: an order paid through Shopify, two shirts returned one by one: each
        refund goes to Shopify's refundCreate, once, for what the ledger says."""
        machine, order_id = shop(shirt, split="shopify")
        for _ in range(2):
            machine.create_return(Drawn(order_id, True, 1, 1), Resolution.REFUND, False)
            ret = list(machine.returns)[-1]
            machine.receive(Drawn(1, ret, True))
            machine.money_and_stock_add_up()
            assert machine.seen[ret].refunded_amount == 1950, machine.seen[ret].errors
        assert machine.m.shopify is not None
        made = [m for m in machine.m.shopify.refunds_made if order_id in m["input"]["orderId"]]
        assert [m["input"]["transactions"][0]["amount"] for m in made] == ["19.50", "19.50"]
        machine.teardown()

    shirt = OrderLine(id="s", sku="SS", name="Shirt", quantity=2, unit_amount=1950)
    cap = OrderLine(id="c", sku="SC", name="Cap", quantity=1, unit_amount=900)

    def added_to_an_exchange() -> None:
        """Issue 21, defect 1: a cap added to a shirt's exchange, both back good, the
        replacement fulfilled: the cap is paid back, the shirt replaced."""
        machine, order_id = shop(shirt.model_copy(update={"quantity": 1}), cap)
        # The shirt (1), not the cap; not kept; an exchange naming its item.
        machine.create_return(Drawn(order_id, True, 1, False, 1, 1), Resolution.EXCHANGE, False)
        [ret] = list(machine.returns)
        order = machine.orders[order_id]
        machine.add_items(Drawn(1, ret, (order, order.lines[1]), 1), "customer")
        machine.receive(Drawn(1, ret, True), now=True)
        machine.report_replacement(Drawn(1, ret), "fulfilled")
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 900
        machine.teardown()

    def exchange_of_part() -> None:
        """Defect 2: an exchange of 2 shirts whose parcel held 1 sends 1."""
        machine, order_id = shop(shirt)
        machine.create_return(Drawn(order_id, True, 2, 1, 1), Resolution.EXCHANGE, False)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, False, 1, Condition.GOOD))
        machine.report_replacement(Drawn(1, ret), "fulfilled")
        machine.money_and_stock_add_up()
        # It waits for the other shirt until the policy's days are over, then closes.
        assert machine.seen[ret].status.value == "received" and machine.seen[ret].missing()
        machine.days_pass(40)
        machine.money_and_stock_add_up()
        assert machine.seen[ret].status.value == "closed" and not machine.seen[ret].missing()
        machine.teardown()

    def prices_raised() -> None:
        """Defects 3 and 4: prices pushed again x10 after the approval pay no more by policy."""
        machine, order_id = shop(cap, review_above_amount=4000)
        machine.create_return(Drawn(order_id, True, 1, 1), Resolution.REFUND, False)
        machine.push_order_again(Drawn(order_id), "raise_prices")
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, True))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 900
        machine.teardown()

    def amounts_per_currency() -> None:
        """Issue 23, finding 2: a policy's amounts per currency. A euro return of a shirt pays
        the euro fee (€3.00, not the ¥90,000 beside it); the yen-only review limit sends it to an
        agent; a rule about yen does not touch it."""
        machine, order_id = shop(
            shirt.model_copy(update={"quantity": 1}),
            return_shipping_fee={"EUR": 300, "JPY": 90000},
            review_above_amount={"JPY": 400000},
            rules=[YEN_ONLY],
        )
        machine.create_return(Drawn(order_id, True, 1, 1), Resolution.REFUND, False)
        [ret] = list(machine.returns)
        machine.money_and_stock_add_up()
        assert machine.seen[ret].status.value == "pending_review"
        machine.approve(Drawn(1, ret))
        machine.receive(Drawn(1, ret, True))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 1950 - 300
        machine.teardown()

    def fees_waived() -> None:
        """Issue 23, finding 6: an agent's return for a caller with the fees waived pays the
        shirt back whole, though the policy and a rule take fees."""
        machine, order_id = shop(
            shirt.model_copy(update={"quantity": 1}),
            restocking_fee_percent=33,
            return_shipping_fee=300,
            rules=[PRICEY_FEES],
        )
        machine.create_return(Drawn(order_id, True, 1, 1), Resolution.REFUND, False, 0)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, True))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 1950
        machine.teardown()

    def store_credit_with_a_bonus() -> None:
        """Issue 23: store credit with the shop's 10 % bonus: €19.50 back as credit and €1.95
        more, the bonus once, outside what the order's capture pays back."""
        machine, order_id = shop(
            shirt.model_copy(update={"quantity": 1}), store_credit_bonus_percent=10
        )
        machine.create_return(Drawn(order_id, True, 1, 1), Resolution.STORE_CREDIT, False)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, True))
        machine.money_and_stock_add_up()
        paid = machine.seen[ret]
        assert (paid.refunded_amount, paid.store_credit_bonus) == (1950, 195)
        machine.teardown()

    def one_item_missing() -> None:
        """Defect 5: the parcel holds the shirt, not the cap: the cap is the order's again."""
        machine, order_id = shop(shirt.model_copy(update={"quantity": 1}), cap)
        machine.create_return(Drawn(order_id, True, 1, True, 1, 1), Resolution.REFUND, False)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, False, 1, Condition.GOOD, 0, Condition.GOOD))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 1950
        # The cap comes after all, within the policy's days: it is restocked and paid.
        machine.receive(Drawn(1, ret, True, 1, Condition.GOOD))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 1950 + 900
        machine.teardown()

    def rejected_while_waiting() -> None:
        """Found by the suite run: one of two shirts arrives, the agent (no refund by policy)
        rejects the return: the shirt still missing is the order's again, not left claimed."""
        machine, order_id = shop(shirt, auto_refund=False, missing_after_days=2)
        machine.create_return(Drawn(order_id, True, 2, 1, 1), Resolution.REFUND, False)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, False, 1, Condition.GOOD))
        assert machine.seen[ret].missing()
        machine.reject(Drawn(1, ret))
        machine.money_and_stock_add_up()
        rejected = machine.seen[ret]
        assert rejected.status.value == "rejected" and rejected.items[0].quantity_released == 1
        machine.teardown()

    def refund_failed_later() -> None:
        """Issue 22: an agent pays part of a cap back (the return stays open); that refund
        fails after it was paid: the money is owed again, and the agent's next refund pays
        what the policy pays, once."""
        machine, order_id = shop(cap, auto_refund=False)
        machine.create_return(Drawn(order_id, True, 1, 1), Resolution.REFUND, False)
        [ret] = list(machine.returns)
        machine.receive(Drawn(1, ret, True))
        machine.refund(Drawn(1, ret, 1), "part")
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 450
        machine.refund_fails_later(Drawn(ret, machine.seen[ret].refunds[0].id))
        machine.money_and_stock_add_up()
        failed = machine.seen[ret]
        assert failed.refunded_amount == 0 and failed.status.value == "refunded"
        assert "refund" in failed.actions() and failed.errors[-1].code == "PaymentFailed"
        machine.refund(Drawn(1, ret, 1), "default")
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 900
        assert machine.seen[ret].status.value == "closed"
        machine.teardown()

    def paid_at_the_first_scan() -> None:
        """Issue 22: two shirts under `refund_on: first_scan`: paid when the carrier scans the
        parcel, before anything is back; one arrives (restocked, nothing more paid); the other
        never does, and stays paid for and held (never given back to be returned and paid
        again), for an agent to chase; a customer's "I sent it" before the scan pays nothing."""
        machine, order_id = shop(shirt, refund_on="first_scan", missing_after_days=2)
        machine.create_return(Drawn(order_id, True, 2, 1, 1), Resolution.REFUND, False)
        [ret] = list(machine.returns)
        machine.ship(Drawn(1, ret))
        machine.money_and_stock_add_up()
        assert machine.seen[ret].refunded_amount == 0
        # (Shipped by the customer's word, it is no longer one to ship: picked as any return.)
        machine.carrier_reports(Drawn(ret), "in_transit")
        machine.money_and_stock_add_up()
        paid = machine.seen[ret]
        assert (paid.status.value, paid.refunded_amount) == ("shipped", 3900), paid.status
        machine.carrier_reports(Drawn(ret), "delivered")
        machine.receive(Drawn(1, ret, False, 1, Condition.GOOD))
        machine.money_and_stock_add_up()
        machine.days_pass(40)
        machine.money_and_stock_add_up()
        final = machine.seen[ret]
        assert (final.status.value, final.refunded_amount) == ("closed", 3900)
        assert final.items[0].quantity_released == 0
        machine.teardown()

    def sequences() -> None:
        paid_through_shopify()
        paid_at_the_first_scan()
        refund_failed_later()
        sequence()
        waiting_for_a_decision("reject")
        waiting_for_a_decision("refund")
        added_to_an_exchange()
        exchange_of_part()
        prices_raised()
        amounts_per_currency()
        fees_waived()
        store_credit_with_a_bonus()
        one_item_missing()
        rejected_while_waiting()

    async with model_with_shopify(env, sessions, tmp_path):
        await asyncio.to_thread(sequences)
