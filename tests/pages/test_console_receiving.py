"""The receiving station with the claim in view (issue 23, finding 4), and search by what people
quote (finding 5). At the station the customer's reason, comment and photo and the agents' notes
are on the form; an item claimed defective has no condition until someone chooses one; a tracking
number typed as printed is found; Confirm leads to a result page of its own, which a reload shows
again without receiving twice."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Browser, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import (
    SHIRT_AND_BOOTS,
    a_return_waiting_for_review,
    accessible,
    sign_in,
    staff,
)
from tests.pages.test_portal_gift import a_gift


def as_printed(tracking: str) -> str:
    """A tracking number as a person types it off the label: in fours, in small letters."""
    return " ".join(tracking[i : i + 4] for i in range(0, len(tracking), 4)).lower()


def test_a_parcel_claimed_defective_is_inspected_before_it_is_restocked(
    stack: Shop, browser: Browser
):
    keeper = staff(stack, "warehouse", "Ole Lager")
    return_id, _ = a_return_waiting_for_review(stack)  # a tent, "defective", "the zip broke"
    stack.call("agent", "POST", f"/v1/returns/{return_id}/approve", {})
    stack.call(
        "agent", "POST", f"/v1/returns/{return_id}/note", {"text": "check the zip on receipt"}
    )
    stack.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
    tracking = stack.read(return_id)["tracking_number"]

    page = new_page(browser, phone=False)
    sign_in(page, stack.base, keeper)
    page.goto(stack.base + "/console/receive")
    page.get_by_label("Return number or tracking number").fill(as_printed(tracking))
    page.keyboard.press("Enter")
    tent = page.get_by_role("group", name=re.compile("^Tent"))
    expect(tent).to_contain_text("The customer's reason: Defective")
    expect(tent).to_contain_text("the zip broke")
    expect(tent.get_by_role("img", name="Photo 1 of Tent")).to_be_visible()
    expect(page.get_by_role("region", name="Notes from the shop's team")).to_contain_text(
        "check the zip on receipt"
    )
    condition = tent.get_by_label("Condition")
    expect(condition).to_have_value("")  # no "Good" to confirm by accident
    accessible(page)
    shoot(page, "console-receive-claim-desktop")

    # Find + Confirm without looking: refused, nothing received, the choice marked.
    page.get_by_label("Location").fill("BIN-3")
    page.get_by_role("button", name="Confirm receipt").click()
    expect(tent.get_by_text("Choose the condition.")).to_be_visible()
    expect(condition).to_have_attribute("aria-invalid", "true")
    assert stack.read(return_id)["status"] == "shipped"

    condition.select_option(label="Damaged")
    page.get_by_role("button", name="Confirm receipt").click()
    todo = page.get_by_role("region", name="What to do with each item")
    expect(todo).to_contain_text("Tent × 1: set aside (Damaged), do not restock")
    expect(page.get_by_text("1 parcel received at this station so far.")).to_be_visible()
    assert re.search(rf"/console/receive/{return_id}/done\?", page.url)

    def receipts() -> int:
        return int(stack.read(return_id)["items"][0]["quantity_received"])

    assert receipts() == 1
    # A reload shows the result again and receives nothing twice.
    page.reload()
    expect(todo).to_contain_text("Tent × 1: set aside (Damaged), do not restock")
    assert receipts() == 1
    page.get_by_role("link", name="Next parcel").click()
    scan = page.get_by_label("Return number or tracking number")
    expect(scan).to_have_value("")
    expect(scan).to_be_focused()
    expect(page.get_by_text("1 parcel received at this station so far.")).to_be_visible()
    # The confirm form's own address, opened again, is the station with the return looked up.
    page.goto(stack.base + f"/console/receive/{return_id}")
    expect(page.get_by_role("alert")).to_contain_text("do not receive this parcel")


def test_the_claim_reads_in_german_on_a_phone(stack: Shop, browser: Browser):
    keeper = staff(stack, "warehouse", "Lena Lager")
    return_id, _ = a_return_waiting_for_review(stack)
    stack.call("agent", "POST", f"/v1/returns/{return_id}/approve", {})
    stack.call("agent", "POST", f"/v1/returns/{return_id}/note", {"text": "Reißverschluss prüfen"})
    stack.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
    number = stack.read(return_id)["number"]

    page = new_page(browser, language="de-DE", phone=True)
    sign_in(page, stack.base, keeper, german=True)
    page.goto(stack.base + f"/console/receive?code={number.lower()}")
    tent = page.get_by_role("group", name=re.compile("^Tent"))
    expect(tent).to_contain_text("Grund der Kundin oder des Kunden: Defekt")
    expect(tent.get_by_label("Zustand")).to_have_value("")
    expect(page.get_by_role("region", name="Notizen des Shop-Teams")).to_contain_text(
        "Reißverschluss prüfen"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
    accessible(page)
    shoot(page, "console-receive-claim-phone-de")


def test_an_agent_finds_returns_by_what_people_quote(stack: Shop, browser: Browser):
    """Finding 5: the shop's order number, a gift recipient's email and a tracking number as
    printed find their returns; the internal ids need not be known."""
    agent = staff(stack, "agent", "Suchende Sara")
    tag = uuid.uuid4().hex[:6]
    stack.put_order(f"o_q_{tag}", f"10{tag}", f"buyer.{tag}@example.com", [SHIRT_AND_BOOTS[0]])
    bought = stack.call(
        "integration", "POST", "/v1/returns",
        {"items": [{"order_id": f"o_q_{tag}", "line_id": "l1", "quantity": 1,
                    "reason": "wrong_size"}]},
    ).json()  # fmt: skip
    gift_order, _, _ = a_gift(stack)
    recipient = f"Grace.{tag}@Example.com"
    gift = stack.call(
        "agent", "POST", "/v1/returns",
        {"items": [{"order_id": gift_order, "line_id": "l1", "quantity": 1,
                    "reason": "wrong_size"}], "recipient_email": recipient},
    )  # fmt: skip
    assert gift.status_code == 201, gift.text

    for phone in (False, True):
        page = new_page(browser, phone=phone)
        sign_in(page, stack.base, agent)
        for quoted, found in (
            (f"10{tag}", bought["number"]),
            (recipient.lower(), gift.json()["number"]),
            (as_printed(bought["tracking_number"]), bought["number"]),
        ):
            page.goto(stack.base + "/console/returns")
            page.get_by_label("Search").fill(quoted)
            page.get_by_role("button", name="Show").click()
            expect(page.get_by_role("link", name=found)).to_be_visible()
            expect(page.get_by_role("link", name=re.compile(r"^R-\d+$"))).to_have_count(1)
        if phone:
            assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1
            shoot(page, "console-search-phone")
        accessible(page)
