"""Issue 23, finding 2: policy amounts per currency through the API. A number is that many minor
units in every currency; a map sets each currency's, `*` the rest."""

from __future__ import annotations


async def test_a_review_limit_per_currency_weighs_each_order_in_its_own(api):
    limits = {"EUR": 100000, "JPY": 100}
    put = await api.http.put(
        "/v1/policy", json={"review_above_amount": limits}, headers=api.auth("admin")
    )
    try:
        assert put.status_code == 200, put.text
        assert put.json()["review_above_amount"] == limits
        euros = await api.put_order()
        yen = await api.put_order(currency="JPY")
        # The same shirt: under €1,000.00, above ¥100.
        assert (await api.create(euros)).json()["status"] == "label_sent"
        assert (await api.create(yen)).json()["status"] == "pending_review"
        # A currency the map does not name: every return in it is reviewed.
        await api.http.put(
            "/v1/policy", json={"review_above_amount": {"JPY": 100}}, headers=api.auth("admin")
        )
        assert (await api.create(await api.put_order())).json()["status"] == "pending_review"
        # A mistake names the field, and nothing is saved.
        # ("EUO" is three capitals, but no currency: a typo that would leave euros without.)
        for wrong in ({"eur": 100}, {}, {"EUR": "100"}, [100], -1, {"EUO": 500}):
            refused = await api.http.put(
                "/v1/policy", json={"return_shipping_fee": wrong}, headers=api.auth("admin")
            )
            assert refused.status_code == 422, wrong
            assert [e["field"] for e in refused.json()["errors"]] == ["return_shipping_fee"]
        now = (await api.http.get("/v1/policy", headers=api.auth("agent"))).json()
        assert now["return_shipping_fee"] == 0 and now["review_above_amount"] == {"JPY": 100}
    finally:
        await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
