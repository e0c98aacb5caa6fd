"""The one engine and session factory, and the schema migrations (Alembic) that build the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

MIGRATIONS = Path(__file__).parent / "migrations"
Sessions = async_sessionmaker[AsyncSession]


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(
    url: str, *, one_writer: bool = False, busy_seconds: float = 30, **kwargs: Any
) -> AsyncEngine:
    """An async engine; on SQLite with WAL, a busy timeout and write transactions that take the
    lock when they begin, so that concurrent writers (API and worker) queue instead of failing.

    `one_writer` (the worker's): on SQLite, one connection that the process's transactions take
    in turn, first come first served. SQLite lets one writer in at a time and makes the others
    poll for the lock (sleeping up to 100 ms between tries), so that under load a newcomer gets
    in ahead of a step that has waited: a step could wait its whole busy timeout and fail.
    Queued for one connection, each gets the lock the moment the one before lets go.
    `busy_seconds`: how long a transaction waits for another process's write (SQLite)."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    if one_writer:
        kwargs.setdefault("pool_size", 1)
        kwargs.setdefault("max_overflow", 0)
        kwargs.setdefault("pool_timeout", 60)
    engine = create_async_engine(url, connect_args={"timeout": busy_seconds}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_seconds * 1000)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        deferred = conn.get_execution_options().get("read_only", False)
        conn.exec_driver_sql("BEGIN" if deferred else "BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> Sessions:
    """Sessions that may write: on SQLite their transactions take the write lock at BEGIN."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> Sessions:
    """Sessions that only read: on SQLite (WAL) they never wait for, nor block, a writer."""
    return async_sessionmaker(engine.execution_options(read_only=True), expire_on_commit=False)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Bring the schema to the newest revision (idempotent)."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


async def migrate_async(url: str) -> None:
    await asyncio.to_thread(migrate, url)
