"""The returns domain as pydantic models. Pure data: no I/O, no clock, no randomness.

These types cross the Temporal boundary (workflow inputs, state, activity arguments), so any
default here must be deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_serializer,
    model_validator,
)

from returns_service.domain.status import Status, available_actions
from returns_service.domain.types import (
    EMAIL_LENGTH,
    Amounts,
    Category,
    Email,
    Ident,
    ImageUrl,
    Method,
    MinorUnits,
    Moment,
    Name,
    Reference,
    ShortText,
    Sku,
)
from returns_service.domain.types import _single_line as single_line

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- orders -------------------------------------------------------------------------------------


class Variant(Model):
    """Another variant of an order line's product (a size, a colour) that an exchange may send
    instead of the one bought."""

    sku: Sku
    name: Name
    image_url: ImageUrl | None = None


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
    # The product's picture, shown beside it on the pages (where its host is allowed).
    image_url: ImageUrl | None = None
    # The product's other variants an exchange may send instead (none: the shop's words, where
    # it takes them; a customer's exchange names this line's own SKU or one of these).
    variants: list[Variant] = Field(default_factory=list, max_length=30)

    def exchangeable_for(self, sku: str) -> Variant | None:
        """The variant `sku` names, or the line itself as one (None: neither)."""
        if sku == self.sku:
            return Variant(sku=self.sku, name=self.name, image_url=self.image_url)
        return next((variant for variant in self.variants if variant.sku == sku), None)


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
    # A gift: whoever has its shipping address's postal code may return it (paid in store
    # credit to them; the buyer is never told).
    gift: bool = False

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


class ReturnMethod(StrEnum):
    """How the goods go back: a printed label, a code shown at a drop-off point, brought to one of
    the shop's stores, or not at all (the customer keeps them and is paid back at once)."""

    LABEL = "label"
    QR_DROP_OFF = "qr_drop_off"
    IN_STORE = "in_store"
    KEEP_ITEM = "keep_item"


class Store(Model):
    """One of the shop's stores, where an `in_store` return is brought."""

    id: Ident
    name: Name
    address: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(single_line)]


RuleName = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


def once_each(values: list[T]) -> list[T]:
    twice = sorted({str(v) for v in values if values.count(v) > 1})
    if twice:
        raise ValueError(f"each only once ({', '.join(twice)} twice)")
    return values


