"""A chaos run: many returns through the HTTP API of `returns dev --workers 2` while its worker
processes, its API and its Temporal server are killed (SIGKILL) at random and brought back by
`returns dev`; a client that repeats every unanswered or 5xx request with the same
Idempotency-Key. Afterwards it checks, in the store and through the API, that every return closed,
was refunded and restocked exactly once, that the read model agrees with every workflow, and that
no email or webhook event was made twice. Used by `tests/e2e/test_chaos.py` (small) and
`bench/chaos.py` (200+ returns, both stores)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from tests.api.conftest import serving
from tests.conftest import free_port
from tests.stack import dev_children, start_dev

UNIT = 1000
LIFE = ["approved", "label_sent", "shipped", "received", "refunded", "closed"]


@dataclass
class Report:
    returns: int = 0
    closed: int = 0
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    paid_twice: list[str] = field(default_factory=list)
    restocked_twice: list[str] = field(default_factory=list)
    read_model_disagrees: list[str] = field(default_factory=list)
    emails_twice: list[str] = field(default_factory=list)
    events_twice: list[str] = field(default_factory=list)
    webhooks_missing: list[str] = field(default_factory=list)
    kills: Counter[str] = field(default_factory=Counter)
    repeats: int = 0
    seconds: float = 0.0

    @property
    def whole(self) -> bool:
        return not (
            self.lost
            or self.stuck
            or self.paid_twice
            or self.restocked_twice
            or self.read_model_disagrees
            or self.emails_twice
            or self.events_twice
            or self.webhooks_missing
        )

    def lines(self) -> list[str]:
        def count(name: str, found: list[str]) -> str:
            return f"{name}: {len(found)}" + (f" {found[:5]}" if found else "")

        return [
            f"returns {self.returns}, closed {self.closed} in {self.seconds:.0f} s",
            "kills: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kills.items())),
            f"requests repeated with their key: {self.repeats}",
            count("lost", self.lost),
            count("stuck", self.stuck),
            count("paid twice", self.paid_twice),
            count("restocked twice", self.restocked_twice),
            count("read model disagrees", self.read_model_disagrees),
            count("emails not one per status", self.emails_twice),
            count("events not one per status", self.events_twice),
            count("webhook events not delivered", self.webhooks_missing),
        ]


class Receiver:
    """A webhook receiver that counts each event id it is sent."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.types: dict[str, tuple[str, str]] = {}

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/hooks")
        async def hooks(request: Request) -> Response:
            body = json.loads(await request.body())
            self.seen[body["id"]] += 1
            self.types[body["id"]] = (body["data"]["id"], body["type"])
            return Response(status_code=204)

        return app


class Client:
    """Repeats every request that got no answer or a 5xx, with the same Idempotency-Key."""

    def __init__(self, http: httpx.AsyncClient, report: Report) -> None:
        self.http = http
        self.report = report

    async def call(
        self, method: str, path: str, headers: dict[str, str], body: Any = None, key: bool = True
    ) -> httpx.Response:
        headers = {**headers, **({"Idempotency-Key": uuid.uuid4().hex} if key else {})}
        last = "nothing"
        for attempt in range(400):
            try:
                answer = await self.http.request(method, path, headers=headers, json=body)
            except httpx.HTTPError as error:
                answer, last = None, repr(error)
            if answer is not None and answer.status_code < 500:
                return answer
            if answer is not None:
                last = f"{answer.status_code} {answer.text[:300]}"
            if attempt:
                self.report.repeats += 1
            await asyncio.sleep(0.5)
        raise AssertionError(f"{method} {path} never answered; last: {last}")


