"""Shopify's webhooks: `orders/create`, `orders/updated` and `refunds/create` on
`POST /v1/shopify/webhooks`. Each is checked first: `X-Shopify-Hmac-Sha256` must be the base64
HMAC-SHA256 of the raw body with the app's client secret (compared in constant time) and
`X-Shopify-Shop-Domain` the shop configured. The order it names is then read again through the
Admin GraphQL API and kept as our snapshot, so that a late or repeated webhook writes the order as
it is now. Each webhook is kept once by `X-Shopify-Webhook-Id`: a repeat answers at once.

Shopify counts anything but a 2xx within five seconds as failed and sends the webhook again (up to
8 times over 4 hours): an order Shopify could not be asked about answers 503, so it comes again;
an order our store refuses (a line a return holds was taken off it) answers 200 and says why,
since sending it again could not change that."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Request
from pydantic import BaseModel, Field

from returns_service.api.deps import SettingsDep
from returns_service.api.errors import InvalidInput, Unauthorized, Unavailable
from returns_service.shopify.client import ShopifyClient, ShopifyRefused, ShopifyUnavailable
from returns_service.shopify.sync import keep_order
from returns_service.store.tables import ShopifyWebhookRow
from returns_service.store.upsert import insert_once

router = APIRouter(prefix="/v1/shopify", tags=["shopify"])

TOPICS = ("orders/create", "orders/updated", "refunds/create")
WEBHOOK_ID = re.compile(r"[A-Za-z0-9._:-]{1,255}")
ORDER_GID = re.compile(r"gid://shopify/Order/[1-9][0-9]{0,19}")


class ShopifyWebhookOut(BaseModel):
    id: str = Field(description="Shopify's id of the webhook (X-Shopify-Webhook-Id).")
    topic: str
    order_id: str | None = Field(description="Our id of the order it was about.")
    duplicate: bool = Field(description="The webhook was taken in before; nothing was done.")
    outcome: str = Field(
        description="kept (the order's snapshot was written), ignored (a topic not taken),"
        " gone (Shopify has no such order now), or why the order was refused."
    )


def verified(raw: bytes, signature: str, secret: str) -> bool:
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).digest()
    return hmac.compare_digest(base64.b64encode(digest), signature.strip().encode())


@router.post("/webhooks", status_code=200, response_model=ShopifyWebhookOut)
async def shopify_webhook(
    request: Request,
    settings: SettingsDep,
    x_shopify_hmac_sha256: Annotated[str, Header(max_length=200)] = "",
    x_shopify_topic: Annotated[str, Header(max_length=64)] = "",
    x_shopify_shop_domain: Annotated[str, Header(max_length=255)] = "",
    x_shopify_webhook_id: Annotated[str, Header(max_length=255)] = "",
) -> ShopifyWebhookOut:
    secret = settings.shopify_webhook_secret
    if secret is None or settings.shopify_access_token is None:
        raise Unavailable(
            "Shopify webhooks are not configured: set RETURNS_SHOPIFY_WEBHOOK_SECRET,"
            " RETURNS_SHOPIFY_SHOP and RETURNS_SHOPIFY_ACCESS_TOKEN"
        )
    raw = await request.body()
    # The signature before anything of the body or its headers is believed.
    if not verified(raw, x_shopify_hmac_sha256, secret.get_secret_value()):
        raise Unauthorized("the webhook's X-Shopify-Hmac-Sha256 does not verify")
    if x_shopify_shop_domain != settings.shopify_shop:
        raise Unauthorized(f"webhooks are taken from {settings.shopify_shop} only")
    if not WEBHOOK_ID.fullmatch(x_shopify_webhook_id):
        raise InvalidInput(
            "X-Shopify-Webhook-Id", "missing or not an id: every Shopify webhook carries one"
        )
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInput("body", "not a JSON webhook") from None
    sessions = request.app.state.write_sessions
    async with sessions.begin() as session:
        seen = await session.get(ShopifyWebhookRow, x_shopify_webhook_id)
    if seen is not None:
        return ShopifyWebhookOut(
            id=x_shopify_webhook_id,
            topic=seen.topic,
            order_id=seen.order_id,
            duplicate=True,
            outcome=seen.outcome,
        )
    shopify_id = _order_named(x_shopify_topic, body)
    if shopify_id is None:
        outcome, ours = "ignored", None
    else:
        client = ShopifyClient(
            settings.shopify_graphql_url(), settings.shopify_access_token.get_secret_value()
        )
        try:
            kept = await keep_order(client, sessions, shopify_id)
        except ShopifyUnavailable as error:
            raise Unavailable(f"{error}; send the webhook again") from None
        except ShopifyRefused as error:
            # Our token or query is wrong: nothing Shopify's retry can mend, but ops must see it.
            raise Unavailable(str(error)) from None
        finally:
            await client.close()
        outcome, ours = kept.outcome, kept.order_id
    async with sessions.begin() as session:
        fresh = await insert_once(
            session,
            ShopifyWebhookRow,
            {
                "id": x_shopify_webhook_id,
                "topic": x_shopify_topic[:64],
                "order_id": ours,
                "outcome": outcome[:500],
                "received_at": datetime.now(UTC),
            },
        )
    return ShopifyWebhookOut(
        id=x_shopify_webhook_id,
        topic=x_shopify_topic,
        order_id=ours,
        duplicate=not fresh,
        outcome=outcome,
    )


def _order_named(topic: str, body: object) -> str | None:
    """The Shopify id of the order a webhook is about, for the topics taken."""
    if topic not in TOPICS or not isinstance(body, dict):
        return None
    found = body.get("admin_graphql_api_id") if topic.startswith("orders/") else None
    if isinstance(found, str) and ORDER_GID.fullmatch(found):
        return found
    number = body.get("id") if topic.startswith("orders/") else body.get("order_id")
    if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 10**20:
        return str(number)
    return None