class Sparse(Model):
    """Written without the fields it leaves out (a rule says only what it says)."""

    # No return annotation: the JSON schema stays the model's own.
    @model_serializer(mode="wrap")
    def _given(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        return {name: value for name, value in handler(self).items() if value is not None}


class RuleWhen(Sparse):
    """Which items a rule is about: every condition given must hold for the item (each list is
    any-of); a rule with no condition matches every item."""

    reasons: list[Reason] | None = Field(default=None, min_length=1, max_length=8)
    skus: list[Sku] | None = Field(default=None, min_length=1, max_length=10_000)
    categories: list[Category] | None = Field(default=None, min_length=1, max_length=1000)
    # The item's refund value (its units' share of what was paid), above which the rule holds.
    # (Per currency: a currency it does not name, the rule does not match.)
    amount_above: Amounts | None = None
    customer_emails: list[Email] | None = Field(default=None, min_length=1, max_length=10_000)


RefundOn = Literal["receipt", "first_scan"]


class RuleThen(Sparse):
    """What a rule decides for the items it matches."""

    # The return is refused, and the customer reads why.
    reject: Annotated[ShortText, Field(min_length=1)] | None = None
    # An agent decides.
    review: StrictBool | None = None
    # The return window for these items instead of the policy's.
    window_days: StrictInt | None = Field(default=None, ge=0, le=3650)
    restocking_fee_percent: StrictInt | None = Field(default=None, ge=0, le=100)
    # (Per currency: a currency it does not name, the policy's fee.)
    return_shipping_fee: Amounts | None = None
    # The customer may keep these items and be paid back at once.
    keep_item: StrictBool | None = None
    # The portal asks for photos of these items.
    photos_required: StrictBool | None = None
    # The methods offered for these items (instead of the policy's).
    methods: list[ReturnMethod] | None = Field(default=None, min_length=1, max_length=4)
    # When these items are paid back: at the warehouse's receipt, or when the carrier first
    # reports the parcel moving (every item of the return must say so).
    refund_on: RefundOn | None = None

    @field_validator("methods")
    @classmethod
    def _once_each(cls, methods: list[ReturnMethod] | None) -> list[ReturnMethod] | None:
        return once_each(methods) if methods is not None else None

    @model_validator(mode="after")
    def _decides(self) -> RuleThen:
        if all(value is None for value in self.__dict__.values()):
            raise ValueError("say what the rule decides (reject, review, a fee, ...)")
        return self


class Rule(Model):
    name: RuleName
    when: RuleWhen = Field(default_factory=RuleWhen)
    then: RuleThen


class Policy(Model):
    return_window_days: StrictInt = Field(default=30, ge=0, le=3650)
    window_basis: WindowBasis = WindowBasis.DELIVERED
    non_returnable_skus: list[Sku] = Field(default_factory=list, max_length=10_000)
    non_returnable_categories: list[Category] = Field(default_factory=list, max_length=1000)
    # Above this estimated refund an agent reviews (per currency: a currency it does not name,
    # every return in it).
    review_above_amount: Amounts | None = 20000
    review_if_returns_in_90_days_over: StrictInt | None = Field(default=5, ge=0, le=100_000)
    restocking_fee_percent: StrictInt = Field(default=0, ge=0, le=100)
    # (Per currency: a currency it does not name, none.)
    return_shipping_fee: Amounts = 0
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
    # How customers may send the goods back (staff may choose any), and the stores that take
    # them in person.
    return_methods: list[ReturnMethod] = Field(
        default_factory=lambda: [ReturnMethod.LABEL], min_length=1, max_length=4
    )
    stores: list[Store] = Field(default_factory=list, max_length=1000, validate_default=True)
    # A return whose estimated refund is at most this may be kept (None: never, unless a rule
    # says so).
    # (Per currency: a currency it does not name, never.)
    keep_item_below_amount: Amounts | None = None
    # An expired return may get a new label for this many days after it expired.
    label_reissue_days: StrictInt = Field(default=14, ge=0, le=365)
    # Units a partial receipt did not bring are waited for this many days after it, then given
    # back to their order (returnable again) and the customer told.
    missing_after_days: StrictInt = Field(default=14, ge=1, le=365)
    # When a return is paid back by itself: once the warehouse received it (`receipt`), or as
    # soon as the carrier first reports its parcel moving (`first_scan`, Loop's and AfterShip's
    # "instant refunds"; the receipt still grades and restocks, and a parcel that never arrives
    # is an agent's to chase). Rules may set it for the items they match.
    refund_on: RefundOn = "receipt"
    # Store credit chosen by the customer comes with this much more, as the shop's bonus (Loop's
    # lever: "€50.00 back, or €55.00 in store credit"); kept apart from what the orders pay back.
    store_credit_bonus_percent: StrictInt = Field(default=0, ge=0, le=100)
    # Decided in order for every item; see domain/rules.py.
    rules: list[Rule] = Field(default_factory=list, max_length=200)

    @field_validator("stores")
    @classmethod
    def _stores(cls, stores: list[Store], info: ValidationInfo) -> list[Store]:
        ids = [store.id for store in stores]
        if len(ids) != len(set(ids)):
            raise ValueError("each store needs its own id")
        if ReturnMethod.IN_STORE in info.data.get("return_methods", ()) and not stores:
            raise ValueError("offering in_store needs at least one store")
        return stores

    @field_validator("return_methods")
    @classmethod
    def _methods(cls, methods: list[ReturnMethod]) -> list[ReturnMethod]:
        return once_each(methods)

    @field_validator("rules")
    @classmethod
    def _rules(cls, rules: list[Rule], info: ValidationInfo) -> list[Rule]:
        names = [rule.name for rule in rules]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"each rule needs its own name ({', '.join(twice)} twice)")
        stores = info.data.get("stores")
        for rule in rules:
            methods = rule.then.methods
            if methods and not stores and all(m is ReturnMethod.IN_STORE for m in methods):
                raise ValueError(
                    f"rule {rule.name} offers only in_store, and the shop has no store: its"
                    " items could not be returned at all"
                )
        return rules

    def store(self, store_id: str | None) -> Store | None:
        return next((store for store in self.stores if store.id == store_id), None)


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
# Who may go beyond the policy for a customer (a method it does not offer, a keep above its
# limit). A storefront's integration key relays the customer's own choices: their limits apply.
BEYOND_POLICY: frozenset[str] = frozenset({"agent", "admin"})


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
    # Units that did not arrive: given back to the order (returnable again). Returns received
    # before the missing-items wait released them at the receipt; now they are waited for
    # (`ReturnState.missing`) until the policy's days are over or an agent says they are not coming.
    quantity_released: int = 0


class RuleOutcome(StrEnum):
    ELIGIBLE = "eligible"
    INELIGIBLE = "ineligible"
    REVIEW = "review"


class RuleResult(Model):
    rule: str
    outcome: RuleOutcome
    detail: str
    item_id: str | None = None
    # A rule that weighs money: the return's amount and the policy's limit it was weighed
    # against, in minor units of the return's currency (so pages write them as money); a shop
    # rule's: the return shipping fee it sets.
    amount: int | None = None
    limit: int | None = None


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
    # A `qr_drop_off` return's code, shown (as a QR image) at the drop-off point: nothing to print.
    drop_off_code: str | None = None


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
    # Whose store credit it is: a gift's recipient (None: the customer's).
    issued_to: str | None = None
    # The payment processor's id of it (a Stripe refund `re_...`); None for the built-in ledger.
    reference: str | None = None


class RefundReason(Model):
    """The words a person gave the customer with a refund of an amount of their choosing."""

    amount: int
    reason: str
    at: datetime


