"""What the policy simulator reads (each return's recorded eligibility facts and verdict), and
how it decides a period of them again: in this process for a few, spread over the machine's
cores for many (profiled: reading and deciding 100,000 returns took 10 s on one core)."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.models import Policy
from returns_service.domain.simulation import (
    Recorded,
    RecordedInputs,
    Redecided,
    Simulator,
    redecided,
)
from returns_service.store.tables import ReturnInputRow, ReturnRow

BATCH = 1000
# From this many returns on, they are decided in processes of their own, one per core.
IN_PROCESSES_FROM = 5000
MOST_PROCESSES = 8
_pool: ProcessPoolExecutor | None = None


def recorded(row: Sequence[Any]) -> Recorded:
    """One return from its row (id, number, created_at, facts as JSON text, outcome, estimate,
    decided_at): the facts are parsed and validated in one pass from their text (decoding them
    to dicts first and validating those took over half the time)."""
    return_id, number, created_at, facts, outcome, estimate, decided_at = row
    inputs = RecordedInputs.model_validate_json(facts)
    return Recorded.model_construct(
        id=return_id,
        number=number,
        created_at=created_at,
        outcome=outcome,
        estimated_refund_amount=estimate,
        held=inputs.registered.held,
        facts=inputs.facts(decided_at.astimezone(UTC)),
    )


@lru_cache(maxsize=4)
def _draft(policy: str) -> Policy:
    return Policy.model_validate_json(policy)


def redecide(policy: str, rows: list[tuple[Any, ...]]) -> list[Redecided]:
    """A batch of rows decided again under the draft (given as JSON): what a simulating process
    runs."""
    draft = _draft(policy)
    return [redecided(recorded(row), draft) for row in rows]


def _period(after: datetime, before: datetime) -> Any:
    return (
        ReturnInputRow.created_at >= after,
        ReturnInputRow.created_at < before,
        ReturnInputRow.outcome.is_not(None),
    )


async def decided_rows(
    session: AsyncSession, after: datetime, before: datetime
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Every return created in [after, before) that the policy has decided, oldest first, in
    batches of rows."""
    query = (
        select(
            ReturnInputRow.return_id,
            ReturnRow.number,
            ReturnInputRow.created_at,
            type_coerce(ReturnInputRow.facts, String),
            ReturnInputRow.outcome,
            ReturnInputRow.estimated_refund_amount,
            ReturnInputRow.decided_at,
        )
        .join(ReturnRow, ReturnRow.id == ReturnInputRow.return_id)
        .where(*_period(after, before))
        .order_by(ReturnInputRow.created_at, ReturnInputRow.return_id)
        .execution_options(yield_per=BATCH)
    )
    async for partition in (await session.stream(query)).partitions(BATCH):
        yield [tuple(row) for row in partition]


def cores() -> int:
    """The cores this process may run on (a container's share, not the host's count)."""
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return min(len(usable) if usable else (os.cpu_count() or 1), MOST_PROCESSES)


def _processes() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # Spawned, not forked: the API's threads (the store's, the event loop's) stay behind.
        _pool = ProcessPoolExecutor(
            max_workers=cores(), mp_context=multiprocessing.get_context("spawn")
        )
    return _pool


def stop_processes() -> None:
    """Stop the simulating processes (they start again when needed)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None


async def simulate_period(
    session: AsyncSession,
    draft: Policy,
    after: datetime,
    before: datetime,
    page_after: tuple[datetime, str] | None = None,
) -> Simulator:
    """Decide every return of the period again under `draft`, in the period's order."""
    simulator = Simulator(draft, page_after)
    count = await session.scalar(
        select(func.count()).select_from(ReturnInputRow).where(*_period(after, before))
    )
    if int(count or 0) < IN_PROCESSES_FROM or cores() == 1:
        async for rows in decided_rows(session, after, before):
            for row in rows:
                simulator.count(redecided(recorded(row), draft))
            await asyncio.sleep(0)  # others' requests are served between batches
        return simulator
    pool, policy = _processes(), draft.model_dump_json()
    waiting: deque[Future[list[Redecided]]] = deque()

    async def take_oldest() -> None:
        for decided in await asyncio.wrap_future(waiting.popleft()):
            simulator.count(decided)

    async for rows in decided_rows(session, after, before):
        waiting.append(pool.submit(redecide, policy, rows))
        if len(waiting) > 2 * cores():
            await take_oldest()
    while waiting:
        await take_oldest()
    return simulator
