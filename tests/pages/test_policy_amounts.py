"""Issue 23, finding 2: an admin types the policy's amounts as money, per currency, on the
policy page and the rules page ("200.00" in euros, "30000" in yen; "4,50" in German); a
currency's mistake is shown on its row and nothing is saved; the history writes them as money."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import Browser, Locator, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, sign_in, staff
from tests.pages.test_console_rule_forms import rule_form, rules_of
from tests.pages.test_refund_breakdown import POT


def policy_of(stack: Shop) -> dict[str, Any]:
    return stack.call("admin", "GET", "/v1/policy").json()  # type: ignore[no-any-return]


def row(group: Locator, n: int) -> tuple[Locator, Locator]:
    """The currency and amount fields of a group's row `n`."""
    return group.get_by_label("Currency").nth(n), group.get_by_label("Amount").nth(n)


def test_an_admin_sets_amounts_per_currency_as_money(stack: Shop, browser: Browser):
    before = policy_of(stack)
    stack.call("admin", "PUT", "/v1/policy", {**before, "review_above_amount": 20000})
    admin = staff(stack, "admin", "Mona Money")
    page = new_page(browser)
    sign_in(page, stack.base, admin)
    try:
        page.goto(stack.base + "/console/policy")
        review = page.get_by_role("group", name="Review returns worth more than")
        # The number every policy had is one row: any currency, in its smallest unit.
        currency, amount = row(review, 0)
        expect(currency).to_have_value("*")
        expect(amount).to_have_value("20000")
        expect(review).to_contain_text(
            "In every other currency's smallest unit: €200.00, $200.00, ¥20,000."
        )
        currency.fill("eur")
        amount.fill("200.00")
        currency, amount = row(review, 1)
        currency.fill("JPY")
        amount.fill("30000")
        fee = page.get_by_role("group", name="Return shipping fee")
        currency, amount = row(fee, 0)
        currency.fill("XYZ")
        amount.fill("4.50")
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
        expect(row(fee, 0)[0]).to_have_attribute("aria-invalid", "true")
        expect(fee).to_contain_text("Enter a currency's code, like EUR, or * for any other")
        # What was typed stays; nothing is saved.
        expect(row(review, 1)[1]).to_have_value("30000")
        assert policy_of(stack)["review_above_amount"] == 20000
        accessible(page)
        shoot(page, "console-policy-amounts-error")
        row(fee, 0)[0].fill("EUR")
        row(fee, 0)[1].fill("4.5")
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_role("status")).to_contain_text("The policy is saved")
        after = policy_of(stack)
        assert after["review_above_amount"] == {"EUR": 20000, "JPY": 30000}
        assert after["return_shipping_fee"] == {"EUR": 450}
        # Shown again as money, each in its currency's way.
        expect(row(review, 0)[0]).to_have_value("EUR")
        expect(row(review, 0)[1]).to_have_value("200.00")
        expect(row(review, 1)[1]).to_have_value("30000")
        expect(row(fee, 0)[1]).to_have_value("4.50")
        # The history writes them as money.
        page.get_by_role("link", name="Policy history: who changed what, and when").click()
        latest = page.get_by_role("listitem").filter(has_text=f"admin:{admin}").first
        expect(latest).to_contain_text(
            "Review returns worth more than: 20000 in every currency's smallest unit → "
            "€200.00, ¥30,000"
        )
        expect(latest).to_contain_text("Return shipping fee: ")
        expect(latest).to_contain_text("→ €4.50")
        # A rule's amounts too.
        page.goto(stack.base + "/console/policy/rules")
        new = rule_form(page, "Add a rule")
        new.get_by_label("Name").fill("dear-items")
        worth = new.get_by_role("group", name="Worth more than")
        row(worth, 0)[0].fill("EUR")
        row(worth, 0)[1].fill("150")
        row(worth, 1)[0].fill("EUR")
        row(worth, 1)[1].fill("1")
        new.get_by_label("An agent reviews the return").check()
        new.get_by_role("button", name="Add rule").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
        expect(new.get_by_role("group", name="Worth more than")).to_contain_text(
            "This currency is given twice."
        )
        row(new.get_by_role("group", name="Worth more than"), 1)[0].fill("")
        row(new.get_by_role("group", name="Worth more than"), 1)[1].fill("")
        new.get_by_role("button", name="Add rule").click()
        expect(page.get_by_role("status")).to_contain_text("The rule is saved")
        assert rules_of(stack)[-1] == {
            "name": "dear-items", "when": {"amount_above": {"EUR": 15000}},
            "then": {"review": True},
        }  # fmt: skip
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)


def test_amounts_in_german_on_a_phone(stack: Shop, browser: Browser):
    before = policy_of(stack)
    admin = staff(stack, "admin", "Greta Geld")
    page = new_page(browser, language="de-DE", phone=True)
    sign_in(page, stack.base, admin, german=True)
    try:
        page.goto(stack.base + "/console/policy")
        fee = page.get_by_role("group", name="Rücksendegebühr")
        fee.get_by_label("Währung").last.fill("EUR")
        fee.get_by_label("Betrag").last.fill("4,50")
        page.get_by_role("button", name="Richtlinie speichern").click()
        expect(page.get_by_role("status")).to_be_visible()
        assert policy_of(stack)["return_shipping_fee"] == {"EUR": 450}
        fee = page.get_by_role("group", name="Rücksendegebühr")
        expect(fee.get_by_label("Betrag").first).to_have_value("4,50")
        accessible(page)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        shoot(page, "console-policy-amounts-phone-de")
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)


def test_a_rules_fee_reads_as_money_on_the_return(stack: Shop, browser: Browser):
    """A new user's walk: a shop rule's fee read "return shipping fee 495" on a return."""
    before = policy_of(stack)
    rule = {"name": "pots", "when": {"skus": [POT["sku"]]},
            "then": {"return_shipping_fee": {"EUR": 495}}}  # fmt: skip
    stack.call("admin", "PUT", "/v1/policy", {**before, "rules": [rule]})
    try:
        tag = uuid.uuid4().hex[:8]
        order_id = f"o_fee_{tag}"
        stack.put_order(order_id, f"F-{tag}", f"fee.{tag}@example.com", [POT])
        item = {"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
        made = stack.call("integration", "POST", "/v1/returns", {"items": [item]}).json()
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)
    page = new_page(browser)
    sign_in(page, stack.base, staff(stack, "agent", "Fee Reader"))
    page.goto(stack.base + f"/console/returns/{made['id']}")
    eligibility = page.get_by_role("region", name="Eligibility")
    expect(eligibility).to_contain_text("Camping pot: return shipping fee €4.95")
