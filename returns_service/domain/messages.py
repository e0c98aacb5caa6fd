"""What crosses the Temporal boundary: the workflow's input, its Update inputs, activity inputs and
results. One serializable type per message so that fields can be added later."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from returns_service.domain.models import (
    Actor,
    Address,
    Condition,
    Customer,
    Model,
    Order,
    Policy,
    Refund,
    RefundMethod,
    ReplacementItem,
    Resolution,
    ReturnItem,
    ReturnMethod,
    ReturnState,
    TimelineEntry,
)
from returns_service.domain.refunds import OrderRefund, Terms
from returns_service.domain.status import Status

TASK_QUEUE = "returns"
WORKFLOW_NAME = "ReturnWorkflow"


def workflow_id(return_id: str) -> str:
    """The workflow that runs a return has the return's id."""
    return return_id


# --- the workflow's input and messages -----------------------------------------------------------


class StartReturn(Model):
    return_id: str
    customer: Customer
    currency: str
    resolution: Resolution
    items: list[ReturnItem]
    policy: Policy
    created_at: datetime
    actor: Actor
    replacement_items: list[ReplacementItem] = Field(default_factory=list)
    # The customer's language (the portal's, or the shop's front end's), for what they are told.
    language: str | None = None
    # Whether the workflow keeps its search attributes (domain/search.py) up to date: only when
    # they are registered on the namespace (returns started before there were any: no).
    indexed: bool = False
    # The shop's labels are the built-in ones, made by writing to the store: the workflow makes
    # them as a local activity, with no round trip through the server (a carrier's API is called
    # as an activity of its own). Returns started before made every label as an activity.
    labels_made_here: bool = False
    # What the first entry of the timeline says besides who requested it: for a return a staff
    # member requested, on whose behalf.
    note: str | None = None
    # How the goods go back (and for `in_store`, to which of the shop's stores).
    method: ReturnMethod = ReturnMethod.LABEL
    store_id: str | None = None
    # A gift's return: who received the gift and returns it (paid in store credit, told by email).
    recipient_email: str | None = None
    # The items whose photos came with the request (the portal's form); for the others, photos
    # the policy asks for are missing and an agent looks. None: requests from before photos were
    # checked here.
    photographed: list[str] | None = None
    # Staff's exception to a closed return window for these items, and why (None: none).
    window_exception: str | None = None
    # Staff waived the return's restocking and return shipping fees, and why (None: not).
    fees_waived: str | None = None

    def initial_state(self) -> ReturnState:
        """The return as it stands before anything has been checked."""
        return ReturnState(
            id=self.return_id,
            customer=self.customer,
            currency=self.currency,
            order_ids=list(dict.fromkeys(item.order_id for item in self.items)),
            resolution=self.resolution,
            items=[item.model_copy() for item in self.items],
            method=self.method,
            store_id=self.store_id,
            recipient_email=self.recipient_email,
            replacement_items=[item.model_copy() for item in self.replacement_items],
            window_exception=self.window_exception,
            fees_waived=self.fees_waived,
            language=self.language,
            created_at=self.created_at,
            updated_at=self.created_at,
            timeline=[
                TimelineEntry(
                    at=self.created_at, status=Status.REQUESTED, actor=self.actor, note=self.note
                )
            ],
        )


class ApproveReturn(Model):
    actor: Actor
    note: str | None = None


class RejectReturn(Model):
    actor: Actor
    reason: str | None = None
    note: str | None = None


class CancelReturn(Model):
    actor: Actor
    reason: str | None = None


class ShipReturn(Model):
    actor: Actor
    tracking_number: str | None = None


class ReceivedItem(Model):
    item_id: str
    quantity: int = Field(ge=0)
    condition: Condition


class ReceiveItems(Model):
    actor: Actor
    location: str
    items: list[ReceivedItem]


class ReleaseMissing(Model):
    """An agent: the units a partial receipt left waiting for are not coming (`reason`: why)."""

    actor: Actor
    reason: str


class RefundReturn(Model):
    actor: Actor
    amount: int | None = Field(default=None, ge=0)
    capture_id: str | None = None
    method: RefundMethod | None = None
    # What the timeline says of it (the workflow's own refunds: why it pays now).
    note: str | None = None
    # What the customer reads of it: why this amount (a person's refund).
    reason: str | None = None


class ReportReplacement(Model):
    actor: Actor
    status: Literal["fulfilled", "cancelled"]
    order_reference: str | None = None
    note: str | None = None


