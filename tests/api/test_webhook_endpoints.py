"""Webhook endpoints: made by ops with a secret shown once, and never pointed at the machine
itself, the private network or a cloud metadata service, whatever form the URL takes."""

from __future__ import annotations

import asyncio
import base64

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import func, select
from standardwebhooks import Webhook

from returns_service.net import ForbiddenUrl, check_url
from returns_service.store.tables import WebhookEndpointRow
from tests.api.conftest import serving
from tests.factories import endpoint_row, webhook_secret

FORBIDDEN = [
    "http://127.0.0.1/hooks",
    "http://localhost:8080/hooks",
    "http://LOCALHOST./hooks",
    "http://[::1]/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://10.20.30.40/hooks",
    "http://172.16.0.9/hooks",
    "http://192.168.1.1/hooks",
    "http://169.254.169.254/latest/meta-data/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://0.0.0.0/hooks",
    "http://2130706433/hooks",
    "http://0x7f000001/hooks",
    "http://127.1/hooks",
    "http://100.64.0.1/hooks",
    "http://[fe80::1]/hooks",
    # IPv6 forms that lead to IPv4 (NAT64, 6to4, IPv4-compatible, SIIT, Teredo) and multicast.
    "http://[64:ff9b::7f00:1]/hooks",
    "http://[2002:7f00:1::]/hooks",
    "http://[::127.0.0.1]/hooks",
    "http://[::ffff:0:a00:1]/hooks",
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",
    "http://224.0.0.1/hooks",
    "http://[ff02::1]/hooks",
    "http://192.0.0.192/hooks",  # Oracle Cloud's metadata
    "http://3221225664/hooks",
    "http://[fec0::1]/hooks",  # site-local
    "ftp://example.com/hooks",
    "http://user:secret@93.184.216.34/hooks",
    "http://1.1.1.1:0/hooks",  # port 0
]


async def count(api) -> int:
    async with api.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(WebhookEndpointRow)))


async def test_forbidden_urls_are_refused_and_nothing_is_kept(api):
    before = await count(api)
    for url in FORBIDDEN:
        answer = await api.http.post(
            "/v1/webhook-endpoints",
            json={"url": url, "events": ["return.approved"]},
            headers=api.auth("ops"),
        )
        assert answer.status_code == 422, (url, answer.text)
        assert answer.json()["errors"][0]["field"] == "url"
    assert await count(api) == before


async def test_a_name_that_resolves_to_loopback_or_metadata_is_refused():
    async def dns(host: str) -> list[str]:
        return {
            "hooks.example": ["93.184.216.34"],
            "sneaky.example": ["93.184.216.34", "127.0.0.1"],
        }.get(host, ["169.254.169.254"])

    await check_url("https://hooks.example/in", resolver=dns)
    for url in ("https://sneaky.example/in", "https://rebinding.example/in"):
        with pytest.raises(ForbiddenUrl):
            await check_url(url, resolver=dns)
    # Private addresses may be allowed for development; metadata addresses never are.
    await check_url("http://127.0.0.1:9000/in", allow_private=True)
    with pytest.raises(ForbiddenUrl):
        await check_url("https://rebinding.example/in", allow_private=True, resolver=dns)


async def test_an_endpoint_shows_its_secret_once_and_only_ops_manage_endpoints(api):
    body = {
        "url": "https://93.184.216.34/returns",
        "events": ["return.refunded", "return.refund_failed"],
    }
    assert (
        await api.http.post("/v1/webhook-endpoints", json=body, headers=api.auth("agent"))
    ).status_code == 403
    created = await api.http.post("/v1/webhook-endpoints", json=body, headers=api.auth("ops"))
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert endpoint["secret"].startswith("whsec_")
    assert len(base64.b64decode(endpoint["secret"].removeprefix("whsec_"))) >= 24
    listed = (await api.http.get("/v1/webhook-endpoints", headers=api.auth("ops"))).json()["data"]
    mine = [e for e in listed if e["id"] == endpoint["id"]]
    assert mine and "secret" not in mine[0] and mine[0]["enabled"] is True
    unknown = await api.http.post(
        "/v1/webhook-endpoints",
        json={**body, "events": ["return.teleported"]},
        headers=api.auth("ops"),
    )
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "events[0]"
    log = await api.http.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=api.auth("ops")
    )
    assert log.status_code == 200 and log.json() == {"data": []}
    gone = await api.http.delete(f"/v1/webhook-endpoints/{endpoint['id']}", headers=api.auth("ops"))
    assert gone.status_code == 204
    again = await api.http.delete(
        f"/v1/webhook-endpoints/{endpoint['id']}", headers=api.auth("ops")
    )
    assert again.status_code == 404
    missing = await api.http.get(
        f"/v1/webhook-endpoints/{endpoint['id']}/deliveries", headers=api.auth("ops")
    )
    assert missing.status_code == 404


