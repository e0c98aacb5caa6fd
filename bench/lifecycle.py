"""Returns per second through the whole lifecycle over HTTP on the embedded stack, against no-op
workflows of a return's shape (6 activities, 2 signals) on the same Temporal server. Also prints
p50/p99 of each request at that load, the CPU seconds each process spent per return, and the
Temporal history events per return. Then, open loop (arrivals evenly spaced, however long the
answers take), p50/p99 of each request at 25 %, 50 % and 75 % of the capacity just measured.

    python bench/lifecycle.py --returns 200 --concurrency 16 [--open 100] [--no-metrics]
    python bench/lifecycle.py --rate 3 --returns 100      # open loop only, 3 returns/s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.worker import Worker

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent)]
from noop_workflow import ReturnShapedNoop, noop  # noqa: E402

from tests.stack import cpu_seconds, dev_children, dev_ports, start_dev  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(len(ordered) * p), len(ordered) - 1)]


async def drive_returns(
    base: str,
    temporal: str,
    keys: dict[str, str],
    count: int,
    concurrency: int,
    timings: dict[str, list[float]],
    ids: list[str],
    rate: float | None = None,
    order_id: str = "o_bench",
) -> float:
    """`count` returns through their life: `concurrency` at a time (closed loop), or with `rate`
    one starting every 1/rate seconds whatever the others do (open loop)."""
    # The end of each return is awaited as the no-op's is, on its workflow's result: polling the
    # API would measure the poll.
    client = await Client.connect(temporal)
    auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    now = datetime.now(UTC)
    async with httpx.AsyncClient(
        base_url=base, timeout=120, limits=httpx.Limits(max_connections=None)
    ) as http:
        await http.put(
            "/v1/policy",
            headers=auth["admin"],
            json={"review_above_amount": None, "review_if_returns_in_90_days_over": None},
        )
        order = {
            "number": order_id.upper(),
            "customer": {"email": "bench@example.com"},
            "currency": "EUR",
            "placed_at": (now - timedelta(days=3)).isoformat(),
            "delivered_at": (now - timedelta(days=1)).isoformat(),
            "lines": [
                {
                    "id": "l1",
                    "sku": "SKU-B",
                    "name": "Bench",
                    "quantity": count,
                    "unit_amount": 1000,
                }
            ],
            "captures": [
                {
                    "id": "cap_b",
                    "amount": 1000 * count,
                    "captured_at": (now - timedelta(days=3)).isoformat(),
                }
            ],
        }
        (
            await http.put(f"/v1/orders/{order_id}", json=order, headers=auth["integration"])
        ).raise_for_status()
        gate = asyncio.Semaphore(concurrency if rate is None else count)

        async def timed(name: str, request: Any) -> httpx.Response:
            started = time.perf_counter()
            answer: httpx.Response = await request
            timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
            return answer

        async def one() -> None:
            async with gate:
                created = await timed(
                    "POST /v1/returns",
                    http.post(
                        "/v1/returns",
                        headers=auth["integration"],
                        json={
                            "items": [
                                {
                                    "order_id": order_id,
                                    "line_id": "l1",
                                    "quantity": 1,
                                    "reason": "no_longer_wanted",
                                }
                            ]
                        },
                    ),
                )
                ret = created.json()
                assert ret["status"] == "label_sent", ret
                ids.append(ret["id"])
                await timed(
                    "POST /ship",
                    http.post(
                        f"/v1/returns/{ret['id']}/ship", json={}, headers=auth["integration"]
                    ),
                )
                await timed(
                    "POST /receive",
                    http.post(
                        f"/v1/returns/{ret['id']}/receive",
                        headers=auth["warehouse"],
                        json={
                            "location": "WH1",
                            "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
                        },
                    ),
                )
                final = await client.get_workflow_handle(ret["id"]).result()
                assert final["status"] == "closed", final

        async def arriving(n: int) -> None:
            if rate is not None:
                await asyncio.sleep(max(started + n / rate - time.perf_counter(), 0))
            await one()

        started = time.perf_counter()
        await asyncio.gather(*(arriving(n) for n in range(count)))
        return time.perf_counter() - started


async def drive_noops(address: str, count: int, concurrency: int) -> float:
    client = await Client.connect(address)
    queue = f"noop-{uuid.uuid4().hex[:6]}"
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            handle = await client.start_workflow(
                ReturnShapedNoop.run, id=f"noop-{uuid.uuid4().hex}", task_queue=queue
            )
            await handle.signal(ReturnShapedNoop.step)
            await handle.signal(ReturnShapedNoop.step)
            await handle.result()

    async with Worker(
        client,
        task_queue=queue,
        workflows=[ReturnShapedNoop],
        activities=[noop],
    ):
        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(count)))
        return time.perf_counter() - started


async def history_events(address: str, ids: list[str]) -> float:
    client = await Client.connect(address)
    counts = [len((await client.get_workflow_handle(i).fetch_history()).events) for i in ids]
    return sum(counts) / len(counts)


async def open_loop(
    stack: Any,
    data_dir: Path,
    ports: dict[str, int],
    rate: float,
    count: int,
    order_id: str,
    quiet: bool = False,
) -> dict[str, list[float]]:
    """`count` returns arriving at `rate` a second; prints (unless `quiet`) and answers each
    request's timings."""
    keys = json.loads((data_dir / "api-keys.json").read_text())
    timings: dict[str, list[float]] = {}
    took = await drive_returns(
        f"http://127.0.0.1:{ports['api']}",
        f"127.0.0.1:{ports['temporal']}",
        keys,
        count,
        0,
        timings,
        [],
        rate=rate,
        order_id=order_id,
    )
    if not quiet:
        print(f"open loop: {count} returns arriving at {rate:.1f}/s, done in {took:.1f} s")
        for name, values in timings.items():
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(f"{name}: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    return timings


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--workers", type=int, default=1, help="worker processes of returns dev")
    parser.add_argument(
        "--open", type=int, default=0, help="returns at each open-loop load after the closed loop"
    )
    parser.add_argument("--rate", type=float, help="open loop only, this many returns a second")
    parser.add_argument("--no-metrics", action="store_true", help="returns dev --no-metrics")
    args = parser.parse_args()
    ports = dev_ports()
    data_dir = Path(tempfile.mkdtemp()) / "data"
    stack = start_dev(data_dir, ports, workers=args.workers, metrics=not args.no_metrics)
    if args.rate is not None:
        try:
            await open_loop(stack, data_dir, ports, args.rate, args.returns, "o_rate")
        finally:
            stack.send_signal(signal.SIGINT)
            stack.wait(60)
        return
    timings: dict[str, list[float]] = {}
    ids: list[str] = []
    try:
        keys = json.loads((data_dir / "api-keys.json").read_text())
        processes = {kind: pids for kind, pids in dev_children(stack.pid).items() if pids}
        before = {k: sum(cpu_seconds(p) for p in pids) for k, pids in processes.items()}
        client_before = time.process_time()
        returns_s = await drive_returns(
            f"http://127.0.0.1:{ports['api']}",
            f"127.0.0.1:{ports['temporal']}",
            keys,
            args.returns,
            args.concurrency,
            timings,
            ids,
        )
        spent = {k: sum(cpu_seconds(p) for p in pids) - before[k] for k, pids in processes.items()}
        spent["client (this process)"] = time.process_time() - client_before
        events = await history_events(f"127.0.0.1:{ports['temporal']}", ids[:20])
        temporal_before = sum(cpu_seconds(p) for p in processes["temporal"])
        own_before = time.process_time()
        noops_s = await drive_noops(
            f"127.0.0.1:{ports['temporal']}", args.returns, args.concurrency
        )
        noop_spent = {
            "temporal": sum(cpu_seconds(p) for p in processes["temporal"]) - temporal_before,
            "worker and client (this process)": time.process_time() - own_before,
        }
        capacity = args.returns / returns_s
        loads = {}
        for share in (0.25, 0.5, 0.75) if args.open else ():
            loads[share] = await open_loop(
                stack, data_dir, ports, share * capacity, args.open, f"o_open{int(share * 100)}",
                quiet=True,
            )  # fmt: skip
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(60)
    returns_rate = args.returns / returns_s
    noop_rate = args.returns / noops_s
    n = args.returns
    print(f"returns through the lifecycle (HTTP): {n} in {returns_s:.2f} s = {returns_rate:.1f}/s")
    print(f"no-op workflows (6 activities, 2 signals): {n} in {noops_s:.2f} s = {noop_rate:.1f}/s")
    print(f"ratio returns / no-op: {returns_rate / noop_rate:.2f} (goal >= 0.5)")
    for name, values in timings.items():
        print(
            f"{name}: p50 {percentile(values, 0.5):.0f} ms, p99 {percentile(values, 0.99):.0f} ms"
        )
    print(
        "CPU seconds per return: "
        + ", ".join(f"{kind} {seconds / n * 1000:.1f} ms" for kind, seconds in spent.items())
    )
    print(
        "CPU seconds per no-op: "
        + ", ".join(f"{kind} {seconds / n * 1000:.1f} ms" for kind, seconds in noop_spent.items())
    )
    print(f"Temporal history events per return: {events:.0f} (goal <= 40)")
    print(
        "worker CPU / Temporal CPU per return:"
        f" {spent['worker'] / spent['temporal']:.2f} (goal <= 1.0)"
    )
    for share, timed in loads.items():
        print(
            f"open loop at {share:.0%} of capacity ({share * returns_rate:.1f} returns/s): "
            + "; ".join(
                f"{name} p50 {percentile(v, 0.5):.0f} ms, p99 {percentile(v, 0.99):.0f} ms"
                for name, v in timed.items()
            )
        )
    # What the rest of the system costs a return bounds the rate even if the worker cost nothing.
    cores = os.cpu_count() or 1
    others = sum(seconds for kind, seconds in spent.items() if kind != "worker") / n
    print(
        f"ceiling on {cores} cores with a worker that cost nothing: {cores / others:.1f}/s"
        f" (ratio {cores / others / noop_rate:.2f}); with this worker:"
        f" {cores / (others + spent['worker'] / n):.1f}/s"
    )


if __name__ == "__main__":
    asyncio.run(main())
