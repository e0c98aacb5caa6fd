"""A Shopify store plugged in with the README's settings: orders come in by Shopify's signed
webhooks (read again through the Admin GraphQL API), a return of a Shopify order runs with an
EasyPost label and is paid back through Shopify's refundCreate, once, with its lines restocked at
the shop's location; the backfill command pages through Shopify's orders under its rate limit.
Shopify is a local server that behaves as its documentation says (tests/fakes/shopify.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from tests.api.conftest import EASYPOST_SECRET, SHOPIFY_LOCATION, Providers, serving
from tests.fakes.shopify import FakeShopify

PATH = "/v1/shopify/webhooks"
ADDRESS = {
    "name": "Ann Lee", "address1": "388 Townsend St", "zip": "94107", "city": "San Francisco",
    "provinceCode": "CA", "countryCodeV2": "US", "phone": "+1 415 555 0199",
}  # fmt: skip


async def send(
    providers: Providers, body: bytes, headers: dict[str, str], **changed: str
) -> httpx.Response:
    return await providers.api.http.post(PATH, content=body, headers={**headers, **changed})


async def order_in(providers: Providers, **details: Any) -> tuple[dict[str, Any], str]:
    """An order placed in Shopify and told by its orders/create webhook; answers the order as
    Shopify has it and our id of it."""
    email = f"ann-{os.urandom(4).hex()}@example.com"
    order = providers.shopify.add_order(email, address=ADDRESS, **details)
    answer = await send(providers, *providers.shopify.webhook("orders/create", order))
    assert answer.status_code == 200, answer.text
    assert answer.json()["outcome"] == "kept", answer.json()
    return order, answer.json()["order_id"]


async def test_webhooks_are_checked_kept_once_and_read_the_order_as_it_is_now(
    providers: Providers,
):
    api, shopify = providers.api, providers.shopify
    lines = [
        {"sku": "TEE-M", "name": "T-shirt M", "quantity": 2, "price": "25.00", "tax": "9.50",
         "discount": "5.00"},
        {"sku": "CAP", "name": "Cap", "quantity": 1, "price": "12.00", "tax": "2.28"},
    ]  # fmt: skip
    order = shopify.add_order("bo@example.com", lines=lines, address=ADDRESS)
    created = shopify.webhook("orders/create", order)
    body, headers = created

    # Forged: another secret, a body changed after signing, another shop, no signature.
    forged = shopify.webhook("orders/create", order, secret="not the app's secret")
    assert (await send(providers, *forged)).status_code == 401
    assert (await send(providers, body + b" ", headers)).status_code == 401
    other_shop = await send(
        providers, body, headers, **{"X-Shopify-Shop-Domain": "x.myshopify.com"}
    )
    assert other_shop.status_code == 401
    unsigned = {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"}
    assert (await send(providers, body, unsigned)).status_code == 401
    assert shopify.queries == [] or all(order["id"] not in q for q in shopify.queries)
    gone = await api.http.get(
        f"/v1/orders/shopify:{order['id'].rsplit('/', 1)[1]}", headers=api.auth("ops")
    )
    assert gone.status_code == 404

    # Found by the attack: a webhook id or an order id that is not one is refused or ignored.
    odd_id = await send(providers, body, headers, **{"X-Shopify-Webhook-Id": "a\tb"})
    assert odd_id.status_code == 422 and "X-Shopify-Webhook-Id" in odd_id.text
    for wrong in (order["id"] + "\n", order["id"] + "?x=1", "gid://shopify/Order/"):
        odd = json.dumps({"admin_graphql_api_id": wrong, "id": "abc"}).encode()
        ignored = await send(providers, odd, shopify.signed(odd, "orders/updated"))
        assert ignored.json()["outcome"] == "ignored", ignored.text

    answer = await send(providers, body, headers)
    assert answer.status_code == 200, answer.text
    taken = answer.json()
    assert taken["outcome"] == "kept" and taken["duplicate"] is False
    order_id = taken["order_id"]
    read = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("ops"))).json()
    assert read["number"] == order["name"].lstrip("#")
    assert read["customer"]["email"] == "bo@example.com"
    assert read["currency"] == "EUR" and read["shipping_amount"] == 490
    tee, cap = read["lines"]
    assert (tee["sku"], tee["quantity"], tee["unit_amount"]) == ("TEE-M", 2, 2500)
    assert (tee["discount_amount"], tee["tax_amount"]) == (500, 950)
    assert (cap["quantity"], cap["tax_amount"]) == (1, 228)
    [capture] = read["captures"]
    assert capture["amount"] == 2 * 2500 - 500 + 950 + 1200 + 228 + 490
    assert capture["id"] == "shopify:" + order["transactions"][0]["id"].rsplit("/", 1)[1]
    assert read["delivered_at"] is not None
    assert read["shipping_address"]["postal_code"] == "94107"

    # Shopify sends it again (the same webhook id): nothing is done twice.
    again = await send(providers, body, headers)
    assert again.json()["duplicate"] is True and again.json()["outcome"] == "kept"

    # A return of one T-shirt starts; then the shop refunds the cap in Shopify's admin: the
    # order is updated under the open return, and the return may no longer pay for the cap.
    ret = await api.create(order_id, line_id=tee["id"])
    assert ret.status_code == 201, ret.text
    shopify.refund_in_admin(order, line_index=1, quantity=1)
    updated = await send(providers, *shopify.webhook("orders/updated", order))
    assert updated.json()["outcome"] == "kept"
    read = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("ops"))).json()
    assert [line["sku"] for line in read["lines"]] == ["TEE-M"]
    assert read["lines"][0]["returnable_quantity"] == 1
    assert read["captures"][0]["amount"] == capture["amount"] - 1428

    # The old orders/create comes late (Shopify does not promise order): the order is read as
    # it is now, so the cap does not come back.
    late = await send(providers, *shopify.webhook("orders/create", order))
    assert late.json()["outcome"] == "kept"
    read = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("ops"))).json()
    assert [line["sku"] for line in read["lines"]] == ["TEE-M"]

    # The shop refunds both T-shirts in Shopify while the return holds one: the order cannot
    # lose what the return holds; Shopify is answered 200 with why (sending it again would
    # change nothing), and the snapshot stays as it was.
    shopify.refund_in_admin(order, line_index=0, quantity=2)
    refused = await send(providers, *shopify.webhook("orders/updated", order))
    assert refused.status_code == 200
    assert refused.json()["outcome"].startswith("refused (lines)"), refused.json()
    read = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("ops"))).json()
    assert read["lines"][0]["quantity"] == 2


async def test_a_shopify_order_is_returned_end_to_end_and_refunded_once_through_shopify(
    providers: Providers,
):
    api, shopify, easypost = providers.api, providers.shopify, providers.easypost
    order, order_id = await order_in(providers)
    line = order["lineItems"]["nodes"][0]
    created = await api.create(order_id, line_id=line["id"].rsplit("/", 1)[1])
    assert created.status_code == 201, created.text
    ret = await api.wait_for(created.json()["id"], "label_sent")
    [shipment] = [s for s in easypost.shipments.values() if s["reference"] == ret["number"]]
    assert shipment["from_address"]["street1"] == ADDRESS["address1"]
    moved = easypost.event(shipment["tracking_code"], "in_transit")
    body = easypost.body(moved)
    tracked = await api.http.post(
        "/v1/carrier-events/easypost", content=body, headers=easypost.signed(body, EASYPOST_SECRET)
    )
    assert tracked.status_code == 202, tracked.text
    await api.wait_for(ret["id"], "shipped")

    # Shopify's answer to the refund is lost once (a 502 after it made the refund): the refund
    # is asked again and found by its key, not made twice.
    shopify.lose_next_refund_answer = True
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(ret["id"], "receive", "warehouse", receipt)).status_code == 200
    closed = await api.wait_for(ret["id"], "closed", timeout=30)
    assert closed["status"] == "closed", closed.get("errors")
    made = [m for m in shopify.refunds_made if m["input"]["orderId"] == order["id"]]
    assert len(made) == 1, made
    given = made[0]["input"]
    assert ret["number"] in given["note"]
    [paid] = given["transactions"]
    assert paid["parentId"] == order["transactions"][0]["id"] and paid["kind"] == "REFUND"
    assert Decimal(paid["amount"]) * 100 == closed["refunded_amount"] > 0
    assert given["refundLineItems"] == [
        {"lineItemId": line["id"], "quantity": 1, "restockType": "RETURN",
         "locationId": SHOPIFY_LOCATION},
    ]  # fmt: skip
    [refund] = closed["refunds"]
    assert refund["status"] == "succeeded"
    assert refund["reference"] == made[0]["refund"]["id"]
    assert shopify.refunded(order) * 100 == closed["refunded_amount"]

    # Shopify tells of the refund (refunds/create): it is ours, so the order keeps its lines
    # and captures for the ledger to account for.
    told = await send(providers, *shopify.webhook("refunds/create", order))
    assert told.json()["outcome"] == "kept"
    read = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("ops"))).json()
    assert read["lines"][0]["quantity"] == 2 and read["lines"][0]["returnable_quantity"] == 1
    assert read["captures"][0]["amount"] == 6440


async def test_the_backfill_pages_through_shopifys_orders_under_its_rate_limit(tmp_path: Path):
    shopify = FakeShopify(maximum=40, available=0, restore_rate=200)
    for n in range(5):
        shopify.add_order(f"c{n}@example.com", address=ADDRESS)
    async with serving(shopify.app()) as url:
        env = {
            **os.environ,
            "RETURNS_DATA_DIR": str(tmp_path),
            "RETURNS_SHOPIFY_SHOP": shopify.shop,
            "RETURNS_SHOPIFY_ACCESS_TOKEN": shopify.access_token,
            "RETURNS_SHOPIFY_API_BASE": url,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "returns_service.cli", "shopify", "import",
            "--since", "2026-01-01", "--page-size", "2",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 120)
    printed = out.decode()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "5 orders kept from 3 pages; 0 not kept" in printed, printed
    pages = [q for q in shopify.queries if "orders(" in q]
    assert len(pages) >= 3
    # It started on an empty bucket: Shopify throttled it at least once, and it waited.
    assert shopify.throttled >= 1
    assert "waited 0.0 s" not in printed
    for order in shopify.orders.values():
        assert f"shopify:{order['id'].rsplit('/', 1)[1]}: kept" in printed


async def test_a_refund_in_shopify_that_copies_our_key_is_not_taken_for_ours(providers: Providers):
    """Found by the attack: a refund made in Shopify with the note of the refund the service is
    about to make (its key can be guessed) but another amount is not counted as paid: the
    ledger's entry fails, saying why, and an agent sees it."""
    from returns_service.activities.ledger import refund_key

    api, shopify = providers.api, providers.shopify
    order, order_id = await order_in(providers)
    line = order["lineItems"]["nodes"][0]
    created = await api.create(order_id, line_id=line["id"].rsplit("/", 1)[1])
    assert created.status_code == 201, created.text
    ret = await api.wait_for(created.json()["id"], "label_sent")
    sale = order["transactions"][0]
    key = refund_key(ret["id"], 1, order_id, "shopify:" + sale["id"].rsplit("/", 1)[1])
    shopify._record_refund(
        order,
        note=f"manual [returns-service {key}]",
        lines=[],
        transactions=[{"parentId": sale["id"], "amount": "1.00", "gateway": "manual"}],
    )
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(ret["id"], "receive", "warehouse", receipt)).status_code == 200
    for _ in range(100):
        state = (await api.http.get(f"/v1/returns/{ret['id']}", headers=api.auth("ops"))).json()
        if state["errors"]:
            break
        await asyncio.sleep(0.1)
    assert state["refunded_amount"] == 0 and state["status"] != "closed"
    [refund] = state["refunds"]
    assert refund["status"] == "failed" and "carries this refund's key" in refund["failure_reason"]
    assert not [m for m in shopify.refunds_made if m["input"]["orderId"] == order["id"]]


