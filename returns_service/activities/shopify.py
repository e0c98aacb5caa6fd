"""Refunds of orders paid through Shopify: Shopify's `refundCreate`, one per ledger entry (a part
of a refund paid back from one of the order's transactions).

Each is keyed twice. Shopify's `@idempotent` directive (mandatory from API version 2026-04) gets a
key derived from the ledger entry's, so a request repeated after a lost answer creates nothing
new. And the refund's note carries the ledger key: before refunding, the order's refunds are read,
and one with that key in its note is the answer, so a worker killed between Shopify's refund and
our record finds it however long after.

The first part of a return's first refund for an order also names the lines (`refundLineItems`):
the units the return sent back, restocked at the shop's location (`RETURN`) where the warehouse
graded them sellable and a location is set, else `NO_RESTOCK` (stock is then kept here).
"""

from __future__ import annotations

import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from returns_service.activities.ports import PaymentUnavailable, ProcessorOutcome, ProcessorRefund
from returns_service.domain.models import ReturnState
from returns_service.i18n import minor_digits
from returns_service.shopify.client import ShopifyClient, ShopifyRefused, ShopifyUnavailable
from returns_service.shopify.orders import MARK, gid
from returns_service.store.db import Sessions
from returns_service.store.tables import LedgerEntryRow, ReturnRow

ORDER_REFUNDS = """
query ReturnsOrderRefunds($id: ID!) {
  order(id: $id) {
    id name
    transactions(first: 30) { id gateway }
    refunds(first: 50) {
      id note
      transactions(first: 10) {
        nodes { status amountSet { shopMoney { amount } } parentTransaction { id } }
      }
    }
  }
}
"""

REFUND_CREATE = """
mutation ReturnsRefund($input: RefundInput!, $key: String!) {
  refundCreate(input: $input) @idempotent(key: $key) {
    refund { id transactions(first: 10) { nodes { status } } }
    userErrors { field message }
  }
}
"""

REFUND_STATUS = """
query ReturnsRefundStatus($id: ID!) {
  node(id: $id) { ... on Refund { id transactions(first: 10) { nodes { status } } } }
}
"""

NAMESPACE = uuid.UUID("5b3f2a4e-8d0c-4c41-9a52-6f1e2d7c9b10")


