"""What the customer is told at each status change: Jinja2 templates, in text and HTML.

The templates are `templates/status_email.{txt,html}.j2`; a shop points `RETURNS_EMAIL_TEMPLATES`
at a folder of its own with the same names to word them its way.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from returns_service.activities.ports import EmailMessage
from returns_service.domain.models import ReturnState
from returns_service.domain.status import Status
from returns_service.i18n import minor_digits

SUBJECTS: dict[Status, str] = {
    Status.APPROVED: "has been approved",
    Status.PENDING_REVIEW: "is being reviewed",
    Status.LABEL_SENT: "label is ready",
    Status.SHIPPED: "is on its way",
    Status.RECEIVED: "has arrived",
    Status.REFUNDED: "has been refunded",
    Status.CLOSED: "is complete",
    Status.REJECTED: "was not accepted",
    Status.CANCELLED: "was cancelled",
    Status.EXPIRED: "has expired",
}

BUILT_IN = Path(__file__).parent / "templates"


def money(amount: int, currency: str) -> str:
    exponent = minor_digits(currency)
    if exponent == 0:
        return f"{amount} {currency}"
    major, minor = divmod(abs(amount), 10**exponent)
    sign = "-" if amount < 0 else ""
    return f"{sign}{major}.{minor:0{exponent}d} {currency}"


@lru_cache(maxsize=4)
def environment(folder: str | None) -> Environment:
    loaders = [FileSystemLoader(folder)] if folder else []
    return Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(BUILT_IN))]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def carrier_name(state: ReturnState) -> str:
    """The carrier as a person knows it; nothing for the built-in one (a label of our own)."""
    carrier = state.label.carrier if state.label else ""
    return "" if carrier in ("", "builtin") else carrier


def status_email(
    state: ReturnState, public_url: str, templates: Path | None = None
) -> EmailMessage | None:
    """The message for the return's current status, or None when the customer needs none."""
    subject = SUBJECTS.get(state.status)
    if subject is None:
        return None
    number = state.number or state.id
    context = {
        "status": state.status.value,
        "number": number,
        # The return's page in the portal: the label is there, and it works in any mail client
        # (it asks for the order number and email when the customer is not signed in).
        "return_url": f"{public_url.rstrip('/')}/portal/returns/{state.id}",
        "carrier": carrier_name(state),
        "expires": state.label.expires_at.date().isoformat() if state.label else "",
        "tracking_number": state.tracking_number or "",
        "refunded": money(state.refunded_amount, state.currency),
        "reason": (state.decision.reason or state.decision.note or "see your return")
        if state.decision
        else "see your return",
        "items": state.items,
    }
    env = environment(str(templates) if templates else None)
    return EmailMessage(
        key=f"email:{state.id}:{state.status.value}",
        return_id=state.id,
        to=state.customer.email,
        subject=f"Return {number} {subject}",
        body=env.get_template("status_email.txt.j2").render(context),
        html=env.get_template("status_email.html.j2").render(context),
    )
