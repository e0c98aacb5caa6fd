"""How a refund is made up (issue 23, finding 3): once the goods are back, the customer's page and
the console show each item and what it is worth, the fees, what the policy does not pay for (an
item that came back damaged) and what it pays; the parts add up to what was paid."""

from __future__ import annotations

import re
import time
import uuid

from playwright.sync_api import Browser, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, staff
from tests.pages.test_console import sign_in as staff_sign_in
from tests.pages.test_portal import sign_in

POT = {"id": "l1", "sku": "CP-2", "name": "Camping pot", "quantity": 1, "unit_amount": 2500}
LID = {"id": "l2", "sku": "CP-L", "name": "Pot lid", "quantity": 1, "unit_amount": 900}


def euros(text: str) -> list[int]:
    """The amounts a breakdown's rows show, in cents (a fee or a deduction negative)."""
    found = []
    for sign, whole, cents in re.findall(r"(−?)€(\d+)\.(\d\d)", text):
        found.append((-1 if sign else 1) * (int(whole) * 100 + int(cents)))
    return found


def test_the_customer_sees_each_item_the_fee_and_what_the_policy_did_not_pay(
    stack: Shop, browser: Browser
):
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"pia.{tag}@example.com", f"K-{tag}", f"o_k_{tag}"
    stack.put_order(order_id, number, email, [POT, LID])
    policy = stack.call("ops", "GET", "/v1/policy").json()
    stack.call("admin", "PUT", "/v1/policy", {**policy, "restocking_fee_percent": 10})
    try:  # the policy a return was requested under stays its own
        items = [
            {"order_id": order_id, "line_id": line, "quantity": 1, "reason": "no_longer_wanted"}
            for line in ("l1", "l2")
        ]
        created = stack.call("integration", "POST", "/v1/returns", {"items": items}).json()
    finally:
        stack.call("admin", "PUT", "/v1/policy", policy)
    return_id = created["id"]
    stack.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
    receipt = {"location": "WH1", "items": [
        {"item_id": "ri_1", "quantity": 1, "condition": "good"},
        {"item_id": "ri_2", "quantity": 1, "condition": "damaged"},
    ]}  # fmt: skip
    stack.call("warehouse", "POST", f"/v1/returns/{return_id}/receive", receipt)
    for _ in range(200):  # damaged goods wait for an agent, who pays what the policy pays
        waiting = stack.read(return_id)
        if waiting["due_amount"] is not None:
            break
        time.sleep(0.1)
    assert waiting["due_amount"] == 2250, waiting
    stack.call("agent", "POST", f"/v1/returns/{return_id}/refund", {})
    for _ in range(200):
        paid = stack.read(return_id)
        if paid["refunded_amount"]:
            break
        time.sleep(0.1)
    # The pot less its 10 %: the damaged lid is not paid by the policy.
    assert paid["refunded_amount"] == 2250, paid

    page = new_page(browser, phone=True)
    sign_in(page, stack.base, number, email)
    page.goto(stack.base + f"/portal/returns/{return_id}")
    made_up = page.get_by_role("region", name="How your refund is made up")
    expect(made_up).to_contain_text("Camping pot × 1")
    expect(made_up).to_contain_text("1 not paid back by the policy: it came back “Damaged”.")
    expect(made_up).to_contain_text("Restocking fee")
    text = made_up.inner_text()
    *parts, total = euros(text)
    assert parts == [2500, 900, -340, -810], text
    assert sum(parts) == total == paid["refunded_amount"], text
    accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(page, "portal-refund-made-up-phone")

    # The refund's email tells the same parts, each as money.
    mails = stack.emails_any(return_id, until=lambda subject: "refund" in subject.lower())
    [refunded] = [m for s, m in mails.items() if "refund" in s.lower()]
    body = refunded.get_body(("plain",)).get_content()
    assert "How your refund is made up:" in body, body
    assert "- Camping pot x 1: €25.00" in body, body
    assert "- Pot lid x 1: €9.00 (1 not paid back by the policy" in body, body
    assert "- Restocking fee: -€3.40" in body and "= Your refund: €22.50" in body, body
    html = refunded.get_body(("html",)).get_content()
    assert "Camping pot &times; 1" in html and "€22.50" in html

    console = new_page(browser)
    staff_sign_in(console, stack.base, staff(stack, "agent", "Bea Breakdown"))
    console.goto(stack.base + f"/console/returns/{return_id}")
    shown = console.get_by_role("region", name="How the refund is made up")
    assert euros(shown.inner_text()) == [*parts, total]
    accessible(console)


