"""A Shopify order as our order snapshot, read through the Admin GraphQL API.

Our ids of Shopify's objects are their numeric ids: the order `shopify:<n>`, its lines `<n>`, its
captures (the order's successful SALE and CAPTURE transactions) `shopify:<n>`, which is how a
refund knows to go back through Shopify. Money is Shopify's shop-currency decimal strings in minor
units. A line's discount is what Shopify allocated to it (order-level discounts included, spread
over the lines as Shopify spread them), its tax the sum of its tax lines.

Refunds made in Shopify itself (an agent in Shopify's admin) take their units off the lines and
their money off the captures they were paid from, so that a return never pays them again; the
refunds this service made carry its mark in their note and are left to its own ledger.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import TypeAdapter, ValidationError

from returns_service.domain.models import (
    Address,
    Capture,
    Customer,
    Order,
    OrderLine,
    Variant,
)
from returns_service.domain.types import NAME_LENGTH, ImageUrl
from returns_service.i18n import minor_digits

# The mark in the note of every refund this service makes in Shopify.
MARK = "[returns-service"
PREFIX = "shopify:"
IMAGE_URL: TypeAdapter[str] = TypeAdapter(ImageUrl)

ORDER_FIELDS = """
fragment ReturnsOrder on Order {
  id name email createdAt updatedAt currencyCode
  customer { id }
  shippingAddress { name company address1 address2 zip city provinceCode countryCodeV2 phone }
  totalShippingPriceSet { shopMoney { amount } }
  lineItems(first: 100) {
    nodes {
      id sku name quantity
      originalUnitPriceSet { shopMoney { amount } }
      discountAllocations { allocatedAmountSet { shopMoney { amount } } }
      taxLines { priceSet { shopMoney { amount } } }
      image { url }
      product {
        productType
        variants(first: 30) { nodes { sku displayName availableForSale image { url } } }
      }
    }
  }
  transactions(first: 30) { id kind status gateway processedAt amountSet { shopMoney { amount } } }
  refunds(first: 20) {
    id note createdAt
    refundLineItems(first: 50) { nodes { quantity lineItem { id } } }
    transactions(first: 10) {
      nodes { id kind status amountSet { shopMoney { amount } } parentTransaction { id } }
    }
  }
  fulfillments(first: 20) { status createdAt deliveredAt }
}
"""

ORDER_QUERY = (
    ORDER_FIELDS
    + """
query ReturnsOrder($id: ID!) { order(id: $id) { ...ReturnsOrder } }
"""
)

# A page of orders, newest change last: only their ids (each is then read with ORDER_QUERY, which
# a page of full orders would cost more than Shopify's bucket holds).
ORDERS_PAGE = """
query ReturnsOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { id updatedAt }
  }
}
"""


class NotAnOrder(ValueError):
    """What Shopify answered cannot be read as an order snapshot."""


def image_of(node: dict[str, Any]) -> str | None:
    """A line's or variant's picture, where Shopify has an https one."""
    url = ((node.get("image") or {}).get("url") or "").strip()
    try:
        return IMAGE_URL.validate_python(url) if url else None
    except ValidationError:
        return None


def variants_of(item: dict[str, Any]) -> list[Variant]:
    """The product's other variants for sale, which an exchange may send instead."""
    bought = (item.get("sku") or "").strip()
    found = []
    for node in ((item.get("product") or {}).get("variants") or {}).get("nodes") or []:
        sku = (node.get("sku") or "").strip()
        name = (node.get("displayName") or "").strip()[:NAME_LENGTH]
        if sku and name and sku != bought and node.get("availableForSale"):
            try:
                found.append(Variant(sku=sku, name=name, image_url=image_of(node)))
            except ValidationError:
                continue  # a SKU we cannot keep (too long, two lines) is not offered
    return found[:30]


def gid(kind: str, ours: str) -> str:
    """Shopify's global id of one of its objects, from our id of it (or its gid)."""
    return f"gid://shopify/{kind}/{tail(ours.removeprefix(PREFIX))}"


def tail(global_id: str) -> str:
    return global_id.rsplit("/", 1)[-1]


def order_id(global_id: str) -> str:
    return PREFIX + tail(global_id)


def is_ours(note: str | None) -> bool:
    return bool(note) and MARK in (note or "")


def paid_through_shopify(capture_id: str | None) -> bool:
    return bool(capture_id) and (capture_id or "").startswith(PREFIX)


def order_from_shopify(node: dict[str, Any]) -> Order:
    """Our snapshot of the order `node` (ORDER_FIELDS); raises NotAnOrder."""
    try:
        return _order(node)
    except (KeyError, TypeError, ValueError, ArithmeticError) as error:
        raise NotAnOrder(f"Shopify order {node.get('id')!r}: {error}"[:300]) from error


