"""Carrier tracking events: signed by the carrier, posted with an integration key, kept once by
their id; one that says the parcel is in the carrier's hands moves the return to `shipped`."""

from __future__ import annotations

import asyncio
import json

from tests.api.conftest import CARRIER_SECRET
from tests.fakes.carrier import FakeCarrier

PATH = "/v1/carrier-events"


async def test_a_signed_tracking_event_ships_the_return_once(api):
    carrier = FakeCarrier(webhook_secret=CARRIER_SECRET)
    created = (await api.create(await api.put_order())).json()
    assert created["status"] == "label_sent"
    tracking = created["label"]["tracking_number"]
    integration = api.auth("integration")

    # Not yet picked up: kept, but the return waits.
    body, signed = carrier.event(tracking, "pre_transit", "evt_c1")
    early = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert early.status_code == 202, early.text
    assert early.json() == {
        "id": "evt_c1", "return_id": created["id"], "duplicate": False, "forwarded": False
    }  # fmt: skip

    body, signed = carrier.event(tracking, "in_transit", "evt_c2")
    moved = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert moved.status_code == 202 and moved.json()["forwarded"] is True
    shipped = await api.wait_for(created["id"], "shipped")
    assert shipped["status"] == "shipped" and shipped["timestamps"]["shipped_at"]
    history = await api.http.get(f"/v1/returns/{created['id']}/history", headers=api.auth("ops"))
    summaries = [e["summary"] for e in history.json()["events"]]
    assert any("carrier reports in_transit (evt_c2)" in s for s in summaries)

    # The carrier sends it again (its own retry): a repeat, nothing happens.
    again = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert again.json()["forwarded"] is False
    # Delivered (to the warehouse): the return notes it, once, and waits for the warehouse.
    body, signed = carrier.event(tracking, "delivered", "evt_c3")
    later = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert later.status_code == 202 and later.json()["forwarded"] is True
    body, signed = carrier.event(tracking, "delivered", "evt_c4")  # the carrier says it again
    again = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert again.status_code == 202 and again.json()["forwarded"] is False
    for _ in range(100):
        history = await api.http.get(
            f"/v1/returns/{created['id']}/history", headers=api.auth("ops")
        )
        summaries = [e["summary"] for e in history.json()["events"]]
        if any("delivered to the warehouse" in s for s in summaries):
            break
        await asyncio.sleep(0.1)
    assert sum("delivered to the warehouse" in s for s in summaries) == 1, summaries
    shipped = await api.wait_for(created["id"], "shipped")
    assert shipped["status"] == "shipped"


async def test_unsigned_forged_or_malformed_events_are_refused_and_change_nothing(api):
    carrier = FakeCarrier(webhook_secret=CARRIER_SECRET)
    created = (await api.create(await api.put_order())).json()
    tracking = created["label"]["tracking_number"]
    integration = api.auth("integration")
    body, signed = carrier.event(tracking, "in_transit", "evt_f1")

    unsigned = await api.http.post(
        PATH, content=body, headers={"content-type": "application/json", **integration}
    )
    assert unsigned.status_code == 401
    assert unsigned.headers["content-type"] == "application/problem+json"
    forger = FakeCarrier()  # another secret
    body_forged, forged = forger.event(tracking, "in_transit", "evt_f2")
    assert (
        await api.http.post(PATH, content=body_forged, headers={**forged, **integration})
    ).status_code == 401
    tampered = body.replace(b"in_transit", b"delivered")
    assert (
        await api.http.post(PATH, content=tampered, headers={**signed, **integration})
    ).status_code == 401
    # Tampered into something invalid: still refused as tampered, before its body is read.
    invalid = body.replace(b"in_transit", b"teleported")
    assert (
        await api.http.post(PATH, content=invalid, headers={**signed, **integration})
    ).status_code == 401
    # A signed event, but from a caller without the integration role.
    for role in ("customer", "warehouse"):
        headers = {**signed, **api.auth(role)} if role != "customer" else signed
        answer = await api.http.post(PATH, content=body, headers=headers)
        assert answer.status_code in (401, 403)
    # Well signed but wrong: the field is named.
    bad = json.loads(body)
    bad["status"] = "teleported"
    body_bad, signed_bad = carrier.signed(bad)
    refused = await api.http.post(PATH, content=body_bad, headers={**signed_bad, **integration})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "status"

    state = (await api.http.get(f"/v1/returns/{created['id']}", headers=api.auth("ops"))).json()
    assert state["status"] == "label_sent"
    # The forged event's id was not used up: the real one with that id still counts.
    body, signed = carrier.event(tracking, "in_transit", "evt_f2")
    real = await api.http.post(PATH, content=body, headers={**signed, **integration})
    assert real.json() == {
        "id": "evt_f2", "return_id": created["id"], "duplicate": False, "forwarded": True
    }  # fmt: skip


async def test_an_event_for_an_unknown_parcel_is_kept_and_answered(api):
    carrier = FakeCarrier(webhook_secret=CARRIER_SECRET)
    body, signed = carrier.event("NOT-OURS-1", "in_transit", "evt_u1")
    answer = await api.http.post(PATH, content=body, headers={**signed, **api.auth("integration")})
    assert answer.status_code == 202
    assert answer.json() == {
        "id": "evt_u1", "return_id": None, "duplicate": False, "forwarded": False
    }  # fmt: skip