def test_store_credit_is_called_store_credit_on_the_customers_page(stack: Shop, browser: Browser):
    """A new user's walk: a store-credit return read "Refunded: €254.93", and the customer
    expected money on their card."""
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"sina.{tag}@example.com", f"S-{tag}", f"o_s_{tag}"
    stack.put_order(order_id, number, email, [POT])
    item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "no_longer_wanted"}
    body = {"items": [item], "resolution": "store_credit"}
    return_id = stack.call("integration", "POST", "/v1/returns", body).json()["id"]
    stack.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
    receipt = {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1,
                                             "condition": "good"}]}  # fmt: skip
    stack.call("warehouse", "POST", f"/v1/returns/{return_id}/receive", receipt)
    for _ in range(200):
        if stack.read(return_id)["refunded_amount"]:
            break
        time.sleep(0.1)
    page = new_page(browser, language="de-DE", phone=True)
    sign_in(page, stack.base, number, email, english=False)
    page.goto(stack.base + f"/portal/returns/{return_id}")
    expect(page.locator("p.refund")).to_have_text("Als Guthaben ausgestellt: 25,00 €")
    made_up = page.get_by_role("region", name="So setzt sich Ihre Erstattung zusammen")
    expect(made_up).to_contain_text("Ihre Erstattung")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    accessible(page)


def test_store_credit_with_the_shops_bonus(stack: Shop, browser: Browser):
    """Issue 23: store credit with a bonus (Loop's lever). With 10 %: the portal offers
    "Store credit, 10 % more" and says "€25.00 back, or €27.50 in store credit"; the return
    paid as store credit shows the bonus beside it, and the email says it."""
    policy = stack.call("admin", "GET", "/v1/policy").json()
    stack.call("admin", "PUT", "/v1/policy", {**policy, "store_credit_bonus_percent": 10})
    try:
        tag = uuid.uuid4().hex[:8]
        email, number, order_id = f"bo.{tag}@example.com", f"B-{tag}", f"o_b_{tag}"
        stack.put_order(order_id, number, email, [POT])
        page = new_page(browser, phone=True)
        sign_in(page, stack.base, number, email)
        page.goto(stack.base + "/portal/new")
        pot = page.get_by_role("group", name="Camping pot")
        pot.get_by_label("Quantity to return").select_option("1")
        pot.get_by_label("Reason").select_option(label="Wrong size")
        estimate = page.locator("#estimate")
        expect(estimate).to_contain_text("€25.00 back, or €27.50 in store credit.")
        page.get_by_role("group", name="Refund method").get_by_label(
            "Store credit, 10 % more"
        ).check()
        expect(estimate).to_contain_text("As store credit: €27.50 (€2.50 more).")
        accessible(page)
        shoot(page, "portal-store-credit-bonus-phone")
        page.get_by_role("button", name="Request return").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Return R-"))
        return_id = page.url.rsplit("/", 1)[1]
        stack.ship_and_receive(return_id)
        for _ in range(200):
            paid = stack.read(return_id)
            if paid["refunded_amount"]:
                break
            time.sleep(0.1)
        assert (paid["refunded_amount"], paid["store_credit_bonus"]) == (2500, 250), paid
        page.reload()
        expect(page.locator("p.bonus")).to_have_text(
            "With the shop's bonus of €2.50: €27.50 in store credit."
        )
        mails = stack.emails_any(return_id, until=lambda subject: "refund" in subject.lower())
        [told] = [m for s, m in mails.items() if "refund" in s.lower()]
        assert (
            "With the shop's bonus of €2.50: €27.50 in store credit."
            in told.get_body(("plain",)).get_content()
        )
    finally:
        stack.call("admin", "PUT", "/v1/policy", policy)
