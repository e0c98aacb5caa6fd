"""Eligibility: small rules over the facts of a return, each eligible, ineligible or needs review.

The facts are gathered (and the quantities reserved) by an activity; the rules here only decide.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from pydantic import Field

from returns_service.domain.models import (
    Model,
    Order,
    Policy,
    ReturnItem,
    RuleOutcome,
    RuleResult,
    WindowBasis,
)
from returns_service.domain.status import Event

ELIGIBLE, INELIGIBLE, REVIEW = RuleOutcome.ELIGIBLE, RuleOutcome.INELIGIBLE, RuleOutcome.REVIEW


class EligibilityFacts(Model):
    now: datetime
    orders: dict[str, Order]
    items: list[ReturnItem]
    # Per item id: units of its line still returnable when this return asked (other returns held
    # the rest), and whether this return's reservation of them succeeded.
    available_quantity: dict[str, int]
    reserved: bool
    returns_in_90_days: int = Field(default=0, ge=0)
    estimated_refund_amount: int = 0


_FALLBACK = [WindowBasis.DELIVERED, WindowBasis.FULFILLED, WindowBasis.PLACED]


def window_start(order: Order, basis: WindowBasis) -> tuple[WindowBasis, datetime]:
    """The basis date, falling back delivered -> fulfilled -> placed when it is missing."""
    dates = {
        WindowBasis.DELIVERED: order.delivered_at,
        WindowBasis.FULFILLED: order.fulfilled_at,
        WindowBasis.PLACED: order.placed_at,
    }
    for candidate in _FALLBACK[_FALLBACK.index(basis) :]:
        date = dates[candidate]
        if date is not None:
            return candidate, date
    return WindowBasis.PLACED, order.placed_at


def return_window(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    results = []
    for order_id in sorted({item.order_id for item in facts.items}):
        order = facts.orders[order_id]
        basis, start = window_start(order, policy.window_basis)
        try:
            deadline = start + timedelta(days=policy.return_window_days)
            within = facts.now <= deadline
        except OverflowError:
            # A date at the end of the calendar (kept before dates were bounded at the edge):
            # the window cannot have closed.
            deadline, within = datetime.max.replace(tzinfo=facts.now.tzinfo), True
        if within:
            detail = (
                f"order {order.number}: within {policy.return_window_days} days of being"
                f" {basis.value} (until {deadline.date().isoformat()})"
            )
            results.append(RuleResult(rule="return_window", outcome=ELIGIBLE, detail=detail))
        else:
            detail = (
                f"order {order.number}: the {policy.return_window_days}-day return window"
                f" closed on {deadline.date().isoformat()}"
            )
            results.append(RuleResult(rule="return_window", outcome=INELIGIBLE, detail=detail))
    return results


def final_sale(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    results = []
    for item in facts.items:
        line = facts.orders[item.order_id].line(item.line_id)
        if line is not None and line.final_sale:
            results.append(
                RuleResult(
                    rule="final_sale",
                    outcome=INELIGIBLE,
                    detail=f"{item.name} was bought as final sale and cannot be returned",
                    item_id=item.id,
                )
            )
    return results


def non_returnable(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    results = []
    for item in facts.items:
        line = facts.orders[item.order_id].line(item.line_id)
        if line is None:
            continue
        if line.sku in policy.non_returnable_skus or (
            line.category is not None and line.category in policy.non_returnable_categories
        ):
            results.append(
                RuleResult(
                    rule="non_returnable",
                    outcome=INELIGIBLE,
                    detail=f"{item.name} is not returnable",
                    item_id=item.id,
                )
            )
    return results


def returnable_quantity(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    results = []
    for item in facts.items:
        available = facts.available_quantity.get(item.id, 0)
        if item.quantity > available or not facts.reserved:
            results.append(
                RuleResult(
                    rule="returnable_quantity",
                    outcome=INELIGIBLE,
                    detail=(
                        f"{item.name}: {item.quantity} asked, {max(available, 0)} still returnable"
                    ),
                    item_id=item.id,
                )
            )
    return results


def review_threshold(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    limit = policy.review_above_amount
    if limit is not None and facts.estimated_refund_amount > limit:
        return [
            RuleResult(
                rule="review_threshold",
                outcome=REVIEW,
                detail=f"estimated refund {facts.estimated_refund_amount} is above {limit}",
            )
        ]
    return []


def frequent_returner(facts: EligibilityFacts, policy: Policy) -> list[RuleResult]:
    limit = policy.review_if_returns_in_90_days_over
    if limit is not None and facts.returns_in_90_days > limit:
        return [
            RuleResult(
                rule="frequent_returner",
                outcome=REVIEW,
                detail=f"{facts.returns_in_90_days} returns in 90 days, more than {limit}",
            )
        ]
    return []


RULES: list[Callable[[EligibilityFacts, Policy], list[RuleResult]]] = [
    return_window,
    final_sale,
    non_returnable,
    returnable_quantity,
    review_threshold,
    frequent_returner,
]


PASSED = {
    "final_sale": "no item was bought as final sale",
    "non_returnable": "every item may be returned",
    "returnable_quantity": "every item's quantity is still returnable",
    "review_threshold": "the estimated refund needs no review",
    "frequent_returner": "the customer's recent returns need no review",
}


def evaluate(facts: EligibilityFacts, policy: Policy) -> tuple[Event, list[RuleResult]]:
    """Apply every rule and show each one's answer; any ineligible rejects, else any review
    routes to an agent."""
    results = []
    for rule in RULES:
        found = rule(facts, policy)
        name = rule.__name__
        results.extend(found or [RuleResult(rule=name, outcome=ELIGIBLE, detail=PASSED[name])])
    outcomes = {result.outcome for result in results}
    if INELIGIBLE in outcomes:
        return Event.INELIGIBLE, results
    if REVIEW in outcomes:
        return Event.NEEDS_REVIEW, results
    return Event.ELIGIBLE, results
