"""Eligibility: small rules over the facts of a return, each eligible, ineligible or needs review.

The facts are gathered (and the quantities reserved) by an activity; the rules here only decide.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field

from returns_service.domain import refunds, rules
from returns_service.domain.messages import RegisteredFacts
from returns_service.domain.models import (
    Model,
    Order,
    Policy,
    ReturnItem,
    ReturnMethod,
    Rule,
    RuleOutcome,
    RuleResult,
    WindowBasis,
)
from returns_service.domain.refunds import Terms, currency_of
from returns_service.domain.status import Event
from returns_service.domain.types import amount_in
from returns_service.domain.views import BLOCKED_CUSTOMER as BLOCKED

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
    # Whose return it is, and the units of each item's line earlier returns hold (to value an
    # item for the policy's rules).
    customer_email: str = ""
    prior_quantity: dict[str, int] = Field(default_factory=dict)
    # The customer's entry on the shop's lists, if any, and why they are on it.
    customer_list: Literal["blocked", "allowed"] | None = None
    customer_list_reason: str | None = None
    method: ReturnMethod = ReturnMethod.LABEL
    store_id: str | None = None
    # Not the customer asked for it, but staff (they may choose any method, as any resolution).
    by_staff: bool = False
    # The items whose photos came with the request (None: not known, not checked).
    photographed: list[str] | None = None
    # Staff took the return though the window closed, and said why (None: no exception).
    window_exception: str | None = None
    # Staff waived its fees, and said why (None: the policy's fees).
    fees_waived: str | None = None

    @property
    def currency(self) -> str:
        """The return's currency (its orders': one return, one currency)."""
        return currency_of(self.orders, (item.order_id for item in self.items))


Matched = Mapping[str, list[Rule]]


def facts_of(
    registered: RegisteredFacts,
    now: datetime,
    items: list[ReturnItem],
    customer_email: str,
    method: ReturnMethod,
    store_id: str | None,
    by_staff: bool,
    trusted: bool = False,
    photographed: list[str] | None = None,
    window_exception: str | None = None,
    fees_waived: str | None = None,
) -> EligibilityFacts:
    """The facts a return (or items added to it) is decided on, from what the store found when
    it held their units. `trusted`: parts validated already (the simulator's), not again."""
    fields: dict[str, Any] = {
        "now": now,
        "orders": registered.orders,
        "items": items,
        "available_quantity": registered.available_quantity,
        "reserved": registered.reserved,
        "returns_in_90_days": registered.returns_in_90_days,
        "estimated_refund_amount": 0,
        "customer_email": customer_email,
        "prior_quantity": registered.prior_quantity,
        "customer_list": registered.customer_list,
        "customer_list_reason": registered.customer_list_reason,
        "method": method,
        "store_id": store_id,
        "by_staff": by_staff,
        "photographed": photographed,
        "window_exception": window_exception,
        "fees_waived": fees_waived,
    }
    if trusted:
        return EligibilityFacts.model_construct(**fields)
    return EligibilityFacts.model_validate(fields)


def matched_rules(facts: EligibilityFacts, policy: Policy) -> dict[str, list[Rule]]:
    return rules.matching(
        policy, facts.orders, facts.items, facts.customer_email, facts.prior_quantity
    )


def ruled_window(item: ReturnItem, matched: Matched) -> bool:
    """Whether a rule sets this item's return window (the policy's does not apply to it)."""
    return rules.first(matched.get(item.id, []), "window_days") is not None


def deadline(order: Order, policy: Policy, days: int) -> tuple[WindowBasis, datetime | None]:
    """When an order's return window closes (None: at the end of the calendar)."""
    basis, start = window_start(order, policy.window_basis)
    try:
        return basis, start + timedelta(days=days)
    except OverflowError:
        # A date at the end of the calendar (kept before dates were bounded at the edge): the
        # window cannot have closed.
        return basis, None


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


def return_window(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    """The policy's window, per order, for the items no rule gives a window of its own."""
    results = []
    ordered = {item.order_id for item in facts.items if not ruled_window(item, matched)}
    for order_id in sorted(ordered):
        order = facts.orders[order_id]
        basis, closes = deadline(order, policy, policy.return_window_days)
        within = closes is None or facts.now <= closes
        if closes is None:
            closes = datetime.max.replace(tzinfo=facts.now.tzinfo)
        if within:
            detail = (
                f"order {order.number}: within {policy.return_window_days} days of being"
                f" {basis.value} (until {closes.date().isoformat()})"
            )
            results.append(RuleResult(rule="return_window", outcome=ELIGIBLE, detail=detail))
        else:
            detail = (
                f"order {order.number}: the {policy.return_window_days}-day return window"
                f" closed on {closes.date().isoformat()}"
            )
            if facts.window_exception:  # staff took it all the same, and said why
                detail += f"; taken by exception: {facts.window_exception}"
            outcome = ELIGIBLE if facts.window_exception else INELIGIBLE
            results.append(RuleResult(rule="return_window", outcome=outcome, detail=detail))
    return results


def final_sale(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
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


def non_returnable(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
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


def returnable_quantity(
    facts: EligibilityFacts, policy: Policy, matched: Matched
) -> list[RuleResult]:
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


def allowed(rule: str, facts: EligibilityFacts) -> list[RuleResult]:
    """A customer on the allowed list skips the review threshold and the frequent-returner
    rule."""
    return [RuleResult(rule=rule, outcome=ELIGIBLE, detail="the customer is on the allowed list")]


def review_threshold(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    if facts.customer_list == "allowed":
        return allowed("review_threshold", facts)
    amount = facts.estimated_refund_amount
    if not over_review_limit(policy, facts.currency, amount):
        return []
    limit = amount_in(policy.review_above_amount, facts.currency)
    detail = (
        f"the policy sets no review limit for {facts.currency}: an agent reviews"
        if limit is None
        else f"estimated refund {amount} is above {limit}"
    )
    return [
        RuleResult(
            rule="review_threshold", outcome=REVIEW, detail=detail, amount=amount, limit=limit
        )
    ]


def over_review_limit(policy: Policy, currency: str, amount: int) -> bool:
    """Whether a return in `currency` estimated at `amount` is for an agent to review by the
    policy's limit (every one, where the limit names other currencies only)."""
    limit = amount_in(policy.review_above_amount, currency)
    if limit is None:
        return policy.review_above_amount is not None
    return amount > limit


def frequent_returner(
    facts: EligibilityFacts, policy: Policy, matched: Matched
) -> list[RuleResult]:
    if facts.customer_list == "allowed":
        return allowed("frequent_returner", facts)
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


def blocked_customer(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    """A blocked customer's return waits for an agent, who reads why (the customer does not)."""
    if facts.customer_list != "blocked":
        return []
    why = facts.customer_list_reason or "the customer is on the blocked list"
    return [RuleResult(rule=BLOCKED, outcome=REVIEW, detail=why)]


def policy_rules(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    within = {}
    for item in facts.items:
        if ruled_window(item, matched):
            days = rules.window_days(policy, matched[item.id])
            _, closes = deadline(facts.orders[item.order_id], policy, days)
            within[item.id] = closes is None or facts.now <= closes or bool(facts.window_exception)
    return rules.results(policy, facts.orders, facts.items, matched, within)


def return_method(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    """The way back the return asked for: one the shop offers for its items (staff may choose
    any), at one of its stores; keeping the items only where the policy allows it (else an agent
    decides)."""
    method = facts.method
    offered = rules.methods_offered(policy, facts.items, matched)
    if method is ReturnMethod.LABEL and method in offered:
        return []
    if method is ReturnMethod.IN_STORE:
        store = policy.store(facts.store_id)
        if store is None:
            detail = f"store {facts.store_id} is not one of the shop's stores"
            return [RuleResult(rule="return_method", outcome=INELIGIBLE, detail=detail)]
    if method not in offered and not facts.by_staff:
        detail = f"the shop does not offer {method.value} for these items"
        return [RuleResult(rule="return_method", outcome=INELIGIBLE, detail=detail)]
    if method is ReturnMethod.KEEP_ITEM and not facts.by_staff:
        if not rules.keep_allowed(
            policy, facts.items, matched, facts.estimated_refund_amount, facts.currency
        ):
            detail = (
                f"keeping the items needs an agent: the estimated refund"
                f" {facts.estimated_refund_amount} is above what the policy lets customers keep"
            )
            return [
                RuleResult(
                    rule="return_method",
                    outcome=REVIEW,
                    detail=detail,
                    amount=facts.estimated_refund_amount,
                )
            ]
    if method not in offered or (
        method is ReturnMethod.KEEP_ITEM
        and not rules.keep_allowed(
            policy, facts.items, matched, facts.estimated_refund_amount, facts.currency
        )
    ):
        # Only agents and admins go beyond the policy, and it says so.
        detail = f"{method.value} chosen by staff beyond what the policy offers"
        return [RuleResult(rule="return_method", outcome=ELIGIBLE, detail=detail)]
    detail = {
        ReturnMethod.LABEL: "sent back with a printed label",
        ReturnMethod.QR_DROP_OFF: "sent back with a code shown at a drop-off point",
        ReturnMethod.IN_STORE: f"brought to the store {facts.store_id}",
        ReturnMethod.KEEP_ITEM: "the customer keeps the items",
    }[method]
    return [RuleResult(rule="return_method", outcome=ELIGIBLE, detail=detail)]


def photos(facts: EligibilityFacts, policy: Policy, matched: Matched) -> list[RuleResult]:
    """Photos the policy asks for (by the item's reason, or a rule) that did not come: an agent
    looks at the claim instead (staff's own returns need none)."""
    if facts.photographed is None or facts.by_staff:
        return []
    return [
        RuleResult(
            rule="photos",
            outcome=REVIEW,
            detail=f"{item.name}: the shop asks for photos of it, and none came",
            item_id=item.id,
        )
        for item in facts.items
        if item.id not in facts.photographed
        and rules.photos_required(policy, item.reason, matched.get(item.id, []))
    ]


RULES: list[Callable[[EligibilityFacts, Policy, Matched], list[RuleResult]]] = [
    return_window,
    final_sale,
    non_returnable,
    returnable_quantity,
    review_threshold,
    frequent_returner,
    blocked_customer,
    policy_rules,
    return_method,
    photos,
]


PASSED = {
    "final_sale": "no item was bought as final sale",
    "non_returnable": "every item may be returned",
    "returnable_quantity": "every item's quantity is still returnable",
    "review_threshold": "the estimated refund needs no review",
    "frequent_returner": "the customer's recent returns need no review",
}


class Verdict(Model):
    event: Event
    results: list[RuleResult]
    # What the return would pay back, as requested, and what the rules changed in its fees.
    estimated_refund_amount: int
    terms: Terms


def decide(
    facts: EligibilityFacts,
    held: Mapping[str, Mapping[str, int]],
    policy: Policy,
    kept_pays_fees: bool = False,
) -> Verdict:
    """A return's verdict under `policy` from the facts it was requested with (`held`: per order
    and line, the units other returns held): the workflow decides by it, and the policy
    simulator decides again by it under a draft. Kept items pay no restocking or return
    shipping fee unless a rule sets one (`kept_pays_fees`: returns decided before, as they were)."""
    matched = matched_rules(facts, policy)
    kept = facts.method is ReturnMethod.KEEP_ITEM and not kept_pays_fees
    terms = rules.terms(policy, facts.items, matched, facts.currency, kept)
    if facts.fees_waived:
        terms = refunds.waived(terms, facts.items)
    units = refunds.returned_units(facts.items, facts.prior_quantity, lambda item: item.quantity)
    estimate = sum(
        part.amount for part in refunds.refund_by_order(facts.orders, units, policy, held, terms)
    )
    facts = facts.model_copy(update={"estimated_refund_amount": estimate})
    event, results = evaluate(facts, policy, matched)
    if facts.fees_waived:
        results.append(
            RuleResult(
                rule="fees",
                outcome=ELIGIBLE,
                detail=f"no restocking or return shipping fee; waived by exception: "
                f"{facts.fees_waived}",
            )
        )
    return Verdict(event=event, results=results, estimated_refund_amount=estimate, terms=terms)


def evaluate(
    facts: EligibilityFacts, policy: Policy, matched: Matched | None = None
) -> tuple[Event, list[RuleResult]]:
    """Apply every rule and show each one's answer (the policy's own rules only where they
    match); any ineligible rejects, else any review routes to an agent."""
    results = []
    if matched is None:
        matched = matched_rules(facts, policy)
    for rule in RULES:
        found = rule(facts, policy, matched)
        name = rule.__name__
        if not found and name in PASSED:
            found = [RuleResult(rule=name, outcome=ELIGIBLE, detail=PASSED[name])]
        results.extend(found)
    outcomes = {result.outcome for result in results}
    if INELIGIBLE in outcomes:
        return Event.INELIGIBLE, results
    if REVIEW in outcomes:
        return Event.NEEDS_REVIEW, results
    return Event.ELIGIBLE, results
