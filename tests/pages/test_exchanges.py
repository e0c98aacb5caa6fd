"""Exchanges end to end (issue 23, finding 1): the customer picks, per item, what to receive
instead (one of the order line's variants, or words where the line lists none); the return's
page and emails say "You will receive ..." and how far it has come; an agent sees the
replacement in the console and marks it sent with the shop's order, or cancels it, which pays
back by the policy. A customer cannot name another product than the item's own variants."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, staff
from tests.pages.test_console import sign_in as staff_sign_in
from tests.pages.test_portal import sign_in
from tests.pages.test_portal_attacks import signed_in

SNEAKERS = {
    "id": "l1",
    "sku": "RUN-42",
    "name": "Running sneakers 42",
    "quantity": 1,
    "unit_amount": 8900,
    "variants": [
        {"sku": "RUN-43", "name": "Running sneakers 43"},
        {"sku": "RUN-44", "name": "Running sneakers 44"},
    ],
}
SOCKS = {"id": "l2", "sku": "SOCK-M", "name": "Wool socks", "quantity": 2, "unit_amount": 1500}


def an_order(stack: Shop) -> tuple[str, str, str]:
    """A customer's order of sneakers (with other sizes) and socks (with none): the email, the
    order's number and id."""
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"eve.{tag}@example.com", f"X-{tag}", f"o_x_{tag}"
    stack.put_order(order_id, number, email, [SNEAKERS, SOCKS])
    return email, number, order_id


def status_of(stack: Shop, return_id: str, wanted: str) -> dict[str, Any]:
    for _ in range(200):
        current = stack.read(return_id)
        if current["status"] == wanted:
            return current
        time.sleep(0.1)
    raise AssertionError(f"{return_id} is {current['status']}, not {wanted}")


def ask_for_an_exchange(page: Page, english: bool = True, shot: str = "") -> None:
    """On the new-return page: Exchange; the sneakers for size 43, a pair of socks for words."""
    words = {
        "method": "Refund method" if english else "Erstattungsart",
        "exchange": "Exchange" if english else "Umtausch",
        "quantity": "Quantity to return" if english else "Anzahl zurücksenden",
        "reason": "Reason" if english else "Grund",
        "size": "Wrong size" if english else "Falsche Größe",
        "instead": "What would you like instead?" if english else "Was möchten Sie stattdessen?",
        "request": "Request return" if english else "Rücksendung anfragen",
    }
    page.get_by_role("group", name=words["method"]).get_by_label(words["exchange"]).check()
    sneakers = page.get_by_role("group", name="Running sneakers 42")
    socks = page.get_by_role("group", name="Wool socks")
    # An item not chosen asks nothing.
    expect(sneakers.get_by_label(words["instead"])).to_be_hidden()
    sneakers.get_by_label(words["quantity"]).select_option("1")
    sneakers.get_by_label(words["reason"]).select_option(label=words["size"])
    socks.get_by_label(words["quantity"]).select_option("1")
    socks.get_by_label(words["reason"]).select_option(label=words["size"])
    if english:  # nothing is charged for an exchange; the money is what a cancelled one pays
        expect(page.locator("#estimate")).to_contain_text("nothing is charged for it. Only if")
    page.get_by_role("button", name=words["request"]).click()
    # Nothing chosen instead: each item says so, and no return is made.
    expect(sneakers.get_by_label(words["instead"])).to_have_attribute("aria-invalid", "true")
    expect(socks.get_by_label(words["instead"])).to_have_attribute("aria-invalid", "true")
    sneakers.get_by_label(words["instead"]).select_option(label="Running sneakers 43")
    socks.get_by_label(words["instead"]).fill("Size L")
    if shot:
        accessible(page)
        shoot(page, shot)
    page.get_by_role("button", name=words["request"]).click()


