"""Return methods, the policy's rules and the block and allow lists through real HTTP: the shapes,
the 422s that name their field and start nothing, and who may do what."""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import AsyncIterator
from typing import Any

import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from returns_service.store.tables import ReturnRow
from tests.api.test_authorization import customer_token

PROBLEM = "application/problem+json"
STORE = {"id": "berlin-mitte", "name": "Berlin Mitte", "address": "Torstraße 1, 10119 Berlin"}


@contextlib.asynccontextmanager
async def policy(api, **document: Any) -> AsyncIterator[None]:
    answer = await api.http.put("/v1/policy", json=document, headers=api.auth("admin"))
    assert answer.status_code == 200, answer.text
    try:
        yield
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))


async def returns_of(api, email: str) -> int:
    async with api.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(ReturnRow).where(ReturnRow.customer_email == email)
            )
        )


async def as_customer(api, order_id: str) -> dict[str, str]:
    token = await customer_token(api, order_id, f"{order_id}@example.com")
    return {"Authorization": f"Bearer {token}"}


async def create(api, order_id: str, headers: dict[str, str], **body: Any):
    items = [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]
    return await api.http.post("/v1/returns", json={"items": items, **body}, headers=headers)


def refused_on(answer, field: str) -> str:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == PROBLEM
    [error] = answer.json()["errors"]
    assert error["field"] == field, error
    return str(error["message"])


async def test_a_method_the_policy_does_not_offer_is_refused_and_starts_nothing(api):
    order_id = await api.put_order()
    customer = await as_customer(api, order_id)
    email = f"{order_id}@example.com"
    async with policy(api, return_methods=["label", "in_store"], stores=[STORE]):
        message = refused_on(await create(api, order_id, customer, method="qr_drop_off"), "method")
        assert message == "the shop offers label, in_store for these items"
        refused_on(await create(api, order_id, customer, method="keep_item"), "method")
        refused_on(await create(api, order_id, customer, method="in_store"), "store_id")
        message = refused_on(
            await create(api, order_id, customer, method="in_store", store_id="hamburg"),
            "store_id",
        )
        assert "berlin-mitte" in message
        refused_on(
            await create(api, order_id, customer, method="label", store_id="berlin-mitte"),
            "store_id",
        )
        refused_on(await create(api, order_id, customer, method="teleport"), "method")
        assert await returns_of(api, email) == 0


async def test_keeping_items_is_refused_above_the_limit_and_refunded_below_it(api):
    order_id = await api.put_order()
    customer = await as_customer(api, order_id)
    async with policy(api, return_methods=["label", "keep_item"], keep_item_below_amount=2000):
        # One shirt is worth 2725: above what customers may keep.
        message = refused_on(await create(api, order_id, customer, method="keep_item"), "method")
        assert message == "the shop's policy does not let these items be kept"
        assert await returns_of(api, f"{order_id}@example.com") == 0
    async with policy(api, return_methods=["label", "keep_item"], keep_item_below_amount=3000):
        answer = await create(api, order_id, customer, method="keep_item")
        assert answer.status_code == 201, answer.text
        body = answer.json()
    assert body["method"] == "keep_item" and body["label"] is None
    closed = await api.wait_for(body["id"], "closed")
    assert closed["refunded_amount"] == 2725
    assert closed["timestamps"]["received_at"] is None


async def test_kept_items_are_never_an_exchange(api):
    """The attack found a kept item with `resolution: exchange` paid back in money."""
    order_id = await api.put_order()
    replacement = [{"sku": "SKU-001-L", "name": "Shirt L", "quantity": 1}]
    for headers in (await as_customer(api, order_id), api.auth("agent")):
        answer = await create(
            api, order_id, headers, method="keep_item", resolution="exchange",
            replacement_items=replacement,
        )  # fmt: skip
        assert "exchange" in refused_on(answer, "method")
    assert await returns_of(api, f"{order_id}@example.com") == 0


