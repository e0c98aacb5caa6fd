"""The whole embedded stack as a user starts it (`returns dev`), driven over HTTP, killed while
a return waits for shipment, and started again on the same data directory."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import httpx

from tests.factories import expensive_line, order_payload
from tests.stack import dev_ports, start_dev


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def crash(process: subprocess.Popen[bytes]) -> None:
    """Kill the supervisor and everything it started at once, as a power cut would."""
    pids = children(process.pid)
    for pid in [process.pid, *pids]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()
    for pid in pids:
        while (
            Path(f"/proc/{pid}").exists()
            and "zombie" not in Path(f"/proc/{pid}/status").read_text()
        ):
            time.sleep(0.05)


def wait_for(http: httpx.Client, return_id: str, status: str, headers: dict[str, str]) -> dict:
    deadline = time.monotonic() + 30
    while True:
        body = http.get(f"/v1/returns/{return_id}", headers=headers).json()
        if body.get("status") == status or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def test_returns_survive_a_crash_of_the_whole_stack(tmp_path: Path) -> None:
    ports = dev_ports()
    data_dir = tmp_path / "data"
    process = start_dev(data_dir, ports)
    keys = json.loads((data_dir / "api-keys.json").read_text())
    auth = {role: {"Authorization": f"Bearer {key}"} for role, key in keys.items()}
    base = f"http://127.0.0.1:{ports['api']}"
    try:
        with httpx.Client(base_url=base, timeout=30) as http:
            assert (
                http.put(
                    "/v1/orders/o_1", json=order_payload(), headers=auth["integration"]
                ).status_code
                == 200
            )
            big = order_payload(number="1002", lines=[expensive_line()])
            assert (
                http.put("/v1/orders/o_2", json=big, headers=auth["integration"]).status_code == 200
            )
            item = {"order_id": "o_1", "line_id": "l1", "quantity": 1, "reason": "wrong_size"}
            first = http.post(
                "/v1/returns", json={"items": [item]}, headers=auth["integration"]
            ).json()
            assert first["status"] == "label_sent"
            item = {"order_id": "o_2", "line_id": "l9", "quantity": 1, "reason": "defective"}
            second = http.post(
                "/v1/returns", json={"items": [item]}, headers=auth["integration"]
            ).json()
            assert second["status"] == "pending_review"
        crash(process)

        process = start_dev(data_dir, ports)
        with httpx.Client(base_url=base, timeout=30) as http:
            assert (
                http.get(f"/v1/returns/{first['id']}", headers=auth["ops"]).json()["status"]
                == "label_sent"
            )
            label = http.get(f"/v1/returns/{first['id']}/label", headers=auth["warehouse"])
            assert label.content.startswith(b"%PDF")
            assert (
                http.post(
                    f"/v1/returns/{first['id']}/ship", json={}, headers=auth["integration"]
                ).json()["status"]
                == "shipped"
            )
            received = http.post(
                f"/v1/returns/{first['id']}/receive",
                json={
                    "location": "WH1",
                    "items": [{"item_id": "ri_1", "quantity": 1, "condition": "good"}],
                },
                headers=auth["warehouse"],
            )
            assert received.status_code == 200
            closed = wait_for(http, first["id"], "closed", auth["ops"])
            assert closed["status"] == "closed" and closed["refunded_amount"] == 2725

            approved = http.post(
                f"/v1/returns/{second['id']}/approve", json={}, headers=auth["agent"]
            )
            assert approved.json()["status"] == "label_sent"
            http.post(
                f"/v1/returns/{second['id']}/receive",
                json={
                    "location": "WH1",
                    "items": [{"item_id": "ri_1", "quantity": 1, "condition": "new"}],
                },
                headers=auth["warehouse"],
            )
            assert wait_for(http, second["id"], "closed", auth["ops"])["refunded_amount"] == 107100
            history = http.get(f"/v1/returns/{first['id']}/history", headers=auth["ops"]).json()
            assert any(e["kind"] == "status.closed" for e in history["events"])
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(60)
    with sqlite3.connect(data_dir / "returns.db") as db:
        refunds = db.execute(
            "SELECT return_id, amount FROM ledger_entries ORDER BY amount"
        ).fetchall()
    assert sorted(refunds) == sorted([(first["id"], 2725), (second["id"], 107100)])
