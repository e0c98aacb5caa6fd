"""A return through its whole life as a shop runs it with the README's provider settings: the
label bought from EasyPost (its SDK, pointed at a local server that behaves as EasyPost's API),
tracked by EasyPost's signed webhooks, paid back through Stripe's SDK; and an unused label
refunded to the shop when its return is cancelled."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.api.conftest import (
    CUSTOMER_ADDRESS,
    EASYPOST_SECRET,
    RETURN_ADDRESS,
    Providers,
    configured,
)
from tests.fakes.easypost import FakeEasyPost

PATH = "/v1/carrier-events/easypost"
RECEIPT = {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}]}


async def tell(providers: Providers, event: dict[str, Any], secret: str = EASYPOST_SECRET) -> Any:
    body = FakeEasyPost.body(event)
    return await providers.api.http.post(
        PATH, content=body, headers=FakeEasyPost.signed(body, secret)
    )


async def test_a_return_runs_end_to_end_through_easypost_and_stripe(providers: Providers):
    api, easypost, stripe = providers.api, providers.easypost, providers.stripe
    created = await api.create(await providers.paid_order())
    assert created.status_code == 201, created.text
    ret = await api.wait_for(created.json()["id"], "label_sent")
    label = ret["label"]
    assert label["carrier"] == "USPS"
    [shipment] = [s for s in easypost.shipments.values() if s["reference"] == ret["number"]]
    assert shipment["is_return"] is True
    assert shipment["from_address"]["street1"] == CUSTOMER_ADDRESS["line1"]
    assert shipment["to_address"]["street1"] == RETURN_ADDRESS["line1"]
    assert shipment["to_address"]["phone"] == RETURN_ADDRESS["phone"]
    assert label["tracking_number"] == shipment["tracking_code"]
    pdf = await api.http.get(label["url"], headers=api.auth("agent"))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"

    # Tracking: forged and unsigned events are refused; pre-transit is kept; in transit ships.
    tracking = shipment["tracking_code"]
    forged = await tell(providers, easypost.event(tracking, "in_transit"), secret="guessed")
    assert forged.status_code == 401, forged.text
    unsigned = await api.http.post(PATH, content=FakeEasyPost.body(easypost.event(tracking, "x")))
    assert unsigned.status_code == 401
    assert (await api.wait_for(ret["id"], "label_sent"))["status"] == "label_sent"
    early = await tell(providers, easypost.event(tracking, "pre_transit"))
    assert early.status_code == 202 and early.json()["forwarded"] is False
    moving = easypost.event(tracking, "in_transit")
    moved = await tell(providers, moving)
    assert moved.status_code == 202 and moved.json()["forwarded"] is True
    shipped = await api.wait_for(ret["id"], "shipped")
    assert shipped["status"] == "shipped"
    # EasyPost sends it again, and an older word comes late: nothing happens twice.
    again = await tell(providers, moving)
    assert again.json()["duplicate"] is True and again.json()["forwarded"] is False
    late = await tell(providers, easypost.event(tracking, "pre_transit"))
    assert late.status_code == 202 and late.json()["forwarded"] is False
    history = await api.http.get(f"/v1/returns/{ret['id']}/history", headers=api.auth("ops"))
    summaries = [e["summary"] for e in history.json()["events"]]
    assert sum("carrier reports in_transit" in s for s in summaries) == 1, summaries

    # The warehouse receives it; the refund goes through Stripe.
    assert (await api.act(ret["id"], "receive", "warehouse", RECEIPT)).status_code == 200
    closed = await api.wait_for(ret["id"], "closed")
    assert closed["refunded_amount"] == 2725
    [refund] = closed["refunds"]
    assert refund["reference"] in stripe.refunds
    assert stripe.charges[refund["capture_id"]].amount_refunded == 2725
    assert easypost.refunds == [] or shipment["id"] not in easypost.refunds


async def test_a_cancelled_returns_unused_label_is_refunded_to_the_shop(providers: Providers):
    api, easypost = providers.api, providers.easypost
    created = (await api.create(await providers.paid_order())).json()
    ret = await api.wait_for(created["id"], "label_sent")
    [shipment] = [s for s in easypost.shipments.values() if s["reference"] == ret["number"]]
    answer = await api.act(ret["id"], "cancel", "agent", {"reason": "the customer kept it"})
    assert answer.status_code == 200, answer.text
    for _ in range(100):
        if shipment["id"] in easypost.refunds:
            break
        await asyncio.sleep(0.1)
    assert easypost.refunds.count(shipment["id"]) == 1
    history = await api.http.get(f"/v1/returns/{ret['id']}/history", headers=api.auth("ops"))
    summaries = [e["summary"] for e in history.json()["events"]]
    assert any("unused label refunded by USPS: submitted" in s for s in summaries), summaries


async def test_without_a_webhook_secret_easypost_events_are_refused(api):
    with configured(api.app, easypost_webhook_secret=None):
        answer = await api.http.post(PATH, content=b"{}", headers={"X-Hmac-Signature": "x"})
    assert answer.status_code == 503
    assert "RETURNS_EASYPOST_WEBHOOK_SECRET" in answer.json()["detail"]


async def test_paid_through_stripe_at_easyposts_first_scan_after_the_customers_own_word(
    providers: Providers,
):
    """`refund_on: first_scan`: the customer says they sent it (nothing is paid on that word);
    EasyPost's first `in_transit` for the parcel pays the refund through Stripe, once; the
    warehouse's receipt restocks and pays nothing more."""
    api, easypost, stripe = providers.api, providers.easypost, providers.stripe
    policy = await api.http.put(
        "/v1/policy", json={"refund_on": "first_scan"}, headers=api.auth("admin")
    )
    assert policy.status_code == 200, policy.text
    try:
        created = await api.create(await providers.paid_order())
        assert created.status_code == 201, created.text
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
    ret = await api.wait_for(created.json()["id"], "label_sent")
    told = await api.act(ret["id"], "ship", "integration")
    assert told.status_code == 200, told.text
    assert told.json()["status"] == "shipped" and told.json()["refunded_amount"] == 0

    tracking = ret["label"]["tracking_number"]
    early = await tell(providers, easypost.event(tracking, "pre_transit"))
    assert early.json()["forwarded"] is False
    scan = easypost.event(tracking, "in_transit")
    scanned = await tell(providers, scan)
    assert scanned.status_code == 202 and scanned.json()["forwarded"] is True
    for _ in range(150):
        paid = (await api.http.get(f"/v1/returns/{ret['id']}", headers=api.auth("ops"))).json()
        if paid["refunded_amount"]:
            break
        await asyncio.sleep(0.1)
    assert paid["status"] == "shipped" and paid["refund_due_at_first_scan"] is not None
    assert paid["refunded_amount"] == 2725
    [refund] = paid["refunds"]
    assert stripe.charges[refund["capture_id"]].amount_refunded == 2725
    # EasyPost says it again, and more: nothing is told or paid twice.
    assert (await tell(providers, scan)).json()["forwarded"] is False
    delivered = await tell(providers, easypost.event(tracking, "delivered"))
    assert delivered.json()["forwarded"] is True  # noted on the return, nothing paid
    assert (await tell(providers, easypost.event(tracking, "delivered"))).json()[
        "forwarded"
    ] is False

    assert (await api.act(ret["id"], "receive", "warehouse", RECEIPT)).status_code == 200
    closed = await api.wait_for(ret["id"], "closed")
    assert closed["refunded_amount"] == 2725 and len(closed["refunds"]) == 1
    assert stripe.charges[refund["capture_id"]].amount_refunded == 2725
    assert closed["items"][0]["quantity_restocked"] == 1
    history = await api.http.get(f"/v1/returns/{ret['id']}/history", headers=api.auth("ops"))
    summaries = [e["summary"] for e in history.json()["events"]]
    assert sum("delivered to the warehouse" in s for s in summaries) == 1, summaries


