"""The built-in inventory adapter: stock levels per SKU and location in the store, each restock
keyed `restock:{return_id}:{item}` (and, with a warehouse system configured, put in the WMS outbox
under that key for the WMS relay)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

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
            moved = await self.moved(session, request.return_id)
            for item in request.items:
                now = datetime.now(UTC)
                before = moved.get(item.item_id, 0)
                units = item.quantity - before
                if item.quantity <= before:
                    continue
                # The first movement of an item, then one per later receipt: named by the total
                # it brings the item to, so a repeat finds it made.
                key = f"restock:{request.return_id}:{item.item_id}"
                movement = {
                    "idempotency_key": key if not before else f"{key}:{item.quantity}",
                    "return_id": request.return_id,
                    "sku": item.sku,
                    "location": request.location,
                    "quantity": units,
                    "created_at": now,
                }
                if not await insert_once(session, StockMovementRow, movement):
                    continue
                if self.tell_wms:
                    await insert_once(session, WmsOutboxRow, {**movement, "next_attempt_at": now})
                await add_to(
                    session,
                    StockLevelRow,
                    {
                        "sku": item.sku,
                        "location": request.location,
                        "quantity": movement["quantity"],
                    },
                    keys=["sku", "location"],
                    column="quantity",
                )
            return await self.moved(session, request.return_id)

    @staticmethod
    async def moved(session: AsyncSession, return_id: str) -> dict[str, int]:
        """Per item, the units the return has put back in stock."""
        rows = (
            await session.scalars(
                select(StockMovementRow).where(StockMovementRow.return_id == return_id)
            )
        ).all()
        units: dict[str, int] = {}
        for row in rows:
            item_id = row.idempotency_key.split(":")[2]
            units[item_id] = units.get(item_id, 0) + row.quantity
        return units
