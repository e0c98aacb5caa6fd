"""A real PostgreSQL server of our own on a free loopback port, from the Debian binaries: for the
tests and the benchmarks."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import free_port


def postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found


@contextmanager
def local_postgres(*settings: str) -> Iterator[str]:
    """Start a throwaway server (extra `-c name=value` settings allowed); yield its async URL."""
    folder = Path(tempfile.mkdtemp(prefix="returns-pg-"))
    data = folder / "data"
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True)

    run(postgres_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "returns", "--no-sync")
    options = " ".join(
        [f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"]
        + [f"-c {setting}" for setting in settings]
    )
    run(
        postgres_binary("pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "log"),
        "-w",
        "start",
        "-o",
        options,
    )
    try:
        run(
            postgres_binary("createdb"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "returns",
            "returns",
        )
        yield f"postgresql+asyncpg://returns@127.0.0.1:{port}/returns"
    finally:
        run(postgres_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
