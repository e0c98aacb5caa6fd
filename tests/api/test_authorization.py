"""Who may do what, on every route that takes an id: anonymous, two customers, each staff role, an
expired and a forged token. Another customer's objects answer 404, a function the role may not use
403, and no cross-customer read or write ever succeeds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from returns_service.api import sessions
from returns_service.store.tables import LedgerEntryRow, ReturnRow
from tests.api.conftest import forget_sign_in_failures
from tests.factories import order_payload

STAFF = ("integration", "agent", "warehouse", "ops", "admin")
RECEIPT = {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}]}

# (method, path under the return or order, body, who may: roles and "owner")
ROUTES = [
    ("GET", "/v1/orders/{order}", None, {*STAFF, "owner"}),
    ("PUT", "/v1/orders/{order}", "order", {"integration", "admin"}),
    ("GET", "/v1/returns/{ret}", None, {*STAFF, "owner"}),
    ("GET", "/v1/returns/{ret}/label", None, {*STAFF, "owner"}),
    ("GET", "/v1/returns/{ret}/history", None, {"agent", "ops", "admin"}),
    ("POST", "/v1/returns/{ret}/approve", {}, {"agent", "admin"}),
    ("POST", "/v1/returns/{ret}/reject", {"reason": "x"}, {"agent", "admin"}),
    ("POST", "/v1/returns/{ret}/receive", RECEIPT, {"warehouse", "agent", "admin"}),
    ("POST", "/v1/returns/{ret}/refund", {"amount": 1}, {"agent", "admin"}),
    ("POST", "/v1/returns/{ret}/close", {}, {"agent", "admin"}),
    (
        "POST",
        "/v1/returns/{ret}/replacement",
        {"status": "fulfilled"},
        {"integration", "agent", "admin"},
    ),
    ("POST", "/v1/returns/{ret}/ship", {}, {"integration", "agent", "admin", "owner"}),
    ("POST", "/v1/returns/{ret}/cancel", {}, {"agent", "admin", "owner"}),
]


async def customer_token(api, order_id: str, email: str) -> str:
    answer = await api.http.post(
        "/v1/customer-sessions", json={"order_number": order_id.upper(), "email": email}
    )
    assert answer.status_code == 201, answer.text
    return answer.json()["token"]


async def create_as(api, headers: dict[str, str], order_id: str):
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "not_as_described"}
    return await api.http.post("/v1/returns", json={"items": [item]}, headers=headers)


def forge(token: str, email: str) -> str:
    """The payload changed to another email, the signature kept."""
    _, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = email
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"cs.{forged}.{signature}"


@pytest.fixture
async def world(api):
    a_email, b_email = "ann.authz@example.com", "bob.authz@example.com"
    order_a = await api.put_order(email=a_email)
    order_b = await api.put_order(email=b_email)
    token_a = await customer_token(api, order_a, a_email)
    token_b = await customer_token(api, order_b, b_email)
    headers = {role: api.auth(role) for role in STAFF}
    headers["customer_a"] = {"Authorization": f"Bearer {token_a}"}
    headers["customer_b"] = {"Authorization": f"Bearer {token_b}"}
    headers["anonymous"] = {}
    expired = sessions.issue(
        api.settings.session_key(), a_email, datetime.now(UTC) - timedelta(seconds=1)
    )
    headers["expired"] = {"Authorization": f"Bearer {expired}"}
    headers["forged"] = {"Authorization": f"Bearer {forge(token_b, a_email)}"}
    created = await api.http.post(
        "/v1/returns",
        json={
            "items": [{"order_id": order_a, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]
        },
        headers=headers["customer_a"],
    )
    assert created.status_code == 201, created.text
    return {
        "headers": headers,
        "order_a": order_a,
        "order_b": order_b,
        "return_a": created.json()["id"],
        "emails": (a_email, b_email),
    }


def expected(principal: str, allowed: set[str], owner: str) -> set[int]:
    """The status codes that are right for `principal` on an object owned by `owner`."""
    if principal in ("anonymous", "expired", "forged"):
        return {401}
    role = "customer" if principal.startswith("customer") else principal
    if role == "customer":
        if "owner" not in allowed:
            return {403}
        return {404} if principal != owner else {200, 409, 422}
    return {200, 409, 422} if role in allowed else {403}


async def call(api, method, path, body, headers, order_payload_for):
    if body == "order":
        body = order_payload_for
    return await api.http.request(method, path, json=body, headers=headers)


async def test_every_route_that_takes_an_id_for_every_kind_of_caller(api, world):
    headers = world["headers"]
    for principal in headers:
        for method, template, body, allowed in ROUTES:
            path = template.format(order=world["order_a"], ret=world["return_a"])
            payload = order_payload(number=world["order_a"].upper(), email=world["emails"][0])
            answer = await call(api, method, path, body, headers[principal], payload)
            assert answer.status_code in expected(principal, allowed, "customer_a"), (
                principal,
                method,
                path,
                answer.status_code,
                answer.text[:200],
            )
            if answer.status_code >= 400:
                assert answer.headers["content-type"] == "application/problem+json"
    # Ops read who did what: the customer by their email, staff by role, the policy, the system.
    history = await api.http.get(f"/v1/returns/{world['return_a']}/history", headers=headers["ops"])
    actors = {e["actor"] for e in history.json()["events"] if e["actor"]}
    assert f"customer:{world['emails'][0]}" in actors and "policy" in actors


async def test_no_customer_reads_or_changes_another_customers_return(api, world):
    headers = world["headers"]
    created = await create_as(api, headers["customer_b"], world["order_b"])
    return_b = created.json()["id"]

    async def version() -> int:
        async with api.sessions() as session:
            return int(
                await session.scalar(select(ReturnRow.version).where(ReturnRow.id == return_b))
            )

    before = await version()
    for principal in ("customer_a", "anonymous", "expired", "forged"):
        for method, template, body, _ in ROUTES:
            if "{ret}" not in template:
                continue
            answer = await api.http.request(
                method, template.format(ret=return_b), json=body, headers=headers[principal]
            )
            assert answer.status_code in {401, 403, 404}, (principal, template, answer.status_code)
            assert world["emails"][1] not in answer.text and "R-0" not in answer.text
        # Customer A's list and their orders never show B's.
        listed = await api.http.get("/v1/returns", headers=headers[principal])
        if listed.status_code == 200:
            assert return_b not in listed.text
            other = await api.http.get(
                "/v1/returns",
                params={"customer_email": world["emails"][1]},
                headers=headers[principal],
            )
            assert other.json()["data"] == []
        order = await api.http.get(f"/v1/orders/{world['order_b']}", headers=headers[principal])
        assert order.status_code in {401, 404}
    # A's request naming B's order: like an unknown order, and nothing started.
    stolen = await create_as(api, headers["customer_a"], world["order_b"])
    assert stolen.status_code == 422 and stolen.json()["errors"][0]["field"] == "items[0].order_id"
    assert await version() == before
    async with api.sessions() as session:
        assert (
            await session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.return_id == return_b)
            )
        ).all() == []
    mine = await api.http.get("/v1/returns", headers=headers["customer_b"])
    assert [r["id"] for r in mine.json()["data"]] == [return_b]


async def test_wrong_pairs_answer_like_unknown_orders_and_are_rate_limited(api):
    order_id = await api.put_order(email="carol.authz@example.com")
    wrong = await api.http.post(
        "/v1/customer-sessions",
        json={"order_number": order_id.upper(), "email": "mallory@example.com"},
    )
    unknown = await api.http.post(
        "/v1/customer-sessions",
        json={"order_number": "NO-SUCH-ORDER", "email": "carol.authz@example.com"},
    )
    assert wrong.status_code == unknown.status_code == 404
    assert wrong.json()["detail"] == unknown.json()["detail"]
    answers = [
        await api.http.post(
            "/v1/customer-sessions",
            json={"order_number": f"GUESS-{n}", "email": "carol.authz@example.com"},
        )
        for n in range(api.settings.session_failures_per_15_minutes + 1)
    ]
    assert answers[-1].status_code == 429
    assert int(answers[-1].headers["retry-after"]) > 0
    # The email guessed at waits now, even with the right pair: guessing does not pay ...
    right = await api.http.post(
        "/v1/customer-sessions",
        json={"order_number": order_id.upper(), "email": "carol.authz@example.com"},
    )
    # ... and so does the order number guessed at, with any email ...
    other_emails = [
        await api.http.post(
            "/v1/customer-sessions",
            json={"order_number": order_id.upper(), "email": f"guess{n}@example.com"},
        )
        for n in range(api.settings.session_failures_per_15_minutes + 1)
    ]
    # ... but another customer behind the same address gets in with their own pair.
    neighbour_order = await api.put_order(email="erin.authz@example.com")
    neighbour = await api.http.post(
        "/v1/customer-sessions",
        json={"order_number": neighbour_order.upper(), "email": "erin.authz@example.com"},
    )
    forget_sign_in_failures(api.app)  # the next requests come from the same address
    assert right.status_code == 429
    assert other_emails[-1].status_code == 429
    assert neighbour.status_code == 201, neighbour.text


async def test_a_customer_returns_from_several_orders_and_is_limited_per_hour(api):
    email = "dora.authz@example.com"
    orders = [await api.put_order(email=email) for _ in range(6)]
    token = await customer_token(api, orders[0], email)
    mine = {"Authorization": f"Bearer {token}"}
    both = await api.http.post(
        "/v1/returns",
        json={
            "items": [
                {"order_id": orders[0], "line_id": "l1", "quantity": 1, "reason": "wrong_size"},
                {"order_id": orders[1], "line_id": "l1", "quantity": 1, "reason": "wrong_size"},
            ]
        },
        headers=mine,
    )
    assert both.status_code == 201, both.text
    assert both.json()["order_ids"] == orders[:2]
    limit = api.settings.customer_returns_per_hour
    units = [orders[0], orders[1], *(o for o in orders[2:] for _ in range(2))]
    answers = [await create_as(api, mine, order_id) for order_id in units[:limit]]
    # One return already, so the limit-th create of this loop is one too many.
    assert [a.status_code for a in answers[: limit - 1]] == [201] * (limit - 1)
    last = answers[-1]
    assert last.status_code == 429, last.text
    assert last.headers["content-type"] == "application/problem+json"
    listed = await api.http.get("/v1/returns", params={"limit": 100}, headers=mine)
    assert len(listed.json()["data"]) == limit


async def test_a_customer_chooses_only_the_reasons_and_resolutions_the_shop_offers(api):
    email = "fay.authz@example.com"
    order_id = await api.put_order(email=email)
    mine = {"Authorization": f"Bearer {await customer_token(api, order_id, email)}"}
    admin = api.auth("admin")
    narrow = {"reasons": ["wrong_size"], "resolutions": ["refund"]}
    assert (await api.http.put("/v1/policy", json=narrow, headers=admin)).status_code == 200
    try:
        item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "defective"}
        other_reason = await api.http.post("/v1/returns", json={"items": [item]}, headers=mine)
        fitting = {**item, "reason": "wrong_size"}
        credit = {"items": [fitting], "resolution": "store_credit"}
        other_way = await api.http.post("/v1/returns", json=credit, headers=mine)
        unknown_language = await api.http.post(
            "/v1/returns", json={"items": [fitting], "language": "xx"}, headers=mine
        )
        listed = await api.http.get("/v1/returns", headers=mine)
        # Staff may record what the customer said, whatever the portal offers.
        by_agent = await api.http.post(
            "/v1/returns", json={"items": [item]}, headers=api.auth("agent")
        )
    finally:
        await api.http.put("/v1/policy", json={}, headers=admin)
    assert other_reason.status_code == 422
    assert other_reason.json()["errors"][0]["field"] == "items[0].reason"
    assert other_way.status_code == 422
    assert other_way.json()["errors"][0]["field"] == "resolution"
    assert unknown_language.status_code == 422
    assert unknown_language.json()["errors"][0]["field"] == "language"
    assert listed.json()["data"] == []  # nothing was started
    assert by_agent.status_code == 201, by_agent.text
