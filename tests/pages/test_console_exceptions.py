"""Exceptions on behalf (issue 23, finding 6): an agent creating a return for a caller may take
items whose return window closed, saying why; the reason is kept on the eligibility and in the
timeline and never shown to the customer; the customer may not make one."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Browser, expect

from tests.factories import order_payload
from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import accessible, sign_in, staff
from tests.pages.test_portal_attacks import signed_in

TENT = {"id": "l1", "sku": "TE-9", "name": "Dome tent", "quantity": 1, "unit_amount": 15900}


def an_old_order(stack: Shop) -> tuple[str, str, str]:
    """An order delivered 60 days ago (the window is 30): email, number, id."""
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"olga.{tag}@example.com", f"O-{tag}", f"o_old_{tag}"
    body = order_payload(number=number, email=email, lines=[TENT], delivered_days_ago=60)
    stack.call("integration", "PUT", f"/v1/orders/{order_id}", body)
    return email, number, order_id


def test_an_agent_takes_a_late_return_by_exception_and_says_why(stack: Shop, browser: Browser):
    email, number, order_id = an_old_order(stack)
    agent = staff(stack, "agent", "Xenia Exception")
    page = new_page(browser)
    sign_in(page, stack.base, agent)
    page.goto(stack.base + f"/console/returns/new?find={email}")
    tent = page.get_by_role("group", name="Dome tent")
    expect(tent).to_contain_text("The return window closed on")
    tent.get_by_label("Quantity to return").select_option("1")
    tent.get_by_label("Reason").select_option(label="Wrong size")
    expect(page.get_by_role("region", name="Estimated refund")).to_contain_text("€159.00")
    page.get_by_role("button", name="Create return").click()
    # Without a reason nothing is made.
    exception = page.get_by_label("Exception to the return window: why")
    expect(exception).to_have_attribute("aria-invalid", "true")
    expect(
        page.get_by_text("Say why items are taken after their return window closed.")
    ).to_be_visible()
    accessible(page)
    shoot(page, "console-window-exception-desktop")
    exception.fill("Customer was abroad for six weeks; tent failed on first use.")
    page.get_by_role("button", name="Create return").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Return R-\d+$"))
    return_id = page.url.rsplit("/", 1)[1]
    eligibility = page.get_by_role("region", name="Eligibility")
    expect(eligibility).to_contain_text("taken by exception: Customer was abroad for six weeks")
    expect(page.get_by_role("region", name="Timeline")).to_contain_text(
        "taken after the return window: Customer was abroad"
    )
    made = stack.read(return_id)
    assert made["status"] != "rejected", made["eligibility"]
    assert made["window_exception"].startswith("Customer was abroad")
    # The customer sees their return, not the shop's reason.
    with signed_in(stack, number, email) as (portal, _):
        mine = portal.get(f"/portal/returns/{return_id}").text
    assert made["number"] in mine and "abroad" not in mine


def test_only_staff_make_an_exception(stack: Shop):
    email, number, order_id = an_old_order(stack)
    token = httpx.post(
        stack.base + "/v1/customer-sessions", json={"order_number": number, "email": email}
    ).json()["token"]
    body = {
        "items": [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "defective"}],
        "window_exception": "I was away",
    }
    headers = {"Authorization": f"Bearer {token}"}
    refused = httpx.post(stack.base + "/v1/returns", json=body, headers=headers, timeout=30)
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["field"] == "window_exception"
    # The shop's storefront relays its customers' choices: it may not either.
    storefront = httpx.post(
        stack.base + "/v1/returns",
        json=body,
        headers={"Authorization": f"Bearer {stack.keys['integration']}"},
        timeout=30,
    )
    assert storefront.status_code == 422, storefront.text
    mine = httpx.get(stack.base + "/v1/returns", headers=headers, timeout=30).json()
    assert mine["data"] == []
    # Without an exception the late tent is refused, as before.
    del body["window_exception"]
    late = httpx.post(stack.base + "/v1/returns", json=body, headers=headers, timeout=30)
    assert late.json()["status"] == "rejected", late.text


def test_an_agent_waives_the_fees_for_a_caller_and_says_why(stack: Shop, browser: Browser):
    """The other exception on behalf: the return's fees waived, with the reason."""
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"wanda.{tag}@example.com", f"W-{tag}", f"o_waive_{tag}"
    body = order_payload(number=number, email=email, lines=[TENT])
    stack.call("integration", "PUT", f"/v1/orders/{order_id}", body)
    policy = stack.call("admin", "GET", "/v1/policy").json()
    stack.call("admin", "PUT", "/v1/policy", {**policy, "return_shipping_fee": 495})
    try:
        page = new_page(browser, language="de-DE")
        sign_in(page, stack.base, staff(stack, "agent", "Wilma Waiver"), german=True)
        page.goto(stack.base + f"/console/returns/new?find={email}")
        tent = page.get_by_role("group", name="Dome tent")
        tent.get_by_label("Anzahl zurücksenden").select_option("1")
        tent.get_by_label("Grund").select_option(index=1)
        page.get_by_label("Rücksende- und Wiedereinlagerungsgebühren erlassen").check()
        page.get_by_role("button", name="Rücksendung anlegen").click()
        waived = page.get_by_label("Warum die Gebühren erlassen werden")
        expect(waived).to_have_attribute("aria-invalid", "true")
        accessible(page)
        waived.fill("Zweite Reklamation, Kulanz")
        page.get_by_role("button", name="Rücksendung anlegen").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(
            re.compile(r"^Rücksendung R-\d+$")
        )
        return_id = page.url.rsplit("/", 1)[1]
        expect(page.get_by_role("region", name="Berechtigung")).to_contain_text(
            "waived by exception: Zweite Reklamation, Kulanz"
        )
        made = stack.call("ops", "GET", f"/v1/returns/{return_id}").json()
        assert made["fees_waived"] == "Zweite Reklamation, Kulanz"
        assert made["estimated_refund_amount"] == 15900  # no €4.95 taken
    finally:
        stack.call("admin", "PUT", "/v1/policy", policy)
