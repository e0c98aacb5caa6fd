"""The store's tables: orders and captures, the returns read model, the payment ledger, stock,
labels, the email outbox and the policy. Unique constraints carry the idempotency keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and read back timezone-aware on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime(), dict: JSON(), list: JSON()}


def table(row: type[Base]) -> Table:
    """A mapped class's table, for Core statements on the hot path (no ORM machinery)."""
    return cast(Table, row.__table__)


class OrderRow(Base):
    __tablename__ = "orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    number: Mapped[str] = mapped_column(String(64), index=True)
    customer_email: Mapped[str] = mapped_column(String(320), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime]
    snapshot: Mapped[dict]
    updated_at: Mapped[datetime]


class CaptureRow(Base):
    __tablename__ = "captures"

    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    captured_at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(32))


class ReturnRow(Base):
    """The read model: one row per return, its latest projected document."""

    __tablename__ = "returns"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    number: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(32))
    customer_email: Mapped[str] = mapped_column(String(320))
    # A gift's return: its recipient, who alone among customers sees it (not the buyer).
    recipient_email: Mapped[str | None] = mapped_column(String(320), default=None, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    resolution: Mapped[str] = mapped_column(String(32))
    tracking_number: Mapped[str | None] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    document: Mapped[dict | None]

    __table_args__ = (
        Index("ix_returns_created", "created_at", "id"),
        Index("ix_returns_status_created", "status", "created_at", "id"),
        Index("ix_returns_email_created", "customer_email", "created_at", "id"),
    )


class ReturnLineRow(Base):
    """The order lines a return asks for; `holds` while the return keeps those units."""

    __tablename__ = "return_lines"

    return_id: Mapped[str] = mapped_column(ForeignKey("returns.id"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    line_id: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    holds: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        Index("ix_return_lines_order_line", "order_id", "line_id"),
        Index("ix_return_lines_reason", "reason", "return_id"),
    )


class ReturnReasonRow(Base):
    """Each reason a return gives, once, with the return's creation time (and status): lists by
    reason walk this index newest first instead of sorting every return with that reason."""

    __tablename__ = "return_reasons"

    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    # The return's status, kept in step by the projection, for lists by reason and status.
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_return_reasons_reason_created", "reason", "created_at", "return_id"),
        Index("ix_return_reasons_reason_status", "reason", "status", "created_at", "return_id"),
    )


class LedgerEntryRow(Base):
    """Money paid back: one row per refund part. The key makes a repeated refund a no-op."""

    __tablename__ = "ledger_entries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    capture_id: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(32))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # pending (sent, outcome not yet known), succeeded or failed.
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    # The payment processor's id for it (a Stripe refund id), once known.
    provider_ref: Mapped[str | None] = mapped_column(String(255), default=None, index=True)
    failure: Mapped[str | None] = mapped_column(String(500), default=None)
    # Whose store credit it is: a gift's recipient (None: the order's customer).
    holder_email: Mapped[str | None] = mapped_column(String(320), default=None)


class StoreCreditBonusRow(Base):
    """The shop's bonus on a store-credit refund the customer chose: one per refund, by its key
    (a repeated refund issues none again); never part of what the orders' captures pay back."""

    __tablename__ = "store_credit_bonuses"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    percent: Mapped[int] = mapped_column(Integer)
    # What the refund paid in store credit, and the bonus on it (rounded down).
    base_amount: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    holder_email: Mapped[str | None] = mapped_column(String(320), default=None)
    created_at: Mapped[datetime]


class ReturnEventRow(Base):
    """Events of a return (`return.<status>`, `return.refund_failed`), written once each with the
    state that caused them, for webhooks to deliver."""

    __tablename__ = "return_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    type: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    data: Mapped[dict]

    __table_args__ = (Index("ux_return_events_once", "return_id", "type", "version", unique=True),)


class ReplacementOrderRow(Base):
    """The order an exchange sends out: created when the returned items arrive in good condition,
    then reported fulfilled or cancelled by the shop's integration or an agent."""

    __tablename__ = "replacement_orders"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    items: Mapped[list]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class IdempotencyKeyRow(Base):
    """A client's Idempotency-Key and the answer its first request got (none while it runs)."""

    __tablename__ = "idempotency_keys"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    response: Mapped[dict | None] = mapped_column(default=None)
    headers: Mapped[dict | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(index=True)


class WebhookEndpointRow(Base):
    """Where the shop's other systems want return events, and the secret they are signed with."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list]
    description: Mapped[str | None] = mapped_column(String(500), default=None)
    secret: Mapped[str] = mapped_column(String(100))
    # The secret before the last rotation, signing beside the new one until then.
    previous_secret: Mapped[str | None] = mapped_column(String(100), default=None)
    previous_secret_until: Mapped[datetime | None] = mapped_column(default=None)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(index=True)


class WebhookDeliveryRow(Base):
    """One event for one endpoint: its status, and (in webhook_attempts) every try."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    return_id: Mapped[str] = mapped_column(String(64))
    # pending, delivered, failed (gave up), endpoint_gone (it answered 410), endpoint_removed.
    status: Mapped[str] = mapped_column(String(32))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None] = mapped_column(default=None)
    # Not tried again before this; given up when still pending at `give_up_at` (72 hours on).
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    give_up_at: Mapped[datetime | None] = mapped_column(default=None)

    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "created_at"),
        Index("ix_webhook_deliveries_queue", "endpoint_id", "status", "created_at"),
        # A return's events go out in order: is an earlier one of it still pending?
        Index("ix_webhook_deliveries_return", "endpoint_id", "return_id", "status"),
    )