async def test_a_body_that_is_not_json_names_the_body(api):
    """The attack found a character position given as the field, and a 400 naming nothing."""
    headers = {**api.auth("admin"), "Content-Type": "application/json"}
    broken = await api.http.put("/v1/policy", content=b'{"rules": [', headers=headers)
    assert broken.status_code == 422
    assert [e["field"] for e in broken.json()["errors"]] == ["body"]
    long_number = b'{"review_above_amount": 1' + b"0" * 5000 + b"}"
    unreadable = await api.http.put("/v1/policy", content=long_number, headers=headers)
    assert unreadable.status_code in (400, 422), unreadable.text
    assert unreadable.headers["content-type"] == PROBLEM
    assert [e["field"] for e in unreadable.json()["errors"]] in (["body"], ["review_above_amount"])


async def test_staff_may_choose_any_method(api):
    order_id = await api.put_order()
    answer = await create(api, order_id, api.auth("agent"), method="keep_item")
    assert answer.status_code == 201, answer.text
    assert (await api.wait_for(answer.json()["id"], "closed"))["refunded_amount"] == 2725


async def test_a_qr_drop_off_return_shows_a_qr_image_of_its_code_and_nothing_to_print(api):
    order_id = await api.put_order()
    customer = await as_customer(api, order_id)
    async with policy(api, return_methods=["qr_drop_off"]):
        answer = await create(api, order_id, customer, method="qr_drop_off")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    label = body["label"]
    assert label["url"] is None and label["drop_off_code"]
    assert label["qr_url"] == f"/v1/returns/{body['id']}/label/qr"
    image = await api.http.get(label["qr_url"], headers=customer)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.content)))
    assert found.text == label["drop_off_code"]
    pdf = await api.http.get(f"/v1/returns/{body['id']}/label", headers=customer)
    assert pdf.status_code == 404 and "drop-off QR" in pdf.json()["detail"]
    # Another customer's QR answers like one that does not exist.
    other = await api.put_order()
    stranger = await as_customer(api, other)
    assert (await api.http.get(label["qr_url"], headers=stranger)).status_code == 404


async def test_an_in_store_return_is_received_at_its_store(api):
    order_id = await api.put_order()
    customer = await as_customer(api, order_id)
    async with policy(api, return_methods=["label", "in_store"], stores=[STORE]):
        answer = await create(api, order_id, customer, method="in_store", store_id="berlin-mitte")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert (body["status"], body["store_id"], body["label"]) == ("approved", "berlin-mitte", None)
    # The customer may cancel it; the store receives it (the customer is not offered that).
    assert body["available_actions"] == ["cancel"]
    staff = await api.http.get(f"/v1/returns/{body['id']}", headers=api.auth("warehouse"))
    assert "receive" in staff.json()["available_actions"]
    qr = await api.http.get(f"/v1/returns/{body['id']}/label/qr", headers=customer)
    assert qr.status_code == 404
    receipt = {
        "location": "berlin-mitte",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(body["id"], "receive", "warehouse", receipt)).status_code == 200
    assert (await api.wait_for(body["id"], "closed"))["refunded_amount"] == 2725


async def test_rules_show_on_the_return_and_change_its_estimate(api):
    order_id = await api.put_order()
    rules = [
        {"name": "apparel-fee", "when": {"categories": ["apparel"]},
         "then": {"restocking_fee_percent": 10}},
        {"name": "no-tvs", "when": {"skus": ["SKU-TV"]}, "then": {"reject": "TVs go to repair."}},
    ]  # fmt: skip
    async with policy(api, rules=rules):
        answer = await api.create(order_id)
    body = answer.json()
    assert body["estimated_refund_amount"] == 2725 - 273
    ruled = [r for r in body["eligibility"] if r["rule"].startswith("policy_rule:")]
    assert [(r["rule"], r["outcome"], r["item_id"]) for r in ruled] == [
        ("policy_rule:apparel-fee", "eligible", "ri_1")
    ]