async def one_return(
    client: Client, auth: dict[str, dict[str, str]], order_id: str, report: Report
) -> str | None:
    created = await client.call(
        "POST",
        "/v1/returns",
        auth["agent"],
        {"items": [{"order_id": order_id, "line_id": "l1", "quantity": 1, "reason": "wrong_size"}]},
    )
    if created.status_code not in (201, 202):
        report.lost.append(
            f"{order_id}: create answered {created.status_code} {created.text[:200]}"
        )
        return None
    return_id = created.json()["id"]
    for action, role, body in (
        ("ship", "agent", {}),
        (
            "receive",
            "warehouse",
            {"location": "WH1", "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}]},
        ),
    ):
        target = "shipped" if action == "ship" else "received"
        for _ in range(200):
            answer = await client.call(
                "POST", f"/v1/returns/{return_id}/{action}", auth[role], body
            )
            if answer.status_code == 200:
                break
            current = await client.call("GET", f"/v1/returns/{return_id}", auth["agent"], key=False)
            status = current.json().get("status")
            if status in LIFE and LIFE.index(status) >= LIFE.index(target):
                break  # it happened (an earlier attempt took effect)
            await asyncio.sleep(0.5)  # not yet in a state that allows it (label still coming)
    return return_id


async def run_chaos(
    root: Path,
    returns: int,
    database_url: str | None = None,
    kill_every: tuple[float, float] = (3.0, 8.0),
    kills: int = 10,
    settle_seconds: float = 240.0,
    seed: int | None = None,
) -> Report:
    rng = random.Random(seed)
    report = Report(returns=returns)
    data_dir = root / "data"
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port()}
    receiver = Receiver()
    env = {"RETURNS_WEBHOOKS_ALLOW_PRIVATE": "true"}
    if database_url:
        env["RETURNS_DATABASE_URL"] = database_url
    started = time.monotonic()
    dev = await asyncio.to_thread(start_dev, data_dir, ports, 120, 2, env)
    try:
        assert dev.stdout is not None
        asyncio.get_running_loop().run_in_executor(None, dev.stdout.read)  # keep the pipe empty
        keys = json.loads((data_dir / "api-keys.json").read_text())
        auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
        base = f"http://127.0.0.1:{ports['api']}"
        async with (
            serving(receiver.app()) as hooks_url,
            httpx.AsyncClient(base_url=base, timeout=30) as http,
        ):
            client = Client(http, report)
            await client.call(
                "PUT",
                "/v1/policy",
                auth["admin"],
                {"review_above_amount": None, "review_if_returns_in_90_days_over": None},
                key=False,
            )
            endpoint = await client.call(
                "POST",
                "/v1/webhook-endpoints",
                auth["admin"],
                {"url": f"{hooks_url}/hooks", "events": [f"return.{s}" for s in LIFE]},
            )
            assert endpoint.status_code == 201, endpoint.text
            now = datetime.now(UTC)
            placed = (now - timedelta(days=3)).isoformat()
            orders = []
            for n in range(returns):
                order_id = f"o_chaos_{n}"
                order = {
                    "number": f"C-{n}",
                    "customer": {"email": f"c{n}@example.com"},
                    "currency": "EUR",
                    "placed_at": placed,
                    "delivered_at": (now - timedelta(days=1)).isoformat(),
                    "lines": [
                        {
                            "id": "l1",
                            "sku": f"SKU-{n % 5}",
                            "name": "Thing",
                            "quantity": 1,
                            "unit_amount": UNIT,
                        }
                    ],  # fmt: skip
                    "captures": [
                        {
                            "id": "cap",
                            "amount": UNIT,
                            "captured_at": (now - timedelta(days=3)).isoformat(),
                        }
                    ],  # fmt: skip
                }
                answer = await client.call(
                    "PUT", f"/v1/orders/{order_id}", auth["integration"], order, key=False
                )
                assert answer.status_code in (200, 201), answer.text
                orders.append(order_id)

            async def chaos() -> None:
                # As many kills as asked, while the returns are driven and after.
                while sum(report.kills.values()) < kills:
                    await asyncio.sleep(rng.uniform(*kill_every))
                    running = dev_children(dev.pid)
                    kinds = [kind for kind, pids in running.items() if pids]
                    if not kinds:
                        continue
                    # The kind killed least so far (each gets its turn), then any one of it.
                    fewest = min(report.kills[k] for k in kinds)
                    kind = rng.choice([k for k in kinds if report.kills[k] == fewest])
                    with_pid = rng.choice(running[kind])
                    try:
                        os.kill(with_pid, signal.SIGKILL)
                        report.kills[kind] += 1
                    except ProcessLookupError:
                        pass

            gate = asyncio.Semaphore(8)

            async def limited(order_id: str) -> str | None:
                async with gate:
                    return await one_return(client, auth, order_id, report)

            killer = asyncio.create_task(chaos())
            ids = await asyncio.gather(*(limited(o) for o in orders))
            await killer
            return_ids = [r for r in ids if r is not None]

            # Everything runs again: every return must close by itself.
            deadline = time.monotonic() + settle_seconds
            finished: dict[str, dict[str, Any]] = {}
            while time.monotonic() < deadline and len(finished) < len(return_ids):
                for return_id in return_ids:
                    if return_id in finished:
                        continue
                    answer = await client.call(
                        "GET", f"/v1/returns/{return_id}", auth["agent"], key=False
                    )
                    if answer.status_code == 200 and answer.json()["status"] == "closed":
                        finished[return_id] = answer.json()
                await asyncio.sleep(1)
            report.closed = len(finished)
            report.stuck = [r for r in return_ids if r not in finished]
            listed: dict[str, dict[str, Any]] = {}
            cursor = None
            while True:
                path = "/v1/returns?limit=100" + (f"&cursor={cursor}" if cursor else "")
                page = (await client.call("GET", path, auth["agent"], key=False)).json()
                listed.update({r["id"]: r for r in page["data"]})
                cursor = page["next_cursor"]
                if not cursor:
                    break
            for return_id, live in finished.items():
                stored = listed.get(return_id)
                if stored is None or any(
                    stored[k] != live[k] for k in ("status", "refunded_amount", "refunds")
                ):
                    report.read_model_disagrees.append(return_id)
            # Webhook events: each status of each return delivered (a queue whose drain died
            # with a worker is tried again after its heartbeat timeout and backoff).
            wanted = {(r, f"return.{status}") for r in finished for status in LIFE}
            deadline = time.monotonic() + settle_seconds
            while time.monotonic() < deadline and not wanted <= set(receiver.types.values()):
                await asyncio.sleep(1)
            report.webhooks_missing = sorted(
                f"{r}:{kind}" for r, kind in wanted - set(receiver.types.values())
            )
        await check_store(data_dir, database_url, list(finished), report)
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(dev.wait, 60)
        except subprocess.TimeoutExpired:
            dev.kill()
    report.seconds = time.monotonic() - started
    return report


