"""The policy's rules as forms (issue 23, finding 8): an admin adds, tries, changes, moves and
removes rules without writing JSON; each mistake is shown on its field and saves nothing; a
change made against a policy someone else changed meanwhile saves nothing; the history names who
did what."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import Browser, Locator, Page, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, sign_in, staff
from tests.pages.test_console_attacks import console


def rules_of(stack: Shop) -> list[dict[str, Any]]:
    return stack.call("admin", "GET", "/v1/policy").json()["rules"]  # type: ignore[no-any-return]


def rule_form(page: Page, heading: str) -> Locator:
    """The rule's form, opened (each rule is folded until it is wanted)."""
    form = page.get_by_role("form", name=heading)
    if not form.is_visible():
        page.locator("summary").filter(has_text=heading).click()
    expect(form).to_be_visible()
    return form


def test_an_admin_runs_the_rules_from_forms_alone(stack: Shop, browser: Browser):
    before = stack.call("admin", "GET", "/v1/policy").json()
    admin = staff(stack, "admin", "Rita Rules")
    page = new_page(browser)
    sign_in(page, stack.base, admin)
    try:
        page.goto(stack.base + "/console/policy")
        page.get_by_role("link", name="Add and change rules in forms").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Policy rules")
        new = rule_form(page, "Add a rule")
        new.get_by_label("Name").fill("shoes-fee")
        new.get_by_label("The category is one of").fill("shoes\nboots")
        new.get_by_label("Restocking fee (percent)").fill("150")
        new.get_by_role("button", name="Add rule").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
        new = rule_form(page, "Add a rule")
        expect(new.get_by_label("Restocking fee (percent)")).to_have_attribute(
            "aria-invalid", "true"
        )
        expect(new.get_by_text("At most 100.")).to_be_visible()
        expect(new.get_by_label("The category is one of")).to_have_value("shoes\nboots")
        assert rules_of(stack) == before["rules"]
        accessible(page)
        new.get_by_label("Restocking fee (percent)").fill("15")
        new.get_by_role("button", name="Add rule").click()
        expect(page.get_by_role("status")).to_contain_text("The rule is saved.")
        assert rules_of(stack) == [
            *before["rules"],
            {"name": "shoes-fee", "when": {"categories": ["shoes", "boots"]},
             "then": {"restocking_fee_percent": 15}},
        ]  # fmt: skip

        # A rule that decides nothing is refused on its decisions.
        new = rule_form(page, "Add a rule")
        new.get_by_label("Name").fill("vip")
        new.get_by_label("The customer's email is one of").fill("VIP@Example.com")
        new.get_by_role("button", name="Add rule").click()
        new = rule_form(page, "Add a rule")
        expect(new.get_by_text("Say what the rule decides")).to_be_visible()
        new.get_by_label("The customer may keep them").select_option(label="Yes")
        new.get_by_role("group", name="Ways to send them back").get_by_label(
            "Keep the item"
        ).check()
        new.get_by_role("button", name="Try it").click()
        expect(page.get_by_role("region", name="What this policy would change")).to_contain_text(
            "Nothing was saved."
        )
        assert len(rules_of(stack)) == len(before["rules"]) + 1
        rule_form(page, "Add a rule").get_by_role("button", name="Add rule").click()
        expect(page.get_by_role("status")).to_contain_text("The rule is saved.")
        count = len(before["rules"])
        vip = rules_of(stack)[count + 1]
        assert vip == {"name": "vip", "when": {"customer_emails": ["vip@example.com"]},
                       "then": {"keep_item": True, "methods": ["keep_item"]}}  # fmt: skip

        # Moved above the fee rule, then the fee rule changed and removed.
        vip_heading = f"Rule {count + 2}: vip"
        rule_form(page, vip_heading).get_by_role("button", name="Move up").click()
        expect(page.get_by_role("status")).to_contain_text("The rule is saved.")
        assert [r["name"] for r in rules_of(stack)[count:]] == ["vip", "shoes-fee"]
        fee = rule_form(page, f"Rule {count + 2}: shoes-fee")
        fee.get_by_label("Restocking fee (percent)").fill("10")
        fee.get_by_label("Paid back").select_option(label="When the carrier first scans the parcel")
        fee.get_by_role("button", name="Save rule").click()
        expect(page.get_by_role("status")).to_contain_text("The rule is saved.")
        assert rules_of(stack)[count + 1]["then"] == {
            "restocking_fee_percent": 10, "refund_on": "first_scan"
        }  # fmt: skip
        accessible(page)
        shoot(page, "console-rules-desktop")

        # Someone else saves meanwhile: this page's change saves nothing and says why.
        other = new_page(browser)
        sign_in(other, stack.base, admin)
        other.goto(stack.base + "/console/policy/rules")
        rule_form(page, f"Rule {count + 2}: shoes-fee").get_by_role(
            "button", name="Remove rule"
        ).click()
        expect(page.get_by_role("status")).to_contain_text("The rule is removed.")
        rule_form(other, f"Rule {count + 1}: vip").get_by_label("Restocking fee (percent)").fill(
            "5"
        )
        rule_form(other, f"Rule {count + 1}: vip").get_by_role("button", name="Save rule").click()
        expect(other.get_by_role("alert")).to_contain_text("the policy was changed meanwhile")
        assert [r["name"] for r in rules_of(stack)[count:]] == ["vip"]
        assert "restocking_fee_percent" not in rules_of(stack)[count]["then"]

        # The history names who did each.
        page.goto(stack.base + "/console/policy/history")
        latest = page.get_by_role("listitem").filter(has_text=f"admin:{admin}").first
        expect(latest).to_contain_text("Rules")
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)


