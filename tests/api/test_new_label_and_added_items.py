"""A new label for an expired return and forgotten items, through real HTTP: the API over the
time-skipping test server (a label's days of validity pass in a moment) with the real worker and
store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import Api, api_on
from tests.api.test_authorization import customer_token
from tests.conftest import SERVER_STARTUP, binary
from tests.factories import order_payload
from tests.pages.test_portal_attacks import CSRF

SOCKS = {
    "id": "l2", "sku": "SKU-SOCK", "name": "Socks", "quantity": 3, "unit_amount": 900,
    "tax_amount": 513, "category": "apparel",
}  # fmt: skip
GIFT_CARD = {**SOCKS, "id": "l3", "sku": "SKU-GIFT", "name": "Gift card", "final_sale": True}


@pytest.fixture(scope="module")
async def skipping(tmp_path_factory) -> AsyncIterator[tuple[Api, WorkflowEnvironment]]:
    async with await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=binary("temporal-test-server"),
        test_server_startup_timeout=SERVER_STARTUP,
    ) as env:
        async with api_on(env.client, tmp_path_factory.mktemp("skipping")) as api:
            yield api, env


async def labels_expire_in_a_day(api: Api) -> None:
    """A policy whose labels last a day, with three days for a new one after."""
    policy = {"label_expiry_days": 1, "label_reissue_days": 3}
    await api.http.put("/v1/policy", json=policy, headers=api.auth("admin"))


async def customer(api: Api, order_id: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {await customer_token(api, order_id, f'{order_id}@example.com')}"
    }


async def status_becomes(api: Api, return_id: str, status: str) -> dict:
    for _ in range(200):
        body = (await api.http.get(f"/v1/returns/{return_id}", headers=api.auth("ops"))).json()
        if body["status"] == status:
            return body
        await asyncio.sleep(0.025)
    raise AssertionError(f"{return_id} is {body['status']}, not {status}")


async def test_an_expired_return_gets_a_new_label_by_http(skipping):
    api, env = skipping
    await labels_expire_in_a_day(api)
    order_id = await api.put_order()
    ann = await customer(api, order_id)
    items = [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]
    created = (await api.http.post("/v1/returns", json={"items": items}, headers=ann)).json()
    assert created["status"] == "label_sent"
    early = await api.http.post(f"/v1/returns/{created['id']}/label", json={}, headers=ann)
    assert early.status_code == 409 and early.json()["current_status"] == "label_sent"
    await env.sleep(timedelta(days=1, seconds=1))
    expired = await status_becomes(api, created["id"], "expired")
    assert expired["available_actions"] == ["reissue_label"]
    assert (
        await api.http.get(f"/v1/returns/{created['id']}/label", headers=ann)
    ).status_code == 404
    path = f"/v1/returns/{created['id']}/label"
    assert (await api.http.post(path, json={}, headers=api.auth("warehouse"))).status_code == 403
    assert (await api.http.post(path, json={"note": "x"}, headers=ann)).status_code == 422
    again = await api.http.post(path, json={}, headers=ann)
    assert again.status_code == 200, again.text
    body = again.json()
    assert body["status"] == "label_sent"
    assert body["label"]["tracking_number"] != created["label"]["tracking_number"]
    pdf = await api.http.get(path, headers=ann)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))


async def test_forgotten_items_are_added_by_http_and_wrong_ones_named(skipping):
    api, _ = skipping
    first_line = order_payload()["lines"][0]
    order_id = await api.put_order(lines=[first_line, SOCKS, GIFT_CARD])
    ann = await customer(api, order_id)
    items = [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]
    created = (await api.http.post("/v1/returns", json={"items": items}, headers=ann)).json()
    path = f"/v1/returns/{created['id']}/items"

    def asking(line: str, order: str = order_id, reason: str = "wrong_size") -> dict:
        return {"items": [{"order_id": order, "line_id": line, "quantity": 1, "reason": reason}]}

    grown = await api.http.post(path, json=asking("l2"), headers=ann)
    assert grown.status_code == 200, grown.text
    body = grown.json()
    assert [item["id"] for item in body["items"]] == ["ri_1", "ri_2"]
    assert body["estimated_refund_amount"] == 2725 + 1071
    assert body["label"] == created["label"]

    for wrong, field in (
        (asking("l1"), "items[0].line_id"),  # in the return already
        (asking("l9"), "items[0].line_id"),  # no such line
        (asking("l3"), "items"),  # final sale: the workflow refuses it
        ({"items": []}, "items"),
    ):
        answer = await api.http.post(path, json=wrong, headers=ann)
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == field, answer.json()
    other = await api.put_order()
    strangers = await api.http.post(path, json=asking("l1", other), headers=ann)
    assert strangers.status_code == 422
    assert strangers.json()["errors"][0]["field"] == "items[0].order_id"
    assert (
        await api.http.post(path, json=asking("l2"), headers=api.auth("warehouse"))
    ).status_code == 403
    mallory = await customer(api, other)
    assert (await api.http.post(path, json=asking("l2", other), headers=mallory)).status_code == 404

    await api.http.post(f"/v1/returns/{created['id']}/ship", json={}, headers=ann)
    late = await api.http.post(path, json=asking("l3"), headers=api.auth("agent"))
    assert late.status_code == 409 and late.json()["current_status"] == "shipped"
    final = (await api.http.get(f"/v1/returns/{created['id']}", headers=api.auth("ops"))).json()
    assert len(final["items"]) == 2


async def test_the_portal_offers_a_new_label_for_an_expired_return(skipping):
    """The portal's page of an expired return: "Get a new label" while the shop allows one."""
    api, env = skipping
    await labels_expire_in_a_day(api)
    order_id = await api.put_order()
    async with httpx.AsyncClient(base_url=str(api.http.base_url), timeout=30) as browser:
        token = CSRF.search((await browser.get("/portal")).text).group(1)  # type: ignore[union-attr]
        signed = await browser.post(
            "/portal",
            data={"csrf_token": token, "order_number": order_id.upper(),
                  "email": f"{order_id}@example.com"},
        )  # fmt: skip
        assert signed.status_code == 303
        made = await browser.post(
            "/portal/new",
            data={"csrf_token": token, f"quantity:{order_id}|l1": "1",
                  f"reason:{order_id}|l1": "wrong_size", "method": "refund"},
        )  # fmt: skip
        page = made.headers["location"]
        await env.sleep(timedelta(days=1, seconds=1))
        await status_becomes(api, page.rsplit("/", 1)[1], "expired")
        expired = (await browser.get(page)).text
        assert "Get a new label" in expired and "You can get a new one until" in expired
        forged = await browser.post(f"{page}/label", data={})
        assert forged.status_code == 403
        again = await browser.post(f"{page}/label", data={"csrf_token": token})
        assert again.status_code == 303
        shown = (await browser.get(page)).text
        assert "Download label" in shown and "Get a new label" not in shown
    await api.http.put("/v1/policy", json={}, headers=api.auth("admin"))
