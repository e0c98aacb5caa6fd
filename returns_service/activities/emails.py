"""What the customer is told at each status change: Jinja2 templates, in text and HTML, in the
customer's language (the gettext catalogs of the pages: `returns_service/locales`).

The templates are `templates/status_email.{txt,html}.j2`; a shop points `RETURNS_EMAIL_TEMPLATES`
at a folder of its own with the same names to word them its way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from returns_service.activities.ports import EmailMessage
from returns_service.domain.links import label_link
from returns_service.domain.models import Resolution, ReturnState, Store
from returns_service.domain.status import ITEMS_RELEASED_EVENT, PAID_AT_FIRST_SCAN_EVENT, Status
from returns_service.i18n import DEFAULT, day, languages, money, translations
from returns_service.store.entitlements import Breakdown


def released_reason(state: ReturnState) -> str:
    """Why an agent released the missing units (empty when the wait ran out by itself)."""
    entry = state.timeline[-1] if state.timeline else None
    if entry is None or entry.actor.kind == "system" or not entry.note:
        return ""
    return entry.note.partition(": ")[2]


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "translated where used"
    return message


SUBJECTS: dict[Status, str] = {
    Status.APPROVED: N_("Return %(number)s has been approved"),
    Status.PENDING_REVIEW: N_("Return %(number)s is being reviewed"),
    Status.LABEL_SENT: N_("Return %(number)s: your label is ready"),
    Status.SHIPPED: N_("Return %(number)s is on its way"),
    Status.RECEIVED: N_("Return %(number)s has arrived"),
    Status.REFUNDED: N_("Return %(number)s has been refunded"),
    Status.CLOSED: N_("Return %(number)s is complete"),
    Status.REJECTED: N_("Return %(number)s was not accepted"),
    Status.CANCELLED: N_("Return %(number)s was cancelled"),
    Status.EXPIRED: N_("Return %(number)s has expired"),
}
# The statuses whose emails tell an exchange's customer what they receive instead.
EXCHANGE_TOLD = (
    Status.APPROVED,
    Status.PENDING_REVIEW,
    Status.LABEL_SENT,
    Status.SHIPPED,
    Status.RECEIVED,
    Status.CLOSED,
)
# Units a partial receipt waited for were released.
RELEASED_SUBJECT = N_("Return %(number)s: items we did not receive")


BUILT_IN = Path(__file__).parent / "templates"


@lru_cache(maxsize=16)
def environment(folder: str | None, language: str) -> Environment:
    """The templates (the shop's first, then ours) with the language's catalog installed."""
    loaders = [FileSystemLoader(folder)] if folder else []
    env = Environment(
        loader=ChoiceLoader([*loaders, FileSystemLoader(str(BUILT_IN))]),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


@dataclass(frozen=True)
class Brand:
    """The shop as its emails show it: its name, accent colour and logo (an address)."""

    name: str = ""
    accent: str = "#1f5fbf"
    logo_url: str | None = None


def carrier_name(state: ReturnState) -> str:
    """The carrier as a person knows it; nothing for the built-in one (a label of our own)."""
    carrier = state.label.carrier if state.label else ""
    return "" if carrier in ("", "builtin") else carrier


# How the HTML of a `qr_drop_off` return's label email names its QR image (email_relay.py).
QR_CID = "drop-off-qr@returns"


def made_up(state: ReturnState, parts: Breakdown | None, language: str) -> dict[str, Any] | None:
    """The refund's parts as the email tells them, each amount written as money (the portal's
    "How your refund is made up"); None where there is nothing to tell."""
    if parts is None or not parts.items or not state.refunded_amount:
        return None
    names = {(item.order_id, item.line_id): item.name for item in state.items}

    def written(amount: int) -> str:
        return money(amount, state.currency, language) if amount else ""

    return {
        "items": [
            {
                "name": names.get((part.order_id, part.line_id), part.line_id),
                "back": part.back,
                "amount": money(part.amount, state.currency, language),
                "not_paid": part.back - part.units,
            }
            for part in parts.items
        ],
        "shipping": written(parts.shipping),
        "restocking_fee": written(parts.restocking_fee),
        "return_shipping_fee": written(parts.return_shipping_fee),
        "not_paid": written(max(0, parts.amount - parts.due)),
        "due": money(parts.due, state.currency, language),
    }


def status_email(
    state: ReturnState,
    public_url: str,
    templates: Path | None = None,
    brand: Brand | None = None,
    store: Store | None = None,
    event: str | None = None,
    link_key: bytes | None = None,
    parts: Breakdown | None = None,
) -> EmailMessage | None:
    """The message for the return's current status, or None when the customer needs none; in
    the customer's language (the shop's default, English, when it is not known). `store`: the
    shop's store an `in_store` return is brought to. `event`: what happened, when it is not a
    status of its own (missing units released). `link_key`: signs the label's link that opens
    it without signing in (none: the email links to the return's page only). `parts`: how the
    refund is made up (store/entitlements.py), told with a refund."""
    released = event == ITEMS_RELEASED_EVENT
    # Paid at the carrier's first scan: told as the refund it is (the status is still
    # `shipped`); the refund's email is then not sent again when the return is received.
    status = Status.REFUNDED if event == PAID_AT_FIRST_SCAN_EVENT else state.status
    subject = RELEASED_SUBJECT if released else SUBJECTS.get(status)
    if subject is None:
        return None
    kind = "items_released" if released else status.value
    language = state.language if state.language in languages() else DEFAULT
    number = state.number or state.id
    brand = brand or Brand()
    context: dict[str, Any] = {
        "shop_name": brand.name,
        "accent": brand.accent,
        "logo_url": brand.logo_url,
        "status": kind,
        "number": number,
        # The return's page in the portal: the label is there, and it works in any mail client
        # (it asks for the order number and email when the customer is not signed in).
        "return_url": f"{public_url.rstrip('/')}/portal/returns/{state.id}",
        "carrier": carrier_name(state),
        "expires": day(state.label.expires_at, language) if state.label else "",
        "tracking_number": state.tracking_number or "",
        "refunded": money(state.refunded_amount, state.currency, language),
        # The shop's bonus on the store credit the customer chose, and the credit with it.
        "bonus": money(state.store_credit_bonus, state.currency, language)
        if state.store_credit_bonus
        else "",
        "credit_total": money(
            state.refunded_amount + state.store_credit_bonus, state.currency, language
        ),
        # Why a person chose the amounts they paid (what the customer reads).
        "refund_reasons": [
            {"amount": money(told.amount, state.currency, language), "reason": told.reason}
            for told in state.refund_reasons
        ],
        # The reason the customer reads; a decision's note is the shop's own, never sent.
        "reason": (state.decision.reason or "") if state.decision else "",
        # Released by an agent ("not coming"): their reason, the text after "N missing units
        # released: " in the timeline; released when the days were over: none.
        "released_by_person": released_reason(state) if released else "",
        # Closed with units that never came: they may be returned again.
        "some_released": any(item.quantity_released for item in state.items),
        "items": [
            {"quantity": item.quantity_released, "name": item.name}
            for item in state.items
            if item.quantity_released
        ]
        if released
        else [{"quantity": item.quantity, "name": item.name} for item in state.items],
        # A partial receipt: what arrived, and until when the rest is waited for.
        "received": sum(item.quantity_received for item in state.items),
        "expected": sum(item.quantity for item in state.items),
        "missing_until": day(state.missing_until, language) if state.missing_until else "",
        "method": state.method.value,
        "store_credit": any(r.method.value == "store_credit" for r in state.refunds)
        and all(r.method.value == "store_credit" for r in state.refunds),
        "drop_off_code": state.label.drop_off_code if state.label else None,
        "qr_cid": QR_CID,
        "store": store,
        "reissue_until": day(state.reissue_until, language) if state.reissue_until else "",
        "bring_by": day(state.bring_by, language) if state.bring_by else "",
    }
    context["parts"] = made_up(state, parts, language) if status is Status.REFUNDED else None
    # An exchange: what the customer receives instead, and whether it has been sent.
    sending = state.replacement
    context["instead"] = (
        [
            {"quantity": line.quantity, "name": line.name or line.sku}
            for line in (sending.items if sending else state.replacement_items)
        ]
        if state.resolution is Resolution.EXCHANGE
        and not released
        and status in EXCHANGE_TOLD
        and (sending is None or sending.status != "cancelled")
        else []
    )
    context["instead_sent"] = sending is not None and sending.status == "fulfilled"
    context["instead_order"] = (sending.order_reference or "") if sending else ""
    label = state.label if state.status is Status.LABEL_SENT and not released else None
    context["label_url"] = (
        label_link(
            public_url,
            link_key,
            label.id,
            label.expires_at,
            "qr.png" if label.drop_off_code else "label.pdf",
        )
        if label is not None and link_key is not None
        else ""
    )
    env = environment(str(templates) if templates else None, language)
    return EmailMessage(
        key=f"email:{state.id}:{kind}",
        return_id=state.id,
        # A gift's return is the recipient's business: the buyer hears nothing of it.
        to=state.recipient_email or state.customer.email,
        subject=translations(language).gettext(subject) % {"number": number},
        body=env.get_template("status_email.txt.j2").render(context),
        html=env.get_template("status_email.html.j2").render(context),
        qr_code=context["drop_off_code"] if state.status is Status.LABEL_SENT else None,
        # A printed label goes with the message as a PDF; a drop-off code as its QR image.
        label_id=label.id if label is not None else None,
    )
