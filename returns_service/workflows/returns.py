"""The return workflow: one durable run per return, from eligibility to close.

Deterministic: it imports only the domain package and calls activities by their typed
declarations there (`domain/steps.py`), never the modules that do I/O. People's decisions arrive
as Updates whose validators refuse what the status machine does not allow, before anything
enters history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from returns_service.domain import refunds, rules, search
    from returns_service.domain.books import Books, refundable_quantity
    from returns_service.domain.eligibility import (
        BLOCKED,
        decide,
        facts_of,
        over_review_limit,
    )
    from returns_service.domain.messages import (
        CARRIER_EVENT_SIGNAL,
        IN_CARRIERS_HANDS,
        PAYMENT_EVENT_SIGNAL,
        STATE_QUERY,
        WORKFLOW_NAME,
        AddItems,
        AddNote,
        ApproveReturn,
        CancelReturn,
        CarrierEvent,
        CloseReturn,
        CreateLabel,
        Entitled,
        EntitleRefund,
        HoldItems,
        IssueRefund,
        OrderAmount,
        PaymentEvent,
        ReceiveItems,
        RecordStatus,
        RefundLabel,
        RefundReturn,
        RegisteredFacts,
        RegisterReturn,
        ReissueLabel,
        RejectReturn,
        ReleaseItems,
        ReleaseMissing,
        ReportReplacement,
        RestockItem,
        RestockItems,
        ReturnUpdate,
        SettleRefunds,
        ShipReturn,
        StartReturn,
    )
    from returns_service.domain.models import (
        BEYOND_POLICY,
        POLICY,
        RESTOCKABLE,
        SYSTEM,
        Actor,
        Decision,
        Label,
        Order,
        Policy,
        Refund,
        RefundMethod,
        RefundReason,
        Replacement,
        ReplacementItem,
        Resolution,
        ReturnError,
        ReturnItem,
        ReturnMethod,
        ReturnState,
        TimelineEntry,
    )
    from returns_service.domain.status import (
        ITEMS_RELEASED_EVENT,
        PAID_AT_FIRST_SCAN_EVENT,
        REFUND_FAILED_EVENT,
        STATUS_TIMESTAMP,
        TERMINAL,
        Action,
        Event,
        Status,
        allows,
        next_status,
        status_event,
    )
    from returns_service.domain.steps import ReturnSteps
    from returns_service.domain.types import blank

# Quick store writes run as local activities: no round trip through the server.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# Third parties (carrier, payment processor) may be slow or down for a while: retry with backoff.
EXTERNAL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=1),
    maximum_attempts=10,
    non_retryable_error_types=["InsufficientCaptures", "RefundTooLarge"],
)
CARRIER = Actor(kind="integration", id="carrier")
# A carrier that is down is asked again until it answers (the label waits, the return does not
# fail); one that says no is not asked again.
LABEL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["LabelRefused"],
)
# A worker that dies while the payment processor answers is noticed this soon.
PAYMENT_HEARTBEAT = timedelta(seconds=5)
# Patches (workflow.patched) that keep returns started under earlier code on their path.
ENTITLEMENTS = "refund-entitlements"
PARTIAL_REFUNDS_STAY_OPEN = "partial-refunds-stay-open"
SHIPPING_WHEN_SETTLED = "shipping-when-settled"
LABEL_REISSUE = "label-reissue"
# An in_store return expires when its items are not brought to the store in time.
IN_STORE_EXPIRY = "in-store-expiry"
# An approval fixes what the return pays back: the policy never pays more by itself.
APPROVED_AMOUNT = "approved-amount"
# Kept items pay no restocking or return shipping fee unless a rule sets one.
KEEP_WITHOUT_FEES = "keep-without-fees"
# Only agents and admins go beyond the policy; a storefront's key meets the customer's limits.
STAFF_ONLY_OVERRIDES = "staff-only-overrides"
# Items added to a return are decided by the shop's policy as it is when they are added.
ADDED_BY_CURRENT_POLICY = "added-by-current-policy"
# A person paying back more than the policy does says why.
REFUND_REASONS = "refund-reasons"
# A partial receipt waits for the units it did not bring (policy's missing_after_days), pays for
# late ones, then releases what never came (before, it released them at once).
MISSING_ITEMS_WAIT = "missing-items-wait"
# A return paid through a processor (Stripe) closes once its refunds are settled, not while one
# is still on its way (and may fail): an event of the processor's, or a look every PENDING_CHECK.
REFUNDS_SETTLE = "refunds-settle-before-close"
PENDING_CHECK = timedelta(hours=6)
# ... and, closed, still hears of a refund that fails after it was paid for this long (Stripe
# reports such a failure within days; the return is then owed money again).
LATE_FAILURE_WATCH = timedelta(days=30)
PAYMENTS = Actor(kind="integration", id="payments")
# A label bought from a carrier (EasyPost) and never used is refunded to the shop when its return
# expires or is cancelled.
LABEL_REFUNDS = "label-refunds"
# A return whose policy (or rules) say `refund_on: first_scan` is paid back when the carrier
# first reports its parcel moving; returns started before wait for the receipt.
REFUND_AT_FIRST_SCAN = "refund-at-first-scan"
# How much earlier than the label a carrier's clock may date a scan of it.
SCAN_CLOCK_SKEW = timedelta(hours=1)
# The carrier's word that a shipped parcel was delivered (to the warehouse) is kept on the
# return's timeline; returns started before took no note of it.
DELIVERED_NOTED = "carrier-delivered-noted"
# Returns started under this release take every patch above at once: one marker (and one
# TemporalChangeVersion upsert) at their start rather than one of each per patch, ten to twelve
# history events fewer. Returns started before ask each patch as they did. A patch added after
# this release stays out of the set and is asked on its own.
RELEASE_2026_12 = "release-2026-12"
IN_RELEASE_2026_12 = frozenset(
    {
        ENTITLEMENTS, PARTIAL_REFUNDS_STAY_OPEN, SHIPPING_WHEN_SETTLED, LABEL_REISSUE,
        IN_STORE_EXPIRY, APPROVED_AMOUNT, KEEP_WITHOUT_FEES, STAFF_ONLY_OVERRIDES,
        ADDED_BY_CURRENT_POLICY, REFUND_REASONS, MISSING_ITEMS_WAIT, REFUNDS_SETTLE,
        LABEL_REFUNDS, REFUND_AT_FIRST_SCAN, DELIVERED_NOTED,
    }
)  # fmt: skip
# Statuses in which the goods (or some of them) are back.
BACK = (Status.RECEIVED, Status.REFUNDED)
BAD_DATA = "BadData"
T = TypeVar("T")
In = TypeVar("In")


def nothing_due() -> ApplicationError:
    return ApplicationError(
        "amount: nothing more is paid back by the policy; name the amount",
        {"field": "amount"},
        type="InvalidInput",
        non_retryable=True,
    )


def bad_data(error: ActivityError | ApplicationError) -> str | None:
    """Why a store step failed for good (data the store can never keep), or None. (A local
    activity's failure may reach the workflow as the activity's own error, not wrapped.)"""
    cause = error.cause if isinstance(error, ActivityError) else error
    if isinstance(cause, ApplicationError) and cause.type == BAD_DATA:
        return cause.message
    return None


@workflow.defn(name=WORKFLOW_NAME)
class ReturnWorkflow:
    @workflow.init
    def __init__(self, start: StartReturn) -> None:
        self.policy = start.policy
        self.indexed = start.indexed
        self.labels_made_here = start.labels_made_here
        self.photographed = start.photographed
        self.state = start.initial_state()
        self.orders: dict[str, Order] = {}
        self.prior_quantity: dict[str, int] = {}
        self.held: dict[str, dict[str, int]] = {}
        self.label_settled = False
        # Per order, what the return may pay back in all (None until its goods are back).
        self.entitled: dict[str, int] | None = None
        # Per order, what the policy pays back by itself (of the above).
        self.due: dict[str, int] = {}
        self.refund_sequence = 0
        # How many labels the return was given (an expired one may get another).
        self.labels = 0
        # What the policy's rules changed in the return's fees (decided with its eligibility).
        self.terms = refunds.NO_TERMS
        self.lock = asyncio.Lock()
        # The items the return was requested with (a receipt names any added since).
        self.first_items = {item.id for item in self.state.items}
        # Receipts of units a partial receipt left missing, not yet restocked and paid for.
        self.late = 0
        # When the carrier first reported the parcel moving (None: not yet).
        self.first_scan: datetime | None = None
        # The carrier reported the shipped parcel delivered (noted once).
        self.delivered = False
        # Started under this release (every patch of it taken at once); asked first of all.
        self.release = workflow.patched(RELEASE_2026_12)

    def patched(self, patch: str) -> bool:
        """Whether the return takes `patch` (see RELEASE_2026_12)."""
        if self.release and patch in IN_RELEASE_2026_12:
            return True
        return workflow.patched(patch)

    # --- the process ---------------------------------------------------------------------------

    @workflow.run
    async def run(self, start: StartReturn) -> ReturnState:
        await self.check_eligibility()
        await workflow.wait_condition(lambda: self.status is not Status.PENDING_REVIEW)
        if self.state.method is ReturnMethod.KEEP_ITEM:
            if self.status is Status.APPROVED:
                await self.keep()
                await self.until_paid_then_close()
            await self.until_refunds_cannot_fail()
            await workflow.wait_condition(workflow.all_handlers_finished)
            return self.state
        if self.status is Status.APPROVED and self.state.method is ReturnMethod.IN_STORE:
            # Brought to the store: nothing to print, the store receives it.
            self.label_settled = True
            await self.until_brought_or_expired()
        elif self.status is Status.APPROVED:
            await self.send_label()
        await self.until_shipped_or_expired()
        if self.pays_at_first_scan():
            await self.until_first_scan_paid()
        await workflow.wait_condition(lambda: self.status is Status.RECEIVED or self.finished)
        if self.status is Status.RECEIVED:
            await self.restock()
            if self.exchanges_by_item():
                await self.exchange_what_came_back()
            else:
                async with self.lock:
                    await self.entitle()
                if self.exchanges_by_itself():
                    await self.exchange()
                elif self.refunds_by_itself():
                    await self.refund_by_policy()
            if self.state.missing_until is not None or self.late:
                # Units that came after the first part while it was being paid for are taken
                # in first, even when nothing is missing any more.
                await self.until_missing_settled()
            await self.until_paid_then_close()
        await self.until_refunds_cannot_fail()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    def pays_at_first_scan(self) -> bool:
        """The policy (or the rules, for every item) pay this return back at the carrier's first
        scan, and it is a return paid in money that the carrier carries."""
        return (
            self.status in (Status.LABEL_SENT, Status.SHIPPED)
            and self.terms.pays_on(self.policy) == "first_scan"
            and self.policy.auto_refund
            and self.state.resolution is not Resolution.EXCHANGE
            and self.state.method is ReturnMethod.LABEL
            and self.patched(REFUND_AT_FIRST_SCAN)
        )

    async def until_first_scan_paid(self) -> None:
        """Wait for the carrier's first word that the parcel moves (a customer's "I sent it" is
        not one), then pay back what the approval fixed, as if every unit were back in good
        order; the receipt still grades and restocks. Received first: paid on the receipt, as
        any return."""
        await workflow.wait_condition(
            lambda: self.first_scan is not None or self.status is not Status.SHIPPED
        )
        if self.status is not Status.SHIPPED or self.first_scan is None:
            return
        async with self.lock:
            if self.status is not Status.SHIPPED or self.state.refunded_amount:
                return
            self.state.refund_due_at_first_scan = self.first_scan
            self.entitled = None  # reckoned now, on every unit (claimed_items)
            await self.entitle()
            if not self.entitled or self.books.policy_pays(self.books.refundable_by_order()) <= 0:
                # Nothing to pay by itself (the entitlement could not be reckoned): the receipt
                # decides, as for any return (nothing was settled).
                self.state.refund_due_at_first_scan = None
                self.entitled = None
                await self.record("not refunded at the first scan: nothing due by itself")
                return
            await self.settle()
            maxima = self.books.refundable_by_order()
            method = (
                RefundMethod.STORE_CREDIT
                if self.state.resolution is Resolution.STORE_CREDIT
                or self.state.recipient_email is not None
                else RefundMethod.ORIGINAL_PAYMENT
            )
            try:
                await self.pay(RefundReturn(actor=POLICY), self.books.policy_split(maxima), method)
            except ApplicationError:
                return  # recorded on the return; an agent sees it (the receipt may pay too)
            note = "refunded at the carrier's first scan"
            self.state.timeline.append(
                TimelineEntry(at=workflow.now(), status=self.status, actor=POLICY, note=note)
            )
            await self.record(note, event=PAID_AT_FIRST_SCAN_EVENT)

    async def until_missing_settled(self) -> None:
        """After a partial receipt: wait for the missing units until the policy's days are over,
        restocking and paying for those that arrive meanwhile; then release the rest (the
        customer is told). An agent may release them sooner; an exchange fulfilled meanwhile
        with nothing left to pay closes once nothing is missing."""
        while not self.finished:
            until = self.state.missing_until
            if self.late:
                await self.take_late()
                continue
            if until is None:
                break
            try:
                await workflow.wait_condition(
                    lambda: self.finished or bool(self.late) or self.state.missing_until is None,
                    timeout=max(until - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                async with self.lock:
                    if self.state.missing_until is not None and not self.finished:
                        days = self.policy.missing_after_days
                        await self.release_missing(
                            SYSTEM, f"not received within {days} days of the receipt"
                        )
        if self.finished or self.status is not Status.RECEIVED:
            return
        replacement = self.state.replacement
        if replacement is not None and replacement.status == "fulfilled":
            if self.books.refundable_amount() == 0:
                await self.happen(Action.CLOSE, note="replacement order fulfilled")

    async def take_late(self) -> None:
        """Units that arrived after a partial receipt: restock them, reckon the return's
        entitlement again on everything that is back, and pay by policy what it now owes
        (within what the approval fixed); damaged ones wait for an agent."""
        self.late = 0
        await self.restock()
        async with self.lock:
            if self.finished:
                return
            if self.entitled is not None:
                entitled = await self.reckon(settle=False, recount=True)
                if entitled is not None:
                    self.take(entitled)
            await self.record("late units restocked and reckoned")
        received = [item for item in self.state.items if item.quantity_received > 0]
        pays = (
            self.policy.auto_refund
            and not any(error.code == "EntitlementFailed" for error in self.state.errors)
            and all(item.condition in RESTOCKABLE for item in received)
            and self.books.policy_pays(self.books.refundable_by_order()) > 0
        )
        if pays:
            await self.refund_by_policy(note="units that arrived late")

    def give_back_missing(self) -> int:
        """The units a partial receipt still waits for are given back to their orders
        (returnable again) and the wait ends; answers how many."""
        missing = self.state.missing()
        for item in self.state.items:
            item.quantity_released += missing.get(item.id, 0)
        self.state.missing_until = None
        return sum(missing.values())

    async def release_missing(self, actor: Actor, note: str) -> None:
        """Under the lock: the units still missing are given back to their orders (returnable
        again), and the customer is told."""
        count = self.give_back_missing()
        note = f"{count} missing {'unit' if count == 1 else 'units'} released: {note}"
        self.state.timeline.append(
            TimelineEntry(at=workflow.now(), status=self.status, actor=actor, note=note)
        )
        await self.record(f"{note} (by {actor.label()})", event=ITEMS_RELEASED_EVENT)

    async def until_shipped_or_expired(self) -> None:
        """Wait for the parcel until its label expires. An expired return may get a new label
        within the policy's days after, and waits again (returns started before there were new
        labels: expired is final)."""
        while self.status is Status.LABEL_SENT and self.state.label is not None:
            label = self.state.label
            try:
                await workflow.wait_condition(
                    lambda: self.status is not Status.LABEL_SENT,
                    timeout=max(label.expires_at - workflow.now(), timedelta(0)),
                )
                return
            except TimeoutError:
                days = self.policy.label_reissue_days
                if days:
                    self.state.reissue_until = workflow.now() + timedelta(days=days)
                await self.happen(Event.LABEL_EXPIRED, note="no shipment before expiry")
            until = self.state.reissue_until
            if self.status is not Status.EXPIRED or until is None:
                return
            if not self.patched(LABEL_REISSUE):
                return
            try:
                await workflow.wait_condition(
                    lambda: self.status is not Status.EXPIRED,
                    timeout=max(until - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                async with self.lock:
                    if self.status is Status.EXPIRED:
                        self.state.reissue_until = None
                        await self.record("the time for a new label is over")
                return

    async def until_brought_or_expired(self) -> None:
        """Wait for an in_store return's items at the store until its day (returns approved
        before there was one wait without it), then release its units: it expires."""
        bring_by = self.state.bring_by
        if bring_by is None:
            return
        try:
            await workflow.wait_condition(
                lambda: self.status is not Status.APPROVED,
                timeout=max(bring_by - workflow.now(), timedelta(0)),
            )
        except TimeoutError:
            await self.happen(Event.LABEL_EXPIRED, note="not brought to the store in time")

    async def until_paid_then_close(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self.status is Status.REFUNDED or self.finished)
            if self.patched(PARTIAL_REFUNDS_STAY_OPEN):
                # A partial refund leaves the rest refundable until an agent closes the return.
                await workflow.wait_condition(
                    lambda: self.finished or self.books.refundable_amount() == 0
                )
            if self.finished or not self.refunds_pending() or not self.patched(REFUNDS_SETTLE):
                break
            # Paid, but not settled yet: a refund that fails meanwhile is owed again (and waits
            # for an agent, above); the others settle and the return closes.
            await self.until_refunds_settled()
        await self.happen(Action.CLOSE)

    async def until_refunds_cannot_fail(self) -> None:
        """A closed return paid through a payment processor hears of its refunds for
        LATE_FAILURE_WATCH after it closed: one that fails opens it again (`refunded`, the
        money owed again, for an agent to pay), and it closes again as any other."""
        processed = any(r.reference and r.status != "failed" for r in self.state.refunds)
        if self.status is not Status.CLOSED or not processed:
            return
        if not self.patched(REFUNDS_SETTLE):
            return
        while True:
            closed_at = self.state.timestamps.closed_at or workflow.now()
            try:
                await workflow.wait_condition(
                    lambda: self.status is not Status.CLOSED,
                    timeout=max(closed_at + LATE_FAILURE_WATCH - workflow.now(), timedelta(0)),
                )
            except TimeoutError:
                return
            await self.until_paid_then_close()

    def refunds_pending(self) -> bool:
        return any(refund.status == "pending" for refund in self.state.refunds)

    async def until_refunds_settled(self) -> None:
        """Wait for the processor's word on the refunds still on their way (its events signal
        `payment_event`), asking it every PENDING_CHECK meanwhile."""
        while not self.finished and self.refunds_pending():
            try:
                await workflow.wait_condition(
                    lambda: self.finished or not self.refunds_pending(), timeout=PENDING_CHECK
                )
            except TimeoutError:
                async with self.lock:
                    await self.settle_refunds()

    async def settle_refunds(self) -> None:
        """Under the lock: the return's refunds as the payment side knows them now. One that
        failed after the processor accepted it is a failed refund: what it paid is owed again,
        and an agent sees why (errors, timeline, `return.refund_failed`)."""
        try:
            result = await workflow.execute_activity_method(
                ReturnSteps.settle_refunds,
                SettleRefunds(return_id=self.state.id),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=PAYMENT_HEARTBEAT,
                retry_policy=EXTERNAL_RETRY,
            )
        except ActivityError:
            return  # the processor could not be asked for now: the next look asks again
        before = {refund.id: refund.status for refund in self.state.refunds}
        self.state.refunds = [
            *(r for r in self.state.refunds if r.id.startswith("rf_failed_")),
            *result.refunds,
        ]
        self.state.store_credit_bonus = result.bonus
        failed = [
            r
            for r in result.refunds
            if r.status == "failed" and before.get(r.id, "failed") != "failed"
        ]
        if failed:
            detail = "; ".join(
                f"{r.amount} to {r.capture_id or r.method.value}: {r.failure_reason or 'failed'}"
                for r in failed
            )
            note = f"refund failed after the payment processor accepted it: {detail}"
            if allows(self.status, Event.REFUND_FAILED):
                # Closed, and owed money again: open for an agent to pay it.
                self.count_refunded()
                await self.change(Event.REFUND_FAILED, PAYMENTS, note=note)
            else:
                self.state.timeline.append(
                    TimelineEntry(at=workflow.now(), status=self.status, actor=PAYMENTS, note=note)
                )
            await self.refund_failed("PaymentFailed", note)
        elif any(before.get(r.id) != r.status for r in result.refunds):
            self.count_refunded()
            await self.record("refunds settled")

    async def keep(self) -> None:
        """The customer keeps the items: once approved the return is paid back at once, and
        nothing is shipped, received or restocked. A refund that fails waits for an agent."""
        self.label_settled = True
        await self.refund_by_policy(note="the customer keeps the items")

    async def check_eligibility(self) -> None:
        """Under the lock: a decision that arrives meanwhile (a cancel) waits for the verdict."""
        async with self.lock:
            await self._check_eligibility()

    async def _check_eligibility(self) -> None:
        registered = await self.in_store(
            ReturnSteps.register_return,
            RegisterReturn(
                return_id=self.state.id,
                customer_email=self.state.customer.email,
                items=self.state.items,
                created_at=self.state.created_at,
                state=self.state.model_copy(deep=True),
            ),
            failure=BAD_DATA,
        )
        if registered is None:
            # It can never be registered: refuse it, saying why, rather than wait for ever.
            why = self.state.errors[-1].detail
            self.refuse_by_policy("the return could not be registered")
            await self.change(Event.INELIGIBLE, POLICY, note=why)
            return
        if registered.number is None:
            # Another return took the units meanwhile: this one is never made (nothing of it
            # was kept; the caller hears 409).
            self.state.void = True
            self.refuse_by_policy("other returns took these units meanwhile")
            self.state.status = Status.REJECTED
            self.index()
            return
        self.state.number = registered.number
        self.orders = registered.orders
        self.prior_quantity = registered.prior_quantity
        self.held = registered.held
        facts = facts_of(
            registered,
            workflow.now(),
            self.state.items,
            self.state.customer.email,
            self.state.method,
            self.state.store_id,
            by_staff=self.beyond_policy(self.state.timeline[0].actor),
            photographed=self.photographed,
            window_exception=self.state.window_exception,
            fees_waived=self.state.fees_waived,
        )
        kept_pays_fees = self.state.method is ReturnMethod.KEEP_ITEM and not self.patched(
            KEEP_WITHOUT_FEES
        )
        decided = decide(facts, self.held, self.policy, kept_pays_fees)
        verdict, self.state.eligibility = decided.event, decided.results
        self.terms = decided.terms
        self.state.estimated_refund_amount = decided.estimated_refund_amount
        outcome = {
            Event.ELIGIBLE: "approved",
            Event.NEEDS_REVIEW: "pending_review",
            Event.INELIGIBLE: "rejected",
        }[verdict]
        # Why a customer is on the block list is for agents only (they read it on the rule).
        reasons = [
            r.detail
            for r in self.state.eligibility
            if r.outcome.value != "eligible" and r.rule != BLOCKED
        ]
        self.state.decision = Decision(
            outcome=outcome,  # type: ignore[arg-type]
            automatic=True,
            by="policy",
            reason="; ".join(reasons) or None,
            at=workflow.now(),
        )
        await self.change(verdict, POLICY)

    def refuse_by_policy(self, reason: str) -> None:
        self.state.decision = Decision(
            outcome="rejected", automatic=True, by="policy", reason=reason, at=workflow.now()
        )

    async def send_label(self) -> None:
        try:
            label = await self.buy_label()
        except ActivityError as error:
            # The carrier will not ship it (an address it cannot read): the return stays
            # approved, shows why, and can still be received when it arrives anyway.
            detail = self.label_refused(error)
            self.label_settled = True  # those waiting for the label hear it will not come
            await self.record(f"label refused: {detail}")
            return
        self.state.label = label
        self.state.tracking_number = label.tracking_number
        self.label_settled = True
        await self.happen(Event.LABEL_CREATED)

    async def buy_label(self) -> Label:
        """The return's next label, valid for the policy's days from now."""
        self.labels += 1
        request = CreateLabel(
            return_id=self.state.id,
            number=self.state.number or self.state.id,
            customer=self.state.customer,
            items=self.state.items,
            created_at=workflow.now(),
            expires_at=workflow.now() + timedelta(days=self.policy.label_expiry_days),
            method=self.state.method,
            attempt=self.labels,
        )
        if self.labels_made_here:
            # Built-in labels are a write to the store: no round trip through the server.
            return await workflow.execute_local_activity_method(
                ReturnSteps.create_label,
                request,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=LABEL_RETRY,
            )
        return await workflow.execute_activity_method(
            ReturnSteps.create_label,
            request,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=LABEL_RETRY,
        )

    def label_refused(self, error: ActivityError) -> str:
        detail = str(error.cause) if error.cause else str(error)
        self.state.errors.append(ReturnError(code="LabelRefused", detail=detail, at=workflow.now()))
        return detail

    async def restock(self) -> None:
        location = self.state.receiving_location or "default"
        items = [
            RestockItem(item_id=item.id, sku=item.sku, quantity=item.quantity_received)
            for item in self.state.items
            if item.condition in RESTOCKABLE and item.quantity_received > 0
        ]
        if not items:
            return
        result = await self.in_store(
            ReturnSteps.restock_items,
            RestockItems(return_id=self.state.id, location=location, items=items),
            failure="RestockFailed",
        )
        if result is None:
            await self.record(f"restock failed: {self.state.errors[-1].detail}")
            return
        for item in self.state.items:
            item.quantity_restocked = result.restocked.get(item.id, 0)
        await self.record()

    async def entitle(self) -> None:
        """Once the goods are back: what the return may pay back per order, reckoned by the store
        under the orders' lock from every return of those orders as they are now (not as they
        were when this one was requested). Returns started before entitlements keep reckoning
        from their own figures."""
        if self.entitled is not None or not self.patched(ENTITLEMENTS):
            return
        entitled = await self.reckon(settle=False)
        if entitled is None:
            # Nothing can be paid back by itself; an agent sees why and decides.
            self.entitled = {}
            await self.record(f"refund could not be reckoned: {self.state.errors[-1].detail}")
            return
        self.take(entitled)

    async def settle(self) -> None:
        """Setting out to pay: from now on the store counts the return's units as back for good
        (another return may rely on them for the original shipping), and gives this one the
        shipping if every unit of an order is now back for good. Until then, an order completed
        while one of its returns still waited for a decision had not paid its shipping."""
        if not self.entitled or not self.patched(SHIPPING_WHEN_SETTLED):
            return
        entitled = await self.reckon(settle=True)
        if entitled is not None:
            self.take(entitled)

    async def reckon(self, settle: bool, recount: bool = False) -> Entitled | None:
        request = EntitleRefund(
            return_id=self.state.id,
            policy=self.policy,
            items=self.books.claimed_items(),
            at=workflow.now(),
            settle=settle,
            terms=self.terms if self.terms != refunds.NO_TERMS else None,
            recount=recount,
        )
        return await self.in_store(ReturnSteps.entitle_refund, request, failure="EntitlementFailed")

    def beyond_policy(self, actor: Actor) -> bool:
        """Whether `actor` may go beyond the policy for the customer (returns requested before
        only agents and admins could: anyone but the customer)."""
        if actor.kind in BEYOND_POLICY or actor.kind == "customer":
            return actor.kind in BEYOND_POLICY
        return not self.patched(STAFF_ONLY_OVERRIDES)

    def take(self, entitled: Entitled) -> None:
        self.entitled = {refund.order_id: refund.amount for refund in entitled.orders}
        self.due = entitled.due
        self.state.estimated_refund_amount = sum(self.due.values())

    def exchanges_by_item(self) -> bool:
        """An exchange whose replacement lines each name the item they replace (returns requested
        before they did send the whole replacement once every item is back in good order)."""
        lines = self.state.replacement_items
        return (
            self.state.resolution is Resolution.EXCHANGE
            and bool(lines)
            and all(line.item_id is not None for line in lines)
        )

    async def exchange_what_came_back(self) -> None:
        """Replace what came back in good order, then pay back by policy what was not replaced
        (items added without a replacement, units beyond it; everything, if the shop cancels the
        replacement order); what the policy does not pay (damaged goods) waits for an agent."""
        lines = self.books.replaceable()
        if lines:
            replacement = await self.order_replacement(lines)
            if replacement is None:
                return
            await workflow.wait_condition(lambda: replacement.settled or self.finished)
            if self.finished:
                return
        if self.late:
            # Units that came late while the replacement was open: the replacement was made
            # for what had come, these are restocked and paid back with the rest.
            self.late = 0
            await self.restock()
        async with self.lock:
            await self.entitle()
        fulfilled = self.state.replacement is not None and self.state.replacement.status == (
            "fulfilled"
        )
        if fulfilled and self.books.refundable_amount() == 0:
            if self.state.missing_until is None:
                await self.happen(Action.CLOSE, note="replacement order fulfilled")
        elif (
            self.policy.auto_refund and self.books.policy_pays(self.books.refundable_by_order()) > 0
        ):
            await self.refund_by_policy(
                note="what the replacement did not replace" if fulfilled else None
            )

    def exchanges_by_itself(self) -> bool:
        received = [item for item in self.state.items if item.quantity_received > 0]
        return (
            self.state.resolution is Resolution.EXCHANGE
            and bool(self.state.replacement_items)
            and bool(received)
            and all(item.condition in RESTOCKABLE for item in received)
        )

    async def order_replacement(self, lines: list[ReplacementItem]) -> Replacement | None:
        """Create the replacement order for `lines` (None: the return moved on meanwhile)."""
        async with self.lock:
            if self.status is not Status.RECEIVED:
                return None
            now = workflow.now()
            self.state.replacement = Replacement(
                id=f"rpl_{self.state.id.removeprefix('ret_')}",
                status="created",
                items=lines,
                created_at=now,
                updated_at=now,
            )
            await self.record("replacement order created")
        return self.state.replacement

    async def exchange(self) -> None:
        """Create the replacement order, then wait for the shop to fulfil or cancel it: a
        fulfilled one closes the return; a cancelled one is paid back instead, by policy."""
        replacement = await self.order_replacement(self.state.replacement_items)
        if replacement is None:
            return
        await workflow.wait_condition(lambda: replacement.settled or self.finished)
        if replacement.status == "fulfilled":
            if self.state.missing_until is None:
                await self.happen(Action.CLOSE, note="replacement order fulfilled")
        elif replacement.status == "cancelled" and self.policy.auto_refund:
            await self.refund_by_policy()

    async def refund_by_policy(self, note: str | None = None) -> None:
        try:
            await self.refund(RefundReturn(actor=POLICY, note=note))
        except ApplicationError:
            pass  # recorded on the return, which waits in `received` for an agent

    def refunds_by_itself(self) -> bool:
        received = [item for item in self.state.items if item.quantity_received > 0]
        return (
            self.policy.auto_refund
            and not any(error.code == "EntitlementFailed" for error in self.state.errors)
            and self.state.resolution is not Resolution.EXCHANGE
            and bool(received)
            and all(item.condition in RESTOCKABLE for item in received)
        )

    async def refund(self, request: RefundReturn) -> ReturnState:
        """Pay back `request.amount` (default: what the received items are worth), allocated
        over the return's orders and their captures. A failure is recorded on the return, which
        stays `received` for an agent to try again."""
        async with self.lock:
            if not allows(self.status, Action.REFUND):
                raise self.refused(Action.REFUND)
            await self.entitle()
            await self.settle()
            maxima = self.books.refundable_by_order()
            if self.status is Status.REFUNDED and not sum(maxima.values()):
                raise self.refused(Action.REFUND)
            amount = request.amount
            note = request.note
            if amount is None:
                amount = self.books.policy_pays(maxima)
                above = self.books.due_beyond_approval(maxima)
                if above:
                    # Figures changed since the approval (prices pushed again): the policy pays
                    # what was approved, and a person decides any more, seeing both.
                    why = (
                        f"{above} more is due on the order's figures now than the"
                        f" {self.state.approved_amount} approved: an agent decides"
                    )
                    note = f"{note}; {why}" if note else why
                    if amount == 0:
                        await self.record(why)
                if amount == 0 and (self.status is Status.REFUNDED or above):
                    raise nothing_due()
            elif self.patched(REFUND_REASONS):
                self.check_reason(request, maxima)
            try:
                split = (
                    self.books.policy_split(maxima)
                    if request.amount is None and self.state.approved_amount is not None
                    else refunds.split_over_orders(amount, maxima)
                )
            except refunds.AboveMaximum as error:
                raise ApplicationError(
                    str(error), type="RefundTooLarge", non_retryable=True
                ) from error
            # An exchange whose replacement could not be sent is paid back like a refund.
            method = request.method or (
                RefundMethod.STORE_CREDIT
                if self.state.resolution is Resolution.STORE_CREDIT
                else RefundMethod.ORIGINAL_PAYMENT
            )
            if self.state.recipient_email is not None:
                # A gift is paid back to the one who returns it, never to the buyer's card.
                method = RefundMethod.STORE_CREDIT
            if amount > 0:
                await self.pay(request, split, method)
                if request.reason and request.reason.strip():
                    self.state.refund_reasons.append(
                        RefundReason(
                            amount=amount, reason=request.reason.strip(), at=workflow.now()
                        )
                    )
            return await self.change(Action.REFUND, request.actor, note=note)

    async def pay(self, request: RefundReturn, split: dict[str, int], method: RefundMethod) -> None:
        self.refund_sequence += 1
        worth = self.entitled if self.entitled is not None else self.books.received_value_by_order()
        try:
            result = await workflow.execute_activity_method(
                ReturnSteps.issue_refund,
                IssueRefund(
                    return_id=self.state.id,
                    sequence=self.refund_sequence,
                    currency=self.state.currency,
                    method=method,
                    amounts=[
                        OrderAmount(order_id=o, amount=a, maximum=worth.get(o, 0))
                        for o, a in split.items()
                        if a
                    ],
                    capture_id=request.capture_id,
                    requested_at=workflow.now(),
                    holder=self.state.recipient_email,
                    # Store credit the customer chose comes with the shop's bonus, if any.
                    bonus_percent=(
                        self.policy.store_credit_bonus_percent
                        if method is RefundMethod.STORE_CREDIT
                        and self.state.resolution is Resolution.STORE_CREDIT
                        else 0
                    ),
                ),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=PAYMENT_HEARTBEAT,
                retry_policy=EXTERNAL_RETRY,
            )
        except ActivityError as error:
            cause = error.cause
            detail = str(cause or error)
            self.state.refunds.extend(
                Refund(
                    id=f"rf_failed_{self.refund_sequence}_{order_id}",
                    amount=part,
                    order_id=order_id,
                    capture_id=request.capture_id,
                    method=method,
                    status="failed",
                    created_at=workflow.now(),
                    failure_reason=detail,
                    issued_to=self.state.recipient_email,
                )
                for order_id, part in split.items()
                if part
            )
            raise await self.refund_failed(getattr(cause, "type", None), detail) from error
        # The payment side's account of the return's refunds, and the failures only we saw.
        self.state.refunds = [
            *(r for r in self.state.refunds if r.id.startswith("rf_failed_")),
            *result.refunds,
        ]
        self.state.store_credit_bonus = result.bonus
        self.count_refunded()
        if result.failures:
            raise await self.refund_failed("PaymentFailed", "; ".join(result.failures))

    def count_refunded(self) -> None:
        """What the return has paid back: every refund not known to have failed."""
        self.state.refunded_amount = sum(
            r.amount for r in self.state.refunds if r.status != "failed"
        )

    async def refund_failed(self, code: str | None, detail: str) -> ApplicationError:
        """Record the failure on the return, tell the world, and say why to the caller."""
        code = code or "PaymentFailed"
        self.count_refunded()
        self.state.errors.append(ReturnError(code=code, detail=detail, at=workflow.now()))
        await self.record(f"refund failed: {detail}", event=REFUND_FAILED_EVENT)
        return ApplicationError(
            f"the refund failed: {detail}",
            {"current_status": self.status.value, "available_actions": self.actions()},
            type=code,
            non_retryable=True,
        )

    # --- arithmetic: the return's books (domain/books.py) --------------------------------------

    @property
    def books(self) -> Books:
        """The return's money as it stands, for the domain's arithmetic."""
        return Books(
            state=self.state,
            orders=self.orders,
            policy=self.policy,
            terms=self.terms,
            held=self.held,
            prior_quantity=self.prior_quantity,
            entitled=self.entitled,
            due=self.due,
        )

    def check_reason(self, request: RefundReturn, maxima: dict[str, int]) -> None:
        """A person paying back more than the policy does says why (kept in the timeline)."""
        if request.amount is None or request.actor.kind in ("policy", "system"):
            return
        due = self.books.policy_pays(maxima)
        if request.amount > due and blank(request.note):
            raise ApplicationError(
                f"note: {request.amount} is more than the {due} the policy pays back; say why",
                {"field": "note", "due": due},
                type="InvalidInput",
                non_retryable=True,
            )

    def note_refundable(self) -> None:
        """What may still be paid back, and what of it the policy pays, on the return for
        everyone to see."""
        back = self.status in (Status.RECEIVED, Status.REFUNDED)
        self.state.refundable_amount = self.books.refundable_amount() if back else None
        self.state.due_amount = (
            self.books.policy_pays(self.books.refundable_by_order()) if back else None
        )

    # --- state changes --------------------------------------------------------------------------

    @property
    def status(self) -> Status:
        return self.state.status

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    async def change(
        self, change: Action | Event, actor: Actor, note: str | None = None
    ) -> ReturnState:
        """Move to the status `change` leads to, record it, and answer the state as it was then
        (the run may move on before an Update's answer is sent)."""
        target = next_status(self.status, change)
        now = workflow.now()
        if (
            target is Status.APPROVED
            and self.state.method is ReturnMethod.IN_STORE
            and self.patched(IN_STORE_EXPIRY)
        ):
            self.state.bring_by = now + timedelta(days=self.policy.label_expiry_days)
        if (
            target is Status.APPROVED
            and self.state.approved_amount is None
            and self.patched(APPROVED_AMOUNT)
        ):
            self.state.approved_amount = self.books.approvable()
        if target in TERMINAL and self.state.missing_until is not None:
            # Final while units were still missing (closed, rejected): they are the order's
            # again, never left claimed by a return that no longer waits for them.
            released = self.give_back_missing()
            if released:
                units = "unit" if released == 1 else "units"
                note = (f"{note}; " if note else "") + f"{released} missing {units} released"
        self.state.status = target
        if target in STATUS_TIMESTAMP:
            setattr(self.state.timestamps, STATUS_TIMESTAMP[target], now)
        self.state.timeline.append(TimelineEntry(at=now, status=target, actor=actor, note=note))
        self.index()
        summary = f"{target.value} by {actor.label()}" + (f": {note}" if note else "")
        # For ops' logs (not replayed): the return's ids come with the SDK's details; who moved
        # it only by kind, and no note (they may name a customer).
        workflow.logger.info(
            "return %s is %s (by %s)",
            self.state.number or self.state.id,
            target.value,
            actor.kind,
            extra={"return_number": self.state.number, "status": target.value},
        )
        self.note_refundable()
        changed = self.snapshot()
        await self.record(summary, event=status_event(target))
        if target in (Status.EXPIRED, Status.CANCELLED):
            await self.refund_unused_label()
        return changed

    async def refund_unused_label(self) -> None:
        """The return's label was bought from a carrier and will not be used: the shop asks for
        its money back (a built-in label cost nothing)."""
        label = self.state.label
        if label is None or label.carrier in ("builtin", "carrier"):
            return
        if not self.patched(LABEL_REFUNDS):
            return
        try:
            refunded = await workflow.execute_activity_method(
                ReturnSteps.refund_label,
                RefundLabel(return_id=self.state.id),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=EXTERNAL_RETRY,
            )
        except ActivityError as error:
            note = f"the unused label could not be refunded: {error.cause or error}"
        else:
            if not refunded.statuses:
                return
            note = f"unused label refunded by {label.carrier}: {', '.join(refunded.statuses)}"
        self.state.timeline.append(
            TimelineEntry(at=workflow.now(), status=self.status, actor=SYSTEM, note=note)
        )
        await self.record(note)

    def index(self) -> None:
        """Keep the search attributes that find this return in Temporal up to date (only for
        returns started with them registered: the input says so, so replay is unchanged)."""
        if not self.indexed:
            return
        updates: list[SearchAttributeUpdate[Any]] = [
            search.RETURN_STATUS.value_set(self.status.value),
            search.CUSTOMER_EMAIL.value_set(self.state.customer.email.lower()),
            search.ORDER_IDS.value_set(list(self.state.order_ids)),
        ]
        if self.state.number:
            updates.append(search.RETURN_NUMBER.value_set(self.state.number))
        workflow.upsert_search_attributes(updates)

    async def record(self, summary: str | None = None, event: str | None = None) -> None:
        """Project the state into the read model, keep the event it emits, and send the
        customer's email."""
        self.state.version += 1
        self.state.updated_at = workflow.now()
        self.note_refundable()
        # If the read model cannot take this version, the return goes on, showing why.
        await self.in_store(
            ReturnSteps.record_status,
            RecordStatus(state=self.state.model_copy(deep=True), event=event),
            failure="RecordFailed",
            summary=summary or f"{self.status.value}, details updated",
        )

    async def in_store(
        self,
        step: Callable[[ReturnSteps, In], Awaitable[T]],
        request: In,
        failure: str,
        summary: str | None = None,
    ) -> T | None:
        """A quick store write, as a local activity. One the store can never take (data it
        cannot keep) fails for good: recorded on the return as `failure`, answered None."""
        try:
            result = await workflow.execute_local_activity_method(
                step,
                request,
                summary=summary,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
        except (ActivityError, ApplicationError) as error:
            why = bad_data(error)
            if why is None:
                raise
            self.state.errors.append(ReturnError(code=failure, detail=why, at=workflow.now()))
            return None
        return result

    async def decide(
        self,
        action: Action,
        actor: Actor,
        note: str | None = None,
        apply: Callable[[], None] | None = None,
    ) -> ReturnState:
        """A person's decision, taken under the lock so that it never interleaves with another
        (or with a refund in flight), and checked again there: the validator ran before the
        handler waited its turn."""
        async with self.lock:
            self.require(action)
            if apply is not None:
                apply()
            return await self.change(action, actor, note=note)

    async def happen(self, change: Action | Event, note: str | None = None) -> None:
        """A change the workflow makes by itself, unless a person's decision came first."""
        async with self.lock:
            if allows(self.status, change):
                await self.change(change, SYSTEM, note=note)

    def refused(self, change: Action) -> ApplicationError:
        why = f"cannot {change.value} a return that is {self.status.value}"
        replacement = self.state.replacement
        if allows(self.status, change) and replacement is not None and not replacement.settled:
            why += ": its replacement order is neither fulfilled nor cancelled yet"
        elif allows(self.status, change) and change is Action.REFUND:
            why += ": nothing is left to pay back"
        return ApplicationError(
            why,
            {"current_status": self.status.value, "available_actions": self.actions()},
            type="InvalidTransition",
            non_retryable=True,
        )

    def require(self, change: Action) -> None:
        if not allows(self.status, change) or change.value not in self.actions():
            raise self.refused(change)

    def snapshot(self) -> ReturnState:
        """The state as it is now; the run may move on before an Update's answer is sent."""
        return self.state.model_copy(deep=True)

    def actions(self) -> list[str]:
        return self.state.actions()

    # --- queries and updates --------------------------------------------------------------------

    @workflow.query(name=STATE_QUERY)
    def current_state(self) -> ReturnState:
        return self.state

    @workflow.update(name=ReturnUpdate.WAIT_DECIDED)
    async def wait_decided(self) -> ReturnState:
        """Answers once eligibility decided, and an approved return's label is there."""
        await workflow.wait_condition(
            lambda: (
                self.status is not Status.REQUESTED
                and (self.status is not Status.APPROVED or self.label_settled)
            )
        )
        return self.snapshot()

    @workflow.update(name=ReturnUpdate.APPROVE)
    async def approve(self, request: ApproveReturn) -> ReturnState:
        def decided() -> None:
            self.state.decision = Decision(
                outcome="approved",
                automatic=False,
                by=request.actor.label(),
                note=request.note,
                at=workflow.now(),
            )

        await self.decide(Action.APPROVE, request.actor, request.note, apply=decided)
        await workflow.wait_condition(
            lambda: self.status is not Status.APPROVED or self.label_settled
        )
        return self.snapshot()

    @approve.validator
    def validate_approve(self, request: ApproveReturn) -> None:
        self.require(Action.APPROVE)

    @workflow.update(name=ReturnUpdate.REJECT)
    async def reject(self, request: RejectReturn) -> ReturnState:
        def decided() -> None:
            self.state.decision = Decision(
                outcome="rejected",
                automatic=False,
                by=request.actor.label(),
                note=request.note,
                reason=request.reason,
                at=workflow.now(),
            )

        note = request.reason or request.note
        return await self.decide(Action.REJECT, request.actor, note, apply=decided)

    @reject.validator
    def validate_reject(self, request: RejectReturn) -> None:
        self.require(Action.REJECT)

    @workflow.update(name=ReturnUpdate.CANCEL)
    async def cancel(self, request: CancelReturn) -> ReturnState:
        return await self.decide(Action.CANCEL, request.actor, request.reason)

    @cancel.validator
    def validate_cancel(self, request: CancelReturn) -> None:
        self.require(Action.CANCEL)

    @workflow.update(name=ReturnUpdate.SHIP)
    async def ship(self, request: ShipReturn) -> ReturnState:
        def shipped() -> None:
            if request.tracking_number:
                self.state.tracking_number = request.tracking_number

        return await self.decide(Action.SHIP, request.actor, apply=shipped)

    @ship.validator
    def validate_ship(self, request: ShipReturn) -> None:
        self.require(Action.SHIP)

    @workflow.signal(name=CARRIER_EVENT_SIGNAL)
    async def carrier_event(self, event: CarrierEvent) -> None:
        """The carrier has the parcel: the return is shipped, whoever said so first."""
        if event.status not in IN_CARRIERS_HANDS:
            return
        sent = self.state.timestamps.label_sent_at
        # A scan dated before the label was made is another parcel's (a stale or reused
        # tracking number): it makes no refund due.
        stale = sent is not None and event.occurred_at < sent - SCAN_CLOCK_SKEW
        if (
            self.first_scan is None
            and not stale
            and self.status in (Status.LABEL_SENT, Status.SHIPPED)
        ):
            self.first_scan = workflow.now()
        async with self.lock:
            if allows(self.status, Action.SHIP) and Action.SHIP.value in self.actions():
                await self.change(
                    Action.SHIP, CARRIER, note=f"carrier reports {event.status} ({event.id})"
                )
            elif (
                event.status == "delivered"
                and self.status is Status.SHIPPED
                and not self.delivered
                and self.patched(DELIVERED_NOTED)
            ):
                # At the warehouse's door: it is received once the warehouse has looked.
                self.delivered = True
                note = f"delivered to the warehouse, the carrier reports ({event.id})"
                self.state.timeline.append(
                    TimelineEntry(at=workflow.now(), status=self.status, actor=CARRIER, note=note)
                )
                await self.record(note)

    @workflow.signal(name=PAYMENT_EVENT_SIGNAL)
    async def payment_event(self, event: PaymentEvent) -> None:
        """The payment processor told of one of the return's refunds (it settled, or failed
        after it was accepted): read the refunds again."""
        async with self.lock:
            if self.state.refunds:
                await self.settle_refunds()

    @workflow.update(name=ReturnUpdate.RECEIVE)
    async def receive(self, request: ReceiveItems) -> ReturnState:
        async with self.lock:
            if self.status in BACK:
                return await self.receive_late(request)
            self.require(Action.RECEIVE)
            waits = self.patched(MISSING_ITEMS_WAIT)
            entries = {entry.item_id: entry for entry in request.items}
            for item in self.state.items:
                entry = entries.get(item.id)
                item.quantity_received = entry.quantity if entry else 0
                # A line listed with no units (the warehouse saw it was not there) grades
                # nothing: its units, if they come later, are graded as they arrive.
                graded = entry is not None and (entry.quantity > 0 or not waits)
                item.condition = entry.condition if graded else None  # type: ignore[union-attr]
                if not waits:
                    # Returns received before the wait gave what did not come back at once.
                    item.quantity_released = item.quantity - item.quantity_received
            self.state.receiving_location = request.location
            # What the items that arrived in refundable condition are worth.
            self.state.estimated_refund_amount = self.books.amount_for(refundable_quantity)
            expected = sum(item.quantity for item in self.state.items)
            arrived = sum(item.quantity_received for item in self.state.items)
            note = None
            if arrived < expected and self.state.refund_due_at_first_scan:
                # Paid for at the first scan: the units stay this return's; no wait, no release
                # (they were paid for), and an agent chases the parcel.
                note = (
                    f"{arrived} of {expected} units arrived; the rest was paid for at the first"
                    " scan: an agent chases the parcel"
                )
            elif arrived < expected and waits:
                until = workflow.now() + timedelta(days=self.policy.missing_after_days)
                self.state.missing_until = until
                note = (
                    f"{arrived} of {expected} units arrived; the others are waited for until"
                    f" {until.date().isoformat()}"
                )
            elif arrived < expected:
                note = f"{arrived} of {expected} units arrived; the others may be returned again"
            return await self.change(Action.RECEIVE, request.actor, note=note)

    async def receive_late(self, request: ReceiveItems) -> ReturnState:
        """Under the lock: units a partial receipt left missing arrived; the run restocks and
        pays for them. The status stays; the timeline says what came."""
        self.require(Action.RECEIVE)
        missing = self.state.missing()
        entries = {entry.item_id: entry for entry in request.items}
        came = 0
        for item in self.state.items:
            entry = entries.get(item.id)
            units = min(entry.quantity, missing.get(item.id, 0)) if entry else 0
            if units:
                item.quantity_received += units
                item.condition = item.condition or entry.condition  # type: ignore[union-attr]
                came += units
        if not self.state.missing():
            self.state.missing_until = None
        self.state.receiving_location = request.location
        self.late += 1
        expected = sum(item.quantity for item in self.state.items)
        arrived = sum(item.quantity_received for item in self.state.items)
        note = f"{came} more {'unit' if came == 1 else 'units'} arrived ({arrived} of {expected})"
        self.state.timeline.append(
            TimelineEntry(at=workflow.now(), status=self.status, actor=request.actor, note=note)
        )
        await self.record(f"{note} (received by {request.actor.label()})")
        return self.snapshot()

    @receive.validator
    def validate_receive(self, request: ReceiveItems) -> None:
        self.require(Action.RECEIVE)
        items = {item.id: item for item in self.state.items}
        late = self.status in BACK
        missing = self.state.missing()
        seen: set[str] = set()
        for index, entry in enumerate(request.items):
            item = items.get(entry.item_id)
            if item is None or entry.item_id in seen:
                raise ApplicationError(
                    f"items[{index}].item_id: {entry.item_id} is not an item of this return"
                    if item is None
                    else f"items[{index}].item_id: {entry.item_id} is listed twice",
                    {"field": f"items[{index}].item_id"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            most = missing.get(item.id, 0) if late else item.quantity
            if entry.quantity > most:
                raise ApplicationError(
                    f"items[{index}].quantity: {entry.quantity} is more than the {most}"
                    + (" still missing" if late else " returned"),
                    {"field": f"items[{index}].quantity"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            if (
                late
                and entry.quantity
                and item.quantity_received
                and (entry.condition is not item.condition)
            ):
                # A line holds one grading; a different one for its late units is an agent's.
                raise ApplicationError(
                    f"items[{index}].condition: the item's first units were graded"
                    f" {item.condition.value if item.condition else 'none'}; an agent settles"
                    " late units graded otherwise",
                    {"field": f"items[{index}].condition"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            seen.add(entry.item_id)
        if not any(entry.quantity > 0 for entry in request.items):
            raise ApplicationError(
                "items: at least one item must have arrived",
                {"field": "items"},
                type="InvalidInput",
                non_retryable=True,
            )
        added = [i for i in items if i not in self.first_items and i not in seen]
        if added and not late:
            # Built on the item list as it was before these were added: the warehouse looks
            # at the parcel again rather than leave them out unseen.
            raise ApplicationError(
                f"items: the return's items changed since; {', '.join(added)} not in the"
                " receipt (list them, with quantity 0 if they did not arrive)",
                {
                    "current_status": self.status.value,
                    "available_actions": self.actions(),
                    "items": added,
                },
                type="ItemsChanged",
                non_retryable=True,
            )

    @workflow.update(name=ReturnUpdate.RELEASE_MISSING)
    async def not_coming(self, request: ReleaseMissing) -> ReturnState:
        """An agent: the units a partial receipt left missing are not coming (and why)."""
        async with self.lock:
            self.require(Action.RELEASE_MISSING)
            await self.release_missing(request.actor, request.reason.strip())
            return self.snapshot()

    @not_coming.validator
    def validate_not_coming(self, request: ReleaseMissing) -> None:
        self.require(Action.RELEASE_MISSING)
        if blank(request.reason):
            raise ApplicationError(
                "reason: say why they are not coming",
                {"field": "reason"},
                type="InvalidInput",
                non_retryable=True,
            )

    @workflow.update(name=ReturnUpdate.REFUND)
    async def refund_by_agent(self, request: RefundReturn) -> ReturnState:
        return await self.refund(request)

    @refund_by_agent.validator
    def validate_refund(self, request: RefundReturn) -> None:
        self.require(Action.REFUND)
        if request.amount is None and not self.books.policy_pays(self.books.refundable_by_order()):
            # Nothing the policy pays by itself (goods that came back damaged, or all paid):
            # the agent names the amount rather than the return moving on with nothing paid.
            raise nothing_due()
        maxima = self.books.refundable_by_order()
        maximum = sum(maxima.values())
        if request.amount is not None and request.amount > maximum:
            raise ApplicationError(
                f"amount: {request.amount} is more than the {maximum} still refundable",
                {
                    "field": "amount",
                    "maximum": maximum,
                    "current_status": self.status.value,
                    "available_actions": self.actions(),
                },
                type="RefundTooLarge",
                non_retryable=True,
            )
        if request.amount is not None and request.amount <= maximum:
            self.check_reason(request, maxima)
        if self.state.recipient_email is not None and (
            request.method is RefundMethod.ORIGINAL_PAYMENT or request.capture_id is not None
        ):
            raise ApplicationError(
                "method: a gift's return is paid back as store credit to its recipient",
                {"field": "method"},
                type="InvalidInput",
                non_retryable=True,
            )
        captures = {c.id for order in self.orders.values() for c in order.captures}
        if request.capture_id is not None and request.capture_id not in captures:
            raise ApplicationError(
                f"capture_id: {request.capture_id} is not a capture of this return's orders",
                {"field": "capture_id"},
                type="InvalidInput",
                non_retryable=True,
            )

    @workflow.update(name=ReturnUpdate.REPLACEMENT)
    async def report_replacement(self, request: ReportReplacement) -> ReturnState:
        """The shop reports the replacement order fulfilled or cancelled; the same report again
        changes nothing."""
        async with self.lock:
            self.check_replacement(request)
            replacement = self.state.replacement
            assert replacement is not None
            if replacement.status != request.status:
                replacement.status = request.status
                replacement.order_reference = request.order_reference or (
                    replacement.order_reference
                )
                replacement.updated_at = workflow.now()
                note = f": {request.note}" if request.note else ""
                await self.record(
                    f"replacement order {request.status} by {request.actor.label()}{note}"
                )
            return self.snapshot()

    @report_replacement.validator
    def validate_replacement(self, request: ReportReplacement) -> None:
        self.check_replacement(request)
        # (Checked before it is accepted only, so that histories with such a repeat replay.)
        replacement = self.state.replacement
        if (
            replacement is not None
            and replacement.status == request.status
            and request.order_reference
            and replacement.order_reference
            and request.order_reference != replacement.order_reference
        ):
            raise ApplicationError(
                f"the replacement order is already {replacement.status} with order "
                f"{replacement.order_reference}",
                {"current_status": self.status.value, "available_actions": self.actions()},
                type="InvalidTransition",
                non_retryable=True,
            )

    def check_replacement(self, request: ReportReplacement) -> None:
        replacement = self.state.replacement
        if replacement is None or (replacement.settled and replacement.status != request.status):
            why = (
                "this return has no replacement order"
                if replacement is None
                else f"the replacement order is already {replacement.status}"
            )
            raise ApplicationError(
                why,
                {"current_status": self.status.value, "available_actions": self.actions()},
                type="InvalidTransition",
                non_retryable=True,
            )

    @workflow.update(name=ReturnUpdate.NOTE)
    async def note(self, request: AddNote) -> ReturnState:
        """A staff member's note, in the timeline (marked internal: never shown to the customer)
        and in the history; the status stays as it is."""
        async with self.lock:
            entry = TimelineEntry(
                at=workflow.now(),
                status=self.status,
                actor=request.actor,
                note=request.text,
                internal=True,
            )
            self.state.timeline.append(entry)
            await self.record(f"note by {request.actor.label()}")
            return self.snapshot()

    @note.validator
    def validate_note(self, request: AddNote) -> None:
        if blank(request.text):
            raise ApplicationError(
                "text: write the note", {"field": "text"}, type="InvalidInput", non_retryable=True
            )

    @workflow.update(name=ReturnUpdate.REISSUE_LABEL)
    async def reissue_label(self, request: ReissueLabel) -> ReturnState:
        """A new label for an expired return: its units are held again (unless other returns
        took them meanwhile), and it waits for its parcel as before, with a new expiry."""
        async with self.lock:
            self.check_reissue()
            held = await self.hold(self.state.items)
            if not held.reserved:
                raise ApplicationError(
                    "the items can no longer be returned: other returns hold them now",
                    {"current_status": self.status.value, "available_actions": self.actions()},
                    type="InvalidTransition",
                    non_retryable=True,
                )
            try:
                label = await self.buy_label()
            except ActivityError as error:
                detail = self.label_refused(error)
                await self.record(f"new label refused: {detail}")
                raise ApplicationError(
                    f"the carrier refused a new label: {detail}",
                    {"current_status": self.status.value, "available_actions": self.actions()},
                    type="LabelRefused",
                    non_retryable=True,
                ) from error
            self.state.label = label
            self.state.tracking_number = label.tracking_number
            self.state.reissue_until = None
            return await self.change(Action.REISSUE_LABEL, request.actor, note="a new label")

    @reissue_label.validator
    def validate_reissue(self, request: ReissueLabel) -> None:
        self.check_reissue()

    def check_reissue(self) -> None:
        self.require(Action.REISSUE_LABEL)
        until = self.state.reissue_until
        if until is not None and workflow.now() > until:
            raise ApplicationError(
                f"a new label was possible until {until.isoformat()}",
                {"current_status": self.status.value, "available_actions": []},
                type="InvalidTransition",
                non_retryable=True,
            )

    async def hold(self, items: list[ReturnItem]) -> RegisteredFacts:
        held = await self.in_store(
            ReturnSteps.hold_items,
            HoldItems(
                return_id=self.state.id,
                customer_email=self.state.customer.email,
                items=items,
                created_at=self.state.created_at,
                status=self.status.value,
                recipient_email=self.state.recipient_email,
            ),
            failure="HoldFailed",
        )
        if held is None:
            raise ApplicationError(
                f"the store could not hold the items: {self.state.errors[-1].detail}",
                type="InvalidTransition",
                non_retryable=True,
            )
        return held

    @workflow.update(name=ReturnUpdate.ADD_ITEMS)
    async def add_items(self, request: AddItems) -> ReturnState:
        """Items the customer forgot, added while the parcel has not left: their units are held
        and their eligibility decided as for a new return (anything it refuses, or, for a
        customer, sends to an agent, adds nothing); the estimate grows and the label stays."""
        async with self.lock:
            self.check_adding(request)
            held = await self.hold(request.items)
            if not held.reserved:
                raise ApplicationError(
                    "items: other returns hold these units now",
                    {"field": "items"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            # Decided as a new return would be now: by the shop's current policy (requests
            # made before carried none), and for whoever relays the customer, by their limits.
            now = request.policy is not None and self.patched(ADDED_BY_CURRENT_POLICY)
            policy = request.policy if now and request.policy is not None else self.policy
            staff = self.beyond_policy(request.actor)
            facts = facts_of(
                held,
                workflow.now(),
                request.items,
                self.state.customer.email,
                self.state.method,
                self.state.store_id,
                by_staff=staff,
                photographed=request.photographed,
                fees_waived=self.state.fees_waived,
            )
            decided = decide(facts, held.held, policy)
            customer = request.actor.kind == "customer" or (now and not staff)
            # What a customer may read: why not (as a rejected return says), never the shop's
            # own thresholds or why they are on its block list; an agent is the review.
            reasons = [
                r.detail
                for r in decided.results
                if r.outcome.value == "ineligible"
                or (r.outcome.value == "review" and (not customer or r.rule == "photos"))
            ]
            # The whole return is what its review threshold is about, not the added part alone.
            total = self.state.estimated_refund_amount + decided.estimated_refund_amount
            over = (
                now
                and over_review_limit(policy, self.state.currency, total)
                and facts.customer_list != "allowed"
                and decided.event is Event.ELIGIBLE
            )
            if (decided.event is Event.NEEDS_REVIEW or over) and not customer:
                reasons = []
            elif decided.event is Event.NEEDS_REVIEW or over:
                reasons.append("the shop's team needs to look at these items: ask them to add them")
            others = {
                order.id
                for order in held.orders.values()
                if order.currency != self.state.currency
                or order.customer.email.lower() != self.state.customer.email.lower()
            }
            if others:
                reasons.append("the orders are another customer's, or in another currency")
            if reasons:
                await self.in_store(
                    ReturnSteps.release_items,
                    ReleaseItems(return_id=self.state.id, item_ids=[i.id for i in request.items]),
                    failure="ReleaseFailed",
                )
                raise ApplicationError(
                    "items: " + "; ".join(reasons),
                    {"field": "items"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            self.take_items(request.items, held, (policy, decided.terms) if now else None)
            self.state.eligibility.extend(decided.results)
            names = ", ".join(f"{item.name} ×{item.quantity}" for item in request.items)
            self.state.timeline.append(
                TimelineEntry(
                    at=workflow.now(),
                    status=self.status,
                    actor=request.actor,
                    note=f"items added: {names}",
                )
            )
            self.index()
            await self.record(f"items added by {request.actor.label()}: {names}")
            return self.snapshot()

    def take_items(
        self,
        items: list[ReturnItem],
        held: RegisteredFacts,
        decided: tuple[Policy, refunds.Terms] | None = None,
    ) -> None:
        """The added items are the return's: their orders, the units others hold before them,
        and the fees and estimate of the whole return again. `decided`: the policy and fees the
        added items were decided with (each item keeps the fee it was decided with; items added
        before there was one: the return's policy decides every fee again). What the approval
        fixed grows by what the added items were approved for."""
        before = list(self.state.items)
        for order_id, order in held.orders.items():
            if order_id not in self.orders:
                self.orders[order_id] = order
                self.held[order_id] = dict(held.held.get(order_id, {}))
        for item in items:
            self.prior_quantity[item.id] = held.prior_quantity.get(item.id, 0)
        self.state.items.extend(item.model_copy() for item in items)
        self.state.order_ids = list(dict.fromkeys(i.order_id for i in self.state.items))
        if decided is not None:
            policy, terms = decided
            self.terms = rules.joined(
                rules.fixed(self.policy, before, self.terms, self.state.currency),
                rules.fixed(policy, items, terms, self.state.currency),
            )
        else:
            matched = rules.matching(
                self.policy,
                self.orders,
                self.state.items,
                self.state.customer.email,
                self.prior_quantity,
            )
            self.terms = rules.terms(self.policy, self.state.items, matched, self.state.currency)
            if self.state.fees_waived:
                self.terms = refunds.waived(self.terms, self.state.items)
        self.state.estimated_refund_amount = self.books.amount_for(lambda item: item.quantity)
        if self.state.approved_amount is not None:
            self.state.approved_amount = max(self.state.approved_amount, self.books.approvable())

    @add_items.validator
    def validate_add_items(self, request: AddItems) -> None:
        self.check_adding(request)

    def check_adding(self, request: AddItems) -> None:
        if self.status not in (Status.APPROVED, Status.LABEL_SENT) or (
            self.state.method is ReturnMethod.KEEP_ITEM
        ):
            raise ApplicationError(
                f"cannot add items to a return that is {self.status.value}"
                + (" (kept items)" if self.state.method is ReturnMethod.KEEP_ITEM else ""),
                {"current_status": self.status.value, "available_actions": self.actions()},
                type="InvalidTransition",
                non_retryable=True,
            )
        ids = {item.id for item in self.state.items}
        lines = {(item.order_id, item.line_id) for item in self.state.items}
        for index, item in enumerate(request.items):
            if item.id in ids or (item.order_id, item.line_id) in lines:
                raise ApplicationError(
                    f"items[{index}].line_id: this order line is in the return already",
                    {"field": f"items[{index}].line_id"},
                    type="InvalidInput",
                    non_retryable=True,
                )
            ids.add(item.id)
            lines.add((item.order_id, item.line_id))

    @workflow.update(name=ReturnUpdate.CLOSE)
    async def close(self, request: CloseReturn) -> ReturnState:
        return await self.decide(Action.CLOSE, request.actor, request.note)

    @close.validator
    def validate_close(self, request: CloseReturn) -> None:
        self.require(Action.CLOSE)
