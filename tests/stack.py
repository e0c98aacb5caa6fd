"""`returns dev` started as a user starts it, on free ports: for the end-to-end test and the
benchmark."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port


def free_run(length: int = 4) -> int:
    """The first of `length` ports in a row that are free now (the API's and each worker's
    metrics ports follow one another)."""
    for _ in range(100):
        first = free_port()
        if first + length > 65535:
            continue
        try:
            for port in range(first, first + length):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {length} free ports in a row")


def dev_ports() -> dict[str, int]:
    ports = {"api": free_port(), "temporal": free_port(), "ui": free_port()}
    ports["api_metrics"] = free_port()
    taken = set(ports.values())
    for name in ("worker_metrics", "sdk_metrics"):
        while True:  # a run of its own, clear of the others
            first = free_run()
            run = set(range(first, first + 4))
            if not run & taken:
                break
        ports[name] = first
        taken |= run
    return ports


def start_dev(
    data_dir: Path,
    ports: dict[str, int],
    timeout: float = 90,
    workers: int = 1,
    env: dict[str, str] | None = None,
    metrics: bool = True,
) -> subprocess.Popen[bytes]:
    """Start the stack and wait until it says it is up (keys generated into the data dir)."""
    returns = Path(sys.executable).parent / "returns"
    process = subprocess.Popen(
        [
            str(returns),
            "dev",
            "--workers",
            str(workers),
            "--data-dir",
            str(data_dir),
            "--api-port",
            str(ports["api"]),
            "--temporal-port",
            str(ports["temporal"]),
            "--ui-port",
            str(ports["ui"]),
            "--api-metrics-port",
            str(ports.get("api_metrics") or free_port()),
            "--worker-metrics-port",
            str(ports.get("worker_metrics") or free_run()),
            "--sdk-metrics-port",
            str(ports.get("sdk_metrics") or free_run()),
            *([] if metrics else ["--no-metrics"]),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**{k: v for k, v in os.environ.items() if k != "RETURNS_API_KEYS"}, **(env or {})},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline().decode()
        if "Returns service is up" in line:
            return process
        if process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"returns dev did not come up: {process.stdout.read().decode()[-2000:]}")


def dev_children(pid: int) -> dict[str, list[int]]:
    """The processes `returns dev` runs, by kind (temporal, worker, api)."""
    found: dict[str, list[int]] = {"temporal": [], "worker": [], "api": []}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent != pid:
            continue
        words = [w.decode(errors="replace") for w in cmdline if w]
        if "start-dev" in words:
            found["temporal"].append(int(entry.name))
        elif "worker" in words:
            found["worker"].append(int(entry.name))
        elif "api" in words:
            found["api"].append(int(entry.name))
    return found


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