class WebhookAttemptRow(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int] = mapped_column(Integer)


class LabelRow(Base):
    __tablename__ = "labels"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), unique=True)
    carrier: Mapped[str] = mapped_column(String(64))
    tracking_number: Mapped[str] = mapped_column(String(64), unique=True)
    # The carrier's PDF; or, for the built-in carrier, none until it is first downloaded (it is
    # rendered from `spec`, what the label was made from, and kept).
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    spec: Mapped[dict | None] = mapped_column(nullable=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # A `qr_drop_off` return's code for the drop-off point (its QR is drawn when asked for).
    drop_off_code: Mapped[str | None] = mapped_column(String(64), nullable=True, default=None)
    # Which of the return's labels this is: an expired return's new label takes its place.
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class ReturnPhotoRow(Base):
    """A customer's photo of a returned item: checked to be an image by its content, kept once
    per return, item and content."""

    __tablename__ = "return_photos"
    __table_args__ = (
        UniqueConstraint("return_id", "item_id", "sha256", name="uq_return_photos_once"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    item_id: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]


class RevokedSessionRow(Base):
    """A customer session ended by signing out, kept until it would have expired."""

    __tablename__ = "revoked_sessions"

    sid: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class StaffUserRow(Base):
    """A person of the shop with an account of their own (the console), by role."""

    __tablename__ = "staff_users"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    # Argon2id; never shown again once set.
    password_hash: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class StaffSessionRow(Base):
    """A console session, by the SHA-256 of the token its cookie carries: it ends on sign-out,
    when the account is disabled or its password reset, and after the idle time."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(nullable=True)


class CustomerListRow(Base):
    """A customer on the shop's block list (their returns wait for an agent) or allow list (no
    review threshold, no frequent-returner review): at most one entry per address."""

    __tablename__ = "customer_lists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    list: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_by: Mapped[str] = mapped_column(String(400))
    created_at: Mapped[datetime]


class ReturnInputRow(Base):
    """What a return's eligibility was decided on, as it was when the return was registered
    (order snapshots, units other returns held, the customer's recent returns and list entry):
    the policy simulator decides it again from these."""

    __tablename__ = "return_inputs"

    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(index=True)
    facts: Mapped[dict]
    # The policy's verdict on them (approved, pending_review, rejected), the estimated refund
    # then, and when it was decided; None until it is.
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True, default=None)
    estimated_refund_amount: Mapped[int | None] = mapped_column(
        BigInteger, nullable=True, default=None
    )
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)


class StockLevelRow(Base):
    __tablename__ = "stock_levels"

    sku: Mapped[str] = mapped_column(String(64), primary_key=True)
    location: Mapped[str] = mapped_column(String(64), primary_key=True)
    quantity: Mapped[int] = mapped_column(Integer)


class StockMovementRow(Base):
    __tablename__ = "stock_movements"

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]


class Relayed:
    """An outbox row's bookkeeping, for its relay (`activities/relay.py`): pending (not sent
    yet), sent, or failed (gave up or refused)."""

    idempotency_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None, index=True)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str | None] = mapped_column(String(500), default=None)


class OutboxEmailRow(Relayed, Base):
    __tablename__ = "outbox_emails"

    recipient: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    # The drop-off code whose QR the HTML shows as an inline image.
    qr_code: Mapped[str | None] = mapped_column(String(64), default=None, nullable=True)
    # The label whose PDF is attached (read when the message is sent).
    label_id: Mapped[str | None] = mapped_column(String(64), default=None, nullable=True)


class PolicyRow(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document: Mapped[dict]
    created_at: Mapped[datetime]
    # Who saved it (`admin:ada@example.com`, or a key's role); None for versions saved before
    # the history kept it.
    changed_by: Mapped[str | None] = mapped_column(String(200), default=None, nullable=True)


class CarrierEventRow(Base):
    """Each tracking event a carrier reported, once (its id is the carrier's)."""

    __tablename__ = "carrier_events"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tracking_number: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime]
    return_id: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[datetime]


class CarrierShipmentRow(Base):
    """The carrier's shipment a label is bought on, kept before it is bought: a worker killed
    between buying and recording the label finds it here, and the next attempt takes the label
    already bought instead of buying another."""

    __tablename__ = "carrier_shipments"

    # Which label of which return (`label_key`): the return's id, and `:n` for its n-th label.
    label_key: Mapped[str] = mapped_column(String(100), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    carrier: Mapped[str] = mapped_column(String(32))
    shipment_id: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # When the shop asked the carrier for its money back for a label never used.
    refunded_at: Mapped[datetime | None] = mapped_column(default=None)


class PaymentEventRow(Base):
    """Each event a payment processor sent about a refund (Stripe's `refund.failed`, ...), once
    (its id is the processor's), with the ledger entry it was about, if any."""

    __tablename__ = "payment_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(64))
    reference: Mapped[str | None] = mapped_column(String(255), default=None)
    status: Mapped[str | None] = mapped_column(String(16), default=None)
    return_id: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[datetime]


class WmsOutboxRow(Relayed, Base):
    """A restock the warehouse system is to be told of (when one is configured), under the stock
    movement's key."""

    __tablename__ = "wms_outbox"

    sku: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)


class RefundEntitlementRow(Base):
    """What one return may pay back for one order in all, reckoned once when its goods are back
    (`domain.refunds.entitle`). The original shipping of an order is in at most one of them."""

    __tablename__ = "refund_entitlements"

    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    items_amount: Mapped[int] = mapped_column(BigInteger)
    shipping_amount: Mapped[int] = mapped_column(BigInteger)
    restocking_fee: Mapped[int] = mapped_column(BigInteger)
    return_shipping_fee: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    # What the policy pays back by itself (goods in a condition it restocks).
    due_amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]
    # When the return set out to pay: its units are back for good from then on.
    settled_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ux_refund_entitlements_shipping_once",
            "order_id",
            unique=True,
            sqlite_where=text("shipping_amount > 0"),
            postgresql_where=text("shipping_amount > 0"),
        ),
    )


