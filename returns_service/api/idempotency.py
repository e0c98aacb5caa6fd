"""`Idempotency-Key` on creates and actions: the same key and body get the first answer again,
without a second effect; the same key with another request is a 409. Keys are the caller's own
(scoped by who calls) and kept at least 24 hours.

The first request with a key claims it (a row under a unique key); requests that arrive with the
same key while it runs wait for its answer. An answer of 5xx is not kept, so the client may try
again with the same key; and a claim whose request died (its API process was killed) is taken
over after a while. What it does must itself be safe to repeat: a create derives the return's id
from the key, so a repeat can only ever find the same workflow.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from returns_service.api.auth import Principal
from returns_service.api.errors import Conflict, Problem, problem_response
from returns_service.store.tables import IdempotencyKeyRow
from returns_service.store.upsert import insert_once

KEEP = timedelta(hours=48)  # at least 24 hours, as promised; purged after this
POLL_SECONDS = 0.05


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: Any
    headers: dict[str, str]


def key_seed(principal: Principal, key: str) -> bytes:
    return f"{principal.scope}\n{key}".encode()


@dataclass
class Idempotency:
    request: Request
    key: str | None
    sessions: async_sessionmaker[AsyncSession]
    takeover_after: timedelta

    async def run(
        self, principal: Principal, body: BaseModel, work: Callable[[], Awaitable[Answer]]
    ) -> Response:
        if self.key is None:
            return _render(await work())
        row_id = hashlib.sha256(key_seed(principal, self.key)).hexdigest()
        fingerprint = hashlib.sha256(
            f"{self.request.method} {self.request.url.path}\n{body.model_dump_json()}".encode()
        ).hexdigest()
        if not await self._claim(row_id, fingerprint):
            replay = await self._wait_for_answer(row_id, fingerprint)
            if replay is not None:
                return replay
        try:
            answer = await work()
        except Problem as problem:
            await self._keep(row_id, _problem_answer(problem))
            raise
        except BaseException:
            await self._release(row_id)
            raise
        await self._keep(row_id, answer)
        return _render(answer)

    async def _claim(self, row_id: str, fingerprint: str) -> bool:
        now = datetime.now(UTC)
        async with self.sessions.begin() as session:
            if random.random() < 0.01:  # noqa: S311 - housekeeping, not security
                await session.execute(
                    delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < now - KEEP)
                )
            return await insert_once(
                session,
                IdempotencyKeyRow,
                {"id": row_id, "request_hash": fingerprint, "created_at": now},
            )

    async def _wait_for_answer(self, row_id: str, fingerprint: str) -> Response | None:
        """The kept answer; None when the claim was taken over (its request died)."""
        while True:
            async with self.sessions() as session:
                row = await session.get(IdempotencyKeyRow, row_id)
            if row is None:  # its request failed with 5xx and let go: claim it now
                if await self._claim(row_id, fingerprint):
                    return None
                continue
            if row.request_hash != fingerprint:
                raise Conflict(
                    "this Idempotency-Key was used with another request",
                    code="idempotency_key_reused",
                )
            if row.status_code is not None:
                answer = Answer(row.status_code, row.response, dict(row.headers or {}))
                return _render(answer, replayed=True)
            if datetime.now(UTC) - row.created_at > self.takeover_after:
                async with self.sessions.begin() as session:
                    taken = await session.execute(
                        update(IdempotencyKeyRow)
                        .where(
                            IdempotencyKeyRow.id == row_id,
                            IdempotencyKeyRow.created_at == row.created_at,
                            IdempotencyKeyRow.status_code.is_(None),
                        )
                        .values(created_at=datetime.now(UTC))
                    )
                if getattr(taken, "rowcount", 0):
                    return None
            await asyncio.sleep(POLL_SECONDS)

    async def _keep(self, row_id: str, answer: Answer) -> None:
        # Only a final answer is kept: "not now" (429, 5xx) lets the same key try again.
        if answer.status_code >= 500 or answer.status_code == 429:
            await self._release(row_id)
            return
        async with self.sessions.begin() as session:
            await session.execute(
                update(IdempotencyKeyRow)
                .where(IdempotencyKeyRow.id == row_id)
                .values(
                    status_code=answer.status_code, response=answer.body, headers=answer.headers
                )
            )

    async def _release(self, row_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(delete(IdempotencyKeyRow).where(IdempotencyKeyRow.id == row_id))


def _problem_answer(problem: Problem) -> Answer:
    body = {
        "type": problem.type,
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        **problem.extra,
    }
    return Answer(problem.status, body, dict(getattr(problem, "headers", None) or {}))


def _render(answer: Answer, replayed: bool = False) -> Response:
    headers = dict(answer.headers)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if answer.status_code >= 400:
        body = dict(answer.body)
        return problem_response(
            body.pop("status"),
            body.pop("title"),
            body.pop("detail"),
            body.pop("type"),
            headers=headers,
            **body,
        )
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


def get_idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Repeat the request safely: the same key and body get the first answer.",
        ),
    ] = None,
) -> Idempotency:
    settings = request.app.state.settings
    return Idempotency(
        request=request,
        key=idempotency_key,
        sessions=request.app.state.write_sessions,
        takeover_after=timedelta(seconds=settings.workflow_answer_seconds + 30),
    )


IdempotencyDep = Annotated[Idempotency, Depends(get_idempotency)]