class ReplacementItem(Model):
    sku: str
    name: str | None = None
    # Units of the returned item it replaces, one for one.
    quantity: int = Field(ge=1)
    # The returned item it replaces (None: returns requested before replacements named one,
    # which send the whole replacement once their goods are back).
    item_id: str | None = None


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

    @model_validator(mode="before")
    @classmethod
    def _as_written_before(cls, data: Any) -> Any:
        """Returns written by releases before 2026-12-05 name `refund_due_at_first_scan`
        `paid_at_first_scan` (in the read model's documents and in workflows' payloads): read
        under its name now, so that those returns still list, show and finish."""
        if isinstance(data, dict) and "paid_at_first_scan" in data:
            data = dict(data)
            written = data.pop("paid_at_first_scan")
            data.setdefault("refund_due_at_first_scan", written)
        return data

    id: str
    number: str | None = None
    status: Status = Status.REQUESTED
    version: int = 0
    customer: Customer
    currency: str
    order_ids: list[str]
    resolution: Resolution
    items: list[ReturnItem]
    # How the goods go back (returns older than methods: a label), and for `in_store`, where.
    method: ReturnMethod = ReturnMethod.LABEL
    store_id: str | None = None
    # A gift's return: the recipient who returns it, paid in store credit and told by email
    # (the buyer, `customer`, hears nothing of it).
    recipient_email: str | None = None
    estimated_refund_amount: int = 0
    # What the approval fixed: the most the return pays back without a person deciding more (the
    # estimate its approver saw; items added later add theirs). None: returns approved before
    # approvals fixed it, or not approved yet.
    approved_amount: int | None = None
    refunded_amount: int = 0
    # What may still be paid back, once the goods are back (None before).
    refundable_amount: int | None = None
    # Of that, what the policy pays back by itself (an agent paying more gives a reason).
    due_amount: int | None = None
    refunds: list[Refund] = Field(default_factory=list)
    # An agent's exception to a closed return window for its items, and why (None: none).
    window_exception: str | None = None
    # Staff waived its restocking and return shipping fees, and why (None: not).
    fees_waived: str | None = None
    # What a person told the customer of a refund they chose the amount of (why this amount).
    refund_reasons: list[RefundReason] = Field(default_factory=list)
    # The shop's bonus on the store credit the customer chose, issued with it (not part of
    # `refunded_amount`: the orders never pay it back).
    store_credit_bonus: int = 0
    label: Label | None = None
    tracking_number: str | None = None
    decision: Decision | None = None
    eligibility: list[RuleResult] = Field(default_factory=list)
    errors: list[ReturnError] = Field(default_factory=list)
    receiving_location: str | None = None
    # An expired return may get a new label until then (None: it may not, or not any more).
    reissue_until: datetime | None = None
    # An approved `in_store` return: the items are brought to the store by then, or it expires
    # (None: returns approved before there was such a day wait without one).
    bring_by: datetime | None = None
    # After a partial receipt: the units that did not come are waited for until then, then
    # released (None: nothing is waited for).
    missing_until: datetime | None = None
    replacement_items: list[ReplacementItem] = Field(default_factory=list)
    replacement: Replacement | None = None
    # When the carrier's first scan made the refund due (its policy or a rule said so), before
    # the warehouse had it; its units count as back from then on (`refunds` say if it was paid).
    refund_due_at_first_scan: datetime | None = None
    # Never made: other returns took its units while it was requested, and nothing of it was
    # kept (the caller heard 409; no number, no email, no webhook).
    void: bool = False
    # The customer's language for what they are told (None: the shop's default, English).
    language: str | None = None
    created_at: datetime
    updated_at: datetime
    timestamps: Timestamps = Field(default_factory=Timestamps)
    timeline: list[TimelineEntry] = Field(default_factory=list)

    def missing(self) -> dict[str, int]:
        """Per item, the units a partial receipt did not bring that the return still waits for."""
        if self.missing_until is None:
            return {}
        units = {
            item.id: item.quantity - item.quantity_received - item.quantity_released
            for item in self.items
        }
        return {item_id: n for item_id, n in units.items() if n > 0}

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
        if self.reissue_until is None:
            actions = [a for a in actions if a != "reissue_label"]
        if self.status in (Status.RECEIVED, Status.REFUNDED) and not self.missing_until:
            # Received again, or released, only while a partial receipt's units are waited for.
            actions = [a for a in actions if a not in ("receive", "release_missing")]
        if self.refund_due_at_first_scan is not None and self.refunded_amount:
            # Paid for before it arrived: it is closed, not rejected (its units were paid for).
            actions = [a for a in actions if a != "reject"]
        if self.status is Status.APPROVED:
            # Kept items are paid back once approved (again by an agent, if that failed);
            # nothing of theirs is shipped or received. Other returns are paid back once back.
            keep = self.method is ReturnMethod.KEEP_ITEM
            unfit = ("ship", "receive") if keep else ("refund",)
            actions = [a for a in actions if a not in unfit]
        return actions

    @property
    def reasons(self) -> list[str]:
        return sorted({item.reason.value for item in self.items})