def test_the_rules_page_in_german_on_a_phone(stack: Shop, browser: Browser):
    admin = staff(stack, "admin", "Regina Regeln")
    page = new_page(browser, language="de-DE", phone=True)
    sign_in(page, stack.base, admin, german=True)
    page.goto(stack.base + "/console/policy/rules")
    expect(page.get_by_role("heading", level=1)).to_have_text("Regeln der Richtlinie")
    expect(page.get_by_role("form", name="Regel hinzufügen")).to_be_visible()
    accessible(page)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    shoot(page, "console-rules-phone-de")
    # Ops may not open it.
    ops = new_page(browser)
    sign_in(ops, stack.base, staff(stack, "ops", "Otto Ops"))
    refused = ops.goto(stack.base + "/console/policy/rules")
    assert refused is not None and refused.status == 403


def test_an_admin_keeps_the_shops_stores_in_a_form(stack: Shop, browser: Browser):
    before = stack.call("admin", "GET", "/v1/policy").json()
    page = new_page(browser)
    sign_in(page, stack.base, staff(stack, "admin", "Stella Stores"))
    try:
        page.goto(stack.base + "/console/policy")
        stores = page.get_by_role("group", name="Stores", exact=True)
        adding = stores.get_by_role("group", name="Add a store")
        adding.get_by_label("Id").fill("berlin")
        adding.get_by_label("Name").fill("Berlin Mitte")
        adding.get_by_label("Address").fill("Torstraße 1, 10119 Berlin")
        page.get_by_role("group", name="Ways customers may send items back").get_by_label(
            "Bring it to a store"
        ).check()
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_role("status")).to_contain_text("The policy is saved")
        saved = stack.call("admin", "GET", "/v1/policy").json()
        assert saved["stores"] == [
            {"id": "berlin", "name": "Berlin Mitte", "address": "Torstraße 1, 10119 Berlin"}
        ]
        assert "in_store" in saved["return_methods"]

        # A second store with the same id is refused; so is an id with a space.
        adding = page.get_by_role("group", name="Add a store")
        adding.get_by_label("Id").fill("berlin")
        adding.get_by_label("Name").fill("Berlin Kreuzberg")
        adding.get_by_label("Address").fill("Oranienstraße 2, Berlin")
        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_role("alert")).to_contain_text("Nothing was saved")
        expect(page.locator("#stores-error")).to_have_text("Each store needs an id of its own.")
        expect(page.get_by_role("group", name="Store", exact=True)).to_have_count(0)  # none empty
        # The row stays as typed, to be put right.
        typed = page.get_by_role("group", name="Store Berlin Kreuzberg")
        typed.get_by_label("Id", exact=True).fill("berlin kreuzberg")
        page.get_by_role("button", name="Save policy").click()
        typed = page.get_by_role("group", name="Store Berlin Kreuzberg")
        expect(typed.get_by_label("Id", exact=True)).to_have_attribute("aria-invalid", "true")
        accessible(page)
        # The last store cannot go while the policy offers bringing items to a store.
        page.goto(stack.base + "/console/policy")
        page.get_by_role("group", name="Store Berlin Mitte").get_by_label(
            "Remove this store"
        ).check()
        page.get_by_role("button", name="Save policy").click()
        expect(page.locator("#stores-error")).to_have_text(
            "Bringing items to a store needs at least one store."
        )
        assert stack.call("admin", "GET", "/v1/policy").json()["stores"] == saved["stores"]
        shoot(page, "console-policy-stores-desktop")
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)


def test_a_yes_no_field_that_is_neither_is_refused_on_its_field(stack: Shop):
    """Found by an attack: `then.keep_item=maybe` was quietly taken as 'as the policy says'."""
    before = stack.call("admin", "GET", "/v1/policy").json()
    with console(stack, staff(stack, "admin", "Yana Yesno")) as (client, token):
        page = client.get("/console/policy/rules").text
        version = re.search(r'name="version" value="(\d+)"', page).group(1)  # type: ignore[union-attr]
        form = {
            "csrf_token": token, "version": version, "index": "new", "intent": "save",
            "name": "maybe", "then.keep_item": "maybe",
        }  # fmt: skip
        answer = client.post("/console/policy/rules", data=form)
    assert answer.status_code == 422, answer.text
    assert "This is not a valid value." in answer.text
    assert stack.call("admin", "GET", "/v1/policy").json() == before