async def test_a_policy_with_rules_that_cannot_work_is_refused_on_its_field(api):
    for document, field in (
        ({"rules": [{"name": "a", "then": {"review": True}}] * 2}, "rules"),
        ({"return_methods": ["in_store"]}, "stores"),
        (
            {"rules": [{"name": "a", "when": {"skus": []}, "then": {"review": True}}]},
            "rules[0].when.skus",
        ),
        ({"rules": [{"name": "a", "then": {}}]}, "rules[0].then"),
    ):
        answer = await api.http.put("/v1/policy", json=document, headers=api.auth("admin"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    current = (await api.http.get("/v1/policy", headers=api.auth("ops"))).json()
    assert current["rules"] == [] and current["return_methods"] == ["label"]


async def test_customer_lists_by_whom_and_what_they_do(api):
    order_id = await api.put_order()
    email = f"{order_id}@example.com"
    entry = {"list": "blocked", "email": email.upper(), "reason": "three chargebacks"}
    for role in ("agent", "warehouse", "integration"):
        refused = await api.http.post("/v1/customer-lists", json=entry, headers=api.auth(role))
        assert refused.status_code == 403, role
    added = await api.http.post("/v1/customer-lists", json=entry, headers=api.auth("ops"))
    assert added.status_code == 201, added.text
    listed = added.json()
    assert added.headers["location"] == f"/v1/customer-lists/{listed['id']}"
    assert (listed["list"], listed["email"], listed["created_by"]) == ("blocked", email, "ops")
    again = await api.http.post(
        "/v1/customer-lists", json={**entry, "list": "allowed"}, headers=api.auth("admin")
    )
    assert again.status_code == 409 and again.json()["entry_id"] == listed["id"]
    seen = await api.http.get("/v1/customer-lists?list=blocked", headers=api.auth("agent"))
    assert listed["id"] in [e["id"] for e in seen.json()["data"]]
    assert (
        await api.http.get("/v1/customer-lists", headers=api.auth("warehouse"))
    ).status_code == 403
    wrong = await api.http.post(
        "/v1/customer-lists", json={"list": "grey", "email": "x"}, headers=api.auth("ops")
    )
    assert wrong.status_code == 422
    assert {e["field"] for e in wrong.json()["errors"]} == {"list", "email"}

    # The blocked customer's return waits for an agent, who reads why; the customer does not.
    customer = await as_customer(api, order_id)
    created = (await create(api, order_id, customer)).json()
    assert created["status"] == "pending_review"
    assert "blocked_customer" not in [r["rule"] for r in created["eligibility"]]
    assert "chargebacks" not in str(created)
    staff_view = (
        await api.http.get(f"/v1/returns/{created['id']}", headers=api.auth("agent"))
    ).json()
    [blocked] = [r for r in staff_view["eligibility"] if r["rule"] == "blocked_customer"]
    assert blocked["detail"] == "three chargebacks"

    gone = await api.http.delete(f"/v1/customer-lists/{listed['id']}", headers=api.auth("admin"))
    assert gone.status_code == 204
    assert (
        await api.http.delete(f"/v1/customer-lists/{listed['id']}", headers=api.auth("admin"))
    ).status_code == 404
    assert (
        await api.http.delete(f"/v1/customer-lists/{listed['id']}", headers=api.auth("agent"))
    ).status_code == 403


async def test_customer_lists_answer_pages_like_every_other_list(api):
    """Issue 21, defect 13: `GET /v1/customer-lists` answered a bare array."""
    emails = [f"page{n}.{uuid.uuid4().hex[:6]}@example.com" for n in range(3)]
    for email in emails:
        entry = {"list": "allowed", "email": email}
        added = await api.http.post("/v1/customer-lists", json=entry, headers=api.auth("ops"))
        assert added.status_code == 201, added.text
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        params = {"list": "allowed", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await api.http.get("/v1/customer-lists", params=params, headers=api.auth("agent"))
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"data", "next_cursor"} and len(body["data"]) <= 2
        seen += [entry["email"] for entry in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert set(emails) <= set(seen) and len(seen) == len(set(seen))
    wrong = await api.http.get(
        "/v1/customer-lists", params={"cursor": "nonsense"}, headers=api.auth("agent")
    )
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "cursor"
