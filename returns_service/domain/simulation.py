"""The policy simulator: every return of a period decided again under a draft policy, by the same
pure eligibility and refund code as the workflow, on the facts each return was decided on. It
moves nothing and starts nothing."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pydantic import BaseModel, Field

from returns_service.domain.eligibility import EligibilityFacts, decide, facts_of
from returns_service.domain.messages import RegisteredFacts
from returns_service.domain.models import BEYOND_POLICY, Model, Policy, ReturnItem, ReturnMethod
from returns_service.domain.status import Event

OUTCOME = {
    Event.ELIGIBLE: "approved",
    Event.NEEDS_REVIEW: "pending_review",
    Event.INELIGIBLE: "rejected",
}
# How many changed returns one answer lists.
PAGE = 100


class RecordedInputs(Model):
    """A return's eligibility inputs as the store keeps them (`return_inputs.facts`)."""

    registered: RegisteredFacts
    items: list[ReturnItem]
    customer_email: str
    method: ReturnMethod = ReturnMethod.LABEL
    store_id: str | None = None
    # Who requested it (an actor's kind).
    actor: str | None = None
    # Staff's exception to a closed return window (absent in inputs kept before there were any).
    window_exception: str | None = None
    # Staff waived its fees (absent in inputs kept before fees could be waived).
    fees_waived: str | None = None

    def facts(self, now: datetime) -> EligibilityFacts:
        """The workflow's facts, from these already validated parts."""
        return facts_of(
            self.registered,
            now,
            self.items,
            self.customer_email,
            self.method,
            self.store_id,
            by_staff=self.actor in BEYOND_POLICY,
            trusted=True,
            window_exception=self.window_exception,
            fees_waived=self.fees_waived,
        )


class Recorded(Model):
    """One return as the simulator reads it: its facts, and the policy's verdict on them."""

    id: str
    number: str | None
    created_at: datetime
    facts: EligibilityFacts
    # Per order and line, the units other returns held when it was requested.
    held: dict[str, dict[str, int]] = Field(default_factory=dict)
    outcome: str
    estimated_refund_amount: int

    @property
    def currency(self) -> str:
        """The return's currency: its orders' (a return is in one)."""
        return next(iter(self.facts.orders.values())).currency


class Tally(BaseModel):
    approved: int = 0
    pending_review: int = 0
    rejected: int = 0
    estimated_refund_total: int = Field(
        default=0,
        description="What the returns approved or under review would pay back, in minor units"
        " of all their currencies together (read `estimated_refund_totals` when the shop sells"
        " in more than one).",
    )
    estimated_refund_totals: dict[str, int] = Field(
        default_factory=dict,
        description="The same per currency, in its minor units.",
    )

    def add(self, outcome: str, refund: int, currency: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome != "rejected":
            self.estimated_refund_total += refund
            totals = self.estimated_refund_totals
            totals[currency] = totals.get(currency, 0) + refund


class Change(BaseModel):
    id: str
    number: str | None
    now: str
    draft: str
    refund_now: int
    refund_draft: int
    currency: str


class Simulation(BaseModel):
    returns: int = 0
    changed: int = 0
    now: Tally = Field(default_factory=Tally)
    draft: Tally = Field(default_factory=Tally)
    changes: list[Change] = Field(default_factory=list)
    next_cursor: str | None = None


class Redecided(NamedTuple):
    """A return's verdicts now and under the draft: all that comes back from a simulating
    process."""

    created_at: datetime
    id: str
    number: str | None
    now: str
    refund_now: int
    draft: str
    refund_draft: int
    currency: str


def redecided(one: Recorded, draft: Policy) -> Redecided:
    verdict = decide(one.facts, one.held, draft)
    return Redecided(
        one.created_at,
        one.id,
        one.number,
        one.outcome,
        one.estimated_refund_amount,
        OUTCOME[verdict.event],
        verdict.estimated_refund_amount,
        one.currency,
    )


class Simulator:
    """Decides returns again under `draft`, one by one: the changes listed are the first `PAGE`
    after the return `after` (created_at, id), in the order the returns come."""

    def __init__(self, draft: Policy, after: tuple[datetime, str] | None = None) -> None:
        self.draft = draft
        self.after = after
        self.result = Simulation()
        self.last: tuple[datetime, str] | None = None
        self.more = False

    def count(self, decided: Redecided) -> None:
        """One return's verdicts, now and under the draft, in the period's order."""
        result = self.result
        result.returns += 1
        result.now.add(decided.now, decided.refund_now, decided.currency)
        result.draft.add(decided.draft, decided.refund_draft, decided.currency)
        if decided.draft == decided.now and decided.refund_draft == decided.refund_now:
            return
        result.changed += 1
        key = (decided.created_at, decided.id)
        if self.after is not None and key <= self.after:
            return
        if len(result.changes) == PAGE:
            self.more = True
            return
        result.changes.append(
            Change(
                id=decided.id,
                number=decided.number,
                now=decided.now,
                draft=decided.draft,
                refund_now=decided.refund_now,
                refund_draft=decided.refund_draft,
                currency=decided.currency,
            )
        )
        self.last = key

    def next_after(self) -> tuple[datetime, str] | None:
        """Where the next page of changes starts, when there is one."""
        return self.last if self.more else None
