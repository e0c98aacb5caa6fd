"""An outbox relay: sends what a table holds, in the worker process, after the transaction that
wrote it committed, so that a peer that is slow or down never holds a return up and nothing is
lost. Each row is claimed for a while (one conditional UPDATE, so two workers never send the same
row at once), sent, and marked sent; a failed send is tried again with growing pauses (up to an
hour apart) for three days, then marked failed. A row may be sent twice only if a worker dies
between the peer's acceptance and the mark, so every send carries the row's key for the peer to
drop the repeat (a Message-ID, an Idempotency-Key).

The table needs `idempotency_key`, `status` (pending, sent, failed), `attempts`,
`next_attempt_at`, `sent_at`, `last_error` and `created_at`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.domain.retries import relay_retry

log = logging.getLogger(__name__)

CLAIM = timedelta(minutes=2)
GIVE_UP_AFTER = timedelta(days=3)
BATCH = 20


class Refused(Exception):
    """The peer said no for good: the row is failed at once, not tried again."""


class Relay:
    table: ClassVar[Any]
    # Failures worth another try later; anything else is a bug and propagates.
    retryable: ClassVar[tuple[type[Exception], ...]]
    name: ClassVar[str]

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def send(self, row: Any) -> None:
        raise NotImplementedError

    async def run(self, stop: asyncio.Event, every: float = 1.0) -> None:
        while not stop.is_set():
            try:
                await self.deliver_due()
            except Exception:  # noqa: BLE001 - the store may be away for a moment; keep going
                log.exception("%s relay pass failed", self.name)
            try:
                await asyncio.wait_for(stop.wait(), timeout=every)
            except TimeoutError:
                pass

    async def deliver_due(self) -> int:
        """Send every row that is due now; the number sent."""
        sent = 0
        while rows := await self._claim():
            for row in rows:
                sent += await self._deliver(row)
        return sent

    async def _claim(self) -> list[Any]:
        table = self.table
        now = datetime.now(UTC)
        async with self.sessions.begin() as session:
            due = (
                await session.scalars(
                    select(table.idempotency_key)
                    .where(table.status == "pending")
                    .where(table.next_attempt_at <= now)
                    .order_by(table.next_attempt_at)
                    .limit(BATCH)
                )
            ).all()
            if not due:
                return []
            claimed = await session.scalars(
                update(table)
                .where(
                    table.idempotency_key.in_(due),
                    table.status == "pending",
                    table.next_attempt_at <= now,
                )
                .values(next_attempt_at=now + CLAIM)
                .returning(table)
            )
            return list(claimed.all())

    async def _deliver(self, row: Any) -> int:
        now = datetime.now(UTC)
        failures: tuple[type[Exception], ...] = (Refused, *self.retryable)
        try:
            await self.send(row)
        except failures as error:
            attempts = row.attempts + 1
            gave_up = isinstance(error, Refused) or now - row.created_at > GIVE_UP_AFTER
            await self._mark(
                row,
                attempts=attempts,
                last_error=repr(error)[:500],
                status="failed" if gave_up else "pending",
                next_attempt_at=now + relay_retry(attempts),
            )
            key = row.idempotency_key
            log.warning("%s %s not sent (attempt %d): %r", self.name, key, attempts, error)
            return 0
        await self._mark(
            row, status="sent", sent_at=now, attempts=row.attempts + 1, last_error=None
        )
        return 1

    async def _mark(self, row: Any, **values: Any) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(self.table)
                .where(self.table.idempotency_key == row.idempotency_key)
                .values(**values)
            )
