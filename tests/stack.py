"""`returns dev` started as a user starts it, on free ports: for the end-to-end test and the
benchmark."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port


def dev_ports() -> dict[str, int]:
    return {"api": free_port(), "temporal": free_port(), "ui": free_port()}


def start_dev(
    data_dir: Path,
    ports: dict[str, int],
    timeout: float = 90,
    workers: int = 1,
    env: dict[str, str] | None = None,
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
