"""A gift's recipient returns it in Chromium: in with the order number and the postal code it was
sent to, store credit of their own, emails to them; the buyer is never shown and sees nothing."""

from __future__ import annotations

import re
import uuid
from email.utils import parseaddr

from playwright.sync_api import Browser, Page, expect

from tests.factories import order_payload
from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import sign_in as console_sign_in
from tests.pages.test_console import staff
from tests.pages.test_portal import SHIRT, accessible, sign_in
from tests.pages.test_portal_methods import choose_shirt

ADDRESS = {
    "name": "Grace",
    "line1": "1 High Street",
    "postal_code": "SW1A 1AA",
    "city": "London",
    "country": "GB",
}


def a_gift(shop: Shop) -> tuple[str, str, str]:
    """A gift order: its id, number and the buyer's email."""
    tag = uuid.uuid4().hex[:8]
    order_id, number, buyer = f"o_g_{tag}", f"G-{tag}", f"ben.{tag}@example.com"
    payload = order_payload(
        number=number, email=buyer, lines=[SHIRT], gift=True, shipping_address=ADDRESS
    )
    shop.call("integration", "PUT", f"/v1/orders/{order_id}", payload)
    return order_id, number, buyer


def find_gift(page: Page, number: str, postal_code: str) -> None:
    page.get_by_label("Order number").fill(number)
    page.get_by_label("Postal code").fill(postal_code)
    page.get_by_role("button", name="Find my gift").click()


def test_a_recipient_returns_a_gift_and_the_buyer_sees_nothing(stack: Shop, browser: Browser):
    _, number, buyer = a_gift(stack)
    recipient = f"grace.{uuid.uuid4().hex[:6]}@example.com"
    page = new_page(browser, phone=True)
    page.goto(stack.base + "/portal")
    page.get_by_role("link", name="Received a gift? Return it here").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Return a gift")
    find_gift(page, number, "E1 6AN")
    expect(page.get_by_role("alert")).to_contain_text(
        "We could not find a gift with that order number and postal code"
    )
    accessible(page)
    shoot(page, "portal-gift-phone")
    find_gift(page, number, "- -")  # no letter or digit: the same answer, a page, not JSON
    expect(page.get_by_role("alert")).to_contain_text("We could not find a gift")
    find_gift(page, number, "sw1a 1aa")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your returns")
    page.get_by_role("link", name="Start a new return").click()
    # Store credit is the one way a gift is paid back; the recipient names their own email.
    methods = page.get_by_role("group", name="Refund method")
    expect(methods.get_by_role("radio")).to_have_count(1)
    expect(methods.get_by_label("Store credit")).to_be_checked()
    expect(page.get_by_label("Your email")).to_be_visible()
    assert buyer not in page.content()
    accessible(page)
    choose_shirt(page)
    shoot(page, "portal-gift-new-phone")
    page.get_by_label("Your email").fill(recipient)
    page.get_by_role("button", name="Request return").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Return R-\d+"))
    return_id = page.url.rsplit("/", 1)[1]
    assert buyer not in page.content()
    accessible(page)
    shoot(page, "portal-gift-return-phone")
    expect(page.get_by_text("Estimated store credit")).to_be_visible()

    kept = stack.read(return_id)
    assert kept["recipient_email"] == recipient and kept["resolution"] == "store_credit"
    assert kept["customer"]["email"] == buyer
    mails = stack.emails(return_id)
    assert {parseaddr(mail["To"])[1] for mail in mails.values()} == {recipient}

    # The buyer, signed in with their email, sees no return and cannot open this one.
    theirs = new_page(browser)
    sign_in(theirs, stack.base, number, buyer)
    theirs.goto(stack.base + "/portal/returns")
    expect(theirs.get_by_text("You have no returns yet.")).to_be_visible()
    theirs.goto(stack.base + f"/portal/returns/{return_id}")
    expect(theirs.get_by_role("heading", level=1)).to_have_text("Not found")

    # An agent's console says whose gift it is and who returned it.
    console = new_page(browser)
    console_sign_in(console, stack.base, staff(stack, "agent", "Maria"))
    console.goto(stack.base + f"/console/returns/{return_id}")
    expect(console.get_by_text(f"A gift, returned by {recipient} for store credit")).to_be_visible()
    expect(console.get_by_text(f"bought by {buyer}, who is not told")).to_be_visible()
    shoot(console, "console-return-gift-desktop")

    # The email's link, opened later without a session, leads through the gift's sign-in.
    later = new_page(browser)
    later.goto(stack.base + f"/portal/returns/{return_id}")
    later.get_by_role("link", name="Received a gift? Return it here").click()
    shoot(later, "portal-gift-desktop")
    find_gift(later, number, "SW1A1AA")
    expect(later.get_by_role("heading", level=1)).to_have_text(f"Return {kept['number']}")
    assert later.url.endswith(f"/portal/returns/{return_id}")