class RefundClaimRow(Base):
    """The units of one order line an entitlement counts, and what they were valued at."""

    __tablename__ = "refund_claims"

    return_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    back: Mapped[int] = mapped_column(Integer)
    units: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_refund_claims_order_line", "order_id", "line_id"),)


class TrackingNumberRow(Base):
    """A parcel's tracking number belongs to one return: the label's, or the one its shipper
    reported."""

    __tablename__ = "tracking_numbers"

    tracking_number: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]


class RateSlotRow(Base):
    """One of the `limit` slots a key (a customer creating returns) has in a window: taken by an
    atomic conditional update, so concurrent requests can never take more than there are."""

    __tablename__ = "rate_slots"

    key: Mapped[str] = mapped_column(String(400), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    used_at: Mapped[datetime]


class ShopifyWebhookRow(Base):
    """Each Shopify webhook taken in, once by its `X-Shopify-Webhook-Id` (Shopify sends the same
    id again when it retries), with the order it was about and what became of it."""

    __tablename__ = "shopify_webhooks"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    topic: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # kept (the order's snapshot was written), or why it was not.
    outcome: Mapped[str] = mapped_column(String(500))
    received_at: Mapped[datetime]


class ReturnNoteRow(Base):
    """A staff member's note on a return whose workflow has ended (a rejected, cancelled or
    closed return): kept beside its document and read into its timeline, internal like the
    notes the workflow keeps while it runs."""

    __tablename__ = "return_notes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    return_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime]
    actor: Mapped[dict]
    text: Mapped[str] = mapped_column(Text)
