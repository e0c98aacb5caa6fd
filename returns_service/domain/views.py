"""The public shape of a return: what the API answers and what webhooks carry. Below both, so
that neither imports the other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from returns_service.domain.models import (
    Condition,
    Customer,
    Decision,
    Reason,
    Refund,
    RefundReason,
    Replacement,
    ReplacementItem,
    Resolution,
    ReturnError,
    ReturnMethod,
    ReturnState,
    RuleResult,
    Timestamps,
)
from returns_service.domain.status import Action

# The eligibility rule that says why a customer is on the block list (agents only).
BLOCKED_CUSTOMER = "blocked_customer"
# What a customer may do to their return themselves (the API's actions open to them).
CUSTOMER_ACTIONS = frozenset({Action.CANCEL, Action.SHIP, Action.REISSUE_LABEL})


class LabelOut(BaseModel):
    carrier: str
    tracking_number: str
    url: str | None = Field(
        description="The label's PDF to print; null for `qr_drop_off` (nothing to print)."
    )
    expires_at: datetime
    drop_off_code: str | None = Field(
        default=None, description="`qr_drop_off`: the code shown at the drop-off point."
    )
    qr_url: str | None = Field(
        default=None, description="`qr_drop_off`: the code as a QR image (`image/png`)."
    )


class ReturnItemOut(BaseModel):
    id: str
    order_id: str
    line_id: str
    sku: str
    name: str
    quantity: int
    reason: Reason
    comment: str | None
    quantity_received: int
    condition: Condition | None
    quantity_restocked: int
    quantity_released: int = Field(
        default=0,
        description="Units that did not arrive, given back to the order (the missing-items wait"
        " was over, or an agent said they are not coming): they may be returned again.",
    )
    quantity_missing: int = Field(
        default=0,
        description="Units a partial receipt did not bring that the return still waits for"
        " (until `missing_until`); received later, they are paid back like the others.",
    )


class ReturnOut(BaseModel):
    id: str
    number: str | None
    status: str
    customer: Customer | None = Field(
        description="Who bought the orders; null in a gift's return as its recipient reads it"
        " (the buyer is never shown to them)."
    )
    recipient_email: str | None = Field(
        default=None,
        description="A gift's return: the recipient who returns it, paid in store credit and"
        " told by email; null for any other return.",
    )
    currency: str
    order_ids: list[str]
    resolution: Resolution
    items: list[ReturnItemOut]
    method: ReturnMethod
    store_id: str | None = None
    estimated_refund_amount: int
    approved_amount: int | None = Field(
        default=None,
        description="What the approval fixed: the most paid back without a person deciding more"
        " (the estimate its approver saw, and what items added since were approved for); null"
        " before approval.",
    )
    refunded_amount: int
    refundable_amount: int | None = Field(
        default=None,
        description="What may still be paid back, once the goods are back; null before.",
    )
    due_amount: int | None = Field(
        default=None,
        description="Of `refundable_amount`, what the policy pays back by itself (within"
        " `approved_amount`); an agent's refund above it needs a `note`. Null before.",
    )
    refunds: list[Refund]
    store_credit_bonus: int = Field(
        default=0,
        description="The shop's bonus issued with the store credit the customer chose (the"
        " policy's `store_credit_bonus_percent` of it), beyond `refunded_amount`: the orders'"
        " captures never pay it.",
    )
    window_exception: str | None = Field(
        default=None,
        description="Why staff took the items though their return window closed (null: no"
        " exception; never shown to the customer).",
    )
    fees_waived: str | None = Field(
        default=None,
        description="Why staff waived the return's restocking and return shipping fees (null:"
        " the policy's fees; never shown to the customer).",
    )
    refund_reasons: list[RefundReason] = Field(
        default_factory=list,
        description="What a person told the customer of a refund whose amount they chose.",
    )
    label: LabelOut | None
    tracking_number: str | None
    decision: Decision | None
    eligibility: list[RuleResult]
    errors: list[ReturnError]
    replacement_items: list[ReplacementItem]
    replacement: Replacement | None
    language: str | None = Field(
        default=None, description="The customer's language for emails; null: the shop's default."
    )
    available_actions: list[str]
    bring_by: datetime | None = Field(
        default=None,
        description="An approved `in_store` return: the items are brought to the store by then,"
        " or it expires and its units are released.",
    )
    missing_until: datetime | None = Field(
        default=None,
        description="After a partial receipt: the units still missing are waited for until then,"
        " then released (returnable again) and the customer told; null: nothing is waited for.",
    )
    refund_due_at_first_scan: datetime | None = Field(
        default=None,
        description="When the carrier first reported the parcel moving, which made the refund"
        " due before the warehouse had it (the policy's or a rule's `refund_on: first_scan`);"
        " `refunds` say whether it was paid (a failed one is paid on receipt or by an agent)."
        " Null: paid on receipt.",
    )
    created_at: datetime
    updated_at: datetime
    timestamps: Timestamps

    @classmethod
    def build(cls, state: ReturnState, for_customer: bool = False) -> ReturnOut:
        """The return as the API answers it; for its customer without what the shop keeps to
        itself: a decision's internal note, and which staff member took it (only the role)."""
        data: dict[str, Any] = state.model_dump(
            exclude={"version", "timeline", "receiving_location", "label"}
        )
        if for_customer and state.decision is not None:
            by = state.decision.by
            data["decision"] = {
                **data["decision"],
                "note": None,
                "by": by if by.startswith("customer") else by.split(":", 1)[0],
            }
        if for_customer and state.recipient_email is not None:
            # A gift's recipient never learns who gave it (nor anything of the buyer's).
            data["customer"] = None
            # What a failed refund ran into is about the buyer's payment (what it still holds).
            data["errors"] = []
            data["refunds"] = [{**refund, "failure_reason": None} for refund in data["refunds"]]
            data["eligibility"] = [
                result
                for result in data["eligibility"]
                if result["rule"] != "frequent_returner"  # the buyer's returns
            ]
        if for_customer:
            data["window_exception"] = None  # the shop's own reasons
            data["fees_waived"] = None
            data["eligibility"] = [
                {
                    **result,
                    "detail": result["detail"]
                    .split("; taken by exception:")[0]
                    .split("; waived by exception:")[0],
                }
                for result in data["eligibility"]
            ]
            # Why a customer is on the shop's block list is for its agents only.
            data["eligibility"] = [
                result for result in data["eligibility"] if result["rule"] != BLOCKED_CUSTOMER
            ]
        label = state.label
        data["label"] = (
            LabelOut(
                carrier=label.carrier,
                tracking_number=label.tracking_number,
                url=None if label.drop_off_code else f"/v1/returns/{state.id}/label",
                expires_at=label.expires_at,
                drop_off_code=label.drop_off_code,
                qr_url=f"/v1/returns/{state.id}/label/qr" if label.drop_off_code else None,
            )
            if label
            else None
        )
        actions = state.actions()
        # A customer is offered only what they may do themselves; the rest is the shop's.
        data["available_actions"] = (
            [action for action in actions if action in CUSTOMER_ACTIONS]
            if for_customer
            else actions
        )
        missing = state.missing()
        for item in data["items"]:
            item["quantity_missing"] = missing.get(item["id"], 0)
        return cls(**data)
