"""Restocks told to a warehouse system: written with the stock movement, sent by the WMS relay
under the movement's key, booked once however often the WMS fails or the restock is repeated,
against a local server that behaves as the documented WMS API."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select, update

from returns_service.activities.stock import StoreInventory
from returns_service.activities.wms import WmsRelay
from returns_service.domain.messages import RestockItem, RestockItems
from returns_service.store.tables import StockLevelRow, WmsOutboxRow
from tests.api.conftest import serving
from tests.fakes.wms import FakeWms


def restock(n: int, sku: str = "SKU-001", quantity: int = 2) -> RestockItems:
    return RestockItems(
        return_id=f"ret_wms_{n:03d}",
        location="WH1",
        items=[RestockItem(item_id="ri_1", sku=sku, quantity=quantity)],
    )


async def time_passes(sessions) -> None:
    """Every pending restock is due again (what the relay's pauses would bring)."""
    async with sessions.begin() as session:
        await session.execute(
            update(WmsOutboxRow)
            .where(WmsOutboxRow.status == "pending")
            .values(next_attempt_at=datetime.now(UTC))
        )


async def test_restocks_reach_the_wms_once_though_30_percent_of_calls_fail(sessions):
    wms = FakeWms(failure_rate=0.3)
    inventory = StoreInventory(sessions, tell_wms=True)
    for n in range(30):
        await inventory.restock(restock(n))
        await inventory.restock(restock(n))  # the local activity ran again: nothing new
    async with serving(wms.app()) as url:
        relay = WmsRelay(sessions, url, wms.api_key, timeout=0.3)
        for _ in range(30):
            await relay.deliver_due()
            async with sessions() as session:
                pending = (
                    await session.scalars(
                        select(WmsOutboxRow).where(WmsOutboxRow.status == "pending")
                    )
                ).all()
            if not pending:
                break
            await time_passes(sessions)
        await relay.close()
    assert len(wms.faults) == 3 and sum(wms.faults.values()) >= 8
    assert len(wms.receipts) == 30 and wms.stock[("SKU-001", "WH1")] == 60
    async with sessions() as session:
        rows = (await session.scalars(select(WmsOutboxRow))).all()
        level = await session.get(StockLevelRow, ("SKU-001", "WH1"))
    assert {row.status for row in rows} == {"sent"} and len(rows) == 30
    assert max(row.attempts for row in rows) >= 2  # some were tried again
    assert level is not None and level.quantity == 60  # the shop's own count agrees


async def test_a_restock_the_wms_refuses_is_kept_failed_with_its_reason(sessions):
    wms = FakeWms(unknown_skus={"SKU-GONE"})
    await StoreInventory(sessions, tell_wms=True).restock(restock(1, sku="SKU-GONE"))
    async with serving(wms.app()) as url:
        assert await WmsRelay(sessions, url, wms.api_key).deliver_due() == 0
    async with sessions() as session:
        [row] = (await session.scalars(select(WmsOutboxRow))).all()
    assert row.status == "failed" and "unknown SKU SKU-GONE" in (row.last_error or "")
    assert wms.receipts == {}


async def test_without_a_wms_nothing_waits_to_be_told(sessions):
    await StoreInventory(sessions).restock(restock(1))
    async with sessions() as session:
        assert (await session.scalars(select(WmsOutboxRow))).all() == []
