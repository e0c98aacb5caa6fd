"""The return policy: read by staff, replaced by admins; applies to returns created after."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from returns_service.api.auth import STAFF, Principal, allow
from returns_service.api.deps import SessionDep, WriteSessionDep
from returns_service.domain.models import Policy
from returns_service.store.orders import current_policy, put_policy

router = APIRouter(prefix="/v1/policy", tags=["policy"])


@router.get("", response_model=Policy)
async def read_policy(
    session: SessionDep, _: Annotated[Principal, Depends(allow(*STAFF))]
) -> Policy:
    async with session.begin():
        return await current_policy(session)


@router.put("", response_model=Policy)
async def replace_policy(
    body: Policy, session: WriteSessionDep, _: Annotated[Principal, Depends(allow("admin"))]
) -> Policy:
    async with session.begin():
        await put_policy(session, body, datetime.now(UTC))
    return body