def test_a_customer_exchanges_for_another_size_and_an_agent_marks_it_sent(
    stack: Shop, browser: Browser
):
    email, number, _ = an_order(stack)
    page = new_page(browser)
    sign_in(page, stack.base, number, email)
    ask_for_an_exchange(page, shot="portal-exchange-choose-desktop")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Return R-\d+"))
    return_id = page.url.rsplit("/", 1)[1]
    kept = stack.read(return_id)
    assert kept["resolution"] == "exchange"
    assert kept["replacement_items"] == [
        {"sku": "RUN-43", "name": "Running sneakers 43", "quantity": 1, "item_id": "ri_1"},
        {"sku": "SOCK-M", "name": "Wool socks: Size L", "quantity": 1, "item_id": "ri_2"},
    ]
    receive = page.get_by_role("region", name="You will receive")
    expect(receive).to_contain_text("Running sneakers 43 × 1")
    expect(receive).to_contain_text("Wool socks: Size L × 1")
    expect(receive).to_contain_text(
        "We send your replacement once your items are back with us in good order."
    )
    expect(page.get_by_text("Estimated refund")).to_have_count(0)
    accessible(page)
    shoot(page, "portal-exchange-desktop")
    mails = stack.emails(return_id)
    label = next(m for subject, m in mails.items() if "label" in subject.lower())
    text = label.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "You will receive instead, once your items are back in good order:" in text, text
    assert "- 1 x Running sneakers 43" in text, text

    # Back at the warehouse in good order: the replacement is to send.
    stack.ship_and_receive(return_id)
    agent = staff(stack, "agent", "Ed Exchange")
    console = new_page(browser)
    staff_sign_in(console, stack.base, agent)
    console.goto(stack.base + f"/console/returns/{return_id}")
    exchange = console.get_by_role("region", name="Exchange")
    expect(exchange).to_contain_text("Running sneakers 43 (RUN-43) × 1")
    expect(exchange).to_contain_text("instead of Running sneakers 42")
    expect(console.locator("main")).to_contain_text("Resolution: Exchange")
    expect(console.locator("#replacement-state")).to_contain_text("to send", timeout=30_000)
    accessible(console)
    shoot(console, "console-exchange-desktop")
    exchange.get_by_label("The shop's order that sends it").fill("#1042")
    exchange.get_by_role("button", name="Mark sent").click()
    expect(console.get_by_role("status")).to_contain_text("The replacement is marked sent.")
    closed = status_of(stack, return_id, "closed")
    assert closed["replacement"]["status"] == "fulfilled"
    assert closed["replacement"]["order_reference"] == "#1042"
    assert closed["refunds"] == [], "an exchange sent pays nothing back"

    # The customer reads that it was sent, and with which order.
    page.reload()
    expect(page.get_by_role("region", name="You will receive")).to_contain_text(
        "Sent with order #1042."
    )
    expect(page.get_by_text("what you receive instead has been sent")).to_be_visible()
    mails = stack.emails_any(return_id, until=lambda subject: "complete" in subject)
    done = next(m for subject, m in mails.items() if "complete" in subject)
    text = done.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "What you receive instead has been sent with order #1042:" in text, text


