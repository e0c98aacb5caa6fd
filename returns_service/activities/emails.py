"""What the customer is told at each status change."""

from __future__ import annotations

from returns_service.activities.ports import EmailMessage
from returns_service.domain.models import ReturnState
from returns_service.domain.status import Status

_MESSAGES: dict[Status, tuple[str, str]] = {
    Status.APPROVED: ("approved", "Your return has been approved. A shipping label follows."),
    Status.PENDING_REVIEW: (
        "is being reviewed",
        "Our team is reviewing your return and will get back to you shortly.",
    ),
    Status.LABEL_SENT: (
        "label is ready",
        "Your return label is ready: {label_url}\nPlease ship the items before {expires}.",
    ),
    Status.SHIPPED: ("is on its way", "We have noted that your return is on its way to us."),
    Status.RECEIVED: ("has arrived", "Your return has arrived at our warehouse."),
    Status.REFUNDED: (
        "has been refunded",
        "We have refunded {amount} (minor units, {currency}) for your return.",
    ),
    Status.CLOSED: ("is complete", "Your return is complete. Thank you."),
    Status.REJECTED: ("was not accepted", "We could not accept your return: {reason}"),
    Status.CANCELLED: ("was cancelled", "Your return has been cancelled."),
    Status.EXPIRED: (
        "has expired",
        "Your return label expired before the parcel was shipped, so the return was closed.",
    ),
}


def status_email(state: ReturnState, public_url: str) -> EmailMessage | None:
    """The message for the return's current status, or None when the customer needs none."""
    template = _MESSAGES.get(state.status)
    if template is None:
        return None
    subject, body = template
    label_url = f"{public_url}/v1/returns/{state.id}/label"
    text = body.format(
        label_url=label_url,
        expires=state.label.expires_at.date().isoformat() if state.label else "",
        amount=state.refunded_amount,
        currency=state.currency,
        reason=(state.decision.reason or state.decision.note or "see your return")
        if state.decision
        else "see your return",
    )
    number = state.number or state.id
    return EmailMessage(
        key=f"email:{state.id}:{state.status.value}",
        return_id=state.id,
        to=state.customer.email,
        subject=f"Return {number} {subject}",
        body=f"Hello,\n\n{text}\n\nReturn {number}\n",
    )