async def test_ops_redeliver_an_event_with_the_same_webhook_id(api):
    secret = webhook_secret()
    received: list[tuple[str, dict]] = []
    receiver = FastAPI()

    @receiver.post("/in")
    async def take(request: Request) -> Response:
        event = Webhook(secret).verify(await request.body(), dict(request.headers))
        received.append((request.headers["webhook-id"], event))
        return Response(status_code=204)

    async with serving(receiver) as url:
        async with api.sessions.begin() as session:  # the API refuses loopback URLs
            session.add(endpoint_row("we_redeliver", f"{url}/in", ["return.approved"], secret))
        try:
            created = (await api.create(await api.put_order())).json()
            mine = await eventually(
                lambda: [r for r in received if r[1]["data"]["id"] == created["id"]]
            )
            [delivery] = await delivered(api, lambda d: d["return_id"] == created["id"], 1)

            path = f"/v1/webhook-endpoints/we_redeliver/deliveries/{delivery['id']}/redeliver"
            assert (await api.http.post(path, headers=api.auth("agent"))).status_code == 403
            missing = await api.http.post(path + "x", headers=api.auth("ops"))
            assert missing.status_code == 404
            answer = await api.http.post(path, headers=api.auth("ops"))
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "pending"

            again = await eventually(
                lambda: [r for r in received if r[1]["data"]["id"] == created["id"]][1:]
            )
            assert again[0][0] == mine[0][0] == delivery["event_id"]  # the same webhook-id
            await delivered(api, lambda d: d["id"] == delivery["id"], 2)
        finally:
            await api.http.delete("/v1/webhook-endpoints/we_redeliver", headers=api.auth("ops"))


async def delivered(api, which, attempts: int) -> list[dict]:
    """The deliveries `which` picks from the log, once delivered after `attempts` attempts."""
    for _ in range(100):
        answer = await api.http.get(
            "/v1/webhook-endpoints/we_redeliver/deliveries", headers=api.auth("ops")
        )
        assert answer.status_code == 200, answer.text
        found = [d for d in answer.json()["data"] if which(d)]
        if found and all(
            d["status"] == "delivered" and len(d["attempts"]) == attempts for d in found
        ):
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"not delivered after {attempts} attempts: {found}")


async def eventually(probe, timeout: float = 20.0):
    for _ in range(int(timeout * 10)):
        if found := probe():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError("not within the time")


async def test_a_receiver_that_redirects_to_loopback_is_not_followed(api):
    secret = webhook_secret()
    stolen: list[bytes] = []
    inside = FastAPI()  # what an attacker would reach: something only loopback can see

    @inside.post("/admin")
    async def admin(request: Request) -> Response:
        stolen.append(await request.body())
        return Response(status_code=204)

    async with serving(inside) as inside_url:
        outside = FastAPI()

        @outside.post("/in")
        async def bounce() -> Response:
            return Response(status_code=307, headers={"location": f"{inside_url}/admin"})

        async with serving(outside) as url:
            async with api.sessions.begin() as session:
                session.add(endpoint_row("we_bounce", f"{url}/in", ["return.approved"], secret))
            try:
                created = (await api.create(await api.put_order())).json()
                for _ in range(100):
                    page = await api.http.get(
                        "/v1/webhook-endpoints/we_bounce/deliveries", headers=api.auth("ops")
                    )
                    mine = [d for d in page.json()["data"] if d["return_id"] == created["id"]]
                    if mine and mine[0]["attempts"]:
                        break
                    await asyncio.sleep(0.1)
                [delivery] = mine
                assert delivery["status"] == "pending"  # a redirect is a failed attempt
                assert delivery["attempts"][0]["status_code"] == 307
                assert delivery["next_attempt_at"] is not None
            finally:
                await api.http.delete("/v1/webhook-endpoints/we_bounce", headers=api.auth("ops"))
    assert stolen == []
