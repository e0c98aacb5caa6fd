"""A local stand-in for a Shopify store's Admin GraphQL API, served over real HTTP, behaving as
Shopify documents:

- `POST /admin/api/<version>/graphql.json` with `X-Shopify-Access-Token`; a wrong token is a 401;
  queries are checked and run by graphql-core against a schema written from Shopify's reference
  (the types and fields this project uses, with Shopify's names), so a field Shopify does not have
  fails here as there;
- cost-based throttling: each query has a requested cost, drawn from a bucket that refills at
  `restore_rate` points a second; a query the bucket cannot pay for is answered `THROTTLED`; every
  answer carries `extensions.cost.throttleStatus`;
- `refundCreate` with the `@idempotent(key:)` directive (mandatory from 2026-04): the same key
  answers the first refund again, the same key with other input is an error; a refund beyond what
  a transaction holds, or of more units than a line has left, is a `userErrors` answer;
- `orders(first, after, query: "updated_at:>=<date>")` pages with opaque cursors.

Webhooks go the other way: `webhook(topic, order)` is the body Shopify posts and its headers, signed
as Shopify signs them (`X-Shopify-Hmac-Sha256`: base64 of the HMAC-SHA256 of the raw body with the
app's client secret).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from graphql import (
    GraphQLError,
    GraphQLResolveInfo,
    build_schema,
    get_directive_values,
    graphql,
)

from returns_service.domain.models import Order
from returns_service.i18n import minor_digits
from returns_service.shopify.orders import gid

SDL = """
directive @idempotent(key: String!) on FIELD

scalar DateTime
scalar Decimal
scalar Money
scalar URL

interface Node { id: ID! }

type MoneyV2 { amount: Decimal! currencyCode: String! }
type MoneyBag { shopMoney: MoneyV2! presentmentMoney: MoneyV2! }
type PageInfo {
  hasNextPage: Boolean! hasPreviousPage: Boolean! endCursor: String startCursor: String
}

type Customer implements Node { id: ID! displayName: String! }
type MailingAddress {
  name: String company: String address1: String address2: String zip: String city: String
  provinceCode: String countryCodeV2: String phone: String
}
type Image { url: URL! altText: String }
type ProductVariant implements Node {
  id: ID! sku: String title: String! displayName: String! availableForSale: Boolean! image: Image
}
type ProductVariantConnection { nodes: [ProductVariant!]! pageInfo: PageInfo! }
type Product implements Node {
  id: ID! title: String! productType: String!
  variants(first: Int, after: String): ProductVariantConnection!
}
type DiscountAllocation { allocatedAmountSet: MoneyBag! }
type TaxLine { priceSet: MoneyBag! rate: Float title: String! }
type LineItem implements Node {
  id: ID! sku: String name: String! quantity: Int! currentQuantity: Int!
  originalUnitPriceSet: MoneyBag! discountAllocations: [DiscountAllocation!]!
  taxLines(first: Int): [TaxLine!]! product: Product image: Image
}
type LineItemConnection { nodes: [LineItem!]! pageInfo: PageInfo! }

enum OrderTransactionKind {
  SALE CAPTURE AUTHORIZATION VOID REFUND CHANGE EMV_AUTHORIZATION SUGGESTED_REFUND
}
enum OrderTransactionStatus { SUCCESS FAILURE PENDING ERROR AWAITING_RESPONSE UNKNOWN }
type OrderTransaction implements Node {
  id: ID! kind: OrderTransactionKind! status: OrderTransactionStatus! gateway: String
  processedAt: DateTime amountSet: MoneyBag! parentTransaction: OrderTransaction
}
type OrderTransactionConnection { nodes: [OrderTransaction!]! pageInfo: PageInfo! }

type RefundLineItem { quantity: Int! lineItem: LineItem! restockType: RefundLineItemRestockType! }
type RefundLineItemConnection { nodes: [RefundLineItem!]! pageInfo: PageInfo! }
type Refund implements Node {
  id: ID! note: String createdAt: DateTime
  refundLineItems(first: Int, after: String): RefundLineItemConnection!
  transactions(first: Int, after: String): OrderTransactionConnection!
  totalRefundedSet: MoneyBag!
}

