"""The HTTP API as its users meet it: real HTTP, real Temporal, real store."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import UTC, datetime, timedelta

from pypdf import PdfReader
from sqlalchemy import func, select

from returns_service.store.tables import LabelRow, LedgerEntryRow, ReturnEventRow, ReturnRow
from tests.factories import expensive_line

PROBLEM = "application/problem+json"


async def count_returns(api) -> int:
    async with api.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(ReturnRow)))


async def test_health_and_readiness(api):
    assert (await api.http.get("/healthz")).json()["status"] == "ok"
    ready = await api.http.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"store": "ok", "temporal": "ok"}


async def test_no_unknown_or_forged_credentials(api):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        answer = await api.http.get("/v1/returns", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == PROBLEM


async def test_roles_may_only_use_their_functions(api):
    order_id = await api.put_order()
    assert (
        await api.http.put(f"/v1/orders/{order_id}", json={}, headers=api.auth("warehouse"))
    ).status_code == 403
    assert (await api.http.put("/v1/policy", json={}, headers=api.auth("ops"))).status_code == 403
    created = (await api.create(order_id)).json()
    answer = await api.act(created["id"], "approve", "warehouse")
    assert answer.status_code == 403 and answer.json()["title"] == "Forbidden"
    assert (
        await api.act(created["id"], "receive", "integration", {"location": "W", "items": []})
    ).status_code == 403


async def test_unknown_fields_are_refused_and_named(api):
    order_id = await api.put_order()
    items = [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "defective"}]
    before = await count_returns(api)
    for extra in ({"status": "refunded"}, {"refunded_amount": 5}, {"estimated_refund_amount": 1}):
        answer = await api.http.post(
            "/v1/returns", json={"items": items, **extra}, headers=api.auth("integration")
        )
        assert answer.status_code == 422
        assert answer.headers["content-type"] == PROBLEM
        assert answer.json()["errors"][0]["field"] == next(iter(extra))
    assert await count_returns(api) == before


async def test_bad_items_name_the_field_and_start_nothing(api):
    order_id = await api.put_order()
    before = await count_returns(api)
    cases = [
        (
            {"order_id": "o_missing", "line_id": "l1", "quantity": 1, "reason": "defective"},
            "items[0].order_id",
        ),
        (
            {"order_id": order_id, "line_id": "l9", "quantity": 1, "reason": "defective"},
            "items[0].line_id",
        ),
        (
            {"order_id": order_id, "line_id": "l1", "quantity": 3, "reason": "defective"},
            "items[0].quantity",
        ),
        ({"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "other"}, "items[0]"),
        (
            {"order_id": order_id, "line_id": "l1", "quantity": 0, "reason": "defective"},
            "items[0].quantity",
        ),
    ]
    for item, field in cases:
        answer = await api.http.post(
            "/v1/returns", json={"items": [item]}, headers=api.auth("integration")
        )
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field
    other_customer = await api.put_order(email="bob@example.com")
    mixed = [
        {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "defective"},
        {"order_id": other_customer, "line_id": "l1", "quantity": 1, "reason": "defective"},
    ]
    answer = await api.http.post(
        "/v1/returns", json={"items": mixed}, headers=api.auth("integration")
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "items"
    same_customer = await api.put_order(email=f"{order_id}@example.com", currency="USD")
    mixed[1]["order_id"] = same_customer
    answer = await api.http.post(
        "/v1/returns", json={"items": mixed}, headers=api.auth("integration")
    )
    assert answer.status_code == 422 and "currencies" in answer.json()["errors"][0]["message"]
    assert await count_returns(api) == before


async def test_a_return_from_request_to_refund_through_http(api):
    order_id = await api.put_order()
    created = await api.create(order_id)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/v1/returns/{body['id']}"
    assert body["status"] == "label_sent" and body["estimated_refund_amount"] == 2725
    assert body["available_actions"] == ["cancel", "ship", "receive"]
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))).json()
    assert order["lines"][0]["returnable_quantity"] == 1
    label = await api.http.get(body["label"]["url"], headers=api.auth("warehouse"))
    assert label.headers["content-type"] == "application/pdf"
    text = PdfReader(io.BytesIO(label.content)).pages[0].extract_text()
    assert body["label"]["tracking_number"] in text and body["number"] in text
    # Rendered on this first download, not when the label was made, and kept: the same again.
    async with api.sessions() as session:
        kept = await session.scalar(select(LabelRow.pdf).where(LabelRow.return_id == body["id"]))
    assert kept == label.content
    again = await api.http.get(body["label"]["url"], headers=api.auth("warehouse"))
    assert again.content == label.content
    shipped = await api.act(body["id"], "ship", "integration")
    assert shipped.json()["status"] == "shipped"
    received = await api.act(
        body["id"],
        "receive",
        "warehouse",
        {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}]},
    )
    assert received.status_code == 200 and received.json()["status"] == "received"
    closed = await api.wait_for(body["id"], "closed")
    assert closed["status"] == "closed" and closed["refunded_amount"] == 2725
    assert closed["refunds"][0]["capture_id"] == f"cap_{order_id.upper()}"
    assert closed["timestamps"]["refunded_at"] and closed["timestamps"]["closed_at"]


async def test_expensive_return_waits_for_review_and_the_agent_approves(api):
    order_id = await api.put_order(lines=[expensive_line()])
    body = (await api.create(order_id, line_id="l9")).json()
    assert body["status"] == "pending_review"
    assert body["available_actions"] == ["approve", "reject", "cancel"]
    approved = await api.act(body["id"], "approve", "agent", {"note": "loyal customer"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "label_sent"
    assert (
        approved.json()["decision"]["by"] == "agent"
        and approved.json()["decision"]["note"] == "loyal customer"
    )


async def test_an_action_the_state_does_not_allow_is_a_409_with_what_is_allowed(api):
    order_id = await api.put_order()
    body = (await api.create(order_id)).json()
    answer = await api.act(body["id"], "refund", "agent", {"amount": 100})
    assert answer.status_code == 409
    problem = answer.json()
    assert problem["current_status"] == "label_sent"
    assert problem["available_actions"] == ["cancel", "ship", "receive"]
    cancelled = await api.act(body["id"], "cancel", "agent", {"reason": "duplicate"})
    assert cancelled.json()["status"] == "cancelled"
    again = await api.act(body["id"], "cancel", "agent")
    assert again.status_code == 409 and again.json()["current_status"] == "cancelled"


async def test_over_refund_is_a_409_and_moves_no_money(api):
    body = await api.received_without_auto_refund()
    too_much = await api.act(body["id"], "refund", "agent", {"amount": 2726})
    assert too_much.status_code == 409 and too_much.json()["maximum"] == 2725
    async with api.sessions() as session:
        assert (
            await session.scalar(
                select(func.count())
                .select_from(LedgerEntryRow)
                .where(LedgerEntryRow.return_id == body["id"])
            )
            == 0
        )
    paid = await api.act(body["id"], "refund", "agent", {"amount": 2000})
    assert paid.status_code == 200 and paid.json()["refunded_amount"] == 2000


async def test_receipt_naming_an_unknown_item_is_a_422(api):
    order_id = await api.put_order()
    body = (await api.create(order_id)).json()
    answer = await api.act(
        body["id"],
        "receive",
        "warehouse",
        {"location": "WH1", "items": [{"item_id": "ri_7", "quantity": 1, "condition": "good"}]},
    )
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "items[0].item_id"


async def test_list_filters_and_keyset_pages(api):
    email = "page@example.com"
    order_id = await api.put_order(
        email=email, lines=[{**expensive_line(3), "unit_amount": 100, "tax_amount": 0}]
    )
    ids = []
    for _ in range(3):
        ids.append((await api.create(order_id, line_id="l9")).json()["id"])
    first = (
        await api.http.get(
            "/v1/returns", params={"customer_email": email, "limit": 2}, headers=api.auth("agent")
        )
    ).json()
    assert [r["id"] for r in first["data"]] == ids[::-1][:2]
    second = (
        await api.http.get(
            "/v1/returns",
            params={"customer_email": email, "limit": 2, "cursor": first["next_cursor"]},
            headers=api.auth("agent"),
        )
    ).json()
    assert [r["id"] for r in second["data"]] == [ids[0]] and second["next_cursor"] is None
    by_order = (
        await api.http.get(
            "/v1/returns",
            params={"order_id": order_id, "status": ["label_sent", "approved"]},
            headers=api.auth("ops"),
        )
    ).json()
    assert len(by_order["data"]) == 3
    none = (
        await api.http.get(
            "/v1/returns",
            params={"order_id": order_id, "status": "closed"},
            headers=api.auth("ops"),
        )
    ).json()
    assert none["data"] == []
    bad = await api.http.get("/v1/returns", params={"cursor": "garbage!"}, headers=api.auth("ops"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"
    assert (
        await api.http.get("/v1/returns", params={"limit": 101}, headers=api.auth("ops"))
    ).status_code == 422


async def test_unknown_return_is_404(api):
    for path in (
        "/v1/returns/ret_nothing",
        "/v1/returns/ret_nothing/label",
        "/v1/returns/ret_nothing/history",
    ):
        answer = await api.http.get(path, headers=api.auth("agent"))
        assert answer.status_code == 404 and answer.headers["content-type"] == PROBLEM
    assert (await api.act("ret_nothing", "approve", "agent")).status_code == 404


async def test_history_shows_who_did_what_and_links_to_temporal_ui(api):
    order_id = await api.put_order(lines=[expensive_line()])
    body = (await api.create(order_id, line_id="l9")).json()
    await api.act(body["id"], "approve", "agent", {"note": "fine"})
    history = (
        await api.http.get(f"/v1/returns/{body['id']}/history", headers=api.auth("ops"))
    ).json()
    assert history["workflow_id"] == body["id"]
    assert f"/workflows/{body['id']}/" in history["temporal_ui_url"]
    kinds = [(e["kind"], e["actor"]) for e in history["events"]]
    assert ("return_requested", "integration") in kinds
    assert ("status.pending_review", "policy") in kinds
    assert ("update.approve", "agent") in kinds
    assert ("status.approved", "agent") in kinds
    assert (
        await api.http.get(f"/v1/returns/{body['id']}/history", headers=api.auth("warehouse"))
    ).status_code == 403


async def test_policy_applies_to_returns_created_after_it(api):
    order_id = await api.put_order()
    put = await api.http.put(
        "/v1/policy", json={"review_above_amount": 100}, headers=api.auth("admin")
    )
    try:
        assert put.status_code == 200 and put.json()["review_above_amount"] == 100
        assert (await api.http.get("/v1/policy", headers=api.auth("agent"))).json()[
            "review_above_amount"
        ] == 100
        assert (await api.create(order_id)).json()["status"] == "pending_review"
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
    assert (await api.create(order_id)).json()["status"] == "label_sent"
    bad = await api.http.put(
        "/v1/policy", json={"window_basis": "shipped"}, headers=api.auth("admin")
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "window_basis"


async def test_list_by_reason_and_creation_time(api):
    order_id = await api.put_order()
    before = datetime.now(UTC)
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "not_as_described"}
    created = await api.http.post("/v1/returns", json={"items": [item]}, headers=api.auth("agent"))
    return_id = created.json()["id"]
    after = datetime.now(UTC) + timedelta(seconds=1)

    async def ids(**params):
        page = await api.http.get("/v1/returns", params=params, headers=api.auth("ops"))
        assert page.status_code == 200, page.text
        return [r["id"] for r in page.json()["data"]]

    assert return_id in await ids(reason="not_as_described", created_after=before.isoformat())
    assert return_id not in await ids(reason="defective", order_id=order_id)
    assert return_id not in await ids(created_after=after.isoformat())
    assert return_id in await ids(created_before=after.isoformat(), order_id=order_id)
    naive = await api.http.get(
        "/v1/returns", params={"created_after": "2026-01-01T00:00:00"}, headers=api.auth("ops")
    )
    assert naive.status_code == 422 and naive.json()["errors"][0]["field"] == "query.created_after"


async def test_two_concurrent_returns_for_the_last_unit_exactly_one_is_accepted(api):
    order_id = await api.put_order()
    assert (await api.create(order_id)).json()["status"] == "label_sent"
    answers = await asyncio.gather(api.create(order_id), api.create(order_id))
    accepted = [a for a in answers if a.status_code == 201 and a.json()["status"] == "label_sent"]
    assert len(accepted) == 1
    [other] = [a for a in answers if a not in accepted]
    # Both passed the first check and the workflow's lock decided (409), or not (422): either
    # way the answer names the item that cannot be had.
    assert other.status_code in (409, 422)
    if other.status_code == 409:
        assert other.json()["code"] == "units_taken"
    assert other.json()["errors"][0]["field"] == "items[0].quantity"
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))).json()
    assert order["lines"][0]["returnable_quantity"] == 0
    late = await api.create(order_id)
    assert (
        late.status_code == 422 and "can still be returned" in late.json()["errors"][0]["message"]
    )


async def test_a_refund_the_payment_side_refuses_is_shown_and_an_agent_retry_pays_once(api):
    order_id = await api.put_order()
    body = (await api.create(order_id)).json()
    # Meanwhile the shop paid most of the capture back by hand: 1000 of it is left.
    now = datetime.now(UTC).isoformat()
    capture = {"id": f"cap_{order_id.upper()}", "amount": 1000, "captured_at": now}
    await api.put_order(order_id=order_id, captures=[capture])
    receipt = {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "new"}]}
    received = await api.act(body["id"], "receive", "warehouse", receipt)
    assert received.status_code == 200

    failed = await api.wait_for(body["id"], "received")
    deadline = asyncio.get_running_loop().time() + 15
    while not failed["errors"] and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        failed = await api.wait_for(body["id"], "received")
    assert failed["status"] == "received" and failed["refunded_amount"] == 0
    assert failed["errors"][0]["code"] == "InsufficientCaptures"
    assert [(r["amount"], r["status"]) for r in failed["refunds"]] == [(2725, "failed")]
    assert "refund" in failed["available_actions"] and "close" in failed["available_actions"]
    async with api.sessions() as session:
        events = (
            await session.scalars(
                select(ReturnEventRow.type).where(ReturnEventRow.return_id == body["id"])
            )
        ).all()
    assert "return.refund_failed" in events and "return.received" in events

    # Retrying before anything changed fails the same way and pays nothing.
    again = await api.act(body["id"], "refund", "agent")
    assert again.status_code == 409 and again.json()["code"] == "InsufficientCaptures"
    # The integration reports a later capture; the agent's retry pays once, from it.
    later = {"id": "cap_late", "amount": 5000, "captured_at": datetime.now(UTC).isoformat()}
    await api.put_order(order_id=order_id, captures=[capture, later])
    retried = await api.act(body["id"], "refund", "agent")
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "refunded" and retried.json()["refunded_amount"] == 2725
    twice = await api.act(body["id"], "refund", "agent")
    assert twice.status_code == 409
    closed = await api.wait_for(body["id"], "closed")
    assert closed["refunded_amount"] == 2725
    async with api.sessions() as session:
        rows = (
            await session.scalars(
                select(LedgerEntryRow).where(LedgerEntryRow.return_id == body["id"])
            )
        ).all()
    assert [(r.amount, r.capture_id, r.status) for r in rows] == [(2725, "cap_late", "succeeded")]


async def test_an_exchange_through_http_closes_once_the_replacement_is_fulfilled(api):
    order_id = await api.put_order()
    larger = [{"sku": "SKU-001-L", "name": "Shirt (L)", "quantity": 1}]
    missing = await api.create(order_id, resolution="exchange")
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "replacement_items"
    stray = await api.create(order_id, replacement_items=larger)
    assert stray.status_code == 422 and stray.json()["errors"][0]["field"] == "replacement_items"

    body = (await api.create(order_id, resolution="exchange", replacement_items=larger)).json()
    assert body["replacement_items"] == [{**larger[0], "item_id": "ri_1"}]
    early = await api.act(body["id"], "replacement", "integration", {"status": "fulfilled"})
    assert early.status_code == 409
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    await api.act(body["id"], "receive", "warehouse", receipt)
    deadline = asyncio.get_running_loop().time() + 15
    current = await api.wait_for(body["id"], "received")
    while current["replacement"] is None and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.1)
        current = await api.wait_for(body["id"], "received")
    assert current["replacement"]["status"] == "created"
    # The replacement and the money exclude each other (issue 10, item 2).
    assert current["available_actions"] == ["replacement"]
    refused = await api.act(body["id"], "close", "agent")
    assert refused.status_code == 409 and "replacement order" in refused.json()["detail"]
    paid = await api.act(body["id"], "refund", "agent")
    assert paid.status_code == 409 and "replacement order" in paid.json()["detail"]
    forbidden = await api.act(body["id"], "replacement", "warehouse", {"status": "fulfilled"})
    assert forbidden.status_code == 403
    report = {"status": "fulfilled", "order_reference": "1001-X"}
    fulfilled = await api.act(body["id"], "replacement", "integration", report)
    assert fulfilled.status_code == 200, fulfilled.text
    assert fulfilled.json()["replacement"]["status"] == "fulfilled"
    closed = await api.wait_for(body["id"], "closed")
    assert closed["status"] == "closed" and closed["refunded_amount"] == 0
    again = await api.act(body["id"], "replacement", "integration", report)
    assert again.status_code == 200 and again.json()["status"] == "closed"
    # The same report with another order is not the same report: refused, the first kept.
    moved = {**report, "order_reference": "1001-Y"}
    elsewhere = await api.act(body["id"], "replacement", "integration", moved)
    assert elsewhere.status_code == 409, elsewhere.text
    kept = await api.wait_for(body["id"], "closed")
    assert kept["replacement"]["order_reference"] == "1001-X"
    other = await api.act(body["id"], "replacement", "integration", {"status": "cancelled"})
    assert other.status_code == 409


async def test_a_return_over_two_orders_refunds_each_order_from_its_own_capture(api):
    email = f"two-{uuid.uuid4().hex[:8]}@example.com"
    first = await api.put_order(email=email)
    caps = [
        {
            **expensive_line(2),
            "id": "l2",
            "sku": "SKU-CAP",
            "unit_amount": 1000,
            "tax_amount": 380,
            "name": "Cap",
        }
    ]
    second = await api.put_order(email=email, lines=caps)
    items = [
        {"order_id": first, "line_id": "l1", "quantity": 1, "reason": "wrong_size"},
        {"order_id": second, "line_id": "l2", "quantity": 1, "reason": "not_as_described"},
    ]
    body = (
        await api.http.post("/v1/returns", json={"items": items}, headers=api.auth("integration"))
    ).json()
    # 2725 for the shirt; 1000 + 380/2 for the cap.
    assert body["order_ids"] == [first, second] and body["estimated_refund_amount"] == 2725 + 1190
    assert [r["rule"] for r in body["eligibility"]].count("return_window") == 2
    receipt = {
        "location": "WH1",
        "items": [
            {"item_id": "ri_1", "quantity": 1, "condition": "good"},
            {"item_id": "ri_2", "quantity": 1, "condition": "new"},
        ],
    }
    await api.act(body["id"], "receive", "warehouse", receipt)
    closed = await api.wait_for(body["id"], "closed")
    assert closed["refunded_amount"] == 3915
    assert sorted(
        (r["order_id"], r["capture_id"], r["amount"]) for r in closed["refunds"]
    ) == sorted([(first, f"cap_{first.upper()}", 2725), (second, f"cap_{second.upper()}", 1190)])


async def test_a_customer_with_many_recent_returns_goes_to_review(api):
    await api.http.put(
        "/v1/policy", json={"review_if_returns_in_90_days_over": 1}, headers=api.auth("admin")
    )
    try:
        email = f"often-{uuid.uuid4().hex[:8]}@example.com"
        statuses = []
        for _ in range(3):
            order_id = await api.put_order(email=email)
            statuses.append((await api.create(order_id)).json())
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
    assert [s["status"] for s in statuses] == ["label_sent", "label_sent", "pending_review"]
    [rule] = [r for r in statuses[2]["eligibility"] if r["rule"] == "frequent_returner"]
    assert rule["outcome"] == "review" and "2 returns in 90 days" in rule["detail"]
