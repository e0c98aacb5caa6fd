"""The policy simulator over 100,000 returns, on SQLite.

    python -m bench.simulate_policy               # 100,000 returns
    python -m bench.simulate_policy --rows 20000

Builds a store with the project's migrations and fills it with returns as the workflow records
them (each with its eligibility facts: one order of one to three lines, one or two items, the
customer's recent returns, some on the block list) and the verdict of the shop's policy on them,
decided by the same code. Then times what `POST /v1/policy/simulations` does (read every return
of the period from the store and decide it again under a draft) for the policy they ran under
(which must change nothing) and for a stricter draft with rules. Prints seconds per run and the
ratio to the 10 s goal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from returns_service.domain.eligibility import EligibilityFacts, decide
from returns_service.domain.models import Policy, Reason
from returns_service.domain.simulation import OUTCOME
from returns_service.store.db import create_engine, migrate_async, read_session_factory
from returns_service.store.simulation import simulate_period

START = datetime(2026, 1, 1, tzinfo=UTC)
GOAL_SECONDS = 10.0
POLICY = Policy(review_above_amount=20_000)
DRAFT = Policy(
    review_above_amount=15_000,
    restocking_fee_percent=5,
    rules=[
        {"name": "no-final-tvs", "when": {"categories": ["electronics"], "amount_above": 50_000},
         "then": {"review": True}},
        {"name": "shoes-fee", "when": {"categories": ["shoes"]},
         "then": {"restocking_fee_percent": 15, "return_shipping_fee": 495}},
        {"name": "damaged-free", "when": {"reasons": ["damaged", "defective"]},
         "then": {"return_shipping_fee": 0}},
    ],
)  # fmt: skip
CATEGORIES = ["apparel", "shoes", "electronics", "home"]
REASONS = [r.value for r in Reason]


def one_return(index: int, rng: random.Random) -> tuple[dict[str, Any], datetime, str, int]:
    created = START + timedelta(seconds=index * 60)
    order_id = f"o_{index}"
    lines = []
    for number in range(rng.randint(1, 3)):
        quantity = rng.randint(1, 3)
        unit = rng.choice([1999, 4900, 8990, 24900, 69900])
        lines.append(
            {
                "id": f"l{number}",
                "sku": f"SKU-{rng.randint(1, 500)}",
                "name": f"Item {number}",
                "quantity": quantity,
                "unit_amount": unit,
                "discount_amount": rng.choice([0, 0, 500]),
                "tax_amount": unit * quantity * 19 // 100,
                "category": rng.choice(CATEGORIES),
                "final_sale": rng.random() < 0.03,
            }
        )
    email = f"c{rng.randint(1, 30_000)}@example.com"
    order = {
        "id": order_id,
        "number": str(100_000 + index),
        "customer": {"email": email},
        "currency": "EUR",
        "placed_at": (created - timedelta(days=rng.randint(3, 50))).isoformat(),
        "delivered_at": (created - timedelta(days=rng.randint(1, 45))).isoformat(),
        "lines": lines,
    }
    chosen = rng.sample(lines, k=min(len(lines), rng.randint(1, 2)))
    items = [
        {
            "id": f"ri_{n + 1}",
            "order_id": order_id,
            "line_id": line["id"],
            "sku": line["sku"],
            "name": line["name"],
            "quantity": rng.randint(1, line["quantity"]),
            "reason": rng.choice(REASONS),
        }
        for n, line in enumerate(chosen)
    ]
    blocked = rng.random() < 0.01
    registered = {
        "orders": {order_id: order},
        "available_quantity": {item["id"]: 3 for item in items},
        "prior_quantity": {item["id"]: 0 for item in items},
        "reserved": True,
        "returns_in_90_days": rng.choice([0, 0, 0, 1, 2, 7]),
        "held": {},
        "customer_list": "blocked" if blocked else None,
        "customer_list_reason": "chargebacks" if blocked else None,
    }
    facts = {
        "registered": registered,
        "items": items,
        "customer_email": email,
        "method": "label",
        "store_id": None,
        "actor": "customer",
    }
    decided_at = created + timedelta(seconds=1)
    verdict = decide(
        EligibilityFacts(
            now=decided_at,
            orders=registered["orders"],
            items=items,
            available_quantity=registered["available_quantity"],
            prior_quantity=registered["prior_quantity"],
            reserved=True,
            returns_in_90_days=registered["returns_in_90_days"],
            customer_list=registered["customer_list"],
            customer_list_reason=registered["customer_list_reason"],
            customer_email=email,
        ),
        {},
        POLICY,
    )
    return facts, created, OUTCOME[verdict.event], verdict.estimated_refund_amount


def _time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def fill(path: Path, count: int) -> None:
    await migrate_async(f"sqlite+aiosqlite:///{path}")
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA synchronous=off")
    rng = random.Random(11)
    returns, inputs = [], []
    for index in range(count):
        facts, created, outcome, refund = one_return(index, rng)
        return_id = f"ret_{index:08d}"
        returns.append((index + 1, return_id, f"R-{index + 1:06d}", outcome, _time(created)))
        decided = _time(created + timedelta(seconds=1))
        inputs.append((return_id, _time(created), json.dumps(facts), outcome, refund, decided))
    db.executemany(
        "INSERT INTO returns (seq, id, number, status, customer_email, currency, resolution,"
        " version, created_at, updated_at) VALUES (?, ?, ?, ?, 'c@example.com', 'EUR', 'refund',"
        " 1, ?, ?)",
        [(*r, r[4]) for r in returns],
    )
    db.executemany(
        "INSERT INTO return_inputs (return_id, created_at, facts, outcome,"
        " estimated_refund_amount, decided_at) VALUES (?, ?, ?, ?, ?, ?)",
        inputs,
    )
    db.commit()
    db.close()


async def simulate(path: Path, draft: Policy, count: int) -> tuple[float, int, int]:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    sessions = read_session_factory(engine)
    began = time.perf_counter()
    async with sessions() as session, session.begin():
        end = START + timedelta(seconds=count * 60 + 1)
        simulator = await simulate_period(session, draft, START, end)
    seconds = time.perf_counter() - began
    await engine.dispose()
    return seconds, simulator.result.returns, simulator.result.changed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "store.db"
        began = time.perf_counter()
        await fill(path, args.rows)
        print(f"filled {args.rows:,} returns in {time.perf_counter() - began:.1f} s")
        for name, draft in (("the policy they ran under", POLICY), ("a stricter draft", DRAFT)):
            seconds, returns, changed = await simulate(path, draft, args.rows)
            print(
                f"{name}: {returns:,} returns simulated in {seconds:.2f} s"
                f" ({returns / seconds:,.0f}/s), {changed:,} changed;"
                f" {seconds / GOAL_SECONDS:.2f} of the {GOAL_SECONDS:.0f} s goal"
            )


if __name__ == "__main__":
    asyncio.run(main())