def test_a_cancelled_replacement_is_paid_back_and_said_in_german_on_a_phone(
    stack: Shop, browser: Browser
):
    email, number, _ = an_order(stack)
    page = new_page(browser, language="de-DE", phone=True)
    sign_in(page, stack.base, number, email, english=False)
    ask_for_an_exchange(page, english=False)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Rücksendung R-\d+"))
    return_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("region", name="Sie erhalten")).to_contain_text(
        "Running sneakers 43 × 1"
    )
    accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(page, "portal-exchange-phone-de")

    stack.ship_and_receive(return_id)
    agent = staff(stack, "agent", "Erika Umtausch")
    console = new_page(browser, language="de-DE", phone=True)
    staff_sign_in(console, stack.base, agent, german=True)
    console.goto(stack.base + f"/console/returns/{return_id}")
    exchange = console.get_by_role("region", name="Umtausch")
    expect(console.locator("#replacement-state")).to_contain_text("zu senden", timeout=30_000)
    # The eligibility in German too (a new user's walk found it all in English).
    eligibility = console.get_by_role("region", name="Berechtigung")
    expect(eligibility).to_contain_text("innerhalb von 30 Tagen, nachdem sie zugestellt wurde")
    expect(eligibility).to_contain_text("kein Artikel wurde als Endverkauf gekauft")
    accessible(console)
    assert console.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(console, "console-exchange-phone-de")
    exchange.get_by_label("Warum er nicht gesendet werden kann").fill("Größe 43 ausverkauft")
    exchange.get_by_role("button", name="Ersatz stornieren").click()
    expect(console.get_by_role("status")).to_contain_text("Der Ersatz ist storniert")
    refunded = status_of(stack, return_id, "closed")  # paid back, then done
    assert refunded["replacement"]["status"] == "cancelled"
    assert refunded["refunded_amount"] == 8900 + 1500, refunded["refunds"]
    page.reload()
    expect(page.get_by_role("region", name="Sie erhalten")).to_contain_text(
        "Er konnte nicht versandt werden; Sie erhalten stattdessen Ihr Geld zurück."
    )
    expect(page.locator(".refund")).to_contain_text("104,00 €")


def test_a_customer_cannot_exchange_for_something_the_item_does_not_come_in(stack: Shop):
    email, number, order_id = an_order(stack)
    # Through the page: a variant of another product, or the socks' words for the sneakers.
    with signed_in(stack, number, email) as (client, token):
        form = {
            "csrf_token": token,
            "method": "exchange",
            f"quantity:{order_id}|l1": "1",
            f"reason:{order_id}|l1": "wrong_size",
            f"instead:{order_id}|l1": "WATCH-GOLD",
        }
        answer = client.post("/portal/new", data=form)
        assert answer.status_code == 422
        assert "Choose what you would like instead of this item." in answer.text
        assert client.get("/portal/returns").text.count("/portal/returns/ret_") == 0
    # Through the API with the customer's token: the field is named, nothing is started.
    token = httpx.post(
        stack.base + "/v1/customer-sessions", json={"order_number": number, "email": email}
    ).json()["token"]
    body = {
        "items": [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}],
        "resolution": "exchange",
        "replacement_items": [{"sku": "WATCH-GOLD", "name": "Running sneakers 43", "quantity": 1}],
    }
    headers = {"Authorization": f"Bearer {token}"}
    refused = httpx.post(stack.base + "/v1/returns", json=body, headers=headers, timeout=30)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "replacement_items[0].sku"
    mine = httpx.get(stack.base + "/v1/returns", headers=headers, timeout=30).json()
    assert mine["data"] == [], mine
    # A variant it does come in is taken, named as the shop names it.
    body["replacement_items"] = [{"sku": "RUN-44", "name": "A gold watch", "quantity": 1}]
    taken = httpx.post(stack.base + "/v1/returns", json=body, headers=headers, timeout=30)
    assert taken.status_code in (201, 202), taken.text
    assert taken.json()["replacement_items"][0]["name"] == "Running sneakers 44"
    # The item's own SKU keeps its own name, the customer's words after it (found by an
    # attack: "Rolex" was shown as what the customer would receive).
    email, number, order_id = an_order(stack)
    token = httpx.post(
        stack.base + "/v1/customer-sessions", json={"order_number": number, "email": email}
    ).json()["token"]
    body["items"][0]["order_id"] = order_id
    body["replacement_items"] = [{"sku": "RUN-42", "name": "Rolex", "quantity": 1}]
    same = httpx.post(
        stack.base + "/v1/returns",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert same.status_code in (201, 202), same.text
    assert same.json()["replacement_items"][0]["name"] == "Running sneakers 42: Rolex"
