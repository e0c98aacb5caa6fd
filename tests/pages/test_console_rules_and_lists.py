"""The console's side of rules and lists, in Chromium: ops put a customer on the block list and an
agent reads why on the return; an admin tries a draft policy on the last returns before saving it,
and the return's page names the rule that decided."""

from __future__ import annotations

import json
import re
import uuid

from playwright.sync_api import Browser, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, sign_in, staff

SHIRT = {"id": "l1", "sku": "SH-1", "name": "Linen shirt", "quantity": 2, "unit_amount": 4500}


def a_return(stack: Shop, email: str | None = None) -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    email = email or f"lee.{tag}@example.com"
    order_id = f"o_l_{tag}"
    stack.put_order(order_id, f"L-{tag}", email, [SHIRT])
    items = [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]
    created = stack.call("integration", "POST", "/v1/returns", {"items": items}).json()
    return created["id"], email


def test_ops_block_a_customer_and_the_agent_reads_why(stack: Shop, browser: Browser):
    email = f"lee.{uuid.uuid4().hex[:8]}@example.com"
    page = new_page(browser)
    sign_in(page, stack.base, staff(stack, "ops", "Omar"))
    page.get_by_role("link", name="Lists").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("List", exact=True).select_option(label="Blocked")
    page.get_by_label("Reason").fill("three chargebacks <b>in 2025</b>")
    page.get_by_role("button", name="Add to list").click()
    expect(page.get_by_role("status")).to_contain_text("Added")
    row = page.get_by_role("row", name=email)
    expect(row).to_contain_text("three chargebacks <b>in 2025</b>")  # as typed, escaped
    accessible(page)
    shoot(page, "console-lists-desktop")
    # One entry per address.
    page.get_by_label("Email").fill(email.upper())
    page.get_by_role("button", name="Add to list").click()
    expect(page.get_by_role("alert")).to_contain_text("on a list already")

    return_id, _ = a_return(stack, email)
    assert stack.read(return_id)["status"] == "pending_review"
    agent = new_page(browser)
    sign_in(agent, stack.base, staff(stack, "agent", "Maria"))
    expect(agent.get_by_role("link", name="Lists")).to_have_count(0)
    agent.goto(f"{stack.base}/console/returns/{return_id}")
    expect(agent.get_by_text("On the blocked list")).to_be_visible()
    eligibility = agent.get_by_role("region", name="Eligibility")
    expect(eligibility).to_contain_text(
        "Blocked customer · to review: three chargebacks <b>in 2025</b>"
    )
    shoot(agent, "console-return-blocked-desktop")
    assert agent.goto(f"{stack.base}/console/lists").status == 403

    page.goto(f"{stack.base}/console/lists")
    page.get_by_role("button", name=f"Remove {email}").click()
    expect(page.get_by_role("status")).to_contain_text("Removed")
    expect(page.get_by_role("row", name=email)).to_have_count(0)


def test_an_admin_tries_a_draft_policy_then_saves_it(stack: Shop, browser: Browser):
    before = stack.call("admin", "GET", "/v1/policy").json()
    shirt_return, _ = a_return(stack)
    number = stack.read(shirt_return)["number"]
    page = new_page(browser)
    sign_in(page, stack.base, staff(stack, "admin", "Ada"))
    try:
        page.goto(stack.base + "/console/policy")
        page.get_by_text("Rules as JSON, to copy or import").click()
        rules = page.get_by_label("Rules (JSON)")
        rules.fill("[{")
        page.get_by_role("button", name="Try this policy").click()
        expect(page.get_by_text("This is not valid JSON.")).to_be_visible()
        # Nested deeper than any reader goes (the attack found it a 500).
        page.get_by_label("Rules (JSON)").fill("[" * 3000 + "]" * 3000)
        page.get_by_role("button", name="Try this policy").click()
        expect(page.get_by_text("This is not valid JSON.")).to_be_visible()
        wrong = [{"name": "fee", "then": {"restocking_fee_percent": 150}}]
        page.get_by_label("Rules (JSON)").fill(json.dumps(wrong))
        page.get_by_role("button", name="Try this policy").click()
        expect(
            page.get_by_text("At rules[0].then.restocking_fee_percent: At most 100.")
        ).to_be_visible()

        no_shirts = [{"name": "no-linen", "when": {"skus": ["SH-1"]},
                      "then": {"reject": "Linen is final."}}]  # fmt: skip
        page.get_by_label("Rules (JSON)").fill(json.dumps(no_shirts))
        page.get_by_role("button", name="Try this policy").click()
        result = page.get_by_role("region", name="What this policy would change")
        expect(result).to_contain_text("Nothing was saved.")
        row = result.get_by_role("row", name=number)
        expect(row).to_contain_text("Approved")
        expect(row).to_contain_text("Not accepted")
        assert stack.call("admin", "GET", "/v1/policy").json() == before
        accessible(page)
        shoot(page, "console-policy-try-desktop")

        page.get_by_role("button", name="Save policy").click()
        expect(page.get_by_role("status")).to_contain_text("The policy is saved")
        saved = stack.call("admin", "GET", "/v1/policy").json()
        assert saved["rules"] == [{"name": "no-linen", "when": {"skus": ["SH-1"]},
                                   "then": {"reject": "Linen is final."}}]  # fmt: skip
        assert {k: v for k, v in saved.items() if k != "rules"} == {
            k: v for k, v in before.items() if k != "rules"
        }
        refused, _ = a_return(stack)
        page.goto(f"{stack.base}/console/returns/{refused}")
        expect(page.get_by_role("region", name="Eligibility")).to_contain_text(
            re.compile(r"Shop rule no-linen · .*: Linen shirt: Linen is final\.")
        )
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)