class ReissueLabel(Model):
    actor: Actor


class AddItems(Model):
    actor: Actor
    # Checked against the orders by the API: the customer's, not in the return yet.
    items: list[ReturnItem] = Field(min_length=1)
    # The shop's policy now: added items are decided by it, as a new return would be (None:
    # requests made before, decided by the return's own).
    policy: Policy | None = None
    # The added items whose photos came with the request (as StartReturn's).
    photographed: list[str] | None = None


class CloseReturn(Model):
    actor: Actor
    note: str | None = None


class AddNote(Model):
    actor: Actor
    text: str


# Tracking statuses (EasyPost's vocabulary) that mean the parcel is in the carrier's hands.
IN_CARRIERS_HANDS = (
    "accepted",
    "in_transit",
    "out_for_delivery",
    "available_for_pickup",
    "delivered",
)
TRACKING_STATUSES = (
    "pre_transit",
    *IN_CARRIERS_HANDS,
    "return_to_sender",
    "failure",
    "cancelled",
    "unknown",
)


class CarrierEvent(Model):
    """What a carrier reported about a return's parcel (a Signal: the carrier expects no answer
    from the workflow)."""

    id: str
    tracking_number: str
    status: str
    occurred_at: datetime


CARRIER_EVENT_SIGNAL = "carrier_event"


class PaymentEvent(Model):
    """A payment processor told of one of the return's refunds after it answered (settled, or
    failed): the ledger has it; the workflow reads its refunds again (a Signal)."""

    id: str
    reference: str
    status: str


PAYMENT_EVENT_SIGNAL = "payment_event"


class ReturnUpdate:
    """Update names, shared by the workflow's handlers and the API."""

    WAIT_DECIDED = "wait_decided"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    SHIP = "ship"
    RECEIVE = "receive"
    REFUND = "refund"
    CLOSE = "close"
    REPLACEMENT = "replacement"
    NOTE = "note"
    REISSUE_LABEL = "reissue_label"
    ADD_ITEMS = "add_items"
    RELEASE_MISSING = "release_missing"


STATE_QUERY = "state"


class ReturnActivity:
    """Activity names (their typed declarations are in `steps.py`, so that the workflows' sandbox
    never imports the modules that do I/O)."""

    REGISTER = "register_return"
    CREATE_LABEL = "create_label"
    RESTOCK = "restock_items"
    REFUND = "issue_refund"
    RECORD_STATUS = "record_status"
    ENTITLE = "entitle_refund"
    HOLD_ITEMS = "hold_items"
    RELEASE_ITEMS = "release_items"
    SETTLE_REFUNDS = "settle_refunds"
    REFUND_LABEL = "refund_label"


# --- activities ----------------------------------------------------------------------------------


class RegisterReturn(Model):
    return_id: str
    customer_email: str
    items: list[ReturnItem]
    created_at: datetime
    # The return as requested: registering it emits `return.requested` (absent in old histories).
    state: ReturnState | None = None


class RegisteredFacts(Model):
    """What the store found when it registered a return: what its eligibility is decided on
    (kept with it, so that the policy simulator can decide it again)."""

    orders: dict[str, Order]
    # Per item id: units of the line still returnable before this return, and how many units of
    # the line earlier returns hold (for cumulative refund rounding).
    available_quantity: dict[str, int]
    prior_quantity: dict[str, int]
    reserved: bool
    returns_in_90_days: int
    # Per order and line: the units other returns hold (to know when an order is all back).
    held: dict[str, dict[str, int]] = Field(default_factory=dict)
    # The customer's entry on the shop's block or allow list, and why (absent: on neither).
    customer_list: Literal["blocked", "allowed"] | None = None
    customer_list_reason: str | None = None


class RegisteredReturn(RegisteredFacts):
    # None: other returns took the units meanwhile, and nothing of this one was kept.
    number: str | None


class HoldItems(Model):
    """Hold the units of these items for the return again (a new label for an expired return),
    or for the first time (items it adds); all or none."""

    return_id: str
    customer_email: str
    items: list[ReturnItem]
    # The return's creation and status (for the lists of returns by reason).
    created_at: datetime
    status: str
    # A gift's return: its recipient, whose recent returns and list entry count.
    recipient_email: str | None = None


class ReleaseItems(Model):
    """Items the return tried to add and was refused: they are not its."""

    return_id: str
    item_ids: list[str]


