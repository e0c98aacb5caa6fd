"""The return policy: read by staff, replaced by admins; applies to returns created after."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from babel.numbers import is_currency
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from returns_service.api.auth import STAFF, Principal, allow
from returns_service.api.deps import SessionDep, WriteSessionDep
from returns_service.api.errors import InvalidInput
from returns_service.api.schemas import Request
from returns_service.domain.models import Policy
from returns_service.domain.policy_history import PolicyChange
from returns_service.domain.simulation import Simulation
from returns_service.domain.types import ANY_CURRENCY, Moment
from returns_service.store.orders import current_policy, policy_history, put_policy
from returns_service.store.simulation import simulate_period

router = APIRouter(prefix="/v1/policy", tags=["policy"])

RETURN_ID = re.compile(r"^[A-Za-z0-9_]{1,64}$")


@router.get("", response_model=Policy)
async def read_policy(
    session: SessionDep, _: Annotated[Principal, Depends(allow(*STAFF))]
) -> Policy:
    async with session.begin():
        return await current_policy(session)


@router.put("", response_model=Policy)
async def replace_policy(
    body: Policy,
    session: WriteSessionDep,
    principal: Annotated[Principal, Depends(allow("admin"))],
) -> Policy:
    """Replace the policy; the version before is kept, and the policy's history names who saved
    this one."""
    _known_currencies(body)
    async with session.begin():
        await put_policy(session, body, datetime.now(UTC), principal.actor.label())
    return body


def _known_currencies(policy: Policy) -> None:
    """Every currency an amount names is one ISO 4217 knows ("EUO" for "EUR" would quietly
    leave euro returns without their fee): a 422 naming the field."""
    amounts: list[tuple[str, Any]] = [
        (name, getattr(policy, name))
        for name in ("review_above_amount", "return_shipping_fee", "keep_item_below_amount")
    ]
    for index, rule in enumerate(policy.rules):
        amounts.append((f"rules[{index}].when.amount_above", rule.when.amount_above))
        amounts.append((f"rules[{index}].then.return_shipping_fee", rule.then.return_shipping_fee))
    for field, amount in amounts:
        if isinstance(amount, dict):
            for code in amount:
                if code != ANY_CURRENCY and not is_currency(code):
                    raise InvalidInput(field, f"{code} is not an ISO 4217 currency code")


class PolicyVersionOut(BaseModel):
    version: int = Field(description="Numbered as saved; pass the last one shown as `before`.")
    created_at: datetime
    changed_by: str | None = Field(
        description="Who saved it (`admin:ada@example.com`, or a key's role); null for versions"
        " saved before the history kept it."
    )
    changes: list[PolicyChange] = Field(
        description="Each field it changed from the version before (the first version: from the"
        " built-in defaults), as it was and as it became."
    )


class PolicyHistory(BaseModel):
    data: list[PolicyVersionOut]
    next_before: int | None = Field(description="`before` for the next page; null at the end.")


@router.get("/history", response_model=PolicyHistory)
async def read_policy_history(
    session: SessionDep,
    _: Annotated[Principal, Depends(allow("agent", "ops", "admin"))],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> PolicyHistory:
    """Who changed the policy, when, and what: newest first."""
    async with session.begin():
        versions = await policy_history(session, limit + 1, before)
    shown = versions[:limit]
    return PolicyHistory(
        data=[PolicyVersionOut(**vars(version)) for version in shown],
        next_before=shown[-1].version if len(versions) > limit else None,
    )


class SimulationIn(Request):
    policy: Policy = Field(description="The draft policy, as `PUT /v1/policy` takes it.")
    created_after: Moment = Field(description="Returns created at or after this moment...")
    created_before: Moment = Field(description="...and before this one.")
    cursor: str | None = Field(
        default=None, max_length=300, description="`next_cursor` of the answer before."
    )


def _cursor(after: tuple[datetime, str]) -> str:
    raw = json.dumps([after[0].isoformat(), after[1]]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    """Where a page of changes starts: a cursor this API gave, the moment (with its offset) and
    the id of the last change listed; anything else is refused."""
    try:
        moment, return_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        at = datetime.fromisoformat(moment)
    except (ValueError, TypeError, RecursionError) as error:
        raise InvalidInput("cursor", "not a cursor this API gave") from error
    if at.tzinfo is None or not isinstance(return_id, str) or not RETURN_ID.match(return_id):
        raise InvalidInput("cursor", "not a cursor this API gave")
    return at, return_id


@router.post("/simulations", response_model=Simulation)
async def simulate_policy(
    body: SimulationIn,
    session: SessionDep,
    _: Annotated[Principal, Depends(allow("ops", "admin"))],
) -> Simulation:
    """Decide every return created in the period again under a draft policy, with the workflow's
    own eligibility and refund code, on the facts each return was decided on (its items, order
    snapshots, the units other returns held, the customer's recent returns and list entry):
    moves nothing, starts nothing, saves nothing. Returns requested before the simulator
    existed, or not decided yet, are not counted."""
    if body.created_before <= body.created_after:
        raise InvalidInput("created_before", "must be later than created_after")
    after = _after(body.cursor) if body.cursor else None
    async with session.begin():
        simulator = await simulate_period(
            session, body.policy, body.created_after, body.created_before, after
        )
    result = simulator.result
    following = simulator.next_after()
    result.next_cursor = _cursor(following) if following else None
    return result
