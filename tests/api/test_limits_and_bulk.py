"""Bulk actions, server-owned fields, and the limits that keep the API up."""

from __future__ import annotations

from sqlalchemy import func, select

from returns_service.store.tables import ReturnRow
from tests.factories import expensive_line

SERVER_OWNED = [
    "id",
    "number",
    "status",
    "refunded_amount",
    "estimated_refund_amount",
    "decision",
    "refunds",
    "eligibility",
    "available_actions",
    "created_at",
    "timestamps",
]
WRITES = [
    ("approve", {}),
    ("reject", {"reason": "x"}),
    ("cancel", {}),
    ("ship", {}),
    (
        "receive",
        {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}]},
    ),
    ("refund", {"amount": 1}),
    ("close", {}),
    ("replacement", {"status": "fulfilled"}),
]


async def test_bulk_actions_answer_per_return_and_one_failure_stops_nothing(api):
    big = await api.put_order(lines=[expensive_line()])
    waiting = (await api.create(big, line_id="l9")).json()
    assert waiting["status"] == "pending_review"
    labelled = (await api.create(await api.put_order())).json()
    answer = await api.http.post(
        "/v1/returns/actions",
        json={
            "action": "approve",
            "return_ids": [labelled["id"], "ret_nosuchreturn", waiting["id"]],
            "note": "batch",
        },
        headers=api.auth("agent"),
    )
    assert answer.status_code == 200, answer.text
    results = {r["id"]: r for r in answer.json()["results"]}
    assert results[waiting["id"]] == {
        "id": waiting["id"],
        "ok": True,
        "status": "label_sent",
        "error": None,
    }
    assert results[labelled["id"]]["ok"] is False
    assert results[labelled["id"]]["error"]["status"] == 409
    assert results[labelled["id"]]["error"]["current_status"] == "label_sent"
    assert results["ret_nosuchreturn"]["error"]["status"] == 404
    assert [r["id"] for r in answer.json()["results"]] == [
        labelled["id"],
        "ret_nosuchreturn",
        waiting["id"],
    ]
    forbidden = await api.http.post(
        "/v1/returns/actions",
        json={"action": "close", "return_ids": [waiting["id"]]},
        headers=api.auth("warehouse"),
    )
    assert forbidden.status_code == 403
    too_many = await api.http.post(
        "/v1/returns/actions",
        json={"action": "close", "return_ids": [f"ret_{n}" for n in range(101)]},
        headers=api.auth("agent"),
    )
    assert too_many.status_code == 422 and too_many.json()["errors"][0]["field"] == "return_ids"


async def test_server_owned_fields_are_refused_in_every_write_body_and_change_nothing(api):
    body = (await api.create(await api.put_order())).json()

    async def version() -> int:
        async with api.sessions() as session:
            return int(
                await session.scalar(select(ReturnRow.version).where(ReturnRow.id == body["id"]))
            )

    before = await version()
    for action, payload in WRITES:
        for field in SERVER_OWNED:
            answer = await api.act(body["id"], action, "admin", {**payload, field: 1})
            assert answer.status_code == 422, (action, field, answer.status_code)
            assert answer.json()["errors"][0]["field"] == field, (action, field)
    order_id = body["order_ids"][0]
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "defective"}
    async with api.sessions() as session:
        returns_before = int(await session.scalar(select(func.count()).select_from(ReturnRow)))
    for field in SERVER_OWNED:
        created = await api.http.post(
            "/v1/returns", json={"items": [item], field: 1}, headers=api.auth("admin")
        )
        assert created.status_code == 422 and created.json()["errors"][0]["field"] == field
    async with api.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReturnRow)) == returns_before
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("admin"))).json()
    lines = [
        {k: v for k, v in line.items() if k != "returnable_quantity"} for line in order["lines"]
    ]
    clean = {**{k: v for k, v in order.items() if k != "id"}, "lines": lines}
    same = await api.http.put(f"/v1/orders/{order_id}", json=clean, headers=api.auth("admin"))
    assert same.status_code == 200
    for sent, field in (
        ({**clean, "id": "o_other"}, "id"),
        (
            {**clean, "lines": [{**lines[0], "returnable_quantity": 99}]},
            "lines[0].returnable_quantity",
        ),
    ):
        answer = await api.http.put(f"/v1/orders/{order_id}", json=sent, headers=api.auth("admin"))
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field
    after = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("admin"))).json()
    assert after == order
    bulk = await api.http.post(
        "/v1/returns/actions",
        json={"action": "close", "return_ids": [body["id"]], "status": "closed"},
        headers=api.auth("agent"),
    )
    assert bulk.status_code == 422 and bulk.json()["errors"][0]["field"] == "status"
    assert await version() == before
    current = (await api.http.get(f"/v1/returns/{body['id']}", headers=api.auth("ops"))).json()
    assert current["status"] == "label_sent" and current["refunded_amount"] == 0


