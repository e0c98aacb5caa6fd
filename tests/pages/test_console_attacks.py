"""What a black-box attack on the console found (a helper, 25 minutes on `returns dev`), each kept
as a test that failed before its fix: the customer read the staff's internal note and never the
reason; a refund of 0 told the customer they were paid; numbers too long for int() were a 500; a
reject without a reason; refusals in the API's English on no field; one password tried on many
accounts was never slowed; and a password of twelve spaces."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from tests.pages.conftest import Shop
from tests.pages.test_console import PASSWORD, a_return_waiting_for_review, staff
from tests.pages.test_portal_attacks import CSRF, signed_in

LINE = {"id": "l1", "sku": "CP-2", "name": "Camping pot", "quantity": 2, "unit_amount": 2500}


@contextmanager
def console(stack: Shop, email: str, language: str = "en") -> Iterator[tuple[httpx.Client, str]]:
    with httpx.Client(
        base_url=stack.base, timeout=30, headers={"Accept-Language": language}
    ) as client:
        token = CSRF.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
        signed = client.post(
            "/console/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
        )
        assert signed.status_code == 303, signed.text
        yield client, token


def shipped_return(stack: Shop) -> dict[str, Any]:
    """A return of one camping pot, on its way to the warehouse."""
    tag = uuid.uuid4().hex[:8]
    order_id = f"o_pot_{tag}"
    stack.put_order(order_id, f"P-{tag}", f"pot.{tag}@example.com", [LINE])
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
    created: dict[str, Any] = stack.call(
        "integration", "POST", "/v1/returns", {"items": [item]}
    ).json()
    stack.call("integration", "POST", f"/v1/returns/{created['id']}/ship", {})
    return created


def received_return(stack: Shop, condition: str = "damaged") -> str:
    created = shipped_return(stack)
    receipt = {"location": "WH1", "items": [
        {"item_id": "ri_1", "quantity": 1, "condition": condition}]}  # fmt: skip
    stack.call("warehouse", "POST", f"/v1/returns/{created['id']}/receive", receipt)
    return str(created["id"])


def test_the_customer_reads_the_reason_and_never_the_note_nor_who_decided(stack: Shop):
    agent = staff(stack, "agent", "Ina Intern")
    return_id, customer = a_return_waiting_for_review(stack)
    with console(stack, agent) as (client, token):
        answer = client.post(
            f"/console/returns/{return_id}/reject",
            data={"csrf_token": token, "reason": "The zip was cut, not broken.",
                  "note": "INTERNAL: suspected wardrobing"},
        )  # fmt: skip
    assert answer.status_code == 303
    order_number = stack.read(return_id)["items"][0]["order_id"].replace("o_tent_", "T-")
    with signed_in(stack, order_number, customer) as (portal, _):
        page = portal.get(f"/portal/returns/{return_id}").text
        session = portal.cookies["returns_session"]
    assert "The zip was cut, not broken." in page and "INTERNAL" not in page
    mine = httpx.get(
        f"{stack.base}/v1/returns/{return_id}", headers={"Authorization": f"Bearer {session}"}
    ).json()
    assert mine["decision"]["note"] is None and mine["decision"]["by"] == "agent"
    assert mine["decision"]["reason"] == "The zip was cut, not broken."
    staff_view = stack.read(return_id)["decision"]
    assert staff_view["note"] == "INTERNAL: suspected wardrobing"
    assert staff_view["by"] == f"agent:{agent}"
    mails = stack.emails_any(return_id, until=lambda subject: "not accepted" in subject)
    mail = next(m for s, m in mails.items() if "not accepted" in s)
    text = mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "The zip was cut" in text and "INTERNAL" not in text


def test_a_refund_of_nothing_is_refused_on_its_field_and_changes_nothing(stack: Shop):
    agent = staff(stack, "agent", "Rolf Refund")
    return_id = received_return(stack)
    with console(stack, agent) as (client, token):
        zero = client.post(
            f"/console/returns/{return_id}/refund", data={"csrf_token": token, "amount": "0"}
        )
        huge = client.post(
            f"/console/returns/{return_id}/refund", data={"csrf_token": token, "amount": "9" * 5000}
        )
    api = httpx.post(
        f"{stack.base}/v1/returns/{return_id}/refund",
        json={"amount": 0},
        headers={"Authorization": f"Bearer {stack.keys['agent']}"},
    )
    for answer in (zero, huge):
        assert answer.status_code == 422, answer.status_code
        assert "Enter a whole number of minor units, at least 1." in answer.text
        assert 'id="amount"' in answer.text and 'aria-invalid="true"' in answer.text
    assert api.status_code == 422 and api.json()["errors"][0]["field"] == "amount"
    seen = stack.read(return_id)
    assert seen["status"] == "received" and seen["refunds"] == []


def test_a_reject_needs_the_reason_the_customer_reads(stack: Shop):
    agent = staff(stack, "agent", "Rita Reason")
    return_id, _ = a_return_waiting_for_review(stack)
    with console(stack, agent, "de") as (client, token):
        blank = client.post(
            f"/console/returns/{return_id}/reject", data={"csrf_token": token, "reason": "   "}
        )
    assert blank.status_code == 422
    assert "Schreiben Sie den Grund, den die Kundschaft liest." in blank.text
    assert stack.read(return_id)["status"] == "pending_review"


def test_a_refused_decision_says_why_in_the_persons_words(stack: Shop):
    agent = staff(stack, "agent", "Moritz Moved")
    return_id = received_return(stack, condition="good")  # refunded and closed by itself
    with console(stack, agent, "de") as (client, token):
        answer = client.post(f"/console/returns/{return_id}/approve", data={"csrf_token": token})
    assert answer.status_code == 409
    assert "Die Rücksendung ist inzwischen weiter" in answer.text
    assert "cannot approve" not in answer.text


def test_the_receiving_station_marks_the_field_that_is_wrong(stack: Shop):
    keeper = staff(stack, "warehouse", "Wera Wrong")
    created = shipped_return(stack)
    with console(stack, keeper) as (client, token):
        page = f"/console/receive/{created['id']}"
        cases = {
            "location": {"location": "", "quantity:ri_1": "1", "condition:ri_1": "good"},
            "condition": {"location": "WH1", "quantity:ri_1": "1", "condition:ri_1": "stolen"},
            "quantity": {"location": "WH1", "quantity:ri_1": "9" * 5000, "condition:ri_1": "good"},
            "more than returned": {"location": "WH1", "quantity:ri_1": "2",
                                   "condition:ri_1": "good"},
        }  # fmt: skip
        answers = {
            name: client.post(page, data={"csrf_token": token, **fields})
            for name, fields in cases.items()
        }
    marks = {
        "location": 'id="location-error"',
        "condition": 'id="condition-error-ri_1"',
        "quantity": 'id="quantity-error-ri_1"',
        "more than returned": 'id="quantity-error-ri_1"',
    }
    for name, answer in answers.items():
        assert answer.status_code == 422, (name, answer.status_code)
        assert marks[name] in answer.text, name
    assert stack.read(created["id"])["status"] == "shipped"


def test_one_password_tried_on_many_accounts_is_slowed_too(stack: Shop):
    # From an address of its own (127.0.0.2), so that the other tests' sign-ins are not slowed.
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=stack.base, timeout=30, transport=transport) as client:
        token = CSRF.search(client.get("/console/login").text).group(1)  # type: ignore[union-attr]
        answers = [
            client.post(
                "/console/login",
                data={
                    "csrf_token": token,
                    "email": f"guess{n}@shop.example",
                    "password": "Summer2026!!",
                },
            )  # fmt: skip
            for n in range(51)
        ]
    assert [a.status_code for a in answers[:50]] == [400] * 50
    assert answers[50].status_code == 429 and int(answers[50].headers["retry-after"]) > 0


def test_a_staff_password_must_be_more_than_twelve_of_anything(stack: Shop):
    for weak in (" " * 12, "a" * 12, "abcabcabcabc"):
        answer = httpx.post(
            f"{stack.base}/v1/staff-users",
            json={"email": f"w{uuid.uuid4().hex[:6]}@shop.example", "name": "Weak",
                  "role": "agent", "password": weak},
            headers={"Authorization": f"Bearer {stack.keys['admin']}"},
        )  # fmt: skip
        assert answer.status_code == 422, weak
        assert answer.json()["errors"][0]["field"] == "password"
        assert re.search("12 to 200 characters", answer.text)
