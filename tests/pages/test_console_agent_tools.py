"""An agent's usual tools (issue 23, finding 6): the queue says why each return waits; a decision
is confirmed with the next return of the queue to go on with; the return shows its label and
tracking number and the label downloads; an agent cancels a return with a reason the customer
reads."""

from __future__ import annotations

import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Browser, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_console import (
    a_return_waiting_for_review,
    accessible,
    sign_in,
    staff,
)
from tests.pages.test_portal_attacks import signed_in


def test_an_agent_works_through_the_queue_and_cancels_a_return(stack: Shop, browser: Browser):
    agent = staff(stack, "agent", "Agnes Agent")
    first, customer = a_return_waiting_for_review(stack)
    second, _ = a_return_waiting_for_review(stack)
    numbers = {rid: stack.read(rid)["number"] for rid in (first, second)}

    page = new_page(browser, phone=False)
    sign_in(page, stack.base, agent)
    expect(page.get_by_role("heading", level=1)).to_have_text("Review queue")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=numbers[first]))
    expect(row).to_contain_text("Amount to review")  # a tent above the review amount
    accessible(page)
    shoot(page, "console-queue-why-desktop")

    row.get_by_role("link", name=numbers[first]).click()
    eligibility = page.get_by_role("region", name="Eligibility")
    expect(eligibility).to_contain_text("Amount to review")
    # Money in euros as a person reads it, not in cents.
    expect(eligibility).to_contain_text(
        re.compile(r"the estimated refund €[\d,]+\.\d\d is above €[\d,]+\.\d\d")
    )
    page.get_by_role("button", name="Approve").click()
    notice = page.get_by_role("status")
    expect(notice).to_contain_text("Approved. The customer is told.")
    go_on = notice.get_by_role("link", name=re.compile(r"^Next in queue: R-\d+"))
    expect(go_on).to_be_visible()
    accessible(page)

    # The approved return shows its label (bought a moment later), which downloads as a PDF.
    for _ in range(100):
        if stack.read(first)["status"] == "label_sent":
            break
        time.sleep(0.1)
    label = stack.read(first)["label"]
    page.reload()
    parcel = page.locator("#parcel")
    expect(parcel).to_contain_text(label["tracking_number"])
    pdf = page.request.get(stack.base + f"/console/returns/{first}/label")
    assert pdf.ok and pdf.body().startswith(b"%PDF")

    # The caller changed their mind: the agent cancels, saying why.
    page.get_by_label("Why it is cancelled").fill("The customer called: they keep the tent.")
    page.get_by_role("button", name="Cancel the return").click()
    expect(page.get_by_role("status")).to_contain_text("Cancelled. The customer is told.")
    kept = stack.read(first)
    assert kept["status"] == "cancelled", kept["status"]
    shoot(page, "console-cancelled-desktop")

    # The workflow has ended; the team still writes down what the caller said next.
    page.get_by_label("Note", exact=True).fill("Called again: may send it next month.")
    page.get_by_role("button", name="Add note").click()
    timeline = page.get_by_role("region", name="Timeline")
    expect(timeline).to_contain_text("Called again: may send it next month.")
    expect(timeline).to_contain_text(f"agent:{agent}")
    history = stack.call("agent", "GET", f"/v1/returns/{first}/history").json()
    assert any(
        e["kind"] == "note" and e["actor"] == f"agent:{agent}" and "Called again" in e["summary"]
        for e in history["events"]
    ), history["events"][-3:]
    order_number = kept["items"][0]["order_id"].replace("o_tent_", "T-")
    with signed_in(stack, order_number, customer) as (portal, _):
        mine = portal.get(f"/portal/returns/{first}").text
    assert "Called again" not in mine and "Cancelled" in mine, "a note is the shop's own"

    go_on_to = page.goto(stack.base + f"/console/returns/{second}")
    assert go_on_to is not None and go_on_to.ok
    expect(page.get_by_role("button", name="Approve")).to_be_visible()


def test_the_queue_says_why_in_german_on_a_phone(stack: Shop, browser: Browser):
    agent = staff(stack, "agent", "Anna Agentin")
    waiting, _ = a_return_waiting_for_review(stack)
    number = stack.read(waiting)["number"]
    page = new_page(browser, language="de-DE", phone=True, zone="Asia/Tokyo")
    sign_in(page, stack.base, agent, german=True)
    expect(page.get_by_role("heading", level=1)).to_have_text("Prüfwarteschlange")
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=number))
    expect(row).to_contain_text("Betrag zu prüfen")
    # On a phone each row is a card with every column under its name: nothing off screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    for cell in row.get_by_role("cell").all():
        box = cell.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 375, cell.inner_text()
    accessible(page)
    shoot(page, "console-queue-why-phone-de")
    # Times in the reader's own time zone (the browser's), saying which.
    row.get_by_role("link", name=number).click()
    first = page.get_by_role("region", name="Verlauf").locator("time").first
    at = datetime.fromisoformat(str(first.get_attribute("datetime")))
    tokyo = at.astimezone(ZoneInfo("Asia/Tokyo"))
    expect(first).to_have_text(f"{tokyo:%d.%m.%Y, %H:%M:%S} JST")
