"""List pages over a read model of a million returns, on SQLite and on PostgreSQL.

    python -m bench.list_returns                      # both databases, 1,000,000 returns
    python -m bench.list_returns --rows 100000 --database sqlite

Builds the read model with the project's migrations, then fills it in bulk (returns spread over
two years, 100,000 customers, 500,000 orders, realistic status and reason mixes), and times each
kind of list query the API serves: the store's `list_returns` (the query, reading and validating
50 documents) plus building the 50 response objects, as the route does. Prints p50 and p99 per
kind, in milliseconds, against the 50 ms p99 goal.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from returns_service.api.schemas import ReturnOut
from returns_service.domain.models import (
    Actor,
    Customer,
    Reason,
    ReturnItem,
    ReturnState,
    TimelineEntry,
)
from returns_service.domain.status import Status
from returns_service.runtime import freeze_startup_objects
from returns_service.store.db import create_engine, migrate_async, read_session_factory
from returns_service.store.returns import ReturnFilter, list_returns

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN_SECONDS = 2 * 365 * 24 * 3600
STATUSES = [
    ("closed", 60),
    ("label_sent", 10),
    ("shipped", 8),
    ("received", 5),
    ("rejected", 5),
    ("cancelled", 5),
    ("expired", 3),
    ("refunded", 2),
    ("pending_review", 2),
]
REASONS = [r.value for r in Reason]
CUSTOMERS = 100_000
ORDERS = 500_000
GOAL_MS = 50.0


def template() -> str:
    """One return's document as JSON, with placeholders for what differs per row."""
    state = ReturnState(
        id="@ID@",
        number="@NUMBER@",
        status=Status.CLOSED,
        customer=Customer(email="@EMAIL@"),
        currency="EUR",
        order_ids=["@ORDER@"],
        resolution="refund",
        items=[
            ReturnItem(
                id="ri_1",
                order_id="@ORDER@",
                line_id="l1",
                sku="SKU-001",
                name="Shirt",
                quantity=1,
                reason=Reason.WRONG_SIZE,
            )
        ],
        estimated_refund_amount=2725,
        created_at=START,
        updated_at=START,
        timeline=[TimelineEntry(at=START, status=Status.REQUESTED, actor=Actor(kind="customer"))],
    )
    text = state.model_dump_json()
    return (
        text.replace('"closed"', '"@STATUS@"', 1)
        .replace('"wrong_size"', '"@REASON@"')
        .replace(START.isoformat().replace("+00:00", "Z"), "@AT@")
    )


def rows(count: int, seed: int = 7) -> Iterator[tuple[Any, ...]]:
    rng = random.Random(seed)
    doc = template()
    names, weights = zip(*STATUSES, strict=True)
    for seq in range(1, count + 1):
        at = START + timedelta(
            seconds=SPAN_SECONDS * seq // count, microseconds=rng.randrange(1000)
        )
        status = rng.choices(names, weights)[0]
        email = f"c{rng.randrange(CUSTOMERS)}@example.com"
        order = f"o_{rng.randrange(ORDERS)}"
        reason = rng.choice(REASONS)
        rid = f"ret_{seq:026d}"
        number = f"R-{seq:07d}"
        document = (
            doc.replace("@ID@", rid)
            .replace("@NUMBER@", number)
            .replace("@STATUS@", status)
            .replace("@EMAIL@", email)
            .replace("@ORDER@", order)
            .replace("@REASON@", reason)
            .replace("@AT@", at.isoformat().replace("+00:00", "Z"))
        )
        yield (seq, rid, number, status, email, order, reason, f"RT{seq:012d}", at, document)


async def fill_sqlite(path: Path, count: int) -> None:
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA synchronous=off")
    batch: list[tuple[Any, ...]] = []

    def flush() -> None:
        db.executemany(
            "INSERT INTO returns (seq, id, number, status, customer_email, currency, resolution,"
            " tracking_number, version, created_at, updated_at, document)"
            " VALUES (?, ?, ?, ?, ?, 'EUR', 'refund', ?, 1, ?, ?, ?)",
            [
                (r[0], r[1], r[2], r[3], r[4], r[7], _sqlite_time(r[8]), _sqlite_time(r[8]), r[9])
                for r in batch
            ],
        )
        db.executemany(
            "INSERT INTO return_lines (return_id, item_id, order_id, line_id, quantity, reason,"
            " holds) VALUES (?, 'ri_1', ?, 'l1', 1, ?, 1)",
            [(r[1], r[5], r[6]) for r in batch],
        )
        db.executemany(
            "INSERT INTO return_reasons (return_id, reason, status, created_at)"
            " VALUES (?, ?, ?, ?)",
            [(r[1], r[6], r[3], _sqlite_time(r[8])) for r in batch],
        )
        db.commit()
        batch.clear()

    for row in rows(count):
        batch.append(row)
        if len(batch) == 20_000:
            flush()
    flush()
    db.execute("ANALYZE")
    db.close()


