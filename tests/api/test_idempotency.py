"""Idempotency-Key: repeats give the first answer and never a second effect."""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from returns_service.store.tables import LedgerEntryRow, ReturnRow


async def count(api, table, *where) -> int:
    async with api.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table).where(*where)))


async def test_fifty_concurrent_identical_creates_make_one_return_and_one_workflow(api):
    order_id = await api.put_order()
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
    before = await count(api, ReturnRow)
    answers = await asyncio.gather(
        *(
            api.http.post(
                "/v1/returns", json={"items": [item]}, headers={**api.auth("integration"), **key}
            )
            for _ in range(50)
        )
    )
    assert {a.status_code for a in answers} == {201}, {
        a.text for a in answers if a.status_code != 201
    }
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 1
    [return_id] = ids
    assert await count(api, ReturnRow) == before + 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 49
    assert {a.headers["location"] for a in answers} == {f"/v1/returns/{return_id}"}
    # One workflow: the return's id is the workflow's, and no other run was started for it.
    workflows = [w async for w in api.temporal.list_workflows(f"WorkflowId = '{return_id}'")]
    assert len(workflows) == 1
    order = (await api.http.get(f"/v1/orders/{order_id}", headers=api.auth("agent"))).json()
    assert order["lines"][0]["returnable_quantity"] == 1


async def test_the_same_key_with_another_body_is_a_409_and_changes_nothing(api):
    order_id = await api.put_order()
    key = {"Idempotency-Key": f"create-{uuid.uuid4()}"}
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
    first = await api.http.post(
        "/v1/returns", json={"items": [item]}, headers={**api.auth("integration"), **key}
    )
    assert first.status_code == 201
    before = await count(api, ReturnRow)
    other = await api.http.post(
        "/v1/returns",
        json={"items": [{**item, "quantity": 2}]},
        headers={**api.auth("integration"), **key},
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert await count(api, ReturnRow) == before
    # Keys are the caller's own: another caller's same key is another request.
    theirs = await api.http.post(
        "/v1/returns", json={"items": [item]}, headers={**api.auth("agent"), **key}
    )
    assert theirs.status_code == 201 and theirs.json()["id"] != first.json()["id"]


async def test_a_refund_repeated_with_its_key_pays_once_and_answers_the_same(api):
    body = await api.received_without_auto_refund()
    key = {"Idempotency-Key": f"refund-{uuid.uuid4()}"}
    headers = {**api.auth("agent"), **key}
    path = f"/v1/returns/{body['id']}/refund"
    first, second = await asyncio.gather(
        api.http.post(path, json={"amount": 1000}, headers=headers),
        api.http.post(path, json={"amount": 1000}, headers=headers),
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json() and first.json()["refunded_amount"] == 1000
    third = await api.http.post(path, json={"amount": 1000}, headers=headers)
    assert third.json() == first.json() and third.headers["idempotent-replayed"] == "true"
    assert await count(api, LedgerEntryRow, LedgerEntryRow.return_id == body["id"]) == 1
    # A refusal is kept as well: the same key gets the same 409, the ledger stays as it is.
    key2 = {**api.auth("agent"), "Idempotency-Key": f"refund-{uuid.uuid4()}"}
    refused = await api.http.post(path, json={"amount": 99999}, headers=key2)
    again = await api.http.post(path, json={"amount": 99999}, headers=key2)
    assert refused.status_code == again.status_code == 409
    assert refused.json() == again.json()
    assert again.headers["content-type"] == "application/problem+json"
    assert await count(api, LedgerEntryRow, LedgerEntryRow.return_id == body["id"]) == 1
