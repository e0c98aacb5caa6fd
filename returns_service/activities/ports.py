"""The ports the activities call. Each has a built-in adapter over the store; real adapters
(a carrier API, a payment processor, SMTP, a WMS) implement the same protocol."""

from __future__ import annotations

from typing import Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.messages import CreateLabel, IssueRefund, RefundResult, RestockItems
from returns_service.domain.models import Label, Model


class EmailMessage(Model):
    key: str
    return_id: str
    to: str
    subject: str
    body: str
    html: str | None = None
    # A drop-off code whose QR image the HTML shows (`cid:drop-off-qr@returns`), drawn when
    # the message is sent.
    qr_code: str | None = None
    # The label whose PDF goes with the message as an attachment (drawn when it is sent).
    label_id: str | None = None


class ProcessorRefund(Model):
    """One refund part sent to a payment processor; `key` is its idempotency key."""

    key: str
    capture_id: str
    amount: int
    currency: str
    metadata: dict[str, str]


class ProcessorOutcome(Model):
    status: Literal["pending", "succeeded", "failed"]
    reference: str | None = None
    failure: str | None = None


class PaymentUnavailable(Exception):
    """The processor could not be asked, or gave no definite answer: ask again with the same
    key."""


class RefundProcessor(Protocol):
    """A payment processor that pays part of a capture back. A definite refusal is a failed
    outcome; anything that leaves the outcome unknown raises PaymentUnavailable."""

    async def refund(self, request: ProcessorRefund) -> ProcessorOutcome: ...

    async def status(self, reference: str) -> ProcessorOutcome:
        """What became of a refund it answered `pending`."""
        ...


class Carrier(Protocol):
    async def create_label(self, request: CreateLabel) -> Label: ...

    async def refund_labels(self, return_id: str) -> list[str]:
        """Ask for the money of the return's bought labels back (they were never used);
        answers the carrier's status of each, nothing where there is nothing to refund."""
        ...


class BoughtLabel(Model):
    carrier: str
    tracking_number: str
    # None: rendered from the label's request when it is first downloaded.
    pdf: bytes | None
    # The carrier's own id of the shipment, when it has one.
    reference: str | None = None
    # For a `qr_drop_off` return: the code shown at the drop-off point (no PDF).
    drop_off_code: str | None = None


class LabelSource(Protocol):
    """Who makes the label: the built-in renderer or a carrier's API. Buying the label for the
    same return again must answer the same label (a carrier API is asked with the return's key).
    Raises CarrierUnavailable when the outcome is unknown, LabelRefused when the carrier said no."""

    name: str

    async def buy(self, request: CreateLabel) -> BoughtLabel: ...


class RefundableLabels(LabelSource, Protocol):
    """A label source whose bought labels can be refunded (EasyPost): by the carrier's id of
    the shipment, answering the carrier's refund status."""

    async def refund(self, shipment_id: str) -> str: ...


class CarrierUnavailable(Exception):
    """The carrier could not be asked or gave no definite answer: ask again with the same key."""


class Payments(Protocol):
    async def refund(self, request: IssueRefund) -> RefundResult: ...

    async def settle(self, return_id: str) -> RefundResult:
        """The return's refunds as the payment side knows them now."""
        ...


class Inventory(Protocol):
    async def restock(self, request: RestockItems) -> dict[str, int]: ...


class Email(Protocol):
    async def keep(self, session: AsyncSession, message: EmailMessage) -> None:
        """Keep the message for sending, in the caller's transaction (once by its key): it is
        sent if and only if what it tells of was recorded."""
