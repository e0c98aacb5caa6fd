"""The returns domain as pydantic models. Pure data: no I/O, no clock, no randomness.

These types cross the Temporal boundary (workflow inputs, state, activity arguments), so any
default here must be deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from returns_service.domain.status import Status, available_actions
from returns_service.domain.types import (
    EMAIL_LENGTH,
    Category,
    Ident,
    Method,
    MinorUnits,
    Moment,
    Name,
    Reference,
    Sku,
)
from returns_service.domain.types import _single_line as single_line


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- orders -------------------------------------------------------------------------------------


class OrderLine(Model):
    id: Ident
    sku: Sku
    name: Name
    quantity: StrictInt = Field(ge=1, le=100_000)
    unit_amount: MinorUnits
    discount_amount: MinorUnits = 0
    tax_amount: MinorUnits = 0
    final_sale: StrictBool = False
    category: Category | None = None


class Capture(Model):
    id: Ident
    amount: MinorUnits
    captured_at: Moment
    method: Method = "card"


class Customer(Model):
    id: Reference | None = None
    # Validated as an address where it comes in (the API); here only kept to one line.
    email: Annotated[str, Field(max_length=EMAIL_LENGTH), AfterValidator(single_line)]


class Address(Model):
    """A postal address, as a label prints it."""

    name: str = Field(min_length=1, max_length=100)
    company: str | None = Field(default=None, max_length=100)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    postal_code: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    phone: str | None = Field(default=None, max_length=40)

    @field_validator("*")
    @classmethod
    def _one_line(cls, value: object) -> object:
        return single_line(value) if isinstance(value, str) else value

    def lines(self) -> list[str]:
        city = " ".join(part for part in (self.postal_code, self.city) if part)
        return [
            line
            for line in (
                self.name,
                self.company,
                self.line1,
                self.line2,
                f"{city}, {self.region}" if self.region else city,
                self.country,
            )
            if line
        ]


class Order(Model):
    id: str
    number: str
    customer: Customer
    # Where the order went: the return label's sender.
    shipping_address: Address | None = None
    currency: str
    placed_at: datetime
    fulfilled_at: datetime | None = None
    delivered_at: datetime | None = None
    lines: list[OrderLine]
    shipping_amount: MinorUnits = 0
    order_discount_amount: MinorUnits = 0
    captures: list[Capture] = Field(default_factory=list)

    def line(self, line_id: str) -> OrderLine | None:
        return next((line for line in self.lines if line.id == line_id), None)


def still_returnable(order: Order, held: Mapping[tuple[str, str], int]) -> dict[str, int]:
    """Per line of the order, the units no return holds (`held` per order and line)."""
    return {
        line.id: max(line.quantity - held.get((order.id, line.id), 0), 0) for line in order.lines
    }


# --- policy -------------------------------------------------------------------------------------


class WindowBasis(StrEnum):
    DELIVERED = "delivered"
    FULFILLED = "fulfilled"
    PLACED = "placed"


class Resolution(StrEnum):
    REFUND = "refund"
    STORE_CREDIT = "store_credit"
    EXCHANGE = "exchange"


class Reason(StrEnum):
    WRONG_SIZE = "wrong_size"
    DEFECTIVE = "defective"
    DAMAGED = "damaged"
    NOT_AS_DESCRIBED = "not_as_described"
    WRONG_ITEM = "wrong_item"
    NO_LONGER_WANTED = "no_longer_wanted"
    ARRIVED_LATE = "arrived_late"
    OTHER = "other"


class Condition(StrEnum):
    NEW = "new"
    GOOD = "good"
    DAMAGED = "damaged"
    WRONG_ITEM = "wrong_item"


class Policy(Model):
    return_window_days: StrictInt = Field(default=30, ge=0, le=3650)
    window_basis: WindowBasis = WindowBasis.DELIVERED
    non_returnable_skus: list[Sku] = Field(default_factory=list, max_length=10_000)
    non_returnable_categories: list[Category] = Field(default_factory=list, max_length=1000)
    review_above_amount: MinorUnits | None = 20000
    review_if_returns_in_90_days_over: StrictInt | None = Field(default=5, ge=0, le=100_000)
    restocking_fee_percent: StrictInt = Field(default=0, ge=0, le=100)
    return_shipping_fee: MinorUnits = 0
    refund_original_shipping: StrictBool = False
    label_expiry_days: StrictInt = Field(default=30, ge=1, le=365)
    auto_refund: StrictBool = True
    # How a customer may be paid back (staff may choose any).
    resolutions: list[Resolution] = Field(
        default_factory=lambda: list(Resolution), min_length=1, max_length=3
    )
    # The reasons a customer chooses from, in the order shown (staff may give any).
    reasons: list[Reason] = Field(default_factory=lambda: list(Reason), min_length=1, max_length=8)
    # Reasons for which the portal asks the customer for a photo of the item.
    photos_required_for: list[Reason] = Field(
        default_factory=lambda: [Reason.DAMAGED, Reason.DEFECTIVE], max_length=8
    )


# --- returns ------------------------------------------------------------------------------------


RESTOCKABLE: frozenset[Condition] = frozenset({Condition.NEW, Condition.GOOD})

ActorKind = Literal[
    "customer", "integration", "agent", "warehouse", "ops", "admin", "policy", "system"
]


class Actor(Model):
    kind: ActorKind
    id: str | None = None

    def label(self) -> str:
        return f"{self.kind}:{self.id}" if self.id else self.kind


POLICY = Actor(kind="policy")
SYSTEM = Actor(kind="system")


class ReturnItem(Model):
    id: str
    order_id: str
    line_id: str
    sku: str
    name: str
    quantity: int = Field(ge=1)
    reason: Reason
    comment: str | None = None
    quantity_received: int = 0
    condition: Condition | None = None
    quantity_restocked: int = 0


class RuleOutcome(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    REVIEW = "review"


class RuleResult(Model):
    rule: str
    outcome: RuleOutcome
    detail: str
    item_id: str | None = None


class Decision(Model):
    outcome: Literal["approved", "rejected", "pending_review"]
    automatic: bool
    by: str
    note: str | None = None
    reason: str | None = None
    at: datetime


class Label(Model):
    id: str
    carrier: str
    tracking_number: str
    expires_at: datetime


class RefundMethod(StrEnum):
    ORIGINAL_PAYMENT = "original_payment"
    STORE_CREDIT = "store_credit"


class Refund(Model):
    id: str
    amount: int
    order_id: str | None = None
    capture_id: str | None
    method: RefundMethod
    status: Literal["pending", "succeeded", "failed"]
    created_at: datetime
    failure_reason: str | None = None


class ReplacementItem(Model):
    sku: str
    name: str | None = None
    quantity: int = Field(ge=1)


class Replacement(Model):
    """The order an exchange sends out, created once the returned items arrived in good
    condition; the shop reports it fulfilled or cancelled."""

    id: str
    status: Literal["created", "fulfilled", "cancelled"]
    items: list[ReplacementItem]
    order_reference: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def settled(self) -> bool:
        return self.status != "created"


class ReturnError(Model):
    code: str
    detail: str
    at: datetime


class Timestamps(Model):
    approved_at: datetime | None = None
    label_sent_at: datetime | None = None
    shipped_at: datetime | None = None
    received_at: datetime | None = None
    refunded_at: datetime | None = None
    closed_at: datetime | None = None
    rejected_at: datetime | None = None
    cancelled_at: datetime | None = None
    expired_at: datetime | None = None


class TimelineEntry(Model):
    at: datetime
    status: Status
    actor: Actor
    note: str | None = None
    # A staff member's note on the return: kept in its timeline and history, never shown to the
    # customer.
    internal: bool = False


class ReturnState(Model):
    """Everything the workflow knows about one return; also the read model's document."""

    id: str
    number: str | None = None
    status: Status = Status.REQUESTED
    version: int = 0
    customer: Customer
    currency: str
    order_ids: list[str]
    resolution: Resolution
    items: list[ReturnItem]
    estimated_refund_amount: int = 0
    refunded_amount: int = 0
    # What may still be paid back, once the goods are back (None before).
    refundable_amount: int | None = None
    refunds: list[Refund] = Field(default_factory=list)
    label: Label | None = None
    tracking_number: str | None = None
    decision: Decision | None = None
    eligibility: list[RuleResult] = Field(default_factory=list)
    errors: list[ReturnError] = Field(default_factory=list)
    receiving_location: str | None = None
    replacement_items: list[ReplacementItem] = Field(default_factory=list)
    replacement: Replacement | None = None
    # The customer's language for what they are told (None: the shop's default, English).
    language: str | None = None
    created_at: datetime
    updated_at: datetime
    timestamps: Timestamps = Field(default_factory=Timestamps)
    timeline: list[TimelineEntry] = Field(default_factory=list)

    def actions(self) -> list[str]:
        """What may be done now: the status machine's actions, except that an exchange whose
        replacement order is still open cannot be closed, rejected or paid back, only told about
        it, and a refunded return is paid back again only while something is left."""
        actions = available_actions(self.status)
        if self.replacement is not None and not self.replacement.settled:
            # The replacement and the money exclude each other: it is sent or paid back.
            refused = ("close", "reject", "refund")
            actions = [a for a in actions if a not in refused] + ["replacement"]
        if self.status is Status.REFUNDED and not self.refundable_amount:
            actions = [a for a in actions if a != "refund"]
        return actions

    @property
    def reasons(self) -> list[str]:
        return sorted({item.reason.value for item in self.items})
