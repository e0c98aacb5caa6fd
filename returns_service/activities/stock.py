"""The built-in inventory adapter: stock levels per SKU and location in the store, each restock
keyed `restock:{return_id}:{item}` (and, with a warehouse system configured, put in the WMS outbox
under that key for the WMS relay)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from returns_service.domain.messages import RestockItems
from returns_service.store.db import Sessions
from returns_service.store.tables import (
    StockLevelRow,
    StockMovementRow,
    WmsOutboxRow,
)
from returns_service.store.upsert import add_to, insert_once


class StoreInventory:
    """Stock levels in the store. With a warehouse system to tell (`tell_wms`), each restock
    also goes to the WMS outbox in the same transaction, for the WMS relay to send."""

    def __init__(self, sessions: Sessions, tell_wms: bool = False) -> None:
        self.sessions = sessions
        self.tell_wms = tell_wms

    async def restock(self, request: RestockItems) -> dict[str, int]:
        async with self.sessions.begin() as session:
            for item in request.items:
                now = datetime.now(UTC)
                movement = {
                    "idempotency_key": f"restock:{request.return_id}:{item.item_id}",
                    "return_id": request.return_id,
                    "sku": item.sku,
                    "location": request.location,
                    "quantity": item.quantity,
                    "created_at": now,
                }
                moved = await insert_once(session, StockMovementRow, movement)
                if not moved:
                    continue
                if self.tell_wms:
                    await insert_once(session, WmsOutboxRow, {**movement, "next_attempt_at": now})
                await add_to(
                    session,
                    StockLevelRow,
                    {"sku": item.sku, "location": request.location, "quantity": item.quantity},
                    keys=["sku", "location"],
                    column="quantity",
                )
            rows = (
                await session.scalars(
                    select(StockMovementRow).where(StockMovementRow.return_id == request.return_id)
                )
            ).all()
            return {row.idempotency_key.rsplit(":", 1)[1]: row.quantity for row in rows}