class CreateLabel(Model):
    return_id: str
    number: str
    customer: Customer
    items: list[ReturnItem]
    created_at: datetime
    expires_at: datetime
    # `qr_drop_off`: the carrier gives a drop-off code instead of a label to print.
    method: ReturnMethod = ReturnMethod.LABEL
    # The return's n-th label (a new one for an expired return is the second).
    attempt: int = 1
    # Filled in by the label activity (from the order and the settings), not by the workflow.
    from_address: Address | None = None
    to_address: Address | None = None


class RestockItem(Model):
    item_id: str
    sku: str
    quantity: int


class RestockItems(Model):
    return_id: str
    location: str
    items: list[RestockItem]


class OrderAmount(Model):
    order_id: str
    amount: int = Field(ge=0)
    # The most this return may have refunded for this order in all, this refund included: the
    # payment side refuses to go beyond it even if the workflow lost count.
    maximum: int | None = None


class IssueRefund(Model):
    return_id: str
    # The n-th refund of this return: with the return id, the refund's idempotency key.
    sequence: int
    currency: str
    method: RefundMethod
    amounts: list[OrderAmount]
    capture_id: str | None = None
    requested_at: datetime
    # Whose store credit it is (a gift's recipient); None: the customer's.
    holder: str | None = None
    # Store credit the customer chose: the shop's bonus on it, in percent of what it pays (the
    # return's policy's), issued once with it.
    bonus_percent: int = Field(default=0, ge=0, le=100)


class EntitleRefund(Model):
    """Reckon what the return may pay back, once its goods are back (repeating it answers the
    same)."""

    return_id: str
    policy: Policy
    # The return's items, with what arrived and in what condition.
    items: list[ReturnItem]
    at: datetime
    # The return is about to pay: from now on its units count as back for good (other returns
    # may rely on them for the original shipping), and it takes the shipping if it now may.
    settle: bool = False
    # What the policy's rules changed in the return's fees (None: the policy's own).
    terms: Terms | None = None
    # More units arrived since it was made: made again from `items` (settled again if it was).
    recount: bool = False


class Entitled(Model):
    # Per order of the return, in the return's order: the most it may pay back in all.
    orders: list[OrderRefund]
    # Per order: what the policy pays back by itself (goods in a condition it restocks).
    due: dict[str, int] = Field(default_factory=dict)


class RestockResult(Model):
    # Per item id, the units put back into stock.
    restocked: dict[str, int]


class RefundResult(Model):
    # Every refund of the return so far, as the payment side knows them.
    refunds: list[Refund]
    # Why parts of this refund failed, if they did.
    failures: list[str] = Field(default_factory=list)
    # The shop's bonus issued with the return's store credit so far (beyond what it pays back).
    bonus: int = 0


class RefundLabel(Model):
    """The return's labels bought from a carrier and never used: ask for their money back."""

    return_id: str


class LabelRefunded(Model):
    # The carrier's answer per label asked about (EasyPost: `submitted`, later `refunded` or
    # `rejected`); empty when nothing could be refunded (a built-in label, none bought).
    statuses: list[str] = Field(default_factory=list)


class SettleRefunds(Model):
    return_id: str


class RecordStatus(Model):
    state: ReturnState
    # The event this change emits (`return.<status>`, `return.refund_failed`), if any.
    event: str | None = None


# --- webhooks ------------------------------------------------------------------------------------

WEBHOOK_WORKFLOW = "WebhookEndpoint"
# A webhook delivery is tried for at least this long before it is given up (and can be redelivered).
KEEP_TRYING = timedelta(hours=72)
WEBHOOK_WAKE = "wake"
WEBHOOK_HURRY = "hurry"


def webhook_workflow_id(endpoint_id: str) -> str:
    return f"webhooks-{endpoint_id}"


class WebhookActivity:
    DRAIN = "drain_webhooks"


class EndpointQueue(Model):
    """The queue of one endpoint; its workflow drains it. `down` counts the drains in a row that
    found the endpoint failing (a continued run goes on backing off where the last one was)."""

    endpoint_id: str
    down: int = 0


class DrainWebhooks(Model):
    endpoint_id: str
    # The workflow's clock: when deliveries are due and given up is reckoned on it.
    now: datetime


class Drained(Model):
    delivered: int = 0
    # The endpoint failed several attempts in a row: wait before trying it again.
    down: bool = False
    # The endpoint was removed or disabled (410): nothing more to do.
    closed: bool = False
    # Stopped to let the history record progress; due deliveries remain.
    more: bool = False
    # When the earliest delivery still pending is due; None when none is pending.
    next_due: datetime | None = None
