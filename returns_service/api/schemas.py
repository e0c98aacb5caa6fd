"""Request and response bodies of API v1. Requests refuse unknown fields, so a client can never
set a server-owned field; responses are built from domain state, never from storage rows."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from returns_service.domain.models import (
    Address,
    Capture,
    Condition,
    Customer,
    Moment,
    Order,
    OrderLine,
    Policy,
    Reason,
    RefundMethod,
    Resolution,
    ReturnItem,
    ReturnMethod,
)
from returns_service.domain.types import (
    MAX_AMOUNT,
    DeliverableEmail,
    Email,
    Ident,
    Location,
    MinorUnits,
    OrderNumber,
    Reference,
    Text,
    TrackingNumber,
    blank,
)
from returns_service.domain.types import Name as LineText
from returns_service.domain.views import ReturnOut

# A return spans at most this many orders (each order's snapshot travels in its history).
MAX_ORDERS_PER_RETURN = 10


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- orders ---------------------------------------------------------------------------------------


class CustomerIn(Request):
    id: Reference | None = None
    email: Email


class OrderIn(Request):
    number: OrderNumber
    customer: CustomerIn
    shipping_address: Address | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    placed_at: Moment
    fulfilled_at: Moment | None = None
    delivered_at: Moment | None = None
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=200)]
    shipping_amount: MinorUnits = 0
    order_discount_amount: MinorUnits = 0
    captures: Annotated[list[Capture], Field(max_length=50)] = []
    gift: bool = Field(
        default=False,
        description="A gift: its recipient may return it with the order number and the"
        " shipping address's postal code, for store credit of their own.",
    )

    @field_validator("order_discount_amount")
    @classmethod
    def _within_the_goods(cls, value: int, info: ValidationInfo) -> int:
        lines = info.data.get("lines") or []  # absent when the lines themselves were wrong
        goods = sum(line.unit_amount * line.quantity - line.discount_amount for line in lines)
        if lines and value > goods:
            raise ValueError(f"is more than the goods' price after their discounts ({goods})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> OrderIn:
        for name, values in (
            ("lines", [line.id for line in self.lines]),
            ("captures", [c.id for c in self.captures]),
        ):
            if len(set(values)) != len(values):
                raise ValueError(f"{name} ids must be unique")
        for moment in (self.placed_at, self.fulfilled_at, self.delivered_at):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("times need a UTC offset (RFC 3339)")
        for line in self.lines:
            if line.discount_amount > line.unit_amount * line.quantity:
                raise ValueError(f"line {line.id}: discount_amount is more than the line's price")
        return self

    def to_order(self, order_id: str) -> Order:
        return Order(
            id=order_id,
            customer=Customer(id=self.customer.id, email=self.customer.email),
            **self.model_dump(exclude={"customer"}),
        )


class OrderLineOut(OrderLine):
    returnable_quantity: int


class OrderOut(BaseModel):
    id: str
    number: str
    customer: Customer | None = Field(
        description="Who bought it; null for a gift's recipient, who never learns it."
    )
    shipping_address: Address | None = None
    currency: str
    placed_at: datetime
    fulfilled_at: datetime | None
    delivered_at: datetime | None
    lines: list[OrderLineOut]
    shipping_amount: int
    order_discount_amount: int
    captures: list[Capture]
    gift: bool = False

    @classmethod
    def build(cls, order: Order, returnable: dict[str, int], recipient: bool = False) -> OrderOut:
        """The order; for a gift's recipient without the buyer and what they paid with."""
        data = order.model_dump()
        if recipient:
            data["customer"], data["captures"] = None, []
        data["lines"] = [
            OrderLineOut(**line.model_dump(), returnable_quantity=returnable.get(line.id, 0))
            for line in order.lines
        ]
        return cls(**data)


# --- returns --------------------------------------------------------------------------------------


class ReturnItemIn(Request):
    order_id: Ident
    line_id: Ident
    quantity: StrictInt = Field(ge=1, le=10000)
    reason: Reason
    comment: Text | None = None

    @model_validator(mode="after")
    def _comment_for_other(self) -> ReturnItemIn:
        if self.reason is Reason.OTHER and blank(self.comment):
            raise ValueError("a comment is required when the reason is other")
        return self


class ReplacementItemIn(Request):
    sku: Ident
    name: LineText | None = None
    quantity: StrictInt = Field(
        ge=1, le=10000, description="Units of the returned item it replaces, one for one."
    )
    item: StrictInt | None = Field(
        default=None,
        ge=0,
        le=49,
        description="Which of the return's `items` (its index) it replaces: sent once that"
        " item's units arrive in a condition the policy accepts, for as many of them as did."
        " May be left out for a return of one item, or with one replacement per item (they"
        " pair in order).",
    )