class ShopifyRefunds:
    def __init__(
        self, client: ShopifyClient, sessions: Sessions, location_id: str | None = None
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.location = gid("Location", location_id) if location_id else None

    async def refund(self, request: ProcessorRefund) -> ProcessorOutcome:
        order = gid("Order", request.metadata["order_id"])
        parent = gid("OrderTransaction", request.capture_id)
        mark = f"{MARK} {request.key}]"
        try:
            found = (await self.client.query(ORDER_REFUNDS, {"id": order}))["order"]
        except ShopifyUnavailable as error:
            raise PaymentUnavailable(str(error)) from error
        except ShopifyRefused as error:
            return ProcessorOutcome(status="failed", failure=str(error))
        if found is None:
            return ProcessorOutcome(status="failed", failure=f"Shopify has no order {order}")
        digits = minor_digits(request.currency)
        amount = Decimal(request.amount).scaleb(-digits)
        for earlier in found.get("refunds") or []:
            if mark in (earlier.get("note") or ""):
                # Ours only if it pays what the entry says from the transaction it names: a
                # note anyone with the order's write access could copy proves nothing alone.
                if _pays(earlier, amount, parent):
                    return _outcome(earlier)
                return ProcessorOutcome(
                    status="failed",
                    failure=f"Shopify refund {earlier['id']} carries this refund's key but not"
                    f" {amount} from {parent}: an agent checks it in Shopify",
                )
        gateway = next(
            (t.get("gateway") for t in found.get("transactions") or [] if t["id"] == parent), None
        )
        if gateway is None:
            return ProcessorOutcome(status="failed", failure=f"order has no transaction {parent}")
        refund: dict[str, Any] = {
            "orderId": order,
            "note": f"Return {await self._number(request)} of order {found.get('name', '')} {mark}",
            "notify": False,
            "transactions": [
                {
                    "orderId": order,
                    "parentId": parent,
                    "gateway": gateway,
                    "kind": "REFUND",
                    "amount": str(amount),
                }
            ],
        }
        lines = await self._lines(request)
        if lines:
            refund["refundLineItems"] = lines
        key = str(uuid.uuid5(NAMESPACE, request.key))
        try:
            data = await self.client.query(REFUND_CREATE, {"input": refund, "key": key})
        except ShopifyUnavailable as error:
            raise PaymentUnavailable(str(error)) from error
        except ShopifyRefused as error:
            return ProcessorOutcome(status="failed", failure=str(error))
        created = data["refundCreate"]
        if created.get("userErrors"):
            words = "; ".join(e.get("message", "") for e in created["userErrors"])
            return ProcessorOutcome(status="failed", failure=f"Shopify refused: {words}"[:300])
        return _outcome(created["refund"])

    async def status(self, reference: str) -> ProcessorOutcome:
        try:
            found = (await self.client.query(REFUND_STATUS, {"id": reference}))["node"]
        except (ShopifyUnavailable, ShopifyRefused) as error:
            raise PaymentUnavailable(f"reading {reference}: {error}") from error
        if found is None:
            raise PaymentUnavailable(f"Shopify has no refund {reference}")
        return _outcome(found)

    async def _number(self, request: ProcessorRefund) -> str:
        async with self.sessions() as session:
            number = await session.scalar(
                select(ReturnRow.number).where(ReturnRow.id == request.metadata["return_id"])
            )
        return number or request.metadata["return_id"]

    async def _lines(self, request: ProcessorRefund) -> list[dict[str, Any]]:
        """The order's lines the return sent back, on the first part of its first refund."""
        if request.metadata.get("refund_sequence") != "1":
            return []
        return_id, order_id = request.metadata["return_id"], request.metadata["order_id"]
        async with self.sessions() as session:
            first = await session.scalar(
                select(LedgerEntryRow.capture_id)
                .where(
                    LedgerEntryRow.return_id == return_id,
                    LedgerEntryRow.sequence == 1,
                    LedgerEntryRow.order_id == order_id,
                )
                .order_by(LedgerEntryRow.idempotency_key)
                .limit(1)
            )
            document = await session.scalar(
                select(ReturnRow.document).where(ReturnRow.id == return_id)
            )
        if first != request.capture_id or document is None:
            return []
        state = ReturnState.model_validate(document)
        back: Counter[str] = Counter()
        restocked: Counter[str] = Counter()
        for item in state.items:
            if item.order_id == order_id:
                back[item.line_id] += item.quantity_received or item.quantity
                restocked[item.line_id] += item.quantity_restocked
        lines = []
        for line_id, units in back.items():
            again = min(restocked[line_id], units) if self.location else 0
            for quantity, restock in ((again, "RETURN"), (units - again, "NO_RESTOCK")):
                if quantity > 0:
                    entry = {
                        "lineItemId": gid("LineItem", line_id),
                        "quantity": quantity,
                        "restockType": restock,
                    }
                    if restock == "RETURN":
                        entry["locationId"] = self.location
                    lines.append(entry)
        return lines

    async def close(self) -> None:
        await self.client.close()


def _pays(refund: dict[str, Any], amount: Decimal, parent: str) -> bool:
    """The refund pays exactly `amount` back, from the transaction `parent` alone."""
    paid = (refund.get("transactions") or {}).get("nodes") or []
    total = sum(
        (Decimal(str(((t.get("amountSet") or {}).get("shopMoney") or {}).get("amount") or 0))
         for t in paid),
        Decimal(0),
    )  # fmt: skip
    parents = {(t.get("parentTransaction") or {}).get("id") for t in paid}
    return bool(paid) and total == amount and parents == {parent}


def _outcome(refund: dict[str, Any]) -> ProcessorOutcome:
    statuses = {t.get("status") for t in (refund.get("transactions") or {}).get("nodes") or []}
    if statuses & {"FAILURE", "ERROR"}:
        status, failure = "failed", "Shopify's refund transaction failed"
    elif statuses & {"PENDING", "AWAITING_RESPONSE"} or not statuses:
        status, failure = "pending", None
    else:
        status, failure = "succeeded", None
    return ProcessorOutcome(status=status, reference=refund["id"], failure=failure)  # type: ignore[arg-type]