async def test_a_body_too_large_is_a_413_and_starts_nothing(api):
    order_id = await api.put_order()

    async def count() -> int:
        async with api.sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ReturnRow)))

    before = await count()
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "other"}
    huge = {"items": [{**item, "comment": "x" * (api.settings.max_body_bytes + 1)}]}
    answer = await api.http.post("/v1/returns", json=huge, headers=api.auth("integration"))
    assert answer.status_code == 413
    assert answer.headers["content-type"] == "application/problem+json"

    async def chunks():
        yield b'{"items": [{"order_id": "' + order_id.encode() + b'", "comment": "'
        for _ in range(api.settings.max_body_bytes // 1024 + 2):
            yield b"y" * 1024
        yield b'"}]}'

    streamed = await api.http.post(
        "/v1/returns",
        content=chunks(),
        headers={**api.auth("integration"), "content-type": "application/json"},
    )
    assert streamed.status_code == 413
    assert await count() == before
    many = {"items": [{**item, "comment": "c", "line_id": f"l{n}"} for n in range(51)]}
    answer = await api.http.post("/v1/returns", json=many, headers=api.auth("integration"))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "items"
    page = await api.http.get("/v1/returns", params={"limit": 101}, headers=api.auth("agent"))
    assert page.status_code == 422 and page.json()["errors"][0]["field"] == "query.limit"
    long = await api.http.post(
        "/v1/returns",
        json={"items": [{**item, "comment": "z" * 1001}]},
        headers=api.auth("integration"),
    )
    assert long.status_code == 422 and long.json()["errors"][0]["field"] == "items[0].comment"
    assert await count() == before


async def test_what_the_fuzzer_found_stays_fixed(api):
    """Found by schemathesis: numbers where times belong, and 0/1 or "1" where booleans and
    integers belong, were accepted by lax parsing. The schema says otherwise; so does the API."""
    as_number = await api.http.get(
        "/v1/returns", params={"created_before": "0.5"}, headers=api.auth("agent")
    )
    assert as_number.status_code == 422
    assert as_number.json()["errors"][0]["field"] == "query.created_before"
    policy = (await api.http.get("/v1/policy", headers=api.auth("admin"))).json()
    for field, value in (
        ("auto_refund", 0),
        ("return_window_days", "30"),
        ("label_expiry_days", 3.0),
    ):
        answer = await api.http.put(
            "/v1/policy", json={**policy, field: value}, headers=api.auth("admin")
        )
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field
    order_id = await api.put_order()
    item = {"order_id": order_id, "line_id": "l1", "quantity": "1", "reason": "defective"}
    answer = await api.http.post("/v1/returns", json={"items": [item]}, headers=api.auth("agent"))
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "items[0].quantity"
    assert (await api.http.get("/v1/policy", headers=api.auth("admin"))).json() == policy
    # Unknown query parameters (a misspelt filter) and empty filters are refused, not ignored.
    for params, field in (
        ({"statuss": "closed"}, "query.statuss"),
        ({"order_id": ""}, "query.order_id"),
    ):
        answer = await api.http.get("/v1/returns", params=params, headers=api.auth("agent"))
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field
