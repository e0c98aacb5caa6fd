"""What a black-box attack on the portal found (a helper, 30 minutes on `returns dev`), each kept
as a test that failed before its fix: replays that added photos, raw JSON and 500s for people,
order ids with a colon, errors in the wrong words or on no field, a 413 of "0 MB", a sign-out that
did not end the session, and a `next` that left the portal."""

from __future__ import annotations

import io
import re
import struct
import uuid
import zlib
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from PIL import Image

from returns_service.documents.photos import NotAPhoto, checked_photo
from tests.pages.conftest import Shop
from tests.pages.test_portal import SHIRT, a_photo

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@contextmanager
def signed_in(
    stack: Shop, number: str, email: str, language: str = "en"
) -> Iterator[tuple[httpx.Client, str]]:
    """A browser-like client signed in to the portal, and its forms' CSRF token."""
    with httpx.Client(
        base_url=stack.base, timeout=30, headers={"Accept-Language": language}
    ) as client:
        token = CSRF.search(client.get("/portal").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/portal", data={"csrf_token": token, "order_number": number, "email": email}
        )
        assert answer.status_code == 303, answer.text
        yield client, token


def request_one(client: httpx.Client, token: str, order_id: str) -> httpx.Response:
    """Post the new-return form for one shirt of the order, as the page would."""
    return client.post(
        "/portal/new",
        data={
            "csrf_token": token,
            f"quantity:{order_id}|l1": "1",
            f"reason:{order_id}|l1": "wrong_size",
            "method": "refund",
        },
    )


def customer(stack: Shop, order_id: str | None = None) -> tuple[str, str, str]:
    tag = uuid.uuid4().hex[:8]
    email = f"att.{tag}@example.com"
    order_id = order_id or f"o_att_{tag}"
    stack.put_order(order_id, f"N-{tag}", email, [SHIRT])
    return email, f"N-{tag}", order_id


