"""What an attacker found through the API (issue 10), each kept as the request that broke it:
money paid back beyond what came back, keys and captures that lost money, limits that did not
limit, another's parcel, returns stuck for good by bad input, plain-text 500s."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, func, select, update

from returns_service.store.tables import IdempotencyKeyRow, RateSlotRow, ReturnRow
from tests.api.test_authorization import customer_token
from tests.factories import order_payload

TWO_LINES = [
    {"id": "x", "sku": "SKU-X", "name": "X", "quantity": 1, "unit_amount": 5000},
    {"id": "y", "sku": "SKU-Y", "name": "Y", "quantity": 1, "unit_amount": 5000},
]


async def policy(api: Any, **fields: Any) -> None:
    answer = await api.http.put("/v1/policy", json=fields, headers=api.auth("admin"))
    assert answer.status_code == 200, answer.text


async def put(api: Any, order_id: str, payload: dict[str, Any]) -> Any:
    return await api.http.put(
        f"/v1/orders/{order_id}", json=payload, headers=api.auth("integration")
    )


async def two_line_order(api: Any, shipping: int = 990, captured: int | None = None) -> str:
    order_id = f"o_{uuid.uuid4().hex[:10]}"
    payload = order_payload(
        number=order_id.upper(), email=f"{order_id}@example.com", lines=TWO_LINES
    )
    payload["shipping_amount"] = shipping
    payload["captures"][0]["amount"] = captured if captured is not None else 10000 + shipping
    assert (await put(api, order_id, payload)).status_code == 200
    return order_id


async def create(api: Any, order_id: str, line_id: str, quantity: int = 1, **body: Any) -> Any:
    answer = await api.create(order_id, quantity=quantity, line_id=line_id, **body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def receive_all(api: Any, body: dict[str, Any], condition: str = "good") -> dict[str, Any]:
    receipt = {
        "location": "WH1",
        "items": [
            {"item_id": item["id"], "quantity": item["quantity"], "condition": condition}
            for item in body["items"]
        ],
    }
    answer = await api.act(body["id"], "receive", "warehouse", receipt)
    assert answer.status_code == 200, answer.text
    return await api.wait_for(body["id"], "closed")


# --- 1: shipping and unit values from the live state, not a snapshot ------------------------


async def test_original_shipping_waits_for_the_whole_order_even_after_a_cancel(api):
    await policy(api, refund_original_shipping=True, review_above_amount=None)
    try:
        order_id = await two_line_order(api)
        a = await create(api, order_id, "y")
        b = await create(api, order_id, "x")
        assert (await api.act(a["id"], "cancel", "agent")).status_code == 200
        closed = await receive_all(api, b)
        # Y never came back: X's price only, no shipping.
        assert closed["status"] == "closed" and closed["refunded_amount"] == 5000
        # Y comes back later: its price and now the shipping, once.
        c = await create(api, order_id, "y")
        closed = await receive_all(api, c)
        assert closed["refunded_amount"] == 5990
        d_order = await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))
        assert [line["returnable_quantity"] for line in d_order.json()["lines"]] == [0, 0]
    finally:
        await policy(api)


async def test_store_credit_never_goes_beyond_what_was_paid(api):
    await policy(api, refund_original_shipping=True, review_above_amount=None)
    try:
        order_id = await two_line_order(api)
        a = await create(api, order_id, "y", resolution="store_credit")
        await create(api, order_id, "x", resolution="store_credit")
        assert (await api.act(a["id"], "cancel", "agent")).status_code == 200
        again = await create(api, order_id, "y", resolution="store_credit")
        listed = await api.http.get(
            "/v1/returns", params={"order_id": order_id, "limit": 10}, headers=api.auth("ops")
        )
        for body in listed.json()["data"]:
            if body["status"] == "label_sent":
                await receive_all(api, body)
        listed = await api.http.get(
            "/v1/returns", params={"order_id": order_id, "limit": 10}, headers=api.auth("ops")
        )
        total = sum(body["refunded_amount"] for body in listed.json()["data"])
        assert total == 10990, [(b["id"], b["refunded_amount"]) for b in listed.json()["data"]]
        assert again["id"] in {b["id"] for b in listed.json()["data"]}
    finally:
        await policy(api)


async def test_two_returns_of_an_odd_amount_pay_back_exactly_what_was_captured(api):
    await policy(api, review_above_amount=None)
    try:
        order_id = f"o_{uuid.uuid4().hex[:10]}"
        line = {"id": "l1", "sku": "S", "name": "S", "quantity": 2, "unit_amount": 1000}
        payload = order_payload(
            number=order_id.upper(), email=f"{order_id}@example.com", lines=[line]
        )
        payload["lines"][0]["tax_amount"] = 1
        payload["shipping_amount"] = 0
        payload["captures"][0]["amount"] = 2001
        assert (await put(api, order_id, payload)).status_code == 200
        first = await create(api, order_id, "l1")
        second = await create(api, order_id, "l1")
        assert (await api.act(first["id"], "cancel", "agent")).status_code == 200
        third = await create(api, order_id, "l1")
        paid = [(await receive_all(api, r))["refunded_amount"] for r in (second, third)]
        assert sorted(paid) == [1000, 1001]
        for r in (second, third):
            final = await api.wait_for(r["id"], "closed")
            assert final["errors"] == []
    finally:
        await policy(api)


# --- 3: ids with `:` in them ------------------------------------------------------------------


async def test_ids_with_colons_never_make_two_refund_parts_one(api):
    prefix = uuid.uuid4().hex[:6]
    email = f"colon-{prefix}@example.com"
    bodies = []
    for order_id, capture_id, amount in ((f"{prefix}P", "s:c", 1000), (f"{prefix}P:s", "c", 700)):
        line = {"id": "l1", "sku": "S", "name": "S", "quantity": 1, "unit_amount": amount}
        payload = order_payload(number=order_id.upper(), email=email, lines=[line])
        payload["shipping_amount"] = 0
        payload["captures"][0].update(id=capture_id, amount=amount)
        assert (await put(api, order_id, payload)).status_code == 200, order_id
        bodies.append(
            {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "not_as_described"}
        )
    answer = await api.http.post(
        "/v1/returns", json={"items": bodies}, headers=api.auth("integration")
    )
    assert answer.status_code == 201, answer.text
    closed = await receive_all(api, answer.json())
    assert closed["refunded_amount"] == 1700 and closed["errors"] == []
    assert sorted(r["amount"] for r in closed["refunds"]) == [700, 1000]


# --- 4: a capture that money depends on ---------------------------------------------------


async def test_an_order_update_keeps_captures_refunds_came_from(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    body = await create(api, order_id, "l1")
    await receive_all(api, body)
    emptied = await put(api, order_id, {**payload, "captures": []})
    assert emptied.status_code == 409, emptied.text
    assert emptied.json()["field"] == "captures"
    lowered = [{**payload["captures"][0], "amount": 100}]
    assert (await put(api, order_id, {**payload, "captures": lowered})).status_code == 409
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))).json()
    assert [c["amount"] for c in order["captures"]] == [payload["captures"][0]["amount"]]


async def test_a_capture_removed_before_the_refund_is_not_refunded(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    body = await create(api, order_id, "l1")
    assert (await put(api, order_id, {**payload, "captures": []})).status_code == 200
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    await api.act(body["id"], "receive", "warehouse", receipt)
    deadline = asyncio.get_running_loop().time() + 15
    current = await api.wait_for(body["id"], "received")
    while not current["errors"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        current = await api.wait_for(body["id"], "received")
    assert current["refunded_amount"] == 0
    assert current["errors"][0]["code"] == "InsufficientCaptures"


# --- 5, 9: the hourly limit, counted atomically; a 429 is not an answer to keep -------------


async def customer(api: Any, orders: int) -> tuple[str, list[str], dict[str, str]]:
    email = f"lim-{uuid.uuid4().hex[:8]}@example.com"
    ids = [await api.put_order(email=email) for _ in range(orders)]
    token = await customer_token(api, ids[0], email)
    return email, ids, {"Authorization": f"Bearer {token}"}


def one_unit(order_id: str) -> dict[str, Any]:
    return {
        "items": [
            {
                "order_id": order_id,
                "line_id": "l1",
                "quantity": 1,
                "reason": "other",
                "comment": "limit",
            }
        ]
    }


async def test_concurrent_creates_never_pass_the_hourly_limit(api):
    limit = api.settings.customer_returns_per_hour
    email, orders, headers = await customer(api, 13)
    bodies = [one_unit(o) for o in orders for _ in range(2)][:25]
    answers = await asyncio.gather(
        *(api.http.post("/v1/returns", json=b, headers=headers) for b in bodies)
    )
    codes = [a.status_code for a in answers]
    assert codes.count(201) + codes.count(202) == limit, codes
    assert codes.count(429) == 25 - limit
    async with api.sessions() as session:
        made = await session.scalar(
            select(func.count()).select_from(ReturnRow).where(ReturnRow.customer_email == email)
        )
    assert made == limit


async def test_a_429_under_an_idempotency_key_is_not_kept(api):
    limit = api.settings.customer_returns_per_hour
    email, orders, headers = await customer(api, (limit + 2) // 2 + 1)
    for body in [one_unit(o) for o in orders for _ in range(2)][:limit]:
        assert (await api.http.post("/v1/returns", json=body, headers=headers)).status_code == 201
    keyed = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    body = one_unit(orders[-1])
    refused = await api.http.post("/v1/returns", json=body, headers=keyed)
    assert refused.status_code == 429
    # An hour passes.
    async with api.sessions.begin() as session:
        await session.execute(
            update(RateSlotRow)
            .where(RateSlotRow.key == f"returns-per-hour:{email}")
            .values(used_at=datetime.now(UTC) - timedelta(hours=2))
        )
    again = await api.http.post("/v1/returns", json=body, headers=keyed)
    assert again.status_code == 201, again.text
    assert "Idempotent-Replayed" not in again.headers


# --- 10: a keyed create repeated after the API died -----------------------------------------


async def test_a_keyed_create_repeated_after_a_crash_answers_its_return(api):
    order_id = await api.put_order()
    key = uuid.uuid4().hex
    headers = {**api.auth("integration"), "Idempotency-Key": key}
    body = {"items": [{"order_id": order_id, "line_id": "l1", "quantity": 2, "reason": "damaged"}]}
    first = await api.http.post("/v1/returns", json=body, headers=headers)
    assert first.status_code == 201
    # The API died before keeping the answer: the key's row is gone, the return is not.
    async with api.sessions.begin() as session:
        await session.execute(delete(IdempotencyKeyRow))
    again = await api.http.post("/v1/returns", json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert again.json()["id"] == first.json()["id"]


# --- 6: a tracking number belongs to one return ---------------------------------------------


async def test_a_customer_cannot_take_another_parcels_tracking_number(api):
    victim = await create(api, await api.put_order(), "l1")
    tracking = victim["label"]["tracking_number"]
    email, orders, headers = await customer(api, 1)
    mine = await api.http.post("/v1/returns", json=one_unit(orders[0]), headers=headers)
    taken = await api.http.post(
        f"/v1/returns/{mine.json()['id']}/ship", json={"tracking_number": tracking}, headers=headers
    )
    assert taken.status_code == 422 and taken.json()["errors"][0]["field"] == "tracking_number"
    # The same parcel typed as printed, with hyphens, spaces and small letters, is the same
    # parcel; and hyphens alone are no parcel at all.
    for spelled in (f"{tracking[:3].lower()}-{tracking[3:7]} {tracking[7:]}", "---"):
        again = await api.http.post(
            f"/v1/returns/{mine.json()['id']}/ship",
            json={"tracking_number": spelled},
            headers=headers,
        )
        assert again.status_code == 422, (spelled, again.text)
        assert again.json()["errors"][0]["field"] == "tracking_number"
    assert (await api.wait_for(mine.json()["id"], "label_sent"))["status"] == "label_sent"
    found = await api.http.get(
        "/v1/returns",
        params={"tracking_number": f"{tracking[:4]}-{tracking[4:]}"},
        headers=api.auth("warehouse"),
    )
    assert [r["id"] for r in found.json()["data"]] == [victim["id"]]
    own = await api.http.post(
        f"/v1/returns/{mine.json()['id']}/ship",
        json={"tracking_number": f"OWN{uuid.uuid4().hex[:8]}"},
        headers=headers,
    )
    assert own.status_code == 200 and own.json()["status"] == "shipped"


# --- 7, 8, 12, 14: bad input is a clear 422, never a stuck return or a plain 500 ------------


def bad_orders() -> list[tuple[str, Any, str]]:
    """(what is wrong, a change to a good order payload, the field that must be named)"""
    line = {"id": "l1", "sku": "S", "name": "N", "quantity": 1, "unit_amount": 100}
    return [
        (
            "CR/LF in the email",
            {"customer": {"email": "ann@example.com\r\nBcc:x@y.z"}},
            "customer.email",
        ),
        ("delivered in 9999", {"delivered_at": "9999-12-31T00:00:00Z"}, "delivered_at"),
        ("placed_at overflowing UTC", {"placed_at": "9999-12-31T23:00:00-05:00"}, "placed_at"),
        (
            "a capture of 2**63",
            {"captures": [{"id": "c", "amount": 2**63, "captured_at": "2026-11-01T00:00:00Z"}]},
            "captures[0].amount",
        ),
        ("a lone surrogate in a name", {"lines": [{**line, "name": "\ud800"}]}, "lines[0].name"),
        ("NUL in a name", {"lines": [{**line, "name": "a\x00b"}]}, "lines[0].name"),
        ("a SKU over 64", {"lines": [{**line, "sku": "S" * 65}]}, "lines[0].sku"),
        ("a name of 200 KB", {"lines": [{**line, "name": "n" * 200_000}]}, "lines[0].name"),
        ("a line id over 64", {"lines": [{**line, "id": "l" * 65}]}, "lines[0].id"),
        (
            "an order discount above the goods",
            {"order_discount_amount": 99_999_999},
            "order_discount_amount",
        ),
        (
            "a capture id over 64",
            {"captures": [{"id": "c" * 65, "amount": 1, "captured_at": "2026-11-01T00:00:00Z"}]},
            "captures[0].id",
        ),
        (
            "a method over 32",
            {
                "captures": [
                    {
                        "id": "c",
                        "amount": 1,
                        "method": "m" * 33,
                        "captured_at": "2026-11-01T00:00:00Z",
                    }
                ]
            },
            "captures[0].method",
        ),
    ]


@pytest.mark.parametrize(
    ("what", "change", "field"), bad_orders(), ids=[b[0] for b in bad_orders()]
)
async def test_a_bad_order_is_refused_naming_its_field(api, what, change, field):
    order_id = f"o_{uuid.uuid4().hex[:10]}"
    payload = {**order_payload(number=order_id.upper(), email=f"{order_id}@example.com"), **change}
    answer = await api.http.put(
        f"/v1/orders/{order_id}",
        content=__import__("json").dumps(payload).encode("utf-8", "surrogatepass"),
        headers={**api.auth("integration"), "content-type": "application/json"},
    )
    assert answer.status_code == 422, (what, answer.status_code, answer.text[:300])
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in {e["field"] for e in answer.json()["errors"]}, answer.json()["errors"]
    missing = await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "params"),
    [
        ("GET", "/v1/returns", None, {"created_after": "0001-01-01T00:00:00+01:00"}),
        ("GET", "/v1/returns", None, {"customer_email": "a\x00@b.c"}),
        ("GET", "/v1/returns", None, {"tracking_number": "T\x00"}),
        ("GET", "/v1/returns", None, {"cursor": "abc\x00"}),
        ("POST", "/v1/customer-sessions", {"order_number": "1\x00", "email": "a@b.c"}, None),
        ("POST", "/v1/customer-sessions", {"order_number": "1", "email": "a\x00@b.c"}, None),
        (
            "POST",
            "/v1/webhook-endpoints",
            {
                "url": "https://93.184.216.34/h",
                "events": ["return.closed"],
                "description": "d" * 600,
            },
            None,
        ),
    ],
)
async def test_bad_input_elsewhere_is_a_422(api, method, path, body, params):
    answer = await api.http.request(method, path, json=body, params=params, headers=api.auth("ops"))
    assert answer.status_code == 422, answer.text[:300]
    assert answer.headers["content-type"] == "application/problem+json"


async def test_bad_actions_never_leave_a_return_stuck(api):
    email, orders, headers = await customer(api, 1)
    body = (await api.http.post("/v1/returns", json=one_unit(orders[0]), headers=headers)).json()
    nul = await api.http.post(
        f"/v1/returns/{body['id']}/ship", json={"tracking_number": "T\x00"}, headers=headers
    )
    assert nul.status_code == 422 and nul.json()["errors"][0]["field"] == "tracking_number"
    receipt = {
        "location": "W\x00",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    bad = await api.act(body["id"], "receive", "warehouse", receipt)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "location"
    cancelled = await api.http.post(f"/v1/returns/{body['id']}/cancel", json={}, headers=headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"


async def test_a_return_over_too_many_orders_is_refused(api):
    items = [
        {"order_id": f"o_many_{n}", "line_id": "l1", "quantity": 1, "reason": "damaged"}
        for n in range(11)
    ]
    answer = await api.http.post(
        "/v1/returns", json={"items": items}, headers=api.auth("integration")
    )
    assert answer.status_code == 422 and "at most 10 orders" in answer.text


# --- 13: the customer's email while returns are open ----------------------------------------


async def test_an_email_change_waits_for_the_open_returns(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    body = await create(api, order_id, "l1")
    moved = {**payload, "customer": {"id": "c_1", "email": "new@example.com"}}
    refused = await put(api, order_id, moved)
    assert refused.status_code == 409 and refused.json()["field"] == "customer.email"
    assert (await api.act(body["id"], "cancel", "agent")).status_code == 200
    assert (await put(api, order_id, moved)).status_code == 200


# --- 14: a partial refund leaves the rest refundable until an agent closes --------------------


async def test_a_partial_refund_leaves_the_rest_refundable(api):
    body = await api.received_without_auto_refund()
    part = await api.act(body["id"], "refund", "agent", {"amount": 1000})
    assert part.status_code == 200 and part.json()["status"] == "refunded"
    current = await api.wait_for(body["id"], "refunded")
    assert current["refundable_amount"] == 1725
    assert set(current["available_actions"]) == {"close", "refund"}
    rest = await api.act(body["id"], "refund", "agent")
    assert rest.status_code == 200 and rest.json()["refunded_amount"] == 2725
    closed = await api.wait_for(body["id"], "closed")
    assert closed["refunded_amount"] == 2725


# --- found by a second attack, after the fixes above ------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"non_returnable_categories": ["\ud800"]},
        {"non_returnable_skus": ["\x00"]},
        {"non_returnable_skus": ["\u2028\x01"]},
        {"non_returnable_skus": ["S" * 5000]},
        {"return_shipping_fee": 2**63},
        {"review_above_amount": 2**64},
        {"review_if_returns_in_90_days_over": 2**70},
    ],
    ids=["surrogate", "nul", "controls", "long sku", "fee", "threshold", "count"],
)
async def test_a_bad_policy_is_refused_and_the_policy_kept(api, change):
    before = (await api.http.get("/v1/policy", headers=api.auth("admin"))).json()
    answer = await api.http.put(
        "/v1/policy",
        content=__import__("json").dumps({**before, **change}).encode(),
        headers={**api.auth("admin"), "content-type": "application/json"},
    )
    assert answer.status_code == 422, answer.text[:300]
    after = await api.http.get("/v1/policy", headers=api.auth("admin"))
    assert after.status_code == 200 and after.json() == before


async def test_store_credit_stays_within_what_the_captures_hold(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    assert (await put(api, order_id, {**payload, "captures": []})).status_code == 200
    body = await create(api, order_id, "l1", resolution="store_credit")
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    await api.act(body["id"], "receive", "warehouse", receipt)
    current = await api.wait_for(body["id"], "received")
    for _ in range(100):
        if current["errors"]:
            break
        await asyncio.sleep(0.1)
        current = await api.wait_for(body["id"], "received")
    assert current["refunded_amount"] == 0
    assert current["errors"][0]["code"] == "InsufficientCaptures"
    credit = await api.act(body["id"], "refund", "agent", {"amount": 100, "method": "store_credit"})
    assert credit.status_code == 409 and credit.json()["code"] == "InsufficientCaptures"


async def test_captures_cannot_be_lowered_under_the_store_credit_given(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    body = await create(api, order_id, "l1", resolution="store_credit")
    closed = await receive_all(api, body)
    assert closed["refunded_amount"] == 2725
    lowered = [{**payload["captures"][0], "amount": 1}]
    for captures in ([], lowered):
        refused = await put(api, order_id, {**payload, "captures": captures})
        assert refused.status_code == 409 and refused.json()["field"] == "captures"


async def test_a_refused_ship_keeps_no_tracking_number(api):
    email, orders, headers = await customer(api, 2)
    mine = (await api.http.post("/v1/returns", json=one_unit(orders[0]), headers=headers)).json()
    assert (await api.act(mine["id"], "cancel", "agent")).status_code == 200
    number = f"1Z{uuid.uuid4().hex[:10].upper()}"
    refused = await api.http.post(
        f"/v1/returns/{mine['id']}/ship", json={"tracking_number": number}, headers=headers
    )
    assert refused.status_code == 409
    other = await create(api, await api.put_order(), "l1")
    shipped = await api.act(other["id"], "ship", "integration", {"tracking_number": number})
    assert shipped.status_code == 200, shipped.text
    # Spaces and case make no other number.
    spaced = " ".join(number.lower())
    again = await api.http.post(
        f"/v1/returns/{mine['id']}/ship", json={"tracking_number": spaced}, headers=headers
    )
    assert again.status_code in (409, 422)


async def test_the_currency_stays_while_returns_are_open(api):
    order_id = await api.put_order()
    payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
    await create(api, order_id, "l1")
    refused = await put(api, order_id, {**payload, "currency": "JPY"})
    assert refused.status_code == 409 and refused.json()["field"] == "currency"


async def test_signed_carrier_events_that_are_not_json_events_are_4xx(api):
    from tests.api.conftest import CARRIER_SECRET

    def signed(body: bytes) -> tuple[bytes, dict[str, str]]:
        """Signed over the raw bytes, as Standard Webhooks signs (HMAC-SHA256 of id.ts.body)."""
        now = str(int(datetime.now(UTC).timestamp()))
        key = base64.b64decode(CARRIER_SECRET.removeprefix("whsec_"))
        mac = hmac.new(key, b"evt_odd." + now.encode() + b"." + body, hashlib.sha256).digest()
        return body, {
            "content-type": "application/json",
            "webhook-id": "evt_odd",
            "webhook-timestamp": now,
            "webhook-signature": "v1," + base64.b64encode(mac).decode(),
        }

    bodies = [
        signed(b'{"id": "evt_odd", "tracking_number": "T1", "extra": ' + b"9" * 5000 + b"}"),
        signed(b"[" * 10_000 + b"]" * 10_000),
        signed(b"\xff\xfe{}"),
    ]
    for body, headers in bodies:
        answer = await api.http.post(
            "/v1/carrier-events", content=body, headers={**headers, **api.auth("integration")}
        )
        assert 400 <= answer.status_code < 500, answer.text[:200]
        assert answer.headers["content-type"] == "application/problem+json"


async def test_long_order_numbers_and_multi_line_names_are_refused(api):
    order_id = f"o_{uuid.uuid4().hex[:10]}"
    payload = order_payload(number="N" * 65, email=f"{order_id}@example.com")
    answer = await put(api, order_id, payload)
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "number"
    order_id = await api.put_order()
    exchange = await api.create(
        order_id,
        resolution="exchange",
        replacement_items=[{"sku": "SKU-L", "name": "Shirt\n(L)", "quantity": 1}],
    )
    assert exchange.status_code == 422
    assert exchange.json()["errors"][0]["field"] == "replacement_items[0].name"
    garbled = await api.http.get("/v1/returns?order_id=%FF", headers=api.auth("ops"))
    assert garbled.status_code == 422


async def test_a_default_refund_with_nothing_due_is_refused(api):
    await policy(api, auto_refund=False)
    try:
        order_id = await api.put_order()
        body = await create(api, order_id, "l1")
    finally:
        await policy(api)
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "damaged"}],
    }
    assert (await api.act(body["id"], "receive", "warehouse", receipt)).status_code == 200
    part = await api.act(body["id"], "refund", "agent", {"amount": 1000, "note": "a goodwill"})
    assert part.status_code == 200
    assert part.json()["refundable_amount"] == 1725  # the answer counts the part just paid
    nothing = await api.act(body["id"], "refund", "agent")
    assert nothing.status_code == 422 and nothing.json()["errors"][0]["field"] == "amount"


# --- the third attack (shipping settled when a return pays) -----------------------------------


async def x_and_y_returned_apart(api: Any) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """An order of X and Y (5000 each, 990 shipping paid back with the whole order), and a
    return of each."""
    await policy(api, refund_original_shipping=True, review_above_amount=None)
    try:
        order_id = await two_line_order(api)
        return order_id, await create(api, order_id, "x"), await create(api, order_id, "y")
    finally:
        await policy(api)


def two_line_payload(order_id: str, captured: int) -> dict[str, Any]:
    payload = order_payload(
        number=order_id.upper(), email=f"{order_id}@example.com", lines=TWO_LINES
    )
    payload["shipping_amount"] = 990
    payload["captures"][0]["amount"] = captured
    return payload


async def until(api: Any, return_id: str, done: Any) -> dict[str, Any]:
    for _ in range(150):
        body = (await api.http.get(f"/v1/returns/{return_id}", headers=api.auth("agent"))).json()
        if done(body):
            return body  # type: ignore[no-any-return]
        await asyncio.sleep(0.1)
    raise AssertionError(body)


async def test_a_rejected_return_whose_units_made_the_order_whole_keeps_them(api):
    """A's refund fails (the capture was lowered), B completes the order counting on A's unit
    and pays 5990; the agent then rejects A. A keeps its unit: it cannot be returned a second
    time into a return that would be worth nothing."""
    await policy(api, refund_original_shipping=True, review_above_amount=None)
    try:
        order_id = f"o_{uuid.uuid4().hex[:10]}"
        assert (await put(api, order_id, two_line_payload(order_id, 10990))).status_code == 200
        a = await create(api, order_id, "x")
        b = await create(api, order_id, "y")
    finally:
        await policy(api)
    assert (await put(api, order_id, two_line_payload(order_id, 1))).status_code == 200
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(a["id"], "receive", "warehouse", receipt)).status_code == 200
    failed = await until(api, a["id"], lambda r: r["errors"])
    assert failed["status"] == "received" and failed["refunded_amount"] == 0
    assert (await put(api, order_id, two_line_payload(order_id, 10990))).status_code == 200
    closed = await receive_all(api, b)
    assert closed["refunded_amount"] == 5990
    assert (await api.act(a["id"], "reject", "agent", {"reason": "no"})).status_code == 200
    await until(api, a["id"], lambda r: r["status"] == "rejected")
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))).json()
    assert [line["returnable_quantity"] for line in order["lines"]] == [0, 0]
    again = await api.create(order_id, quantity=1, line_id="x")
    assert again.status_code == 422, again.text


@pytest.mark.parametrize("first", ["damaged and closed", "the good one"])
async def test_a_return_closed_without_a_refund_does_not_make_the_order_whole(api, first):
    """The original shipping is paid back with the units that are: a return an agent closes
    without paying (damaged goods) does not complete the order, whichever is decided first."""
    order_id, a, b = await x_and_y_returned_apart(api)

    async def close_damaged() -> None:
        receipt = {
            "location": "WH1",
            "items": [{"item_id": "ri_1", "quantity": 1, "condition": "damaged"}],
        }
        assert (await api.act(a["id"], "receive", "warehouse", receipt)).status_code == 200
        assert (await api.act(a["id"], "close", "agent")).status_code == 200

    if first == "damaged and closed":
        await close_damaged()
        closed = await receive_all(api, b)
    else:
        closed = await receive_all(api, b)
        await close_damaged()
    assert closed["refunded_amount"] == 5000


async def test_a_default_refund_of_damaged_goods_pays_no_shipping_by_itself(api):
    order_id, a, b = await x_and_y_returned_apart(api)
    assert (await receive_all(api, b))["refunded_amount"] == 5000
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "damaged"}],
    }
    assert (await api.act(a["id"], "receive", "warehouse", receipt)).status_code == 200
    nothing = await api.act(a["id"], "refund", "agent")
    assert nothing.status_code == 422, nothing.text
    # An agent who pays the damaged goods back completes the order: the shipping comes too.
    paid = await api.act(a["id"], "refund", "agent", {"amount": 5990, "note": "paid as if good"})
    assert paid.status_code == 200 and paid.json()["refunded_amount"] == 5990


async def test_a_carrier_event_repeated_with_another_body_is_the_first_one(api):
    from tests.api.conftest import CARRIER_SECRET
    from tests.fakes.carrier import FakeCarrier

    carrier = FakeCarrier(webhook_secret=CARRIER_SECRET)
    first = (await api.create(await api.put_order())).json()
    second = (await api.create(await api.put_order())).json()
    event_id = f"evt_{uuid.uuid4().hex[:12]}"
    sent = []
    for tracking, status in (
        (first["label"]["tracking_number"], "pre_transit"),
        (first["label"]["tracking_number"], "in_transit"),
        (second["label"]["tracking_number"], "in_transit"),
    ):
        body, signed = carrier.event(tracking, status, event_id)
        answer = await api.http.post(
            "/v1/carrier-events", content=body, headers={**signed, **api.auth("integration")}
        )
        assert answer.status_code == 202, answer.text
        sent.append(answer.json())
    assert [s["duplicate"] for s in sent] == [False, True, True]
    assert [s["forwarded"] for s in sent] == [False, False, False]
    assert {s["return_id"] for s in sent} == {first["id"]}
    for body in (first, second):
        current = await api.http.get(f"/v1/returns/{body['id']}", headers=api.auth("agent"))
        assert current.json()["status"] == "label_sent"


async def test_refunds_racing_for_the_rest_say_nothing_is_left(api):
    body = await api.received_without_auto_refund()
    left = (await api.http.get(f"/v1/returns/{body['id']}", headers=api.auth("agent"))).json()
    answers = await asyncio.gather(
        *(
            api.act(body["id"], "refund", "agent", {"amount": left["refundable_amount"]})
            for _ in range(4)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409, 409, 409]
    refusals = [a.json()["detail"] for a in answers if a.status_code == 409]
    assert not any("replacement" in detail for detail in refusals), refusals


async def test_the_label_of_a_cancelled_return_is_void(api):
    body = (await api.create(await api.put_order())).json()
    assert (await api.act(body["id"], "cancel", "agent")).status_code == 200
    label = await api.http.get(body["label"]["url"], headers=api.auth("warehouse"))
    assert label.status_code == 404 and "void" in label.json()["detail"]
