"""How a shopper sends things back, in Chromium: the methods the shop's policy and rules offer
(a QR code at a drop-off point, a store, keeping the item) and the photos a rule asks for."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import zxingcpp
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.pages.conftest import Shop, new_page, shoot
from tests.pages.test_portal import SHIRT, a_photo, accessible, sign_in

STORE = {"id": "berlin-mitte", "name": "Berlin Mitte", "address": "Torstraße 1, 10119 Berlin"}


@contextmanager
def policy(shop: Shop, **changes: Any) -> Iterator[None]:
    before = shop.call("admin", "GET", "/v1/policy").json()
    shop.call("admin", "PUT", "/v1/policy", {**before, **changes})
    try:
        yield
    finally:
        shop.call("admin", "PUT", "/v1/policy", before)


def shopper(shop: Shop, browser: Browser, phone: bool = False) -> Page:
    tag = uuid.uuid4().hex[:8]
    email = f"mia.{tag}@example.com"
    shop.put_order(f"o_m_{tag}", f"M-{tag}", email, [SHIRT])
    page = new_page(browser, phone=phone)
    sign_in(page, shop.base, f"M-{tag}", email)
    page.goto(shop.base + "/portal/new")
    return page


def choose_shirt(page: Page, reason: str = "Wrong size") -> None:
    item = page.get_by_role("group", name="Linen shirt")
    item.get_by_label("Quantity to return").select_option("1")
    item.get_by_label("Reason").select_option(label=reason)


def test_a_qr_drop_off_with_the_photo_a_rule_asks_for(stack: Shop, browser: Browser):
    rules = [
        {"name": "linen-photos", "when": {"skus": ["SH-1"]}, "then": {"photos_required": True}}
    ]
    with policy(stack, return_methods=["label", "qr_drop_off", "in_store"], stores=[STORE],
                rules=rules):  # fmt: skip
        page = shopper(stack, browser, phone=True)
        item = page.get_by_role("group", name="Linen shirt")
        # The rule asks for photos whatever the reason (the policy alone: only damaged, defective);
        # the item's fields show once it is chosen.
        item.get_by_label("Quantity to return").select_option("1")
        expect(item.get_by_text("Needed. Up to 3 photos.")).to_be_visible()
        methods = page.get_by_role("group", name="Return method")
        expect(methods.get_by_role("radio")).to_have_count(3)
        expect(methods.get_by_label("Printed label")).to_be_checked()
        expect(page.get_by_label("Store to bring it to")).to_have_value("berlin-mitte")
        accessible(page)
        shoot(page, "portal-new-methods-phone")
        choose_shirt(page)
        methods.get_by_label("QR code at a drop-off point").check()
        page.get_by_role("button", name="Request return").click()
        expect(page.get_by_text("Add a photo of the item")).to_be_visible()
        expect(page.get_by_role("group", name="Return method").get_by_label(
            "QR code at a drop-off point")).to_be_checked()  # fmt: skip
        page.get_by_role("group", name="Linen shirt").get_by_label("Photos").set_input_files(
            {"name": "shirt.png", "mimeType": "image/png", "buffer": a_photo()}
        )
        page.get_by_role("group", name="Linen shirt").get_by_label("Reason").select_option(
            label="Wrong size"
        )
        page.get_by_role("button", name="Request return").click()
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Return R-\d+"))
        expect(page.get_by_text("show this code at a drop-off point")).to_be_visible()
        expect(page.get_by_role("link", name="Download label")).to_have_count(0)
        qr = page.get_by_role("img", name=re.compile("Drop-off QR code"))
        expect(qr).to_be_visible()
        code = page.locator("figcaption strong").inner_text()
        image = page.request.get(stack.base + (qr.get_attribute("src") or ""))
        assert image.headers["content-type"] == "image/png"
        [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(image.body())))
        assert found.text == code
        accessible(page)
        shoot(page, "portal-return-qr-phone")
        # The email shows the same code, its QR inside the message.
        return_id = page.url.rsplit("/", 1)[1]
        [mail] = [m for s, m in stack.emails(return_id).items() if "label" in s.lower()]
        html = mail.get_body(preferencelist=("html",))
        assert html is not None and code in html.get_content()
        assert 'src="cid:drop-off-qr@returns"' in html.get_content()
        [picture] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
        assert picture["Content-ID"] == "<drop-off-qr@returns>"
        [emailed] = zxingcpp.read_barcodes(Image.open(io.BytesIO(picture.get_content())))
        assert emailed.text == code


def test_a_return_brought_to_a_store_and_one_kept(stack: Shop, browser: Browser):
    with policy(stack, return_methods=["label", "in_store", "keep_item"], stores=[STORE],
                keep_item_below_amount=5000):  # fmt: skip
        page = shopper(stack, browser)
        choose_shirt(page)
        page.get_by_role("group", name="Return method").get_by_label("Bring it to a store").check()
        page.get_by_role("button", name="Request return").click()
        store_by = r"Bring the items to our store Berlin Mitte, Torstraße 1, 10119 Berlin, by "
        expect(page.get_by_text(re.compile(store_by + r"\w+ \d+, \d{4}\."))).to_be_visible()
        expect(page.get_by_role("link", name="Download label")).to_have_count(0)
        shoot(page, "portal-return-store-desktop")

        kept = shopper(stack, browser)
        choose_shirt(kept)
        kept.get_by_role("group", name="Return method").get_by_label("Keep the item").check()
        kept.get_by_role("button", name="Request return").click()
        expect(kept.locator("p.refund")).to_have_text("Refunded: €45.00")

    with policy(stack, return_methods=["label", "keep_item"], keep_item_below_amount=1000):
        page = shopper(stack, browser)
        choose_shirt(page)
        page.get_by_role("group", name="Return method").get_by_label("Keep the item").check()
        page.get_by_role("button", name="Request return").click()
        expect(page.get_by_text("These items cannot be kept")).to_be_visible()
        accessible(page)


def test_a_shopper_adds_a_forgotten_item_to_the_parcel(stack: Shop, browser: Browser):
    tag = uuid.uuid4().hex[:8]
    email = f"noa.{tag}@example.com"
    boots = {"id": "l2", "sku": "BO-7", "name": "Hiking boots", "quantity": 1, "unit_amount": 12900}
    stack.put_order(f"o_n_{tag}", f"N-{tag}", email, [SHIRT, boots])
    page = new_page(browser, phone=True)
    sign_in(page, stack.base, f"N-{tag}", email)
    page.goto(stack.base + "/portal/new")
    choose_shirt(page)
    page.get_by_role("button", name="Request return").click()
    expect(page.get_by_text("Estimated refund: €45.00")).to_be_visible()
    page.get_by_role("link", name="Add forgotten items").click()
    expect(page.get_by_role("group", name="Linen shirt")).to_have_count(0)  # in it already
    # A post without this browser's form token changes nothing.
    forged = page.request.post(
        page.url, form={f"quantity:o_n_{tag}|l2": "1", f"reason:o_n_{tag}|l2": "wrong_size"}
    )
    assert forged.status == 403
    item = page.get_by_role("group", name="Hiking boots")
    item.get_by_label("Quantity to return").select_option("1")
    page.get_by_role("button", name="Add to return").click()
    expect(page.get_by_role("alert")).to_contain_text("a quantity and a reason")
    page.get_by_role("group", name="Hiking boots").get_by_label("Reason").select_option(
        label="Wrong size"
    )
    accessible(page)
    shoot(page, "portal-add-items-phone")
    page.get_by_role("button", name="Add to return").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"Return R-\d+"))
    expect(page.get_by_role("region", name="Items")).to_contain_text("Hiking boots")
    expect(page.get_by_text("Estimated refund: €174.00")).to_be_visible()
