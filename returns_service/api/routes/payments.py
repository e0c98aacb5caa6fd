"""What a payment processor tells of refunds after it answered. Stripe sends `refund.updated`,
`charge.refund.updated` and `refund.failed` (a refund that fails after Stripe accepted it: a
closed card, a bank that sends the money back) to `POST /v1/payment-events/stripe`, signed with
the endpoint's secret (`Stripe-Signature`). Each event is checked with Stripe's SDK before
anything of it is read, kept once by its id, moves the ledger entry forward only (a late or
repeated word changes nothing), and is told to the return's workflow, which reads its refunds
again: a failed one is owed again and an agent sees why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import stripe
from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from returns_service.activities.stripe import STATUS
from returns_service.api.deps import GatewayDep, SettingsDep, WriteSessionDep
from returns_service.api.errors import InvalidInput, Unauthorized, Unavailable
from returns_service.domain.messages import PaymentEvent
from returns_service.gateway import Unreachable
from returns_service.store.payments import refund_by_reference, settle_refund
from returns_service.store.tables import PaymentEventRow
from returns_service.store.upsert import insert_once

router = APIRouter(prefix="/v1/payment-events", tags=["payments"])

# The events that carry a refund object whose status may have moved.
REFUND_EVENTS = ("refund.updated", "refund.failed", "charge.refund.updated")
Id = Annotated[str, Field(min_length=1, max_length=255)]


class StripeObject(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Id
    object: str
    status: str | None = None
    failure_reason: str | None = Field(default=None, max_length=200)


class StripeData(BaseModel):
    model_config = ConfigDict(extra="ignore")
    object: StripeObject


class StripeEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: Id
    type: str = Field(max_length=64)
    data: StripeData


class PaymentEventOut(BaseModel):
    id: str
    return_id: str | None = Field(description="The return whose refund the event is about.")
    duplicate: bool = Field(description="The event was received before; nothing was done.")
    settled: bool = Field(description="The ledger's entry moved (it succeeded or failed).")
    forwarded: bool = Field(description="The return's workflow was told.")


@router.post("/stripe", status_code=200, response_model=PaymentEventOut)
async def stripe_event(
    request: Request, session: WriteSessionDep, gateway: GatewayDep, settings: SettingsDep
) -> PaymentEventOut:
    """Header `Stripe-Signature` must verify against the raw body with the endpoint's signing
    secret (a timestamp more than 5 minutes off fails too)."""
    if settings.stripe_webhook_secret is None:
        raise Unavailable("Stripe events are not configured: set RETURNS_STRIPE_WEBHOOK_SECRET")
    raw = await request.body()
    # The signature first: a forged event is refused as such, whatever its body says.
    try:
        stripe.Webhook.construct_event(
            raw,
            request.headers.get("stripe-signature", ""),
            settings.stripe_webhook_secret.get_secret_value(),
        )
    except stripe.SignatureVerificationError as error:
        raise Unauthorized(f"the event's signature does not verify: {error}") from None
    except (ValueError, RecursionError) as error:  # not UTF-8, or not JSON
        raise InvalidInput("body", f"not a JSON event: {error}"[:200]) from None
    try:
        event = StripeEvent.model_validate_json(raw)
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors()]
        ) from None
    refund = event.data.object
    about_refund = event.type in REFUND_EVENTS and refund.object == "refund"
    status = STATUS.get(refund.status or "") if about_refund else None
    async with session.begin():
        row = await refund_by_reference(session, refund.id) if about_refund else None
        fresh = await insert_once(
            session,
            PaymentEventRow,
            {
                "id": event.id,
                "provider": "stripe",
                "type": event.type,
                "reference": refund.id if about_refund else None,
                "status": status,
                "return_id": row.return_id if row is not None else None,
                "received_at": datetime.now(UTC),
            },
        )
        settled = (
            fresh
            and row is not None
            and status is not None
            and settle_refund(row, status, refund.failure_reason)
        )
        return_id = row.return_id if row is not None else None
    # Told after the event is kept, outside the transaction. If it does not get through, Stripe
    # is answered an error and sends the event again; the repeat is told again (the workflow
    # reads its refunds from the ledger, so a second word changes nothing).
    forwarded = False
    if return_id is not None and status is not None:
        try:
            forwarded = await gateway.tell_payment_event(
                return_id, PaymentEvent(id=event.id, reference=refund.id, status=status)
            )
        except Unreachable as error:
            raise Unavailable(str(error)) from None
    return PaymentEventOut(
        id=event.id,
        return_id=return_id,
        duplicate=not fresh,
        settled=bool(settled),
        forwarded=forwarded,
    )