def _order(node: dict[str, Any]) -> Order:
    currency = str(node["currencyCode"])

    def money(found: dict[str, Any] | None) -> int:
        amount = ((found or {}).get("shopMoney") or {}).get("amount") or "0"
        try:
            value = Decimal(str(amount)).scaleb(minor_digits(currency))
        except InvalidOperation as error:
            raise ValueError(f"not an amount: {amount!r}") from error
        return int(value.to_integral_value())

    units_back: Counter[str] = Counter()
    money_back: Counter[str] = Counter()
    for refund in node.get("refunds") or []:
        if is_ours(refund.get("note")):
            continue
        for item in (refund.get("refundLineItems") or {}).get("nodes") or []:
            units_back[tail(item["lineItem"]["id"])] += int(item["quantity"])
        for paid in (refund.get("transactions") or {}).get("nodes") or []:
            if paid.get("kind") == "REFUND" and paid.get("status") in ("SUCCESS", "PENDING"):
                parent = (paid.get("parentTransaction") or {}).get("id")
                if parent:
                    money_back[tail(parent)] += money(paid.get("amountSet"))

    lines = []
    for item in (node.get("lineItems") or {}).get("nodes") or []:
        line_id = tail(item["id"])
        ordered = int(item["quantity"])
        quantity = ordered - units_back[line_id]
        if quantity <= 0 or ordered <= 0:
            continue
        allocations = item.get("discountAllocations") or []
        discount = sum(money(a.get("allocatedAmountSet")) for a in allocations)
        tax = sum(money(t.get("priceSet")) for t in item.get("taxLines") or [])
        kind = ((item.get("product") or {}).get("productType") or "").strip()
        lines.append(
            OrderLine(
                id=line_id,
                sku=(item.get("sku") or "").strip() or f"shopify-{line_id}",
                name=(item.get("name") or "").strip()[:NAME_LENGTH] or f"Item {line_id}",
                quantity=quantity,
                unit_amount=money(item.get("originalUnitPriceSet")),
                # The line's discount and tax, for the units still on it.
                discount_amount=discount * quantity // ordered,
                tax_amount=tax * quantity // ordered,
                category=kind[:64] or None,
                image_url=image_of(item),
                variants=variants_of(item),
            )
        )
    captures = [
        Capture(
            id=PREFIX + tail(paid["id"]),
            amount=max(money(paid.get("amountSet")) - money_back[tail(paid["id"])], 0),
            captured_at=datetime.fromisoformat(paid.get("processedAt") or node["createdAt"]),
            method="gift_card" if paid.get("gateway") == "gift_card" else "card",
        )
        for paid in node.get("transactions") or []
        if paid.get("kind") in ("SALE", "CAPTURE") and paid.get("status") == "SUCCESS"
    ]
    fulfillments = [f for f in node.get("fulfillments") or [] if f.get("status") == "SUCCESS"]
    shipped = [datetime.fromisoformat(f["createdAt"]) for f in fulfillments if f.get("createdAt")]
    delivered = [
        datetime.fromisoformat(f["deliveredAt"]) for f in fulfillments if f.get("deliveredAt")
    ]
    customer = node.get("customer") or {}
    return Order(
        id=order_id(node["id"]),
        number=str(node["name"]).lstrip("#"),
        customer=Customer(
            id=tail(customer["id"]) if customer.get("id") else None,
            email=(node.get("email") or "").strip(),
        ),
        shipping_address=_address(node.get("shippingAddress")),
        currency=currency,
        placed_at=datetime.fromisoformat(node["createdAt"]),
        fulfilled_at=min(shipped) if shipped else None,
        # Every parcel of the order arrived: the latest of them.
        delivered_at=max(delivered) if delivered and len(delivered) == len(fulfillments) else None,
        lines=lines,
        shipping_amount=money(node.get("totalShippingPriceSet")),
        captures=captures,
    )


def _address(found: dict[str, Any] | None) -> Address | None:
    if not found:
        return None
    try:
        return Address(
            name=found.get("name") or "",
            company=found.get("company") or None,
            line1=found.get("address1") or "",
            line2=found.get("address2") or None,
            postal_code=found.get("zip") or "",
            city=found.get("city") or "",
            region=found.get("provinceCode") or None,
            country=found.get("countryCodeV2") or "",
            phone=found.get("phone") or None,
        )
    except ValidationError:
        # An address a label cannot carry (no postal code, say): the customer is asked for it.
        return None
