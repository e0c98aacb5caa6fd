"""Issue 23, finding 6: an agent creating a return for a caller waives its fees, saying why;
the reason stays on the return's eligibility for staff; nobody else may waive them."""

from __future__ import annotations


async def test_an_agent_waives_the_fees_and_says_why(api):
    policy = (await api.http.get("/v1/policy", headers=api.auth("admin"))).json()
    fees = {**policy, "restocking_fee_percent": 10, "return_shipping_fee": 500}
    await api.http.put("/v1/policy", json=fees, headers=api.auth("admin"))
    try:
        order_id = await api.put_order()
        charged = (await api.create(order_id)).json()
        # The storefront relays a customer: it may not waive them.
        refused = await api.create(order_id, fees_waived="loyal customer")
        assert refused.status_code == 422, refused.text
        assert [e["field"] for e in refused.json()["errors"]] == ["fees_waived"]
        for unreadable in ("  ", "\u200b"):  # spaces, or a zero-width space alone
            blank = await api.create(order_id, role="agent", fees_waived=unreadable)
            assert blank.status_code == 422, unreadable
            assert [e["field"] for e in blank.json()["errors"]] == ["fees_waived"]
        waived = await api.create(order_id, role="agent", fees_waived="parcel lost once before")
        assert waived.status_code == 201, waived.text
        body = waived.json()
        # The same shirt: less 10 % and €5.00 without the waiver, whole with it.
        assert body["estimated_refund_amount"] > charged["estimated_refund_amount"] + 500
        assert body["fees_waived"] == "parcel lost once before"
        [fees_rule] = [r for r in body["eligibility"] if r["rule"] == "fees"]
        assert fees_rule["detail"].endswith("waived by exception: parcel lost once before")
    finally:
        await api.http.put("/v1/policy", json=policy, headers=api.auth("admin"))