def photo(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_a_form_sent_again_adds_no_photos_and_an_item_keeps_at_most_three(stack: Shop):
    email, number, order_id = customer(stack)
    with signed_in(stack, number, email) as (client, token):
        fields = {
            "csrf_token": token,
            "form_key": uuid.uuid4().hex,
            f"quantity:{order_id}|l1": "1",
            f"reason:{order_id}|l1": "damaged",
            "method": "refund",
        }
        sent = []
        for round_ in range(3):
            files = [
                (
                    f"photos:{order_id}|l1",
                    (f"p{n}.png", photo((round_ * 60, n * 40, 9)), "image/png"),
                )
                for n in range(3)
            ]
            sent.append(client.post("/portal/new", data=fields, files=files))
        four = [
            (f"photos:{order_id}|l1", (f"q{n}.png", photo((9, 9, n * 30)), "image/png"))
            for n in range(4)
        ]
        too_many = client.post("/portal/new", data={**fields, "form_key": "other"}, files=four)
    assert {answer.status_code for answer in sent} == {303}
    assert len({answer.headers["location"] for answer in sent}) == 1
    return_id = sent[0].headers["location"].rsplit("/", 1)[1]
    assert len(stack.call("agent", "GET", f"/v1/returns/{return_id}/photos").json()) == 3
    assert too_many.status_code == 422 and "At most 3 photos per item." in too_many.text


def test_cancelling_twice_says_why_on_the_page_and_the_confirmation_offers_nothing(stack: Shop):
    email, number, order_id = customer(stack)
    with signed_in(stack, number, email) as (client, token):
        created = request_one(client, token, order_id)
        page = created.headers["location"]
        first = client.post(f"{page}/cancel", data={"csrf_token": token})
        second = client.post(f"{page}/cancel", data={"csrf_token": token})
        confirm = client.get(f"{page}/cancel")
    assert first.status_code == 303
    assert second.status_code == 409 and second.headers["content-type"].startswith("text/html")
    assert "can no longer be cancelled" in second.text
    assert "Yes, cancel the return" not in confirm.text
    assert "This return can no longer be cancelled." in confirm.text


@pytest.mark.parametrize("quantity", ["²", "١", "-1", "abc", "99999999999999999999"])
def test_a_quantity_that_is_not_a_plain_number_is_an_error_on_its_field(stack: Shop, quantity):
    email, number, order_id = customer(stack)
    with signed_in(stack, number, email) as (client, token):
        fields = {
            "csrf_token": token,
            f"quantity:{order_id}|l1": quantity,
            f"reason:{order_id}|l1": "wrong_size",
            "method": "refund",
        }
        estimate = client.post("/portal/new/estimate", data=fields)
        answer = client.post("/portal/new", data=fields)
    assert estimate.status_code == 200
    assert answer.status_code == 422
    assert "Choose a quantity that can still be returned." in answer.text
    assert stack.call("ops", "GET", f"/v1/returns?customer_email={email}").json()["data"] == []


def test_an_order_whose_id_has_a_colon_can_be_returned(stack: Shop):
    order_id = f"shop:{uuid.uuid4().hex[:8]}"
    email, number, _ = customer(stack, order_id)
    with signed_in(stack, number, email) as (client, token):
        answer = request_one(client, token, order_id)
    assert answer.status_code == 303, answer.text


def test_each_mistake_is_shown_on_its_field_in_the_customers_words(stack: Shop):
    email, number, order_id = customer(stack)
    other_email, _, other_order = customer(stack)
    base = {f"reason:{order_id}|l1": "other", "method": "refund"}
    with signed_in(stack, number, email, "de") as (client, token):
        long_comment = client.post(
            "/portal/new",
            data={**base, "csrf_token": token, f"quantity:{order_id}|l1": "1",
                  f"comment:{order_id}|l1": "x" * 1500},
        )  # fmt: skip
        too_many = client.post(
            "/portal/new",
            data={**base, "csrf_token": token, f"quantity:{order_id}|l1": "9",
                  f"comment:{order_id}|l1": "zu eng"},
        )  # fmt: skip
        unknown_method = client.post(
            "/portal/new",
            data={**base, "csrf_token": token, f"quantity:{order_id}|l1": "1",
                  f"comment:{order_id}|l1": "zu eng", "method": "cash"},
        )  # fmt: skip
        not_mine = client.post(
            "/portal/new",
            data={"csrf_token": token, f"quantity:{other_order}|l1": "1",
                  f"reason:{other_order}|l1": "wrong_size", "method": "refund"},
        )  # fmt: skip
    assert "höchstens 1.000 Zeichen" in long_comment.text
    assert 'aria-invalid="true"' in long_comment.text
    assert "Wählen Sie eine Anzahl, die noch zurückgesendet werden kann." in too_many.text
    assert "only 2" not in too_many.text  # never the API's English
    assert "Wählen Sie eine der angebotenen Möglichkeiten." in unknown_method.text
    assert "nicht mehr in Ihren Bestellungen" in not_mine.text
    for answer in (long_comment, too_many, unknown_method, not_mine):
        assert answer.status_code == 422
    for who in (email, other_email):
        assert stack.call("ops", "GET", f"/v1/returns?customer_email={who}").json()["data"] == []


def test_a_person_gets_a_page_not_json_for_a_wrong_address_or_a_broken_request(stack: Shop):
    email, number, _ = customer(stack)
    with signed_in(stack, number, email) as (client, token):
        answers = {
            "unknown page": client.get("/portal/nope"),
            "bad id": client.get("/portal/returns/bad-id!"),
            "long id": client.get("/portal/returns/" + "r" * 80),
            "bad photo id": client.get("/portal/returns/ret_x/photos/notaphoto"),
            "no language": client.get("/portal/language"),
            "get sign-out": client.get("/portal/sign-out"),
            "no boundary": client.post(
                "/portal/new",
                content=b"x",
                headers={"Content-Type": "multipart/form-data"},
            ),
        }
    for name, answer in answers.items():
        assert answer.headers["content-type"].startswith("text/html"), name
        assert 400 <= answer.status_code < 500, (name, answer.status_code)
    assert answers["bad id"].status_code == 404 and "Not found" in answers["bad id"].text
    assert answers["get sign-out"].status_code == 405


def test_a_form_too_large_says_its_limit_in_the_customers_language(stack: Shop):
    big = {"order_number": "x" * 300_000, "email": "a@example.com"}
    english = httpx.post(stack.base + "/portal", data=big)
    german = httpx.post(stack.base + "/portal", data=big, cookies={"returns_language": "de"})
    assert english.status_code == 413 and "larger than 256 KB" in english.text
    assert german.status_code == 413 and "größer als 256 KB" in german.text
    assert '<html lang="de">' in german.text


def test_signing_out_ends_the_session_wherever_its_token_was_copied(stack: Shop):
    email, number, _ = customer(stack)
    with signed_in(stack, number, email) as (client, token):
        copied = client.cookies["returns_session"]
        assert client.post("/portal/sign-out", data={"csrf_token": token}).status_code == 303
    with httpx.Client(base_url=stack.base, cookies={"returns_session": copied}) as thief:
        page = thief.get("/portal/returns")
    api = httpx.get(stack.base + "/v1/returns", headers={"Authorization": f"Bearer {copied}"})
    assert page.status_code == 303 and page.headers["location"].startswith("/portal?next=")
    assert api.status_code == 401
    # The API's own sign-out does the same for a token it gave.
    session = httpx.post(
        stack.base + "/v1/customer-sessions", json={"order_number": number, "email": email}
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {session}"}
    assert httpx.get(stack.base + "/v1/returns", headers=bearer).status_code == 200
    ended = httpx.delete(stack.base + "/v1/customer-sessions/current", headers=bearer)
    assert ended.status_code == 204
    assert httpx.get(stack.base + "/v1/returns", headers=bearer).status_code == 401


@pytest.mark.parametrize("target", ["/portal/../../docs", "/portal/..", "/portalx", "https://x"])
def test_after_sign_in_the_customer_stays_in_the_portal(stack: Shop, target: str):
    email, number, _ = customer(stack)
    with httpx.Client(base_url=stack.base) as client:
        token = CSRF.search(client.get("/portal").text).group(1)  # type: ignore[union-attr]
        answer = client.post(
            "/portal",
            data={"csrf_token": token, "order_number": number, "email": email, "next": target},
        )
    # The portal's own home: the returns, or with none yet the items to choose from.
    assert answer.headers["location"] in ("/portal/returns", "/portal/new")


def png_with_garbage_pixels() -> bytes:
    """A PNG whose structure and checksums are right but whose image data decodes to nothing."""
    good = photo((1, 2, 3))
    start = good.index(b"IDAT") - 4
    (length,) = struct.unpack(">I", good[start : start + 4])
    garbage = zlib.compress(b"\xff" * 7)  # far too little data for 40 x 30 pixels
    chunk = struct.pack(">I", len(garbage)) + b"IDAT" + garbage
    chunk += struct.pack(">I", zlib.crc32(b"IDAT" + garbage) & 0xFFFFFFFF)
    return good[:start] + chunk + good[start + 12 + length :]


def test_a_photo_must_decode_whole_not_only_look_like_one():
    assert checked_photo(a_photo(), 10_000_000).content_type == "image/png"
    with pytest.raises(NotAPhoto):
        checked_photo(png_with_garbage_pixels(), 10_000_000)


# --- issue 21, defect 11: photos that cost the API seconds and hundreds of megabytes ----------


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def test_a_photo_above_25_megapixels_is_refused_and_a_big_one_is_kept_bounded():
    huge = encoded(Image.new("RGB", (6000, 6000), (10, 20, 30)), "PNG")
    with pytest.raises(NotAPhoto) as refused:
        checked_photo(huge, 50_000_000)
    assert refused.value.reason == "too_big"
    big = encoded(Image.new("RGB", (4000, 3000), (200, 30, 30)), "JPEG", quality=80)
    kept = checked_photo(big, 50_000_000)
    with Image.open(io.BytesIO(kept.data)) as image:
        assert (image.format, image.size) == ("JPEG", (2048, 1536))
    assert kept.content_type == "image/jpeg" and kept.pixels == 12_000_000
    # Within the bounds a photo is kept as it came.
    assert checked_photo(a_photo(), 10_000_000).data == a_photo()
    # A form that has used up its pixels refuses the next photo before decoding it.
    with pytest.raises(NotAPhoto) as spent:
        checked_photo(big, 50_000_000, max_pixels=11_999_999)
    assert spent.value.reason == "too_many_pixels"


def test_an_animated_gif_is_kept_as_its_first_frame_only():
    frames = [Image.new("P", (2500, 2500), n % 200) for n in range(120)]
    gif = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=10)
    kept = checked_photo(gif, 50_000_000)
    with Image.open(io.BytesIO(kept.data)) as image:
        assert image.format == "PNG" and image.size == (2048, 2048)
        assert not getattr(image, "is_animated", False)
    assert kept.content_type == "image/png"


def test_a_form_whose_photos_together_exceed_its_budget_is_refused_and_makes_nothing(
    stack: Shop,
):
    """A form of 24 photos of 36 megapixels took 8.4 s of the API's CPU and 275 MB."""
    email, number, order_id = customer(stack)
    # 25 megapixels each, 75 of the form's 100.
    big = [encoded(Image.new("RGB", (5000, 5000), (90, 90, n)), "PNG") for n in range(3)]
    with signed_in(stack, number, email) as (client, token):
        fields = {
            "csrf_token": token,
            "form_key": uuid.uuid4().hex,
            f"quantity:{order_id}|l1": "1",
            f"reason:{order_id}|l1": "damaged",
            "method": "refund",
        }
        files = [(f"photos:{order_id}|l1", (f"p{n}.png", big[n], "image/png")) for n in range(3)]
        within = client.post("/portal/new", data=fields, files=files)
        assert within.status_code == 303, within.text
        huge = encoded(Image.new("RGB", (6000, 6000), (90, 90, 90)), "PNG")
        refused = client.post(
            "/portal/new",
            data={**fields, "form_key": uuid.uuid4().hex},
            files=[(f"photos:{order_id}|l1", ("huge.png", huge, "image/png"))],
        )
    assert refused.status_code == 422 and "This photo is too large." in refused.text
    return_id = within.headers["location"].rsplit("/", 1)[1]
    kept = stack.call("agent", "GET", f"/v1/returns/{return_id}/photos").json()
    assert len(kept) == 3
    one = stack.call("agent", "GET", kept[0]["url"])
    with Image.open(io.BytesIO(one.content)) as image:
        assert max(image.size) == 2048


def test_forgotten_items_need_the_photos_the_policy_asks_for(stack: Shop):
    """Issue 21, defect 6: the portal's "Add forgotten items" page had no photo field and took
    reason `damaged` without one."""
    tag = uuid.uuid4().hex[:8]
    email, number, order_id = f"add.{tag}@example.com", f"N-{tag}", f"o_add_{tag}"
    cap = {"id": "l2", "sku": "CAP-1", "name": "Cap", "quantity": 1, "unit_amount": 900}
    stack.put_order(order_id, number, email, [SHIRT, cap])
    with signed_in(stack, number, email) as (client, token):
        created = request_one(client, token, order_id)
        assert created.status_code == 303, created.text
        page = created.headers["location"]
        form = client.get(f"{page}/items")
        assert f'name="photos:{order_id}|l2"' in form.text and "multipart/form-data" in form.text
        fields = {
            "csrf_token": token,
            f"quantity:{order_id}|l2": "1",
            f"reason:{order_id}|l2": "damaged",
        }
        missing = client.post(f"{page}/items", data=fields)
        assert missing.status_code == 422
        assert "Add a photo of the item: the shop needs one for this reason." in missing.text
        files = [(f"photos:{order_id}|l2", ("cap.png", photo((200, 10, 10)), "image/png"))]
        added = client.post(f"{page}/items", data=fields, files=files)
        assert added.status_code == 303, added.text
    return_id = page.rsplit("/", 1)[1]
    state = stack.call("agent", "GET", f"/v1/returns/{return_id}").json()
    assert [item["name"] for item in state["items"]] == ["Linen shirt", "Cap"]
    kept = stack.call("agent", "GET", f"/v1/returns/{return_id}/photos").json()
    assert [p["item_id"] for p in kept] == ["ri_2"]
