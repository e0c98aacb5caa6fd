"""Gift returns through real HTTP: the recipient gets in with the order number and the postal code
the gift went to, returns it for store credit of their own, and is told by email; the buyer is
never shown to them, and hears and sees nothing of it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from returns_service.store.returns import get_return_document
from returns_service.store.tables import LedgerEntryRow, OutboxEmailRow
from tests.api.conftest import forget_sign_in_failures
from tests.api.test_authorization import customer_token
from tests.api.test_methods_rules_lists import PROBLEM, refused_on, returns_of
from tests.factories import order_payload

ADDRESS = {
    "name": "Grace Recipient",
    "line1": "Torstraße 1",
    "postal_code": "SW1A 1AA",
    "city": "London",
    "country": "GB",
}
RECIPIENT = "grace.gift@example.com"


async def gift_order(api, **overrides: Any) -> str:
    overrides.setdefault("gift", True)
    overrides.setdefault("shipping_address", ADDRESS)
    return await api.put_order(**overrides)


async def gift_session(api, order_id: str, postal_code: str = "sw1a1aa") -> dict[str, Any]:
    answer = await api.http.post(
        "/v1/customer-sessions",
        json={"order_number": order_id.upper(), "postal_code": postal_code},
    )
    assert answer.status_code == 201, answer.text
    return answer.json()  # type: ignore[no-any-return]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def items(order_id: str, line_id: str = "l1") -> list[dict[str, Any]]:
    return [{"order_id": order_id, "line_id": line_id, "quantity": 1, "reason": "wrong_size"}]


async def test_a_recipient_returns_a_gift_for_store_credit_and_the_buyer_hears_nothing(api):
    order_id = await gift_order(api)
    buyer = f"{order_id}@example.com"
    session = await gift_session(api, order_id)
    assert session["email"] is None and session["gift"] is True
    recipient = bearer(session["token"])

    order = await api.http.get(f"/v1/orders/{order_id}", headers=recipient)
    assert order.status_code == 200, order.text
    assert order.json()["customer"] is None and order.json()["captures"] == []
    assert buyer not in order.text

    # A gift's return names its recipient, and is store credit: refused otherwise, nothing made.
    body = {"items": items(order_id)}
    refused_on(await api.http.post("/v1/returns", json=body, headers=recipient), "recipient_email")
    refused_on(
        await api.http.post(
            "/v1/returns",
            json={**body, "recipient_email": RECIPIENT, "resolution": "refund"},
            headers=recipient,
        ),
        "resolution",
    )
    refused_on(
        await api.http.post(
            "/v1/returns",
            json={**body, "recipient_email": RECIPIENT, "customer_email": buyer},
            headers=recipient,
        ),
        "customer_email",
    )
    assert await returns_of(api, buyer) == 0

    created = await api.http.post(
        "/v1/returns", json={**body, "recipient_email": RECIPIENT}, headers=recipient
    )
    assert created.status_code == 201, created.text
    made = created.json()
    assert made["resolution"] == "store_credit"
    assert made["recipient_email"] == RECIPIENT and made["customer"] is None
    assert buyer not in created.text
    return_id = made["id"]

    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(return_id, "receive", "warehouse", receipt)).status_code == 200
    closed = await api.wait_for(return_id, "closed")
    assert closed["refunded_amount"] == 2725
    assert {(r["method"], r["issued_to"]) for r in closed["refunds"]} == {
        ("store_credit", RECIPIENT)
    }
    # Staff see both: who bought it and who returned it.
    assert closed["customer"]["email"] == buyer

    seen = await api.http.get(f"/v1/returns/{return_id}", headers=recipient)
    assert seen.status_code == 200 and buyer not in seen.text
    listed = await api.http.get("/v1/returns", headers=recipient)
    assert [r["id"] for r in listed.json()["data"]] == [return_id]
    history = await api.http.get(f"/v1/returns/{return_id}/history", headers=api.auth("ops"))
    assert history.json()["events"][0]["actor"] == f"customer:{RECIPIENT}", history.text

    async with api.sessions() as db:
        emails = (
            await db.scalars(select(OutboxEmailRow).where(OutboxEmailRow.return_id == return_id))
        ).all()
        holders = (
            await db.scalars(
                select(LedgerEntryRow.holder_email).where(LedgerEntryRow.return_id == return_id)
            )
        ).all()
    assert emails and {email.recipient for email in emails} == {RECIPIENT}
    refunded = next(email for email in emails if "refunded" in email.idempotency_key)
    assert "in store credit" in refunded.body
    assert holders == [RECIPIENT]

    # The buyer, signed in with their email, does not see the gift's return.
    mine = bearer(await customer_token(api, order_id, buyer))
    assert (await api.http.get(f"/v1/returns/{return_id}", headers=mine)).status_code == 404
    assert (await api.http.get("/v1/returns", headers=mine)).json()["data"] == []


async def test_a_recipient_sees_that_one_gift_and_nothing_of_the_buyers(api):
    order_id = await gift_order(api)
    buyer = f"{order_id}@example.com"
    other_order = await api.put_order(email=buyer)  # the buyer's own, not a gift
    own = await api.create(other_order, customer_email=buyer)
    assert own.status_code == 201, own.text
    recipient = bearer((await gift_session(api, order_id))["token"])

    assert (await api.http.get(f"/v1/orders/{other_order}", headers=recipient)).status_code == 404
    assert (
        await api.http.get(f"/v1/returns/{own.json()['id']}", headers=recipient)
    ).status_code == 404
    for query in ({}, {"customer_email": buyer}, {"order_id": other_order}):
        listed = await api.http.get("/v1/returns", params=query, headers=recipient)
        assert listed.json()["data"] == [], query
    # Items of another order are not the gift's: as if that order did not exist.
    mixed = {"items": items(order_id) + items(other_order), "recipient_email": RECIPIENT}
    answer = await api.http.post("/v1/returns", json=mixed, headers=recipient)
    assert refused_on(answer, "items[1].order_id") == f"order {other_order} does not exist"
    assert await returns_of(api, buyer) == 1


async def test_wrong_gift_pairs_are_refused_alike_and_limited(api):
    gift = await gift_order(api)
    plain = await api.put_order(shipping_address=ADDRESS)  # right postal code, not a gift

    async def ask(number: str, postal_code: str):
        return await api.http.post(
            "/v1/customer-sessions", json={"order_number": number, "postal_code": postal_code}
        )

    wrong_code = await ask(gift.upper(), "E1 6AN")
    not_a_gift = await ask(plain.upper(), "SW1A 1AA")
    unknown = await ask("NO-SUCH-GIFT", "SW1A 1AA")
    assert wrong_code.status_code == not_a_gift.status_code == unknown.status_code == 404
    assert wrong_code.json()["detail"] == not_a_gift.json()["detail"] == unknown.json()["detail"]
    assert wrong_code.headers["content-type"] == PROBLEM

    both = {"order_number": gift.upper(), "postal_code": "SW1A 1AA", "email": "x@example.com"}
    refused_on(await api.http.post("/v1/customer-sessions", json=both), "postal_code")
    refused_on(
        await api.http.post("/v1/customer-sessions", json={"order_number": gift.upper()}), "email"
    )

    guesses = [
        await ask(gift.upper(), f"E{n} 1AA")
        for n in range(api.settings.session_failures_per_15_minutes)
    ]
    right = await ask(gift.upper(), "SW1A 1AA")
    forget_sign_in_failures(api.app)  # the next requests come from the same address
    assert [g.status_code for g in guesses[:-1]] == [404] * (len(guesses) - 1)
    assert right.status_code == 429 and int(right.headers["retry-after"]) > 0
    assert (await ask(gift.upper(), "SW1A 1AA")).status_code == 201


async def test_only_a_recipient_or_staff_name_one_and_only_for_a_gift(api):
    gift = await gift_order(api)
    plain = await api.put_order()
    buyer = bearer(await customer_token(api, gift, f"{gift}@example.com"))
    as_buyer = {"items": items(gift), "recipient_email": RECIPIENT}
    refused_on(await api.http.post("/v1/returns", json=as_buyer, headers=buyer), "recipient_email")
    message = refused_on(
        await api.create(plain, role="agent", recipient_email=RECIPIENT), "recipient_email"
    )
    assert message == f"order {plain.upper()} is not a gift"
    assert await returns_of(api, f"{gift}@example.com") == 0

    # An agent returns a gift for its recipient (who called): store credit, the recipient's.
    answer = await api.create(gift, role="agent", recipient_email=RECIPIENT)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["resolution"] == "store_credit" and made["recipient_email"] == RECIPIENT
    async with api.sessions() as db, db.begin():
        state = await get_return_document(db, made["id"])
    assert state is not None
    assert (state.timeline[0].actor.label(), state.timeline[0].note) == (
        "agent",
        f"on behalf of {RECIPIENT}",
    )


async def test_a_gifts_return_is_never_paid_to_the_buyers_card(api):
    order_id = await gift_order(api)
    await api.http.put("/v1/policy", json={"auto_refund": False}, headers=api.auth("admin"))
    try:
        made = (await api.create(order_id, role="agent", recipient_email=RECIPIENT)).json()
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(made["id"], "receive", "warehouse", receipt)).status_code == 200
    to_card = await api.act(made["id"], "refund", "agent", {"method": "original_payment"})
    refused_on(to_card, "method")
    capture = await api.act(
        made["id"], "refund", "agent", {"capture_id": f"cap_{order_id.upper()}"}
    )
    refused_on(capture, "method")
    paid = await api.act(made["id"], "refund", "agent", {})
    assert paid.status_code == 200, paid.text
    assert [(r["method"], r["issued_to"]) for r in paid.json()["refunds"]] == [
        ("store_credit", RECIPIENT)
    ]


# --- what an attack on gifts found (each failed before its fix) -------------------------------


async def test_one_client_guessing_at_many_gifts_is_stopped_too(api):
    """Wrong pairs of ever new order numbers and postal codes were never limited."""
    gift = await gift_order(api)
    answers = [
        await api.http.post(
            "/v1/customer-sessions",
            json={"order_number": f"NOPE-{n}", "postal_code": f"Q{n} 1AA"},
        )
        for n in range(5 * api.settings.session_failures_per_15_minutes)
    ]
    right = await api.http.post(
        "/v1/customer-sessions", json={"order_number": gift.upper(), "postal_code": "SW1A 1AA"}
    )
    forget_sign_in_failures(api.app)  # the next requests come from the same address
    assert {answer.status_code for answer in answers} == {404}
    assert right.status_code == 429, right.text
    assert "postal codes" in right.json()["detail"]


async def test_a_postal_code_of_dashes_opens_nothing_and_one_number_twice_neither(api):
    dashes = await gift_order(api, shipping_address={**ADDRESS, "postal_code": "-"})
    answer = await api.http.post(
        "/v1/customer-sessions", json={"order_number": dashes.upper(), "postal_code": "--"}
    )
    refused_on(answer, "postal_code")
    # Two gifts of one number to one postal code: which is whose cannot be told.
    first = await gift_order(api, email="first.buyer@example.com")
    second = order_payload(
        number=first.upper(), email="second.buyer@example.com", gift=True,
        shipping_address=ADDRESS,
    )  # fmt: skip
    pushed = await api.http.put(
        f"/v1/orders/{first}_2", json=second, headers=api.auth("integration")
    )
    assert pushed.status_code == 200, pushed.text
    both = await api.http.post(
        "/v1/customer-sessions", json={"order_number": first.upper(), "postal_code": "SW1A1AA"}
    )
    assert both.status_code == 404, both.text


async def test_a_failed_refund_tells_the_recipient_nothing_of_the_buyers_payment(api):
    order_id = await gift_order(api)
    recipient = bearer((await gift_session(api, order_id))["token"])
    made = await api.http.post(
        "/v1/returns", json={"items": items(order_id), "recipient_email": RECIPIENT},
        headers=recipient,
    )  # fmt: skip
    assert made.status_code == 201, made.text
    # The shop lowers what was captured: the refund cannot be paid.
    lowered = order_payload(
        number=order_id.upper(), email=f"{order_id}@example.com", gift=True,
        shipping_address=ADDRESS,
        captures=[{"id": "cap_low", "amount": 1234, "captured_at": "2026-11-20T10:00:00Z"}],
    )  # fmt: skip
    pushed = await api.http.put(
        f"/v1/orders/{order_id}", json=lowered, headers=api.auth("integration")
    )
    assert pushed.status_code == 200, pushed.text
    receipt = {
        "location": "WH1",
        "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
    }
    assert (await api.act(made.json()["id"], "receive", "warehouse", receipt)).status_code == 200
    staff_view = await api.wait_for(made.json()["id"], "received")
    for _ in range(50):
        if staff_view["errors"]:
            break
        staff_view = await api.wait_for(made.json()["id"], "received")
    assert "1234" in str(staff_view["errors"]), staff_view
    seen = await api.http.get(f"/v1/returns/{made.json()['id']}", headers=recipient)
    assert seen.json()["errors"] == [] and "1234" not in seen.text
    assert all(refund["failure_reason"] is None for refund in seen.json()["refunds"])


async def test_a_recipients_returns_count_for_the_gift_not_against_the_buyer(api):
    order_id = await gift_order(
        api, lines=[{**order_payload()["lines"][0], "quantity": 20}], captures=[]
    )
    buyer = f"{order_id}@example.com"
    recipient = bearer((await gift_session(api, order_id))["token"])
    limit = api.settings.customer_returns_per_hour
    body = {"items": items(order_id), "recipient_email": RECIPIENT}
    answers = [
        await api.http.post("/v1/returns", json=body, headers=recipient) for _ in range(limit + 1)
    ]
    assert [a.status_code for a in answers] == [201] * limit + [429]
    # The buyer's own return of another order: neither limited nor a frequent returner.
    own_order = await api.put_order(email=buyer)
    mine = bearer(await customer_token(api, own_order, buyer))
    own = await api.http.post("/v1/returns", json={"items": items(own_order)}, headers=mine)
    assert own.status_code == 201, own.text
    assert own.json()["status"] == "label_sent"


async def test_the_lists_apply_to_who_returns_a_gift_and_a_blocked_buyer_too(api):
    async def listed(email: str, which: str) -> str:
        entry = {"list": which, "email": email, "reason": "chargebacks"}
        added = await api.http.post("/v1/customer-lists", json=entry, headers=api.auth("ops"))
        assert added.status_code == 201, added.text
        return str(added.json()["id"])

    async def gift_return(order_id: str, recipient_email: str) -> dict[str, Any]:
        token = bearer((await gift_session(api, order_id))["token"])
        body = {"items": items(order_id), "recipient_email": recipient_email}
        answer = await api.http.post("/v1/returns", json=body, headers=token)
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    blocked_recipient = "blocked.recipient@example.com"
    entries = [await listed(blocked_recipient, "blocked")]
    assert (await gift_return(await gift_order(api), blocked_recipient))["status"] == (
        "pending_review"
    )
    blocked_buyer = await gift_order(api)
    entries.append(await listed(f"{blocked_buyer}@example.com", "blocked"))
    assert (await gift_return(blocked_buyer, RECIPIENT))["status"] == "pending_review"
    # The buyer's allowed-list entry is theirs: the recipient's return says nothing of it.
    allowed_buyer = await gift_order(api)
    entries.append(await listed(f"{allowed_buyer}@example.com", "allowed"))
    seen = await gift_return(allowed_buyer, RECIPIENT)
    assert "allowed list" not in str(seen["eligibility"])
    for entry in entries:
        await api.http.delete(f"/v1/customer-lists/{entry}", headers=api.auth("ops"))


async def test_a_recipient_email_mail_cannot_be_sent_to_is_refused(api):
    order_id = await gift_order(api)
    recipient = bearer((await gift_session(api, order_id))["token"])
    for address in ("jürgen@example.de", "x" * 65 + "@example.com"):
        body = {"items": items(order_id), "recipient_email": address}
        answer = await api.http.post("/v1/returns", json=body, headers=recipient)
        refused_on(answer, "recipient_email")
    body = {"items": items(order_id), "recipient_email": "Grace@Exämple.de"}
    made = await api.http.post("/v1/returns", json=body, headers=recipient)
    assert made.status_code == 201, made.text
    assert made.json()["recipient_email"] == "grace@xn--exmple-cua.de"


async def test_a_gift_sent_elsewhere_since_needs_a_session_with_the_new_postal_code(api):
    order_id = await gift_order(api)
    old = bearer((await gift_session(api, order_id))["token"])
    made = await api.http.post(
        "/v1/returns", json={"items": items(order_id), "recipient_email": RECIPIENT}, headers=old
    )
    assert made.status_code == 201, made.text
    # The shop corrects the address the gift went to.
    moved = order_payload(
        number=order_id.upper(), email=f"{order_id}@example.com", gift=True,
        shipping_address={**ADDRESS, "postal_code": "EH1 1YZ"},
    )  # fmt: skip
    pushed = await api.http.put(
        f"/v1/orders/{order_id}", json=moved, headers=api.auth("integration")
    )
    assert pushed.status_code == 200, pushed.text
    assert (await api.http.get(f"/v1/orders/{order_id}", headers=old)).status_code == 404
    again = await api.http.post(
        "/v1/returns", json={"items": items(order_id), "recipient_email": RECIPIENT}, headers=old
    )
    refused_on(again, "items[0].order_id")
    # The return already made stays the recipient's to follow.
    seen = await api.http.get(f"/v1/returns/{made.json()['id']}", headers=old)
    assert seen.status_code == 200
    new = bearer((await gift_session(api, order_id, "eh11yz"))["token"])
    assert (await api.http.get(f"/v1/orders/{order_id}", headers=new)).status_code == 200