enum FulfillmentStatus { SUCCESS CANCELLED ERROR FAILURE OPEN PENDING }
type Fulfillment implements Node {
  id: ID! status: FulfillmentStatus! createdAt: DateTime! deliveredAt: DateTime
}

type Order implements Node {
  id: ID! name: String! email: String createdAt: DateTime! updatedAt: DateTime!
  currencyCode: String! customer: Customer shippingAddress: MailingAddress
  totalShippingPriceSet: MoneyBag!
  lineItems(first: Int, after: String): LineItemConnection!
  transactions(first: Int): [OrderTransaction!]!
  refunds(first: Int): [Refund!]!
  fulfillments(first: Int): [Fulfillment!]!
}
type OrderConnection { nodes: [Order!]! pageInfo: PageInfo! }
enum OrderSortKeys { CREATED_AT UPDATED_AT ID PROCESSED_AT }

type Query {
  order(id: ID!): Order
  orders(
    first: Int, after: String, query: String, sortKey: OrderSortKeys, reverse: Boolean
  ): OrderConnection!
  node(id: ID!): Node
}

enum RefundLineItemRestockType { RETURN CANCEL LEGACY_RESTOCK NO_RESTOCK }
input RefundLineItemInput {
  lineItemId: ID! quantity: Int! restockType: RefundLineItemRestockType locationId: ID
}
input OrderTransactionInput {
  amount: Money! gateway: String! kind: OrderTransactionKind! orderId: ID! parentId: ID
}
input ShippingRefundInput { amount: Money fullRefund: Boolean }
input RefundInput {
  orderId: ID! note: String notify: Boolean currency: String
  refundLineItems: [RefundLineItemInput!] transactions: [OrderTransactionInput!]
  shipping: ShippingRefundInput
}
type UserError { field: [String!] message: String! }
type RefundCreatePayload { refund: Refund order: Order userErrors: [UserError!]! }
type Mutation { refundCreate(input: RefundInput!): RefundCreatePayload }
"""


def money(amount: Decimal | str, currency: str) -> dict[str, Any]:
    value = {"amount": str(Decimal(amount)), "currencyCode": currency}
    return {"shopMoney": value, "presentmentMoney": value}


def _amount(bag: dict[str, Any]) -> Decimal:
    return Decimal(bag["shopMoney"]["amount"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass
class FakeShopify:
    shop: str = "returns-test.myshopify.com"
    access_token: str = "shpat_returns_test_token"
    client_secret: str = "shopify app client secret for tests"
    versions: tuple[str, ...] = ("2026-01", "2026-04")
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The bucket: its size, what it holds, and points restored each second.
    maximum: float = 1000.0
    available: float = 1000.0
    restore_rate: float = 50.0
    throttled: int = 0
    queries: list[str] = field(default_factory=list)
    refunds_made: list[dict[str, Any]] = field(default_factory=list)
    # refundCreate's idempotency keys: the input seen first and the refund made for it.
    keys: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)
    # Lose the answer of the next refundCreate after it was made (a 502, as a proxy answers).
    lose_next_refund_answer: bool = False
    _ids: Any = field(default_factory=lambda: itertools.count(1001))
    # The bucket refills from the first request on (it starts as `available` says).
    _refilled: float | None = None

    def __post_init__(self) -> None:
        self.schema = build_schema(SDL)
        self.schema.type_map["Node"].resolve_type = (  # type: ignore[attr-defined]
            lambda value, *_: value["id"].split("/")[3]
        )

    # --- the store's data ------------------------------------------------------------------

    def add_order(
        self,
        email: str,
        lines: list[dict[str, Any]] | None = None,
        currency: str = "EUR",
        shipping: str = "4.90",
        gateway: str = "shopify_payments",
        delivered_days_ago: int | None = 3,
        address: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """An order paid in full in one sale, fulfilled, delivered `delivered_days_ago`."""
        number = next(self._ids)
        now = datetime.now(UTC)
        order_gid = f"gid://shopify/Order/{5_000_000 + number}"
        items = []
        total = Decimal(shipping)
        for spec in lines or [
            {"sku": "TEE-M", "name": "T-shirt M", "quantity": 2, "price": "25.00", "tax": "9.50"}
        ]:
            line_id = f"gid://shopify/LineItem/{next(self._ids) * 10}"
            discount = Decimal(spec.get("discount", "0"))
            total += Decimal(spec["price"]) * spec["quantity"] - discount + Decimal(spec["tax"])
            items.append(
                {
                    "id": line_id,
                    "sku": spec["sku"],
                    "name": spec["name"],
                    "quantity": spec["quantity"],
                    "currentQuantity": spec["quantity"],
                    "originalUnitPriceSet": money(spec["price"], currency),
                    "discountAllocations": (
                        [{"allocatedAmountSet": money(discount, currency)}] if discount else []
                    ),
                    "taxLines": [
                        {"priceSet": money(spec["tax"], currency), "rate": 0.19, "title": "VAT"}
                    ],
                    "product": {
                        "id": f"gid://shopify/Product/{next(self._ids)}",
                        "title": spec["name"],
                        "productType": spec.get("type", "Apparel"),
                        # The product's variants: the one bought and its others ({"sku",
                        # "title", "available", "image"}), as Shopify lists them.
                        "variants": {
                            "nodes": [
                                {
                                    "id": f"gid://shopify/ProductVariant/{next(self._ids)}",
                                    "sku": other["sku"],
                                    "title": other["title"],
                                    "displayName": f"{spec['name']} - {other['title']}",
                                    "availableForSale": other.get("available", True),
                                    "image": {"url": other["image"]} if "image" in other else None,
                                }
                                for other in spec.get("variants", [])
                            ],
                            "pageInfo": _page(False),
                        },
                    },
                    "image": {"url": spec["image"]} if "image" in spec else None,
                }
            )
        placed = now - timedelta(days=(delivered_days_ago or 0) + 3)
        sale = {
            "id": f"gid://shopify/OrderTransaction/{next(self._ids) * 100}",
            "kind": "SALE",
            "status": "SUCCESS",
            "gateway": gateway,
            "processedAt": iso(placed),
            "amountSet": money(total, currency),
            "parentTransaction": None,
        }
        shipped = placed + timedelta(days=1)
        order = {
            "id": order_gid,
            "name": f"#{number}",
            "email": email,
            "createdAt": iso(placed),
            "updatedAt": iso(now),
            "currencyCode": currency,
            "customer": {"id": f"gid://shopify/Customer/{number * 7}", "displayName": email},
            "shippingAddress": address,
            "totalShippingPriceSet": money(shipping, currency),
            "lineItems": {"nodes": items, "pageInfo": _page(False)},
            "transactions": [sale],
            "refunds": [],
            "fulfillments": [
                {
                    "id": f"gid://shopify/Fulfillment/{number}",
                    "status": "SUCCESS",
                    "createdAt": iso(shipped),
                    "deliveredAt": (
                        iso(now - timedelta(days=delivered_days_ago))
                        if delivered_days_ago is not None
                        else None
                    ),
                }
            ],
        }
        self.orders[order_gid] = order
        return order

    def mirror(self, order: Order) -> dict[str, Any]:
        """The order as Shopify holds it, from our snapshot of it (ids as `gid(...)` makes them
        from ours): its lines and its captures as SALE transactions; refunds already made stay."""
        order_gid = gid("Order", order.id)
        digits = Decimal(10) ** minor_digits(order.currency)
        kept = self.orders.get(order_gid, {"refunds": [], "transactions": []})
        refunded_units: dict[str, int] = {}
        for refund in kept["refunds"]:
            for line in refund["refundLineItems"]["nodes"]:
                key = line["lineItem"]["id"]
                refunded_units[key] = refunded_units.get(key, 0) + line["quantity"]
        lines = [
            {
                "id": gid("LineItem", line.id),
                "sku": line.sku,
                "name": line.name,
                "quantity": line.quantity,
                "currentQuantity": line.quantity - refunded_units.get(gid("LineItem", line.id), 0),
                "originalUnitPriceSet": money(Decimal(line.unit_amount) / digits, order.currency),
                "discountAllocations": [],
                "taxLines": [],
                "product": None,
            }
            for line in order.lines
        ]
        sales = [
            {
                "id": gid("OrderTransaction", capture.id),
                "kind": "SALE",
                "status": "SUCCESS",
                "gateway": "shopify_payments",
                "processedAt": iso(capture.captured_at),
                "amountSet": money(Decimal(capture.amount) / digits, order.currency),
                "parentTransaction": None,
            }
            for capture in order.captures
        ]
        node = {
            "id": order_gid,
            "name": f"#{order.number}",
            "email": order.customer.email,
            "createdAt": iso(order.placed_at),
            "updatedAt": iso(datetime.now(UTC)),
            "currencyCode": order.currency,
            "customer": None,
            "shippingAddress": None,
            "totalShippingPriceSet": money(Decimal(order.shipping_amount) / digits, order.currency),
            "lineItems": {"nodes": lines, "pageInfo": _page(False)},
            "transactions": sales + [t for t in kept["transactions"] if t["kind"] == "REFUND"],
            "refunds": kept["refunds"],
            "fulfillments": [],
        }
        self.orders[order_gid] = node
        return node

    def refunds_of(self, capture_gid: str) -> list[dict[str, Any]]:
        """Every refund transaction paid from one transaction (any status)."""
        return [
            t
            for o in self.orders.values()
            for t in o["transactions"]
            if t["kind"] == "REFUND" and (t.get("parentTransaction") or {}).get("id") == capture_gid
        ]

    def transactions_of(self, refund_id: str | None) -> list[str]:
        """The ids of a refund's transactions (none for a refund Shopify has not)."""
        return [
            t["id"]
            for o in self.orders.values()
            for r in o["refunds"]
            if r["id"] == refund_id
            for t in r["transactions"]["nodes"]
        ]

    def touch(self, order: dict[str, Any]) -> None:
        order["updatedAt"] = iso(datetime.now(UTC))

    def refund_in_admin(self, order: dict[str, Any], line_index: int, quantity: int) -> dict:
        """An agent refunds units of a line in Shopify's admin (not through this service)."""
        line = order["lineItems"]["nodes"][line_index]
        unit = (
            _amount(line["originalUnitPriceSet"])
            + _amount(line["taxLines"][0]["priceSet"]) / line["quantity"]
        )
        amount = (unit * quantity).quantize(Decimal("0.01"))
        sale = order["transactions"][0]
        refund = self._record_refund(
            order,
            note="Refunded by the shop",
            lines=[{"lineItemId": line["id"], "quantity": quantity, "restockType": "NO_RESTOCK"}],
            transactions=[{"parentId": sale["id"], "amount": str(amount), "gateway": "x"}],
        )
        return refund

    # --- webhooks -----------------------------------------------------------------------------

    def webhook(
        self, topic: str, order: dict[str, Any], secret: str | None = None, **extra: Any
    ) -> tuple[bytes, dict[str, str]]:
        """The body Shopify posts for `topic` about `order`, and its headers."""
        number = int(order["id"].rsplit("/", 1)[1])
        if topic.startswith("orders/"):
            payload: dict[str, Any] = {
                "id": number,
                "admin_graphql_api_id": order["id"],
                "name": order["name"],
                "email": order["email"],
                "updated_at": order["updatedAt"],
                "currency": order["currencyCode"],
            }
        else:
            refund = order["refunds"][-1]
            payload = {
                "id": int(refund["id"].rsplit("/", 1)[1]),
                "admin_graphql_api_id": refund["id"],
                "order_id": number,
                "note": refund["note"],
            }
        body = json.dumps({**payload, **extra}).encode()
        return body, self.signed(body, topic, secret)

    def signed(self, body: bytes, topic: str, secret: str | None = None) -> dict[str, str]:
        digest = hmac.new((secret or self.client_secret).encode(), body, hashlib.sha256).digest()
        return {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
            "X-Shopify-Shop-Domain": self.shop,
            "X-Shopify-API-Version": "2026-04",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Triggered-At": iso(datetime.now(UTC)),
        }

    # --- the API ------------------------------------------------------------------------------

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/admin/api/{version}/graphql.json")
        async def graphql_endpoint(version: str, request: Request) -> JSONResponse:
            if request.headers.get("x-shopify-access-token") != self.access_token:
                return JSONResponse(
                    {"errors": "[API] Invalid API key or access token (unrecognized login or"
                     " wrong password)"},
                    status_code=401,
                )  # fmt: skip
            if version not in self.versions:
                return JSONResponse({"errors": "Not Found"}, status_code=404)
            body = await request.json()
            document, variables = body.get("query", ""), body.get("variables") or {}
            self.queries.append(document)
            cost = self._cost(document, variables)
            self._refill()
            if cost > self.available:
                self.throttled += 1
                return JSONResponse(
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": {"cost": self._cost_report(cost, None)},
                    }
                )
            self.available -= cost
            lose = "refundCreate" in document and self.lose_next_refund_answer
            result = await graphql(
                self.schema,
                document,
                root_value=self._root(version),
                variable_values=variables,
            )
            answer: dict[str, Any] = {"data": result.data}
            if result.errors:
                answer["errors"] = [_error(error) for error in result.errors]
            answer["extensions"] = {"cost": self._cost_report(cost, cost)}
            if lose and not result.errors:
                self.lose_next_refund_answer = False
                return JSONResponse({"errors": "Bad Gateway"}, status_code=502)
            return JSONResponse(answer)

        return app

    def _refill(self) -> None:
        now = time.monotonic()
        if self._refilled is None:
            self._refilled = now
        self.available = min(
            self.maximum, self.available + (now - self._refilled) * self.restore_rate
        )
        self._refilled = now

    def _cost(self, document: str, variables: dict[str, Any]) -> float:
        if "refundCreate" in document:
            return 10.0
        if "orders(" in document:
            return 2.0 + float(variables.get("first") or 10)
        return 12.0

    def _cost_report(self, requested: float, actual: float | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": self.maximum,
                "currentlyAvailable": int(self.available),
                "restoreRate": self.restore_rate,
            },
        }

    def _root(self, version: str) -> dict[str, Any]:
        def order(info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
            return self.orders.get(id)

        def orders(
            info: GraphQLResolveInfo,
            first: int = 10,
            after: str | None = None,
            query: str | None = None,
            **_: Any,
        ) -> dict[str, Any]:
            if first > 250:
                raise GraphQLError("The first argument must be at most 250")
            found = sorted(self.orders.values(), key=lambda o: (o["updatedAt"], o["id"]))
            if query:
                field_, _, value = query.partition(":>=")
                if field_ != "updated_at":
                    raise GraphQLError(f"this stand-in filters by updated_at only: {query}")
                found = [o for o in found if o["updatedAt"][:10] >= value[:10]]
            start = int(base64.b64decode(after).decode()) if after else 0
            page = found[start : start + first]
            end = start + len(page)
            cursor = base64.b64encode(str(end).encode()).decode()
            return {"nodes": page, "pageInfo": {**_page(end < len(found)), "endCursor": cursor}}

        def node(info: GraphQLResolveInfo, id: str) -> dict[str, Any] | None:
            for each in self.orders.values():
                if each["id"] == id:
                    return each
                for refund in each["refunds"]:
                    if refund["id"] == id:
                        return refund
            return None

        def refund_create(info: GraphQLResolveInfo, input: dict[str, Any]) -> dict[str, Any]:
            key = _directive_key(info)
            if key is None:
                if version >= "2026-04":
                    raise GraphQLError(
                        "The @idempotent directive is required for this mutation",
                        extensions={"code": "BAD_REQUEST"},
                    )
            elif key in self.keys:
                seen, refund_id = self.keys[key]
                if seen != input:
                    raise GraphQLError(
                        "The same idempotency key was used with different parameters",
                        extensions={"code": "IDEMPOTENCY_KEY_PARAMETER_MISMATCH"},
                    )
                return {"refund": self._find_refund(refund_id), "userErrors": []}
            made = self._refund(input)
            if key is not None and made.get("refund") is not None:
                self.keys[key] = (input, made["refund"]["id"])
            return made

        return {"order": order, "orders": orders, "node": node, "refundCreate": refund_create}

    def _find_refund(self, refund_id: str) -> dict[str, Any]:
        return next(r for o in self.orders.values() for r in o["refunds"] if r["id"] == refund_id)

    def _refund(self, given: dict[str, Any]) -> dict[str, Any]:
        order = self.orders.get(given["orderId"])
        if order is None:
            return _user_error(["orderId"], "Order does not exist")
        transactions = given.get("transactions") or []
        for paid in transactions:
            if paid["kind"] != "REFUND" or paid["orderId"] != order["id"]:
                return _user_error(["transactions"], "Transaction is not a refund of this order")
            parent = next(
                (t for t in order["transactions"] if t["id"] == paid.get("parentId")), None
            )
            if parent is None:
                return _user_error(["transactions", "parentId"], "Parent transaction not found")
            left = _amount(parent["amountSet"]) - self._refunded_from(order, parent["id"])
            if Decimal(paid["amount"]) > left:
                return _user_error(
                    ["transactions", "amount"],
                    f"Refund amount exceeds the {left} available to refund",
                )
        for line in given.get("refundLineItems") or []:
            item = next(
                (i for i in order["lineItems"]["nodes"] if i["id"] == line["lineItemId"]), None
            )
            if item is None:
                return _user_error(["refundLineItems", "lineItemId"], "Line item not found")
            if line["quantity"] > item["currentQuantity"]:
                return _user_error(
                    ["refundLineItems", "quantity"],
                    "Quantity cannot refund more items than were purchased",
                )
            if line.get("restockType") == "RETURN" and not re.fullmatch(
                r"gid://shopify/Location/\d+", line.get("locationId") or ""
            ):
                return _user_error(["refundLineItems", "locationId"], "Location not found")
        refund = self._record_refund(
            order,
            note=given.get("note"),
            lines=given.get("refundLineItems") or [],
            transactions=transactions,
        )
        self.refunds_made.append({"input": given, "refund": refund})
        return {"refund": refund, "order": order, "userErrors": []}

    def _record_refund(
        self,
        order: dict[str, Any],
        note: str | None,
        lines: list[dict[str, Any]],
        transactions: list[dict[str, Any]],
    ) -> dict[str, Any]:
        currency = order["currencyCode"]
        items = {i["id"]: i for i in order["lineItems"]["nodes"]}
        for line in lines:
            items[line["lineItemId"]]["currentQuantity"] -= line["quantity"]
        made = [
            {
                "id": f"gid://shopify/OrderTransaction/{next(self._ids) * 100}",
                "kind": "REFUND",
                "status": "SUCCESS",
                "gateway": paid.get("gateway"),
                "processedAt": iso(datetime.now(UTC)),
                "amountSet": money(paid["amount"], currency),
                "parentTransaction": {"id": paid["parentId"]},
            }
            for paid in transactions
        ]
        total = sum((Decimal(paid["amount"]) for paid in transactions), Decimal(0))
        refund = {
            "id": f"gid://shopify/Refund/{next(self._ids)}",
            "note": note,
            "createdAt": iso(datetime.now(UTC)),
            "refundLineItems": {
                "nodes": [
                    {
                        "quantity": line["quantity"],
                        "lineItem": items[line["lineItemId"]],
                        "restockType": line.get("restockType") or "NO_RESTOCK",
                    }
                    for line in lines
                ],
                "pageInfo": _page(False),
            },
            "transactions": {"nodes": made, "pageInfo": _page(False)},
            "totalRefundedSet": money(total, currency),
        }
        order["refunds"].append(refund)
        order["transactions"].extend(made)
        self.touch(order)
        return refund

    def _refunded_from(self, order: dict[str, Any], parent_id: str) -> Decimal:
        return sum(
            (
                _amount(t["amountSet"])
                for t in order["transactions"]
                if t["kind"] == "REFUND"
                and t["status"] == "SUCCESS"
                and (t.get("parentTransaction") or {}).get("id") == parent_id
            ),
            Decimal(0),
        )

    def refunded(self, order: dict[str, Any]) -> Decimal:
        """What the order's refunds paid back in all."""
        return sum(
            (_amount(t["amountSet"]) for t in order["transactions"] if t["kind"] == "REFUND"),
            Decimal(0),
        )


def _page(more: bool) -> dict[str, Any]:
    return {"hasNextPage": more, "hasPreviousPage": False, "endCursor": None, "startCursor": None}


def _user_error(field_: list[str], message: str) -> dict[str, Any]:
    return {"refund": None, "userErrors": [{"field": field_, "message": message}]}


def _directive_key(info: GraphQLResolveInfo) -> str | None:
    found = get_directive_values(
        info.schema.get_directive("idempotent"),  # type: ignore[arg-type]
        info.field_nodes[0],
        info.variable_values,
    )
    return str(found["key"]) if found else None


def _error(error: GraphQLError) -> dict[str, Any]:
    found: dict[str, Any] = {"message": error.message}
    if error.extensions:
        found["extensions"] = error.extensions
    if error.path:
        found["path"] = list(error.path)
    return found
