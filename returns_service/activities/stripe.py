"""Refunds through Stripe's API (`POST /v1/refunds`), over httpx.

Each refund part goes out with the ledger entry's key as its `Idempotency-Key`: Stripe keeps the
first answer for a key, so asking again after a lost answer (a worker that died, a dropped
connection) returns that answer and never pays twice. A capture id is the Stripe object that was
paid: a PaymentIntent (`pi_...`) or a Charge (`ch_...`, `py_...`).
"""

from __future__ import annotations

from typing import Any

import httpx

from returns_service.activities.http import json_object
from returns_service.activities.ports import (
    PaymentUnavailable,
    ProcessorOutcome,
    ProcessorRefund,
)

# Stripe's statuses, as the ledger keeps them: money on its way counts as paid until it fails.
_STATUS = {
    "succeeded": "succeeded",
    "pending": "pending",
    "requires_action": "pending",
    "failed": "failed",
    "canceled": "failed",
}


class StripeRefunds:
    def __init__(
        self,
        api_key: str,
        base_url: str = "https://api.stripe.com",
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=(api_key, ""),
            timeout=timeout,
            transport=transport,
        )

    async def refund(self, request: ProcessorRefund) -> ProcessorOutcome:
        target = "payment_intent" if request.capture_id.startswith("pi_") else "charge"
        form: dict[str, Any] = {
            target: request.capture_id,
            "amount": str(request.amount),
            "reason": "requested_by_customer",
            **{f"metadata[{key}]": value for key, value in request.metadata.items()},
        }
        try:
            answer = await self.client.post(
                "/v1/refunds", data=form, headers={"Idempotency-Key": request.key}
            )
        except httpx.HTTPError as error:
            raise PaymentUnavailable(f"Stripe could not be reached: {error!r}") from error
        return _outcome(answer)

    async def status(self, reference: str) -> ProcessorOutcome:
        """What became of a refund Stripe answered `pending` (it settles later)."""
        try:
            answer = await self.client.get(f"/v1/refunds/{reference}")
        except httpx.HTTPError as error:
            raise PaymentUnavailable(f"Stripe could not be reached: {error!r}") from error
        if answer.status_code != 200:  # reading it failed; the refund itself is as it was
            raise PaymentUnavailable(f"Stripe answered {answer.status_code} reading {reference}")
        return _outcome(answer)

    async def close(self) -> None:
        await self.client.aclose()


def _outcome(answer: httpx.Response) -> ProcessorOutcome:
    body = json_object(answer)
    if answer.status_code == 200:
        status = _STATUS.get(str(body.get("status")), "pending")
        return ProcessorOutcome(
            status=status,  # type: ignore[arg-type]
            reference=str(body["id"]),
            failure=body.get("failure_reason") if status == "failed" else None,
        )
    found = body.get("error")
    problem: dict[str, Any] = found if isinstance(found, dict) else {}
    code = problem.get("code") or problem.get("type") or f"http_{answer.status_code}"
    message = problem.get("message") or answer.text[:200]
    # Throttled, the key in use or used otherwise, or Stripe itself failing: the outcome is
    # not known, so it is never taken as a refusal; ask again later with the same key.
    if (
        answer.status_code in (409, 429)
        or answer.status_code >= 500
        or problem.get("type") == "idempotency_error"
    ):
        raise PaymentUnavailable(f"Stripe answered {answer.status_code} {code}: {message}")
    # Any other 4xx is a definite refusal: nothing was refunded.
    return ProcessorOutcome(status="failed", failure=f"{code}: {message}")
