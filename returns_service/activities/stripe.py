"""Refunds through Stripe, with Stripe's own SDK (`stripe`, its async client over httpx).

Each refund part goes out with the ledger entry's key as its idempotency key: Stripe keeps the
first answer for a key, so asking again after a lost answer (a worker that died, a dropped
connection) returns that answer and never pays twice. A capture id is the Stripe object that was
paid: a PaymentIntent (`pi_...`) or a Charge (`ch_...`, `py_...`).

The SDK does not retry by itself here (`max_network_retries=0`): the activity's retry policy asks
again, with the same key, and the ledger decides what a lost answer means. Its base URL is the
SDK's own setting (`base_addresses={"api": ...}`), so the same code talks to Stripe or to a local
server that behaves as Stripe documents.
"""

from __future__ import annotations

from typing import Any

import stripe

from returns_service.activities.ports import (
    PaymentUnavailable,
    ProcessorOutcome,
    ProcessorRefund,
)

# Stripe's refund statuses, as the ledger keeps them: money on its way counts as paid until it
# fails.
STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}


class StripeRefunds:
    def __init__(
        self, api_key: str, base_url: str = "https://api.stripe.com", timeout: float = 30.0
    ) -> None:
        self.http = stripe.HTTPXClient(timeout=timeout)
        self.client = stripe.StripeClient(
            api_key,
            base_addresses={"api": base_url.rstrip("/")},
            http_client=self.http,
            max_network_retries=0,
        )

    async def refund(self, request: ProcessorRefund) -> ProcessorOutcome:
        target = "payment_intent" if request.capture_id.startswith("pi_") else "charge"
        params: dict[str, Any] = {
            target: request.capture_id,
            "amount": request.amount,
            "reason": "requested_by_customer",
            "metadata": dict(request.metadata),
        }
        try:
            refund = await self.client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.key},
            )
        except stripe.StripeError as error:
            return _refusal(error)
        return outcome(refund)

    async def status(self, reference: str) -> ProcessorOutcome:
        """What became of a refund Stripe answered `pending` (it settles later)."""
        try:
            refund = await self.client.v1.refunds.retrieve_async(reference)
        except stripe.StripeError as error:  # reading it failed; the refund is as it was
            why = f"Stripe answered {_describe(error)} reading {reference}"
            raise PaymentUnavailable(why) from error
        return outcome(refund)

    async def close(self) -> None:
        await self.http.close_async()


def outcome(found: Any) -> ProcessorOutcome:
    """A Stripe refund object (from an answer or an event) as the ledger keeps it."""
    refund = found.to_dict() if isinstance(found, stripe.StripeObject) else found
    status = STATUS.get(str(refund.get("status")), "pending")
    return ProcessorOutcome(
        status=status,  # type: ignore[arg-type]
        reference=str(refund["id"]),
        failure=(refund.get("failure_reason") or "failed") if status == "failed" else None,
    )


def _refusal(error: stripe.StripeError) -> ProcessorOutcome:
    # Not reached, throttled, the key in use or used otherwise, or Stripe itself failing: the
    # outcome is not known, so it is never taken as a refusal; ask again later with the same key.
    if (
        isinstance(
            error,
            stripe.APIConnectionError | stripe.RateLimitError | stripe.IdempotencyError,
        )
        or type(error) is stripe.APIError
    ):
        raise PaymentUnavailable(f"Stripe answered {_describe(error)}") from error
    # Any other error is a definite refusal (a bad request, a card, a key): nothing was refunded.
    return ProcessorOutcome(status="failed", failure=_describe(error))


def _describe(error: stripe.StripeError) -> str:
    code = error.code or (error.error.type if error.error else None)
    if code is None:
        code = f"http_{error.http_status}" if error.http_status else type(error).__name__
    return f"{code}: {error.user_message or error._message or ''}"[:300]
