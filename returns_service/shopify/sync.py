"""Shopify's orders into the store: one order as Shopify has it now (what a webhook tells of), and
every order changed since a date (`returns shopify import --since`).

A webhook is a word that an order changed, not the order: the order is read again through GraphQL
(the webhook's body has no transactions, which refunds are paid from), so a late or repeated
webhook writes the order as it is now, never as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from returns_service.shopify.client import ShopifyClient
from returns_service.shopify.orders import (
    ORDER_QUERY,
    ORDERS_PAGE,
    NotAnOrder,
    gid,
    order_from_shopify,
    order_id,
)
from returns_service.store.db import Sessions
from returns_service.store.orders import OrderChangeRefused, put_order

log = logging.getLogger(__name__)


@dataclass
class Kept:
    order_id: str
    # kept, gone (Shopify has no such order now), or why the snapshot was refused.
    outcome: str


async def keep_order(client: ShopifyClient, sessions: Sessions, shopify_id: str) -> Kept:
    """Read the order (a gid or a numeric id) from Shopify and keep it as our snapshot."""
    global_id = shopify_id if shopify_id.startswith("gid://") else gid("Order", shopify_id)
    ours = order_id(global_id)
    data = await client.query(ORDER_QUERY, {"id": global_id})
    node = (data or {}).get("order")
    if node is None:
        return Kept(ours, "gone")
    try:
        order = order_from_shopify(node)
    except NotAnOrder as error:
        log.warning("Shopify order %s not kept: %s", ours, error)
        return Kept(ours, f"not readable: {error}"[:500])
    try:
        async with sessions.begin() as session:
            await put_order(session, order, datetime.now(UTC))
    except OrderChangeRefused as refused:
        log.warning("Shopify order %s not kept: %s", ours, refused.detail)
        return Kept(ours, f"refused ({refused.field}): {refused.detail}"[:500])
    return Kept(ours, "kept")


@dataclass
class Imported:
    pages: int = 0
    kept: int = 0
    not_kept: list[Kept] = field(default_factory=list)


async def import_orders(
    client: ShopifyClient,
    sessions: Sessions,
    since: date,
    page_size: int = 50,
    progress: Callable[[Kept], Any] | None = None,
) -> Imported:
    """Every order changed on or after `since`, page by page (Shopify's cursor), each read and
    kept as a webhook's would be; the client waits for Shopify's bucket as it must."""
    done = Imported()
    after: str | None = None
    while True:
        data = await client.query(
            ORDERS_PAGE,
            {"first": page_size, "after": after, "query": f"updated_at:>={since.isoformat()}"},
        )
        page = data["orders"]
        done.pages += 1
        for node in page["nodes"]:
            kept = await keep_order(client, sessions, node["id"])
            if kept.outcome == "kept":
                done.kept += 1
            else:
                done.not_kept.append(kept)
            if progress is not None:
                progress(kept)
        if not page["pageInfo"]["hasNextPage"]:
            return done
        after = page["pageInfo"]["endCursor"]