async def test_a_shopify_lines_other_variants_for_sale_and_its_picture_come_with_the_order(
    providers: Providers,
):
    """Issue 23, finding 1: an exchange offers the product's other variants Shopify sells (not
    the one bought, none sold out), named as Shopify names them; the line's picture with it."""
    sizes = [
        {"sku": "TEE-M", "title": "M"},
        {"sku": "TEE-L", "title": "L", "image": "https://cdn.shopify.com/tee-l.jpg?v=2"},
        {"sku": "TEE-XL", "title": "XL", "available": False},
        {"sku": "", "title": "Custom"},
    ]
    lines = [
        {"sku": "TEE-M", "name": "T-shirt M", "quantity": 1, "price": "25.00", "tax": "4.75",
         "variants": sizes, "image": "https://cdn.shopify.com/tee-m.jpg"},
    ]  # fmt: skip
    _, order_id = await order_in(providers, lines=lines)
    read = (
        await providers.api.http.get(f"/v1/orders/{order_id}", headers=providers.api.auth("ops"))
    ).json()
    [line] = read["lines"]
    assert line["image_url"] == "https://cdn.shopify.com/tee-m.jpg"
    assert line["variants"] == [
        {
            "sku": "TEE-L",
            "name": "T-shirt M - L",
            "image_url": "https://cdn.shopify.com/tee-l.jpg?v=2",
        }
    ]