class ReturnCreate(Request):
    items: Annotated[list[ReturnItemIn], Field(min_length=1, max_length=50)]
    resolution: Resolution = Resolution.REFUND
    customer_email: Email | None = None
    replacement_items: Annotated[list[ReplacementItemIn], Field(max_length=50)] = []
    language: Annotated[
        str | None,
        Field(
            pattern=r"^[a-z]{2,3}$",
            description="The customer's language for what they are told (`en`, `de`).",
        ),
    ] = None
    method: ReturnMethod = Field(
        default=ReturnMethod.LABEL,
        description="How the goods go back: one of the policy's `return_methods` (staff may"
        " choose any); `keep_item` only where the policy allows it.",
    )
    store_id: Ident | None = Field(
        default=None, description="For `in_store`: which of the policy's `stores`."
    )
    recipient_email: DeliverableEmail | None = Field(
        default=None,
        description="A gift's return (its order has `gift: true`): the email of the recipient"
        " who returns it. Required in a gift recipient's session (opened with the order's"
        " postal code); such a return is always `store_credit`, issued to the recipient, and its"
        " emails go to the recipient only.",
    )
    window_exception: Text | None = Field(
        default=None,
        description="Agents and admins: take the items though their return window closed, and"
        " say why (kept on the return's eligibility and in its timeline). Anyone else: a 422"
        " naming this field.",
    )
    fees_waived: Text | None = Field(
        default=None,
        description="Agents and admins: waive the return's restocking and return shipping fees"
        " (every item's, a rule's too), and say why (kept on the return's eligibility and in its"
        " timeline; the customer reads only that no fee is taken). Anyone else: a 422 naming"
        " this field.",
    )

    @model_validator(mode="after")
    def _few_orders(self) -> ReturnCreate:
        if len({item.order_id for item in self.items}) > MAX_ORDERS_PER_RETURN:
            raise ValueError(f"a return spans at most {MAX_ORDERS_PER_RETURN} orders")
        return self


class BulkActionIn(Request):
    action: Literal["approve", "reject", "cancel", "close"]
    return_ids: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]],
        Field(min_length=1, max_length=100),
    ]
    note: Text | None = None


class BulkError(BaseModel):
    status: int
    title: str
    detail: str
    code: str | None = None
    current_status: str | None = None


class BulkResult(BaseModel):
    id: str
    ok: bool
    status: str | None = None
    error: BulkError | None = None


class BulkActionOut(BaseModel):
    results: list[BulkResult]


class ReplacementIn(Request):
    status: Literal["fulfilled", "cancelled"]
    order_reference: OrderNumber | None = None
    note: Text | None = None


class ApproveIn(Request):
    note: Text | None = None


class RejectIn(Request):
    reason: Text | None = None
    note: Text | None = None


class CancelIn(Request):
    reason: Text | None = None


class ShipIn(Request):
    tracking_number: TrackingNumber | None = None


class ReceivedItemIn(Request):
    item_id: Ident
    quantity: StrictInt = Field(ge=0, le=10000)
    condition: Condition


class ReceiveIn(Request):
    location: Location
    items: Annotated[list[ReceivedItemIn], Field(min_length=1, max_length=50)]


class RefundIn(Request):
    # At least 1: a refund of nothing would tell the customer they were paid back.
    amount: Annotated[StrictInt, Field(ge=1, le=MAX_AMOUNT)] | None = None
    capture_id: Ident | None = None
    method: RefundMethod | None = None
    # Why: needed for an amount above what the policy pays back (`due_amount`); in the timeline.
    note: Text | None = None
    reason: Text | None = Field(
        default=None,
        description="What the customer reads of this refund: why this amount (shown on their"
        " return's page and in the refund's email). The console asks for it when an agent pays"
        " less than the policy would.",
    )


class CloseIn(Request):
    note: Text | None = None


class NotComingIn(Request):
    """Why the units a partial receipt left missing are not coming (in the timeline)."""

    reason: Text


class ReissueIn(Request):
    """A new label for an expired return (nothing to say: the caller is who asks)."""


class AddItemsIn(Request):
    items: Annotated[list[ReturnItemIn], Field(min_length=1, max_length=50)]


class AddedItems(Request):
    """The items to add as the workflow takes them: checked against the orders, numbered after
    the return's own, decided by the shop's policy as it is now."""

    items: list[ReturnItem]
    policy: Policy | None = None
    photographed: list[str] | None = None


class NoteIn(Request):
    text: Annotated[Text, Field(min_length=1)]


class ReturnPage(BaseModel):
    data: list[ReturnOut]
    next_cursor: str | None


class PhotoOut(BaseModel):
    id: str
    item_id: str
    content_type: str
    size: int
    url: str
    created_at: datetime


class HistoryEvent(BaseModel):
    at: datetime
    kind: str
    summary: str
    actor: str | None


class History(BaseModel):
    workflow_id: str
    run_id: str | None
    temporal_ui_url: str
    events: list[HistoryEvent]


class ProblemOut(BaseModel):
    """RFC 9457 problem details; validation problems list each wrong field."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    # Each wrong field: {"field": "items[0].quantity", "message": "..."}.
    errors: list[dict[str, str]] | None = None


def problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": ProblemOut.model_json_schema()}},
    }


PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: problem("No credentials, or unknown, forged or expired ones"),
    403: problem("The caller's role may not do this"),
    404: problem("Not found, or not the caller's to see"),
    409: problem("The return's state does not allow it, or the Idempotency-Key was used otherwise"),
    413: problem("The request body is too large"),
    422: problem("A field is wrong; `errors` names it"),
    429: problem("Too many requests; see Retry-After"),
    503: problem("Temporal or the store did not answer in time"),
}


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
