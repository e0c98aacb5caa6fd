"""Fixtures shared by every level: a fresh store, real binaries found on PATH, free ports."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.store.db import create_engine, migrate_async, session_factory

BIN = Path(sys.executable).parent


def binary(name: str) -> str:
    """A binary installed with the project's wheels (in the virtualenv), else on PATH."""
    path = BIN / name
    found = str(path) if path.exists() else shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} is not installed: pip install -e '.[test]'")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    await migrate_async(url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()


def postgres_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))), None
    )
    if not found:
        raise RuntimeError(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server of our own on a free loopback port, for this test session."""
    folder = Path(tempfile.mkdtemp(prefix="returns-pg-"))
    data = folder / "data"
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(folder, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True)  # noqa: E731
    run(postgres_binary("initdb"), "-D", str(data), "-A", "trust", "-U", "returns", "--no-sync")
    run(
        postgres_binary("pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(folder / "log"),
        "-w",
        "start",
        "-o",
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off",
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


@pytest.fixture(params=["sqlite", "postgresql"])
async def any_sessions(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """The store on each database it supports, schema built by its migrations."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    await migrate_async(url)
    engine = create_engine(url)
    yield session_factory(engine)
    await engine.dispose()
