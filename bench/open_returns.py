"""Memory with many returns open: returns are made over HTTP on `returns dev` and left waiting for
their parcels (`label_sent`, a timer to their label's expiry), and at each count the resident
memory of each process (Temporal, the worker, the API) is printed, with the worker's CPU per
return made. The worker keeps `RETURNS_WORKFLOW_CACHE_SIZE` of them in memory between steps
(Temporal's sticky cache); `--cache-size` sets it for the run.

    python bench/open_returns.py --counts 1000,5000,10000 [--cache-size 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path[:0] = [str(Path(__file__).parent.parent)]
from tests.stack import cpu_seconds, dev_children, dev_ports, start_dev  # noqa: E402

# Each order has this many units, one per return, and a customer of its own (the customers'
# hourly limits and review rules stay out of the way).
UNITS_PER_ORDER = 100


def resident_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def make_returns(
    http: httpx.AsyncClient, auth: dict[str, dict[str, str]], first: int, last: int, at_once: int
) -> None:
    """Returns number `first` to `last` - 1, each one unit of its order."""
    now = datetime.now(UTC)
    for order in range(first // UNITS_PER_ORDER, (last - 1) // UNITS_PER_ORDER + 1):
        if order * UNITS_PER_ORDER < first:
            continue  # made with the returns before
        body = {
            "number": f"M-{order}",
            "customer": {"email": f"customer{order}@example.com"},
            "currency": "EUR",
            "placed_at": (now - timedelta(days=3)).isoformat(),
            "delivered_at": (now - timedelta(days=1)).isoformat(),
            "lines": [{"id": "l1", "sku": "SKU-M", "name": "Mug",
                       "quantity": UNITS_PER_ORDER, "unit_amount": 1000}],
            "captures": [{"id": f"cap_{order}", "amount": 1000 * UNITS_PER_ORDER,
                          "captured_at": (now - timedelta(days=3)).isoformat()}],
        }  # fmt: skip
        answer = await http.put(f"/v1/orders/o_{order}", json=body, headers=auth["integration"])
        answer.raise_for_status()
    gate = asyncio.Semaphore(at_once)
    late: list[str] = []

    async def one(n: int) -> None:
        item = {"order_id": f"o_{n // UNITS_PER_ORDER}", "line_id": "l1", "quantity": 1,
                "reason": "no_longer_wanted"}  # fmt: skip
        async with gate:
            made = await http.post(
                "/v1/returns", json={"items": [item]}, headers=auth["integration"]
            )
            if made.status_code == 202:
                # Started, but not decided within the API's deadline (the machine is busy):
                # it is decided when the worker gets to it; wait for its label.
                late.append(made.json()["id"])
                made = await _labelled(http, auth, made.headers["Location"])
        assert made.status_code in (200, 201), f"{made.status_code}: {made.text}"
        assert made.json()["status"] == "label_sent", f"{made.status_code}: {made.text}"

    await asyncio.gather(*(one(n) for n in range(first, last)))
    if late:
        print(f"# {len(late)} answered 202 (decided after the API's deadline)", flush=True)


async def _labelled(
    http: httpx.AsyncClient, auth: dict[str, dict[str, str]], location: str
) -> httpx.Response:
    for _ in range(120):
        answer = await http.get(location, headers=auth["integration"])
        if answer.json().get("status") not in ("requested", "approved"):
            return answer
        await asyncio.sleep(1)
    return answer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="1000,5000,10000")
    parser.add_argument("--cache-size", type=int, help="RETURNS_WORKFLOW_CACHE_SIZE for the run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-metrics", action="store_true", help="returns dev --no-metrics")
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    env = {}
    if args.cache_size is not None:
        env["RETURNS_WORKFLOW_CACHE_SIZE"] = str(args.cache_size)
    ports = dev_ports()
    data_dir = Path(tempfile.mkdtemp()) / "data"
    stack = start_dev(data_dir, ports, env=env, metrics=not args.no_metrics)
    try:
        keys = json.loads((data_dir / "api-keys.json").read_text())
        auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
        processes = {kind: pids for kind, pids in dev_children(stack.pid).items() if pids}
        print(
            "open returns | "
            + " | ".join(f"{kind} MiB" for kind in processes)
            + " | worker CPU per return made | made per s",
            flush=True,
        )
        print(
            "0 | "
            + " | ".join(f"{sum(resident_mib(p) for p in pids):.0f}" for pids in processes.values())
            + " | | ",
            flush=True,
        )
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{ports['api']}", timeout=120
        ) as http:
            await http.put(
                "/v1/policy",
                headers=auth["admin"],
                json={"review_above_amount": None, "review_if_returns_in_90_days_over": None},
            )
            made = 0
            for count in counts:
                worker_before = sum(cpu_seconds(p) for p in processes["worker"])
                began = time.perf_counter()
                await make_returns(http, auth, made, count, args.concurrency)
                took = time.perf_counter() - began
                spent = sum(cpu_seconds(p) for p in processes["worker"]) - worker_before
                await asyncio.sleep(5)  # the last steps settle
                memory = " | ".join(
                    f"{sum(resident_mib(p) for p in pids):.0f}" for pids in processes.values()
                )
                new = count - made
                print(
                    f"{count} | {memory} | {spent / new * 1000:.0f} ms | {new / took:.1f}",
                    flush=True,
                )
                made = count
    finally:
        stack.send_signal(signal.SIGINT)
        stack.wait(120)


if __name__ == "__main__":
    asyncio.run(main())