async def check_store(
    data_dir: Path, database_url: str | None, return_ids: list[str], report: Report
) -> None:
    """Money, stock, events and emails in the store: each exactly once per return."""
    queries = {
        "paid": "SELECT return_id, SUM(amount), COUNT(*) FROM ledger_entries"
        " WHERE status != 'failed' GROUP BY return_id",
        "stock": "SELECT return_id, SUM(quantity), COUNT(*) FROM stock_movements"
        " GROUP BY return_id",
        "events": "SELECT return_id, type, COUNT(*) FROM return_events GROUP BY return_id, type",
        "emails": "SELECT return_id, subject, COUNT(*) FROM outbox_emails"
        " GROUP BY return_id, subject",
    }
    rows = {name: await run_query(data_dir, database_url, sql) for name, sql in queries.items()}
    paid = {r[0]: (int(r[1]), int(r[2])) for r in rows["paid"]}
    stock = {r[0]: (int(r[1]), int(r[2])) for r in rows["stock"]}
    for return_id in return_ids:
        if paid.get(return_id) != (UNIT, 1):
            report.paid_twice.append(f"{return_id}: {paid.get(return_id)}")
        if stock.get(return_id) != (1, 1):
            report.restocked_twice.append(f"{return_id}: {stock.get(return_id)}")
    # One event per status the return went through (from `requested` on) and one email per
    # status the customer hears about: none missing, none twice.
    events: dict[str, Counter[str]] = {r: Counter() for r in return_ids}
    emails: dict[str, Counter[str]] = {r: Counter() for r in return_ids}
    for return_id, kind, n in rows["events"]:
        if return_id in events:
            events[return_id][kind] += int(n)
    for return_id, subject, n in rows["emails"]:
        if return_id in emails:
            emails[return_id][subject] += int(n)
    for return_id in return_ids:
        if events[return_id] != Counter(f"return.{s}" for s in ["requested", *LIFE]):
            report.events_twice.append(f"{return_id}: {dict(events[return_id])}")
        if sorted(emails[return_id].values()) != [1] * len(LIFE):
            report.emails_twice.append(f"{return_id}: {dict(emails[return_id])}")


async def run_query(data_dir: Path, database_url: str | None, sql: str) -> list[tuple[Any, ...]]:
    if database_url is None:

        def read() -> list[tuple[Any, ...]]:
            with sqlite3.connect(data_dir / "returns.db") as db:
                return db.execute(sql).fetchall()

        return await asyncio.to_thread(read)
    import asyncpg

    db = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        return [tuple(row) for row in await db.fetch(sql)]
    finally:
        await db.close()
