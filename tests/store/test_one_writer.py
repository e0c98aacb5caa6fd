"""SQLite lets one writer in at a time and has the others poll for the lock, sleeping up to 100 ms
between tries, so that a newcomer gets in ahead of a step that has waited: under load a worker's
step waited its whole busy timeout and failed ("database is locked"), and the return's step
waited with it (bench/open_returns.py: workflow tasks of 8 s, creates answered 202 after 15 s).
The worker's store takes its transactions in turn instead."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from returns_service.store.db import session_factory
from returns_service.worker.main import store_engine


async def test_a_busy_workers_steps_take_the_store_in_turn_and_none_fails(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    # Thirty steps each holding the write lock 50 ms, 1.5 s in all: far longer than any one of
    # them would wait for SQLite's lock here (0.3 s).
    engine = store_engine(url, busy_seconds=0.3)
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        await session.execute(text("CREATE TABLE steps (n INTEGER PRIMARY KEY)"))

    async def step(n: int) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO steps (n) VALUES (:n)"), {"n": n})
            await asyncio.sleep(0.05)  # the worker serves other returns meanwhile

    try:
        await asyncio.gather(*(step(n) for n in range(30)))
        async with sessions() as session:
            assert await session.scalar(text("SELECT count(*) FROM steps")) == 30
    finally:
        await engine.dispose()