def _sqlite_time(at: datetime) -> str:
    # As the store writes it: UTC, naive, SQLAlchemy's SQLite format.
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def fill_postgres(url: str, count: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
    batch: list[tuple[Any, ...]] = []

    async def flush() -> None:
        await connection.copy_records_to_table(
            "returns",
            columns=[
                "seq",
                "id",
                "number",
                "status",
                "customer_email",
                "currency",
                "resolution",
                "tracking_number",
                "version",
                "created_at",
                "updated_at",
                "document",
            ],
            records=[
                (r[0], r[1], r[2], r[3], r[4], "EUR", "refund", r[7], 1, r[8], r[8], r[9])
                for r in batch
            ],
        )
        await connection.copy_records_to_table(
            "return_lines",
            columns=["return_id", "item_id", "order_id", "line_id", "quantity", "reason", "holds"],
            records=[(r[1], "ri_1", r[5], "l1", 1, r[6], True) for r in batch],
        )
        await connection.copy_records_to_table(
            "return_reasons",
            columns=["return_id", "reason", "status", "created_at"],
            records=[(r[1], r[6], r[3], r[8]) for r in batch],
        )
        batch.clear()

    for row in rows(count):
        batch.append(row)
        if len(batch) == 50_000:
            await flush()
    await flush()
    await connection.execute(f"SELECT setval('returns_seq_seq', {count})")
    await connection.execute("VACUUM ANALYZE")
    await connection.close()


def kinds(rng: random.Random, count: int) -> dict[str, Any]:
    """Each kind of list query, as a maker of its filter for one request."""

    def month() -> ReturnFilter:
        start = START + timedelta(days=rng.randrange(700))
        return ReturnFilter(created_after=start, created_before=start + timedelta(days=30))

    return {
        "newest page": lambda: ReturnFilter(),
        "one status (closed)": lambda: ReturnFilter(statuses=["closed"]),
        "one rare status (pending_review)": lambda: ReturnFilter(statuses=["pending_review"]),
        "two statuses": lambda: ReturnFilter(statuses=["received", "refunded"]),
        "customer email": lambda: ReturnFilter(
            customer_email=f"c{rng.randrange(CUSTOMERS)}@example.com"
        ),
        "order id": lambda: ReturnFilter(order_id=f"o_{rng.randrange(ORDERS)}"),
        "reason": lambda: ReturnFilter(reason=rng.choice(REASONS)),
        "return number": lambda: ReturnFilter(number=f"R-{rng.randrange(1, count):07d}"),
        "tracking number": lambda: ReturnFilter(
            tracking_number=f"RT{rng.randrange(1, count):012d}"
        ),
        "created in a month": month,
        "status + customer": lambda: ReturnFilter(
            statuses=["closed"], customer_email=f"c{rng.randrange(CUSTOMERS)}@example.com"
        ),
        "reason + status": lambda: ReturnFilter(
            reason=rng.choice(REASONS), statuses=["label_sent"]
        ),
    }


async def measure(url: str, count: int, repeats: int) -> dict[str, list[float]]:
    engine = create_engine(url)
    sessions = read_session_factory(engine)
    freeze_startup_objects()  # as the API process does once it has started
    rng = random.Random(11)
    cursor = None
    async with sessions() as session, session.begin():
        for _ in range(9):  # where the tenth page of the newest list starts
            _, cursor = await list_returns(session, ReturnFilter(), 50, cursor)
    makers = {name: (make, None) for name, make in kinds(rng, count).items()}
    makers["10th page by cursor"] = (ReturnFilter, cursor)
    timings: dict[str, list[float]] = {}
    for name, (make, after) in makers.items():
        samples: list[float] = []
        for attempt in range(repeats + 5):
            filters = make()
            async with sessions() as session:
                started = time.perf_counter()
                async with session.begin():
                    states, _ = await list_returns(session, filters, 50, after)
                [ReturnOut.build(state) for state in states]
                elapsed = (time.perf_counter() - started) * 1000
            if attempt >= 5:  # the first few warm the caches
                samples.append(elapsed)
        timings[name] = samples
    await engine.dispose()
    return timings


def p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(database: str, count: int, fill_seconds: float, timings: dict[str, list[float]]) -> None:
    print(f"\n{database}: {count:,} returns (filled in {fill_seconds:.0f} s); 50 per page")
    print(f"{'query':36} {'p50 ms':>8} {'p99 ms':>8}  goal p99 < {GOAL_MS:.0f} ms")
    worst = 0.0
    for name, samples in timings.items():
        p99 = p(samples, 0.99)
        worst = max(worst, p99)
        mark = "ok" if p99 < GOAL_MS else "SLOW"
        print(f"{name:36} {statistics.median(samples):8.2f} {p99:8.2f}  {mark}")
    print(f"worst p99 {worst:.2f} ms: {worst / GOAL_MS:.2f} of the goal")


async def run(database: str, count: int, repeats: int) -> None:
    if database == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="bench-list-"))
        url = f"sqlite+aiosqlite:///{folder / 'store.db'}"
        await migrate_async(url)
        started = time.perf_counter()
        await fill_sqlite(folder / "store.db", count)
        filled = time.perf_counter() - started
        report("SQLite", count, filled, await measure(url, count, repeats))
        return
    from tests.postgres import local_postgres

    with local_postgres("shared_buffers=512MB") as url:
        await migrate_async(url)
        started = time.perf_counter()
        await fill_postgres(url, count)
        filled = time.perf_counter() - started
        report("PostgreSQL", count, filled, await measure(url, count, repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per query kind")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    for database in ("sqlite", "postgresql") if args.database == "both" else (args.database,):
        asyncio.run(run(database, args.rows, args.repeats))


if __name__ == "__main__":
    main()
