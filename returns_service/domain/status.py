"""The return's status machine as data: one table used by the workflow's validators and the API."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    REQUESTED = "requested"
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    LABEL_SENT = "label_sent"
    SHIPPED = "shipped"
    RECEIVED = "received"
    REFUNDED = "refunded"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class Action(StrEnum):
    """What a person (or a system on their behalf) asks of a return."""

    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    SHIP = "ship"
    RECEIVE = "receive"
    REFUND = "refund"
    CLOSE = "close"
    # A new label for a return whose label expired (within the policy's days after).
    REISSUE_LABEL = "reissue_label"
    # Units a partial receipt left waiting for will not come: an agent releases them (with why).
    RELEASE_MISSING = "release_missing"


class Event(StrEnum):
    """What the workflow itself decides or observes."""

    ELIGIBLE = "eligible"
    NEEDS_REVIEW = "needs_review"
    INELIGIBLE = "ineligible"
    LABEL_CREATED = "label_created"
    LABEL_EXPIRED = "label_expired"
    # A refund the payment processor accepted failed later: a closed return is owed money
    # again.
    REFUND_FAILED = "refund_failed"


S = Status

TRANSITIONS: dict[Action | Event, dict[Status, Status]] = {
    Event.ELIGIBLE: {S.REQUESTED: S.APPROVED},
    Event.NEEDS_REVIEW: {S.REQUESTED: S.PENDING_REVIEW},
    Event.INELIGIBLE: {S.REQUESTED: S.REJECTED},
    Action.APPROVE: {S.PENDING_REVIEW: S.APPROVED},
    Action.REJECT: {S.PENDING_REVIEW: S.REJECTED, S.RECEIVED: S.REJECTED},
    Event.LABEL_CREATED: {S.APPROVED: S.LABEL_SENT},
    Action.SHIP: {S.LABEL_SENT: S.SHIPPED},
    # A label unused, or (approved, in_store) the items not brought to the store, in time.
    Event.LABEL_EXPIRED: {S.LABEL_SENT: S.EXPIRED, S.APPROVED: S.EXPIRED},
    # Again, without changing the status, for units a partial receipt left waiting for
    # (ReturnState.actions says when).
    Action.RECEIVE: {
        S.APPROVED: S.RECEIVED,
        S.LABEL_SENT: S.RECEIVED,
        S.SHIPPED: S.RECEIVED,
        S.RECEIVED: S.RECEIVED,
        S.REFUNDED: S.REFUNDED,
    },
    Action.RELEASE_MISSING: {S.RECEIVED: S.RECEIVED, S.REFUNDED: S.REFUNDED},
    # Again from refunded while an agent's partial refund left something to pay back; from
    # approved only for items the customer keeps (ReturnState.actions says which).
    Action.REFUND: {S.APPROVED: S.REFUNDED, S.RECEIVED: S.REFUNDED, S.REFUNDED: S.REFUNDED},
    Action.CLOSE: {S.RECEIVED: S.CLOSED, S.REFUNDED: S.CLOSED},
    Action.REISSUE_LABEL: {S.EXPIRED: S.LABEL_SENT},
    Event.REFUND_FAILED: {S.CLOSED: S.REFUNDED},
    Action.CANCEL: {
        S.REQUESTED: S.CANCELLED,
        S.PENDING_REVIEW: S.CANCELLED,
        S.APPROVED: S.CANCELLED,
        S.LABEL_SENT: S.CANCELLED,
    },
}

TERMINAL: frozenset[Status] = frozenset({S.CLOSED, S.REJECTED, S.CANCELLED, S.EXPIRED})

# Statuses in which a return no longer holds the quantities it asked for.
RELEASED: frozenset[Status] = frozenset({S.REJECTED, S.CANCELLED, S.EXPIRED})

# The timestamp each status sets on the return.
STATUS_TIMESTAMP: dict[Status, str] = {
    S.APPROVED: "approved_at",
    S.LABEL_SENT: "label_sent_at",
    S.SHIPPED: "shipped_at",
    S.RECEIVED: "received_at",
    S.REFUNDED: "refunded_at",
    S.CLOSED: "closed_at",
    S.REJECTED: "rejected_at",
    S.CANCELLED: "cancelled_at",
    S.EXPIRED: "expired_at",
}


# The events a return emits (to webhooks): one per status it reaches, and a failed refund.
REFUND_FAILED_EVENT = "return.refund_failed"
# Units a partial receipt waited for were released (not come in time, or an agent said so).
ITEMS_RELEASED_EVENT = "return.items_released"
# Paid back at the carrier's first scan, before the goods are back (the status stays `shipped`).
PAID_AT_FIRST_SCAN_EVENT = "return.paid_at_first_scan"


def status_event(status: Status) -> str:
    return f"return.{status.value}"


EVENT_TYPES: list[str] = [status_event(status) for status in Status] + [
    REFUND_FAILED_EVENT,
    ITEMS_RELEASED_EVENT,
    PAID_AT_FIRST_SCAN_EVENT,
]


class InvalidTransition(Exception):
    def __init__(self, current: Status, change: Action | Event) -> None:
        super().__init__(f"cannot {change.value} a return that is {current.value}")
        self.current = current
        self.change = change


def next_status(current: Status, change: Action | Event) -> Status:
    """The status `change` leads to from `current`, or InvalidTransition."""
    target = TRANSITIONS[change].get(current)
    if target is None:
        raise InvalidTransition(current, change)
    return target


def allows(current: Status, change: Action | Event) -> bool:
    return current in TRANSITIONS[change]


def available_actions(current: Status) -> list[str]:
    return [action.value for action in Action if current in TRANSITIONS[action]]
