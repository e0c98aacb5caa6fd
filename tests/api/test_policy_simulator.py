"""The policy simulator through real HTTP, checked against the real outcomes of returns the
workflow decided: the policy they ran under changes nothing; a stricter draft changes exactly the
returns it should; nothing is moved or started."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from returns_service.domain import simulation
from returns_service.store import simulation as stored
from returns_service.store.tables import LedgerEntryRow, ReturnRow
from tests.factories import expensive_line


async def counts(api) -> tuple[int, int]:
    async with api.sessions() as session:
        returns = await session.scalar(select(func.count()).select_from(ReturnRow))
        money = await session.scalar(select(func.count()).select_from(LedgerEntryRow))
    return int(returns or 0), int(money or 0)


def when(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_the_simulator_agrees_with_the_workflow_and_names_what_a_draft_changes(api):
    policy = (await api.http.get("/v1/policy", headers=api.auth("ops"))).json()
    start = datetime.now(UTC)
    shirt = (await api.create(await api.put_order())).json()
    tv_order = await api.put_order(lines=[expensive_line()])
    tv = (await api.create(tv_order, line_id="l9")).json()
    late = (await api.create(await api.put_order(delivered_days_ago=90))).json()
    end = datetime.now(UTC) + timedelta(seconds=1)
    assert [shirt["status"], tv["status"], late["status"]] == [
        "label_sent", "pending_review", "rejected"
    ]  # fmt: skip
    before = await counts(api)
    period = {"created_after": when(start), "created_before": when(end)}

    async def simulate(draft, **extra):
        answer = await api.http.post(
            "/v1/policy/simulations",
            json={"policy": draft, **period, **extra},
            headers=api.auth("ops"),
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    same = await simulate(policy)
    assert (same["returns"], same["changed"], same["changes"]) == (3, 0, [])
    # What the returns approved or under review would pay back (not the rejected one's).
    refunds = shirt["estimated_refund_amount"] + tv["estimated_refund_amount"]
    assert same["now"] == same["draft"]
    assert same["now"] == {
        "approved": 1, "pending_review": 1, "rejected": 1, "estimated_refund_total": refunds,
        "estimated_refund_totals": {shirt["currency"]: refunds},
    }  # fmt: skip

    # No shirts back any more: exactly the shirt's return changes (the late one is rejected
    # anyway, and stays so).
    no_shirts = {
        **policy,
        "rules": [{"name": "no-shirts", "when": {"skus": ["SKU-001"]}, "then": {"reject": "no"}}],
    }
    stricter = await simulate(no_shirts)
    assert stricter["changed"] == 1
    assert stricter["changes"] == [
        {
            "id": shirt["id"],
            "number": shirt["number"],
            "now": "approved",
            "draft": "rejected",
            "refund_now": 2725,
            "refund_draft": 2725,
            "currency": shirt["currency"],
        }
    ]
    assert stricter["draft"]["approved"] == 0 and stricter["draft"]["rejected"] == 2
    assert stricter["draft"]["estimated_refund_total"] == tv["estimated_refund_amount"]

    # A 10 % restocking fee changes every refund, and no verdict.
    fee = await simulate({**policy, "restocking_fee_percent": 10})
    assert fee["changed"] == 3
    assert [(c["now"], c["draft"]) for c in fee["changes"]] == [
        ("approved", "approved"), ("pending_review", "pending_review"), ("rejected", "rejected")
    ]  # fmt: skip
    assert fee["changes"][0]["refund_draft"] == 2725 - 273
    # A review threshold low enough for the shirt sends it to an agent.
    review = await simulate({**policy, "review_above_amount": 1000})
    assert [(c["id"], c["draft"]) for c in review["changes"]] == [(shirt["id"], "pending_review")]

    assert await counts(api) == before  # nothing requested, nothing paid


async def test_who_may_simulate_and_what_is_refused(api):
    now = datetime.now(UTC)
    body = {
        "policy": {},
        "created_after": when(now - timedelta(days=1)),
        "created_before": when(now),
    }
    for role in ("agent", "warehouse", "integration"):
        answer = await api.http.post("/v1/policy/simulations", json=body, headers=api.auth(role))
        assert answer.status_code == 403, role
    assert (
        await api.http.post("/v1/policy/simulations", json=body, headers=api.auth("admin"))
    ).status_code == 200
    # Forged cursors (the attack found a date without its offset a 500).
    naive = base64.urlsafe_b64encode(json.dumps(["2026-11-30T05:22:21", "r"]).encode()).decode()
    number = base64.urlsafe_b64encode(json.dumps(["2026-11-30T05:22:21+00:00", 5]).encode())
    rejecting = {"name": "r", "then": {"reject": "no"}}
    for wrong, field in (
        ({**body, "created_before": body["created_after"]}, "created_before"),
        ({**body, "cursor": "nonsense"}, "cursor"),
        ({**body, "cursor": naive, "policy": {"rules": [rejecting]}}, "cursor"),
        ({**body, "cursor": number.decode(), "policy": {"rules": [rejecting]}}, "cursor"),
        ({**body, "policy": {"restocking_fee_percent": 101}}, "policy.restocking_fee_percent"),
    ):
        answer = await api.http.post("/v1/policy/simulations", json=wrong, headers=api.auth("ops"))
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field


async def test_changes_come_a_page_at_a_time_from_processes_of_their_own(api, monkeypatch):
    """Many returns are decided in processes of their own, a batch each, and counted in the
    period's order (here from 1 return on, in batches of 2, and pages of 2 changes)."""
    monkeypatch.setattr(simulation, "PAGE", 2)
    monkeypatch.setattr(stored, "IN_PROCESSES_FROM", 1)
    monkeypatch.setattr(stored, "BATCH", 2)
    start = datetime.now(UTC)
    made = [(await api.create(await api.put_order())).json()["id"] for _ in range(5)]
    period = {
        "created_after": when(start),
        "created_before": when(datetime.now(UTC) + timedelta(seconds=1)),
        "policy": {"restocking_fee_percent": 50},
    }
    seen, cursor = [], None
    try:
        for _ in range(5):
            body = {**period, **({"cursor": cursor} if cursor else {})}
            answer = (
                await api.http.post("/v1/policy/simulations", json=body, headers=api.auth("ops"))
            ).json()
            assert answer["changed"] == 5 and len(answer["changes"]) <= 2
            seen += [change["id"] for change in answer["changes"]]
            cursor = answer["next_cursor"]
            if cursor is None:
                break
    finally:
        # The processes live as long as the API does; the rest of the suite does without them.
        stored.stop_processes()
    assert seen == made
