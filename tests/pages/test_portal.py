"""The customer portal as a shopper uses it, in Chromium: find the order, choose what to send
back from two orders, request the return, download the label, follow it to the refund; in
German; cancel; and what another customer, a forged form and a script in a comment get."""

from __future__ import annotations

import io
import re
import uuid

import httpx
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, expect

from tests.pages.conftest import (
    ACCENT,
    ACCENT_RGB,
    IMAGE_HOST,
    Shop,
    new_page,
    serious_violations,
    shoot,
)

SHIRT = {"id": "l1", "sku": "SH-1", "name": "Linen shirt", "quantity": 2, "unit_amount": 4500}
BOOTS = {"id": "l1", "sku": "BO-7", "name": "Hiking boots", "quantity": 1, "unit_amount": 12900}
SALE = {
    "id": "l2",
    "sku": "SC-3",
    "name": "Wool scarf",
    "quantity": 1,
    "unit_amount": 1900,
    "final_sale": True,
}


def a_photo() -> bytes:
    """A real PNG, as a phone's photo would be a real JPEG."""
    image = Image.new("RGB", (64, 48), (180, 90, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def a_customer(shop: Shop) -> tuple[str, str, str]:
    """A customer with two orders (one with a final-sale scarf): email and both numbers."""
    tag = uuid.uuid4().hex[:8]
    email = f"ann.{tag}@example.com"
    first, second = f"A-{tag}", f"B-{tag}"
    shop.put_order(f"o_a_{tag}", first, email, [SHIRT, SALE])
    shop.put_order(f"o_b_{tag}", second, email, [BOOTS])
    return email, first, second


def sign_in(page: Page, base: str | None, number: str, email: str, english: bool = True) -> None:
    """Find the order on the sign-in page (opened first unless `base` is None: already there)."""
    if base is not None:
        page.goto(base + "/portal")
    page.get_by_label("Order number" if english else "Bestellnummer").fill(number)
    page.get_by_label("Email" if english else "E-Mail").fill(email)
    page.get_by_role(
        "button", name="Find my order" if english else "Meine Bestellung finden"
    ).click()


def request_one(page: Page, base: str, product: str, reason: str) -> None:
    """Request the return of one unit of `product` for `reason`, from the new-return page."""
    page.goto(base + "/portal/new")
    item = page.get_by_role("group", name=product)
    item.get_by_label("Quantity to return").select_option("1")
    item.get_by_label("Reason").select_option(label=reason)
    page.get_by_role("button", name="Request return").click()


def accessible(page: Page) -> None:
    assert serious_violations(page) == [], page.url


def test_a_shopper_returns_items_of_two_orders_and_follows_it_to_the_refund(
    stack: Shop, browser: Browser
):
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    page.goto(stack.base + "/portal")
    expect(page.get_by_role("heading", level=1)).to_have_text("Start a return")
    accessible(page)
    shoot(page, "portal-sign-in-desktop")
    sign_in(page, stack.base, first, email)

    # With no return yet, finding the order goes straight to its items (issue 23, finding 9).
    expect(page.get_by_role("heading", level=1)).to_have_text("What would you like to return?")
    expect(page.get_by_text("Final sale: this item cannot be returned.")).to_be_visible()
    accessible(page)
    shirt = page.get_by_role("group", name="Linen shirt")
    shirt.get_by_label("Quantity to return").select_option("1")
    shirt.get_by_label("Reason").select_option(label="Arrived damaged")
    boots = page.get_by_role("group", name="Hiking boots")
    boots.get_by_label("Quantity to return").select_option("1")
    boots.get_by_label("Reason").select_option(label="Other reason")
    boots.get_by_label("Comment").fill("<script>alert(1)</script> too tight")
    page.get_by_role("group", name="Refund method").get_by_label("Store credit").check()
    # The estimate follows the choice before anything is submitted.
    estimate = page.get_by_role("region", name="Estimated refund")
    expect(estimate).to_contain_text("€174.00")
    # A damaged item needs a photo: none, then a text file named like a photo, are refused
    # next to the field, and nothing is created.
    page.get_by_role("button", name="Request return").click()
    expect(page.get_by_role("alert")).to_contain_text("Please check the marked fields.")
    shirt = page.get_by_role("group", name="Linen shirt")
    expect(shirt).to_contain_text("Add a photo of the item")
    expect(shirt.get_by_label("Reason")).to_have_value("damaged")  # the choice is kept
    shirt.get_by_label("Photos").set_input_files(
        [{"name": "shirt.jpg", "mimeType": "image/jpeg", "buffer": b"not a photo at all"}]
    )
    page.get_by_role("button", name="Request return").click()
    shirt = page.get_by_role("group", name="Linen shirt")
    expect(shirt).to_contain_text("This file is not a photo")
    assert stack.call("ops", "GET", f"/v1/returns?customer_email={email}").json()["data"] == []
    shirt.get_by_label("Photos").set_input_files(
        [{"name": "tear.png", "mimeType": "image/png", "buffer": a_photo()}]
    )
    shoot(page, "portal-new-return-desktop")
    page.get_by_role("button", name="Request return").click()

    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(re.compile(r"^Return R-\d+$"))
    return_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", name="Label ready")).to_be_visible()
    expect(page.get_by_text(re.compile("drop the parcel off by"))).to_be_visible()
    # What the customer typed is shown as text, never run.
    expect(page.get_by_text("<script>alert(1)</script> too tight")).to_be_visible()
    expect(page.get_by_text("Estimated refund: €174.00")).to_be_visible()  # as estimated
    photo = page.get_by_role("img", name="Photo 1 of Linen shirt")
    expect(photo).to_be_visible()
    assert photo.evaluate("image => image.naturalWidth") == 64  # the photo itself, served back
    accessible(page)
    shoot(page, "portal-return-desktop")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download label").click()
    pdf = download.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")

    # The same return the API sees, requested by the customer.
    seen = stack.read(return_id)
    assert seen["number"] == heading.inner_text().removeprefix("Return ")
    assert seen["resolution"] == "store_credit"
    history = stack.call("ops", "GET", f"/v1/returns/{return_id}/history").json()
    assert f"customer:{email}" in {event["actor"] for event in history["events"]}
    assert {item["name"] for item in seen["items"]} == {"Linen shirt", "Hiking boots"}
    # The photo is kept with the return, for the agents.
    [kept] = stack.call("agent", "GET", f"/v1/returns/{return_id}/photos").json()
    shirt_item = next(item for item in seen["items"] if item["name"] == "Linen shirt")
    assert kept["item_id"] == shirt_item["id"] and kept["content_type"] == "image/png"
    assert stack.call("agent", "GET", kept["url"]).content == a_photo()

    # The warehouse receives it; the page follows the workflow to the refund.
    stack.ship_and_receive(return_id)
    expect(page.get_by_role("heading", name=re.compile("Refunded|Complete"))).to_be_visible(
        timeout=30_000
    )  # without a reload: the page follows the workflow
    expect(page.get_by_text(re.compile(r"Issued as store credit: €"))).to_be_visible()
    page.get_by_role("link", name="Your returns").click()
    expect(page.get_by_role("link", name=seen["number"])).to_be_visible()
    accessible(page)
    shoot(page, "portal-returns-desktop")

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Start a return")
    # A status email's link, after the session ended: sign in again, land on the return.
    page.goto(stack.base + f"/portal/returns/{return_id}")
    expect(page.get_by_label("Order number")).to_be_visible()
    sign_in(page, None, first, email)
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Return {seen['number']}")


def test_a_german_shopper_sees_the_portal_in_german_and_on_a_phone(stack: Shop, browser: Browser):
    email, first, _ = a_customer(stack)
    page = new_page(browser, language="de-DE", phone=True)
    page.goto(stack.base + "/portal")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rücksendung starten")
    shoot(page, "portal-sign-in-phone-de")
    sign_in(page, stack.base, first, email, english=False)
    shirt = page.get_by_role("group", name="Linen shirt")
    shirt.get_by_label("Anzahl zurücksenden").select_option("2")
    shirt.get_by_label("Grund").select_option(label="Falsche Größe")
    expect(page.get_by_role("region", name="Voraussichtliche Erstattung")).to_contain_text(
        "90,00 €"
    )
    accessible(page)
    shoot(page, "portal-new-return-phone-de")
    page.get_by_role("button", name="Rücksendung anfragen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Rücksendung R-\d+$"))
    expect(page.get_by_role("heading", name="Etikett bereit")).to_be_visible()
    expect(page.get_by_role("link", name="Etikett herunterladen")).to_be_visible()
    accessible(page)
    shoot(page, "portal-return-phone-de")
    # What the customer is told follows the language they chose in the portal.
    mails = stack.emails(page.url.rsplit("/", 1)[1])
    label = next(m for subject, m in mails.items() if "Etikett" in subject)
    text = label.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    assert "Drucken Sie es aus" in text and "Nordwind Outfitters" in text, text
    # One of the two shirts arrives: the page says so, and how long the other is waited for.
    return_id = page.url.rsplit("/", 1)[1]
    [shirt_item] = stack.read(return_id)["items"]
    stack.call("integration", "POST", f"/v1/returns/{return_id}/ship", {})
    one = {"item_id": shirt_item["id"], "quantity": 1, "condition": "good"}
    stack.call(
        "warehouse", "POST", f"/v1/returns/{return_id}/receive", {"location": "WH1", "items": [one]}
    )
    waiting = re.compile(r"^1 von 2 Artikeln erhalten\. Auf die übrigen warten wir bis \d")
    expect(page.get_by_text(waiting)).to_be_visible(timeout=30_000)
    expect(page.get_by_text("1 von 2 erhalten")).to_be_visible()
    accessible(page)
    shoot(page, "portal-partly-received-phone-de")
    # The switcher changes the language and keeps it.
    page.get_by_role("link", name="English").click()
    expect(
        page.get_by_text(re.compile(r"^1 of 2 items received\. We wait for the others"))
    ).to_be_visible()
    page.goto(stack.base + "/portal/returns")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your returns")


def test_a_shopper_cancels_a_return_after_confirming(stack: Shop, browser: Browser):
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    sign_in(page, stack.base, first, email)
    request_one(page, stack.base, "Hiking boots", "No longer wanted")
    return_id = page.url.rsplit("/", 1)[1]
    page.get_by_role("button", name="Cancel return").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("^Cancel return R-"))
    accessible(page)
    shoot(page, "portal-cancel-desktop")
    page.get_by_role("button", name="Yes, cancel the return").click()
    expect(page.get_by_role("heading", name="Cancelled")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel return")).to_have_count(0)
    expect(page.get_by_role("link", name="Download label")).to_have_count(0)
    assert stack.read(return_id)["status"] == "cancelled"
    # The boots can be returned again, as an exchange this time.
    page.goto(stack.base + "/portal/new")
    boots = page.get_by_role("group", name="Hiking boots")
    boots.get_by_label("Quantity to return").select_option("1")
    boots.get_by_label("Reason").select_option(label="Wrong size")
    page.get_by_role("group", name="Refund method").get_by_label("Exchange").check()
    page.get_by_role("button", name="Request return").click()
    expect(page.get_by_text("Tell us what you would like instead.")).to_be_visible()
    boots.get_by_label("What would you like instead?").fill("size 44")
    page.get_by_role("button", name="Request return").click()
    exchange = stack.read(page.url.rsplit("/", 1)[1])
    assert exchange["resolution"] == "exchange"
    assert exchange["replacement_items"] == [
        {"sku": "BO-7", "name": "Hiking boots: size 44", "quantity": 1, "item_id": "ri_1"}
    ]
    # Now the exchange holds them.
    page.goto(stack.base + "/portal/new")
    expect(page.get_by_role("group", name="Hiking boots")).to_have_count(0)
    expect(page.get_by_text("Already in a return.")).to_be_visible()


def test_another_customer_and_a_wrong_pair_learn_nothing(stack: Shop, browser: Browser):
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    sign_in(page, stack.base, first, email)
    request_one(page, stack.base, "Linen shirt", "Wrong size")
    mine = page.url

    other_email, other_number, _ = a_customer(stack)
    intruder = new_page(browser)
    sign_in(intruder, stack.base, other_number, "wrong." + other_email)
    alert = intruder.get_by_role("alert")
    expect(alert).to_contain_text("could not find an order with that number and email address")
    sign_in(intruder, stack.base, other_number, other_email)
    answer = intruder.goto(mine)
    assert answer is not None and answer.status == 404
    expect(intruder.get_by_role("heading", level=1)).to_have_text("Not found")
    accessible(intruder)
    theirs = intruder.locator("main").inner_text()
    unknown = intruder.goto(stack.base + "/portal/returns/ret_doesnotexist")
    assert unknown is not None and unknown.status == 404
    assert intruder.locator("main").inner_text() == theirs  # the same page as none at all


def test_a_form_without_this_browsers_token_is_refused_and_changes_nothing(
    stack: Shop, browser: Browser
):
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    sign_in(page, stack.base, first, email)
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    key = f"shirt:{uuid.uuid4().hex}"
    order_id = "o_a_" + first.removeprefix("A-")
    form = {
        f"quantity:{order_id}:l1": "1",
        f"reason:{order_id}:l1": "wrong_size",
        "method": "refund",
        "form_key": key,
    }
    with httpx.Client(base_url=stack.base, cookies=cookies) as client:
        for token in (None, "forged"):
            answer = client.post(
                "/portal/new", data={**form, **({"csrf_token": token} if token else {})}
            )
            assert answer.status_code == 403, answer.text
    page.goto(stack.base + "/portal/returns")
    expect(page.get_by_text("You have no returns yet.")).to_be_visible()


def test_the_shops_name_logo_and_colour_are_on_its_pages_and_emails(stack: Shop, browser: Browser):
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    page.goto(stack.base + "/portal")
    expect(page.get_by_role("link", name="Nordwind Outfitters")).to_be_visible()
    logo = page.locator("header img")
    assert logo.evaluate("image => image.naturalWidth") == 120
    button = page.get_by_role("button", name="Find my order")
    colours = button.evaluate(
        "b => [getComputedStyle(b).backgroundColor, getComputedStyle(b).color]"
    )
    assert colours == [f"rgb{ACCENT_RGB}", "rgb(255, 255, 255)"]
    # The tab shows the shop's icon in its colour, also where a browser asks for /favicon.ico.
    icon = page.locator("link[rel=icon]").get_attribute("href")
    for address in (icon, "/favicon.ico"):
        answer = page.request.get(stack.base + str(address))
        assert answer.ok and answer.headers["content-type"] == "image/svg+xml", address
        assert ACCENT.lower() in answer.text()
    sign_in(page, None, first, email)
    request_one(page, stack.base, "Hiking boots", "Wrong size")
    mails = stack.emails(page.url.rsplit("/", 1)[1])
    html = next(iter(mails.values())).get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert f"{stack.base}/portal/logo" in html and ACCENT in html


def test_product_images_show_from_the_shops_own_image_host_only(stack: Shop, browser: Browser):
    tag = uuid.uuid4().hex[:8]
    email, number = f"ida.{tag}@example.com", f"I-{tag}"
    pictured = {**SHIRT, "image_url": f"https://{IMAGE_HOST}/shirt.jpg?v=2"}
    elsewhere = {**BOOTS, "id": "l2", "image_url": "https://tracker.example/boots.jpg"}
    stack.put_order(f"o_i_{tag}", number, email, [pictured, elsewhere])
    page = new_page(browser, phone=True)
    shown = page.goto(stack.base + "/portal")
    assert shown is not None
    assert f"img-src 'self' data: https://{IMAGE_HOST};" in shown.headers["content-security-policy"]
    sign_in(page, None, number, email)
    shirt = page.get_by_role("group", name="Linen shirt")
    expect(shirt.locator("img")).to_have_attribute("src", pictured["image_url"])
    expect(page.get_by_role("group", name="Hiking boots").locator("img")).to_have_count(0)
    accessible(page)


def test_items_the_policy_keeps_say_so_and_the_offered_methods_follow_the_policy(
    stack: Shop, browser: Browser
):
    before = stack.call("admin", "GET", "/v1/policy").json()
    changed = {
        **before,
        "non_returnable_categories": ["gift-cards"],
        "resolutions": ["store_credit"],
        "reasons": ["defective", "wrong_size"],
    }
    stack.call("admin", "PUT", "/v1/policy", changed)
    try:
        tag = uuid.uuid4().hex[:8]
        email = f"gift.{tag}@example.com"
        card = {"id": "l9", "sku": "GC-50", "name": "Gift card", "quantity": 1,
                "unit_amount": 5000, "category": "gift-cards"}  # fmt: skip
        stack.put_order(f"o_g_{tag}", f"G-{tag}", email, [card, SHIRT])
        page = new_page(browser)
        sign_in(page, stack.base, f"G-{tag}", email)
        page.goto(stack.base + "/portal/new")
        expect(page.get_by_text("The shop does not take this item back.")).to_be_visible()
        expect(page.get_by_role("group", name="Gift card")).to_have_count(0)
        methods = page.get_by_role("group", name="Refund method")
        expect(methods.get_by_role("radio")).to_have_count(1)
        expect(methods.get_by_label("Store credit")).to_be_checked()
        reasons = page.get_by_role("group", name="Linen shirt").get_by_label("Reason")
        shown = reasons.locator("option").all_inner_texts()
        assert shown == ["Choose a reason", "Defective", "Wrong size"]
    finally:
        stack.call("admin", "PUT", "/v1/policy", before)


def test_a_double_click_or_a_reload_makes_one_return(stack: Shop, browser: Browser):
    """The same form sent twice (a double click, a reload that posts again) makes one return:
    each form carries its own idempotency key."""
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    sign_in(page, stack.base, first, email)
    page.goto(stack.base + "/portal/new")
    boots = page.get_by_role("group", name="Hiking boots")
    boots.get_by_label("Quantity to return").select_option("1")
    boots.get_by_label("Reason").select_option(label="Wrong size")
    form = page.locator("form.new-return")
    fields = form.evaluate(
        "f => Object.fromEntries([...new FormData(f)].filter(([, v]) => typeof v === 'string'))"
    )
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(base_url=stack.base, cookies=cookies, timeout=30) as client:
        answers = [client.post("/portal/new", data=fields) for _ in range(2)]
    assert [a.status_code for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    listed = stack.call("ops", "GET", f"/v1/returns?customer_email={email}").json()["data"]
    assert len(listed) == 1


def test_every_page_carries_the_security_headers(stack: Shop):
    answer = httpx.get(stack.base + "/portal")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie


def test_a_guesser_cannot_choose_the_address_it_is_counted_by(stack: Shop):
    """Through the real server: X-Forwarded-For from a client (no trusted proxy is set) changes
    nothing about whom the wrong guesses are counted against."""
    email = f"target.{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        httpx.post(
            stack.base + "/v1/customer-sessions",
            json={"order_number": f"G-{n}", "email": email},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        ).status_code
        for n in range(11)
    ]
    assert answers == [404] * 10 + [429]