async def test_a_drop_off_return_gets_uspss_qr_code_through_easypost(
    providers: Providers, tmp_path
):
    """`qr_drop_off` with EasyPost: bought from USPS, the QR code is EasyPost's `label_qr_code`
    form (made once), shown by the return's QR address, in the email and by the email's signed
    link; nothing to print. Offered only where the shop's EasyPost carriers give QR codes."""
    import email
    import email.policy
    import re

    from returns_service.activities.email_relay import EmailRelay
    from tests.fakes.easypost import qr_image

    api, easypost = providers.api, providers.easypost
    policy = {"return_methods": ["label", "qr_drop_off"]}
    assert (await api.http.put("/v1/policy", json=policy, headers=api.auth("admin"))).is_success
    try:
        order_id = await providers.paid_order()
        with configured(api.app, easypost_carriers=["UPS"]):
            # Without USPS among the shop's carriers no QR code can be had: not offered.
            refused = await api.create(order_id, method="qr_drop_off")
        created = await api.create(order_id, method="qr_drop_off")
        assert created.status_code == 201, created.text
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
    assert refused.status_code == 422, refused.text
    assert "qr_drop_off" not in refused.json()["detail"] and "method" in refused.text
    ret = await api.wait_for(created.json()["id"], "label_sent")
    assert ret["method"] == "qr_drop_off", ret.get("errors")
    label = ret["label"]
    [shipment] = [s for s in easypost.shipments.values() if s["reference"] == ret["number"]]
    assert shipment["selected_rate"]["carrier"] == "USPS" and label["carrier"] == "USPS"
    assert label["url"] is None and label["drop_off_code"] == shipment["tracking_code"]
    qr = await api.http.get(label["qr_url"], headers=api.auth("agent"))
    assert qr.status_code == 200 and qr.content == qr_image(shipment["id"])

    await EmailRelay(api.sessions, api.settings, tmp_path).deliver_due()
    [path] = tmp_path.glob(f"email_{ret['id']}_label_sent.eml")
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    inline = [part for part in message.walk() if part.get_content_type() == "image/png"]
    assert [part.get_content() for part in inline] == [qr_image(shipment["id"])]
    assert not list(message.iter_attachments())  # nothing to print
    text = message.get_body(preferencelist=("plain",)).get_content()
    [link] = re.findall(r"https?://\S+/v1/labels/\S+", text)
    assert "/qr.png?" in link
    path = link.split("://", 1)[1].split("/", 1)[1]  # (the email names the public URL)
    async with httpx.AsyncClient(base_url=str(api.http.base_url)) as stranger:
        opened = await stranger.get(f"/{path}")
    assert opened.status_code == 200 and opened.content == qr_image(shipment["id"])
