"""The API served by uvicorn on a loopback port, against the real Temporal dev server with a
worker running the real workflow and activities over one SQLite store."""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from returns_service.app import create_app
from returns_service.config import Settings
from returns_service.store.db import create_engine, migrate_async, session_factory
from returns_service.worker.main import build_activities, build_worker
from tests.conftest import SERVER_STARTUP, binary, free_port
from tests.factories import order_payload
from tests.fakes.easypost import FakeEasyPost
from tests.fakes.shopify import FakeShopify
from tests.fakes.stripe import FakeStripe

CARRIER_SECRET = "whsec_" + base64.b64encode(b"carrier events are signed with it").decode()
STRIPE_SECRET = "whsec_stripe_endpoint_secret_for_tests"
EASYPOST_SECRET = "easypost webhook secret for tests"
RETURN_ADDRESS = {
    "name": "Returns Centre", "company": "Shop Inc", "line1": "417 Montgomery St",
    "postal_code": "94104", "city": "San Francisco", "region": "CA", "country": "US",
    "phone": "+1 415 555 0100",
}  # fmt: skip
CUSTOMER_ADDRESS = {
    "name": "Ann Lee", "line1": "388 Townsend St", "postal_code": "94107", "city": "San Francisco",
    "region": "CA", "country": "US",
}  # fmt: skip


SHOPIFY_LOCATION = "gid://shopify/Location/4711"

KEYS = {
    role: f"{role}-key-{uuid.uuid4().hex}"
    for role in ("agent", "warehouse", "ops", "admin", "integration")
}


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free loopback port; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Api:
    http: httpx.AsyncClient
    settings: Settings
    sessions: Any
    temporal: Client
    engine: AsyncEngine
    app: Any = None

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[role]}"}

    async def put_order(self, order_id: str | None = None, **overrides: Any) -> str:
        order_id = order_id or f"o_{uuid.uuid4().hex[:10]}"
        # A customer of their own per order, so that one test's returns never count as another's.
        overrides.setdefault("email", f"{order_id}@example.com")
        payload = order_payload(number=order_id.upper(), **overrides)
        answer = await self.http.put(
            f"/v1/orders/{order_id}", json=payload, headers=self.auth("integration")
        )
        assert answer.status_code == 200, answer.text
        return order_id

    async def create(
        self, order_id: str, quantity: int = 1, role: str = "integration", **body: Any
    ) -> httpx.Response:
        items = [
            {
                "order_id": order_id,
                "line_id": body.pop("line_id", "l1"),
                "quantity": quantity,
                "reason": "wrong_size",
            }
        ]
        return await self.http.post(
            "/v1/returns", json={"items": items, **body}, headers=self.auth(role)
        )

    async def received_without_auto_refund(self) -> dict[str, Any]:
        """A return of one shirt, received in good condition, waiting for an agent's refund."""
        order_id = await self.put_order()
        await self.http.put("/v1/policy", json={"auto_refund": False}, headers=self.auth("admin"))
        try:
            body: dict[str, Any] = (await self.create(order_id)).json()
        finally:
            await self.http.put("/v1/policy", json={}, headers=self.auth("admin"))
        receipt = {
            "location": "WH1",
            "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
        }
        answer = await self.act(body["id"], "receive", "warehouse", receipt)
        assert answer.status_code == 200, answer.text
        return body

    async def act(
        self, return_id: str, action: str, role: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        return await self.http.post(
            f"/v1/returns/{return_id}/{action}", json=body or {}, headers=self.auth(role)
        )

    async def wait_for(self, return_id: str, status: str, timeout: float = 15) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            answer = await self.http.get(f"/v1/returns/{return_id}", headers=self.auth("ops"))
            body = answer.json()
            if body.get("status") == status or asyncio.get_running_loop().time() > deadline:
                return body  # type: ignore[no-any-return]
            await asyncio.sleep(0.1)


@asynccontextmanager
async def api_on(client: Client, data_dir: Path, **configured: Any) -> AsyncIterator[Api]:
    """The API and a worker over a fresh SQLite store, on `client`'s Temporal (with the
    settings `configured`, e.g. adapters)."""
    url = f"sqlite+aiosqlite:///{data_dir / 'store.db'}"
    await migrate_async(url)
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        api_keys=KEYS,
        task_queue=f"api-{uuid.uuid4().hex[:8]}",
        **{
            "carrier_webhook_secret": CARRIER_SECRET,
            # The providers' event endpoints answer (and check signatures) on every stack.
            "stripe_webhook_secret": STRIPE_SECRET,
            "easypost_webhook_secret": EASYPOST_SECRET,
            **configured,
        },
    )
    engine = create_engine(url)
    sessions = session_factory(engine)
    # The worker may deliver webhooks to receivers on loopback (tests put such endpoints in
    # the store directly); the API still refuses to register them.
    delivering = settings.model_copy(update={"webhooks_allow_private": True})
    worker: Worker = build_worker(client, settings, build_activities(delivering, sessions))
    app = create_app(settings, client, engine)
    async with worker, serving(app) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            yield Api(http, settings, sessions, client, engine, app)
    await engine.dispose()


