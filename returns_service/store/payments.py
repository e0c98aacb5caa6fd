"""What a payment processor tells of a refund after it answered: a refund it accepted may settle
(`succeeded`) or fail later (Stripe's `refund.failed`); the ledger entry follows, forward only."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.store.tables import LedgerEntryRow

# A refund's outcome only moves forward: on its way, then paid, then (rarely, after it was paid)
# failed. An older word arriving late changes nothing.
RANK = {"pending": 0, "succeeded": 1, "failed": 2}


async def refund_by_reference(session: AsyncSession, reference: str) -> LedgerEntryRow | None:
    """The ledger entry the processor knows by `reference` (a Stripe refund id), locked."""
    return await session.scalar(
        select(LedgerEntryRow).where(LedgerEntryRow.provider_ref == reference).with_for_update()
    )


def settle_refund(row: LedgerEntryRow, status: str, failure: str | None) -> bool:
    """Move the entry to what the processor says of it now; False if that is no news."""
    if RANK.get(status, -1) <= RANK.get(row.status, -1):
        return False
    row.status = status
    row.failure = (failure or "failed")[:500] if status == "failed" else None
    return True