def tab_to(page: Page, target: Locator, presses: int = 40) -> None:
    """Press Tab until `target` has the focus, as a keyboard user would; its focus shows."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if target.evaluate("element => element === document.activeElement"):
            outline = target.evaluate("element => getComputedStyle(element).outlineStyle")
            assert outline != "none", "the focus must be visible"
            return
    raise AssertionError(f"{target} is not reachable by Tab")


def test_a_shopper_gets_through_by_keyboard_alone(stack: Shop, browser: Browser):
    email, first, _ = a_customer(stack)
    page = new_page(browser, phone=True)
    page.goto(stack.base + "/portal")
    tab_to(page, page.get_by_label("Order number"))
    page.keyboard.type(first)
    tab_to(page, page.get_by_label("Email"))
    page.keyboard.type(email)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("What would you like to return?")
    boots = page.get_by_role("group", name="Hiking boots")
    # An item's reason, comment and photos appear once its quantity is above 0.
    expect(boots.get_by_label("Reason")).to_be_hidden()
    shoot(page, "portal-new-phone")
    tab_to(page, boots.get_by_label("Quantity to return"))
    page.keyboard.press("ArrowDown")
    expect(boots.get_by_label("Quantity to return")).to_have_value("1")
    tab_to(page, boots.get_by_label("Reason"))
    page.keyboard.press("ArrowDown")
    expect(boots.get_by_label("Reason")).to_have_value("wrong_size")
    tab_to(page, page.get_by_role("button", name="Request return"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Return R-\d+$"))
    tab_to(page, page.get_by_role("button", name="Cancel return"))
    page.keyboard.press("Enter")
    shoot(page, "portal-cancel-phone")
    tab_to(page, page.get_by_role("button", name="Yes, cancel the return"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Cancelled")).to_be_visible()
    page.goto(stack.base + "/portal/returns")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your returns")
    shoot(page, "portal-returns-phone")


def test_the_pages_for_mistakes_are_accessible_too(stack: Shop, browser: Browser):
    """axe-core on the pages people meet when something is wrong: an address that is not there,
    a request the portal cannot read, a form that lost its token."""
    email, first, _ = a_customer(stack)
    page = new_page(browser)
    sign_in(page, stack.base, first, email)
    for address, heading in (
        ("/portal/returns/not-an-id!", "Not found"),
        ("/portal/language", "Something went wrong"),
    ):
        page.goto(stack.base + address)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        accessible(page)
    page.goto(stack.base + "/portal/returns")
    page.evaluate(
        """() => {
            const form = document.createElement("form");
            form.method = "post";
            form.action = "/portal/sign-out";
            document.body.append(form);
            form.submit();
        }"""
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Please try again")
    accessible(page)