@pytest.fixture(scope="session")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    async with await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=binary("temporal"),
        dev_server_startup_timeout=SERVER_STARTUP,
    ) as env:
        async with api_on(env.client, tmp_path_factory.mktemp("api")) as api:
            yield api


@dataclass
class Providers:
    stripe: FakeStripe
    easypost: FakeEasyPost
    api: Api
    shopify: FakeShopify

    async def paid_order(self) -> str:
        """An order shipped to Ann and paid with a Stripe charge."""
        order_id = f"o_{uuid.uuid4().hex[:10]}"
        payload = order_payload(number=order_id.upper(), email=f"{order_id}@example.com")
        payload["shipping_address"] = CUSTOMER_ADDRESS
        capture = payload["captures"][0]
        self.stripe.add_charge(capture["id"], capture["amount"])
        answer = await self.api.http.put(
            f"/v1/orders/{order_id}", json=payload, headers=self.api.auth("integration")
        )
        assert answer.status_code == 200, answer.text
        return order_id


@pytest.fixture(scope="session")
async def providers(api: Api, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Providers]:
    """A second API and worker on the same Temporal, configured as the README's provider
    sections say, against local servers that behave as Stripe, EasyPost and Shopify document."""
    stripe, easypost, shopify = FakeStripe(), FakeEasyPost(), FakeShopify()
    async with (
        serving(stripe.app()) as stripe_url,
        serving(easypost.app()) as easypost_url,
        serving(shopify.app()) as shopify_url,
    ):
        easypost.base_url = easypost_url
        async with api_on(
            api.temporal,
            tmp_path_factory.mktemp("providers"),
            payments="stripe",
            stripe_api_key=stripe.api_key,
            stripe_api_base=stripe_url,
            carrier="easypost",
            easypost_api_key=easypost.api_key,
            easypost_api_base=f"{easypost_url}/v2",
            easypost_carriers=["USPS"],
            return_address=RETURN_ADDRESS,
            shopify_shop=shopify.shop,
            shopify_access_token=shopify.access_token,
            shopify_api_base=shopify_url,
            shopify_webhook_secret=shopify.client_secret,
            shopify_location_id=SHOPIFY_LOCATION,
        ) as stack:
            yield Providers(stripe, easypost, stack, shopify)


@contextmanager
def configured(app: Any, **settings: Any) -> Iterator[None]:
    """The API answering with `settings` changed, for the time of a `with`."""
    before = app.state.settings
    app.state.settings = before.model_copy(update=settings)
    try:
        yield
    finally:
        app.state.settings = before


def forget_sign_in_failures(app: Any) -> None:
    """Every test talks to the API from the same address: one's wrong sign-ins are not
    another's."""
    app.state.session_failures.events.clear()
    app.state.session_address_failures.events.clear()


@pytest.fixture(autouse=True)
def _fresh_sign_in_failures(request: pytest.FixtureRequest) -> None:
    if "api" in request.fixturenames:
        forget_sign_in_failures(request.getfixturevalue("api").app)
