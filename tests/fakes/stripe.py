"""A local stand-in for Stripe's refunds API, served over real HTTP, behaving as Stripe documents:

- `POST /v1/refunds`, form-encoded, secret key as HTTP Basic user or Bearer token;
- `charge` or `payment_intent`, `amount` (default: what the charge still holds), `metadata[...]`;
- errors as `{"error": {"type", "code", "message"}}`: unknown charge, amount above what is left,
  a disputed charge;
- idempotency: the first answer for an `Idempotency-Key` is saved and replayed for the same
  parameters; other parameters are an `idempotency_error`; the same key while its first request
  still runs is a 409.

Events go the other way as Stripe sends them to a webhook endpoint: `event(type, refund)` is the
event object (`{"id": "evt_...", "object": "event", "type", "created", "data": {"object"}}`),
`signed(body, secret)` its `Stripe-Signature` header (`t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`, as Stripe documents), and `fail(refund_id)` makes an accepted refund fail later
(a closed card: the money goes back to the charge) and answers the `refund.failed` event.

`on_accepted` is called after a refund is recorded and before the answer is sent, so that a test can
lose the answer (kill the caller) exactly there. `failure_rate` makes that share of refund requests
fail the way infrastructure does (500 before or after executing, or no answer in time); a charge's
`pending_reads` makes its refunds `pending` until their status has been read that often.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse


@dataclass
class Charge:
    id: str
    amount: int
    currency: str = "eur"
    payment_intent: str | None = None
    amount_refunded: int = 0
    disputed: bool = False
    # Refunds of this charge answer `pending` and settle after this many reads of their status.
    pending_reads: int = 0
    # ... and then fail (the card was closed) instead of succeeding.
    fails_later: bool = False


@dataclass
class FakeStripe:
    api_key: str = "sk_test_returns"
    charges: dict[str, Charge] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    saved: dict[str, tuple[dict[str, str], int, dict[str, Any]]] = field(default_factory=dict)
    running: set[str] = field(default_factory=set)
    # Called with the refund and the loop time its request arrived, before the answer is sent.
    on_accepted: Callable[[dict[str, Any], float], Awaitable[None]] | None = None
    # Share of refund requests that fail as infrastructure fails: a 500 before the request is
    # executed, a 500 after it was (its answer lost), or no answer in time after it was.
    failure_rate: float = 0.0
    hang_seconds: float = 2.0
    rng: random.Random = field(default_factory=lambda: random.Random(5))
    faults: dict[str, int] = field(default_factory=dict)
    _ids: Any = field(default_factory=lambda: itertools.count(1))
    _reads_left: dict[str, int] = field(default_factory=dict)

    def add_charge(self, charge_id: str, amount: int, **details: Any) -> Charge:
        self.charges[charge_id] = Charge(id=charge_id, amount=amount, **details)
        return self.charges[charge_id]

    def event(self, type_: str, refund: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"evt_fake{next(self._ids):06d}",
            "object": "event",
            "api_version": "2025-01-27.acacia",
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "type": type_,
            "data": {"object": dict(refund)},
        }

    def fail(self, refund_id: str, reason: str = "expired_or_canceled_card") -> dict[str, Any]:
        """The refund fails after Stripe accepted it: its money is the charge's again."""
        refund = self.refunds[refund_id]
        assert refund["status"] != "failed"
        refund["status"] = "failed"
        refund["failure_reason"] = reason
        self.charges[refund["charge"]].amount_refunded -= refund["amount"]
        return self.event("refund.failed", refund)

    @staticmethod
    def signed(body: bytes, secret: str, at: int | None = None) -> str:
        at = int(time.time()) if at is None else at
        mac = hmac.new(secret.encode(), f"{at}.".encode() + body, hashlib.sha256).hexdigest()
        return f"t={at},v1={mac}"

    @staticmethod
    def body(event: dict[str, Any]) -> bytes:
        return json.dumps(event, indent=2).encode()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v1/refunds")
        async def create_refund(request: Request) -> JSONResponse:
            arrived = asyncio.get_running_loop().time()
            if not self._authorized(request.headers.get("authorization", "")):
                return _error(401, "invalid_request_error", None, "Invalid API Key provided")
            params = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            key = request.headers.get("idempotency-key")
            roll = self.rng.random()
            if roll < self.failure_rate / 3:
                return self._fault("500 before", 500)
            if key is not None and key in self.saved:
                first, status, body = self.saved[key]
                if first != params:
                    return _error(
                        400,
                        "idempotency_error",
                        None,
                        "Keys for idempotent requests can only be used with the same parameters"
                        " they were first used with.",
                    )
                return JSONResponse(
                    body, status_code=status, headers={"Idempotent-Replayed": "true"}
                )
            if key is not None and key in self.running:
                return _error(
                    409,
                    "idempotency_error",
                    "idempotency_key_in_use",
                    "There is currently another in-progress request using this Idempotency Key.",
                )
            if key is not None:
                self.running.add(key)
            try:
                status, body = self._refund(params)
                if key is not None:
                    self.saved[key] = (params, status, body)
                if status == 200 and self.on_accepted is not None:
                    await self.on_accepted(body, arrived)
                if roll < 2 * self.failure_rate / 3:
                    return self._fault("500 after", 500)
                if roll < self.failure_rate:
                    self.faults["no answer"] = self.faults.get("no answer", 0) + 1
                    await asyncio.sleep(self.hang_seconds)
                return JSONResponse(body, status_code=status)
            finally:
                if key is not None:
                    self.running.discard(key)

        @app.get("/v1/refunds/{refund_id}")
        async def read_refund(refund_id: str, request: Request) -> JSONResponse:
            if not self._authorized(request.headers.get("authorization", "")):
                return _error(401, "invalid_request_error", None, "Invalid API Key provided")
            if refund_id not in self.refunds:
                return _error(404, "invalid_request_error", "resource_missing", "No such refund")
            refund = self.refunds[refund_id]
            if refund["status"] == "pending":
                self._reads_left[refund_id] -= 1
                if self._reads_left[refund_id] <= 0:
                    charge = self.charges[refund["charge"]]
                    if charge.fails_later:
                        refund["status"] = "failed"
                        refund["failure_reason"] = "expired_or_canceled_card"
                        charge.amount_refunded -= refund["amount"]
                    else:
                        refund["status"] = "succeeded"
            return JSONResponse(refund)

        return app

    def _fault(self, kind: str, status: int) -> JSONResponse:
        self.faults[kind] = self.faults.get(kind, 0) + 1
        return _error(status, "api_error", None, "An unknown error occurred")

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value == self.api_key
        if scheme == "Basic":
            user = base64.b64decode(value).decode().partition(":")[0]
            return user == self.api_key
        return False

    def _refund(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        charge = self.charges.get(params.get("charge", "")) or next(
            (
                c
                for c in self.charges.values()
                if params.get("payment_intent") and c.payment_intent == params["payment_intent"]
            ),
            None,
        )
        if charge is None:
            name = params.get("charge") or params.get("payment_intent")
            return _problem(
                400, "invalid_request_error", "resource_missing", f"No such charge: {name}"
            )
        left = charge.amount - charge.amount_refunded
        try:
            amount = int(params.get("amount", left))
        except ValueError:
            return _problem(400, "invalid_request_error", "parameter_invalid_integer", "amount")
        if amount <= 0:
            return _problem(
                400, "invalid_request_error", "parameter_invalid_integer", "amount must be positive"
            )
        if charge.disputed:
            return _problem(
                400,
                "invalid_request_error",
                "charge_disputed",
                f"Charge {charge.id} has been charged back; cannot issue a refund.",
            )
        if left == 0:
            return _problem(
                400,
                "invalid_request_error",
                "charge_already_refunded",
                f"Charge {charge.id} has already been refunded.",
            )
        if amount > left:
            return _problem(
                400,
                "invalid_request_error",
                "amount_too_large",
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
            )
        charge.amount_refunded += amount
        refund = {
            "id": f"re_fake{next(self._ids):06d}",
            "object": "refund",
            "amount": amount,
            "charge": charge.id,
            "payment_intent": charge.payment_intent,
            "currency": charge.currency,
            "status": "pending" if charge.pending_reads else "succeeded",
            "reason": params.get("reason"),
            "metadata": {
                k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")
            },
            "failure_reason": None,
        }
        self.refunds[refund["id"]] = refund
        self._reads_left[refund["id"]] = charge.pending_reads
        return 200, refund


def _problem(status: int, type_: str, code: str | None, message: str) -> tuple[int, dict[str, Any]]:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
    return status, {"error": error}


def _error(status: int, type_: str, code: str | None, message: str) -> JSONResponse:
    status, body = _problem(status, type_, code, message)
    return JSONResponse(body, status_code=status)
