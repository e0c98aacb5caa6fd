"""The policy's rules: which of them match each item of a return, and what follows from them.

A rule matches an item when every condition of its `when` holds for it (each list any-of); its
`then` decides for the items it matches. Rules are read in order: where two matching rules set
the same thing for an item, the first one decides, except the return shipping fee, which is the
highest of the matching ones (a parcel pays one fee). Pure: the workflow, the API's checks, the
portal's estimate and the policy simulator all decide by these functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TypeVar

from returns_service.domain.models import (
    Order,
    Policy,
    Reason,
    RefundOn,
    ReturnItem,
    ReturnMethod,
    Rule,
    RuleOutcome,
    RuleResult,
)
from returns_service.domain.refunds import (
    NO_TERMS,
    OrderRefund,
    Terms,
    currency_of,
    estimate,
    units_value,
)
from returns_service.domain.types import Amounts, amount_in

T = TypeVar("T")


def rule_id(rule: Rule) -> str:
    """How a rule shows on a return's eligibility."""
    return f"policy_rule:{rule.name}"


def matches(rule: Rule, item: ReturnItem, order: Order, value: int, email: str) -> bool:
    when = rule.when
    line = order.line(item.line_id)
    sku = line.sku if line is not None else item.sku
    category = line.category if line is not None else None
    return (
        (when.reasons is None or item.reason in when.reasons)
        and (when.skus is None or sku in when.skus)
        and (when.categories is None or (category is not None and category in when.categories))
        and (when.amount_above is None or value > above(when.amount_above, order.currency))
        and (when.customer_emails is None or email.lower() in when.customer_emails)
    )


def above(amount: Amounts, currency: str) -> int | float:
    """A rule's `amount_above` in the item's currency: one it does not name matches no item."""
    found = amount_in(amount, currency)
    return float("inf") if found is None else found


def item_values(
    orders: Mapping[str, Order], items: Iterable[ReturnItem], prior: Mapping[str, int]
) -> dict[str, int]:
    """Per item, what its units are worth (their share of what was paid for the line, after the
    units earlier returns hold), before any fee."""
    values = {}
    for item in items:
        order = orders.get(item.order_id)
        line = order.line(item.line_id) if order is not None else None
        values[item.id] = (
            units_value(order, line, item.quantity, prior.get(item.id, 0))
            if order is not None and line is not None
            else 0
        )
    return values


def matching(
    policy: Policy,
    orders: Mapping[str, Order],
    items: Iterable[ReturnItem],
    email: str,
    prior: Mapping[str, int] | None = None,
) -> dict[str, list[Rule]]:
    """Per item id, the rules that match it, in the policy's order."""
    items = list(items)
    if not policy.rules:
        return {item.id: [] for item in items}
    values = item_values(orders, items, prior or {})
    return {
        item.id: [
            rule
            for rule in policy.rules
            if item.order_id in orders
            and matches(rule, item, orders[item.order_id], values[item.id], email)
        ]
        for item in items
    }


def requested(
    policy: Policy,
    orders: Mapping[str, Order],
    held: Mapping[tuple[str, str], int],
    items: list[ReturnItem],
    email: str,
    kept: bool = False,
) -> tuple[dict[str, list[Rule]], list[OrderRefund]]:
    """Before a return exists (the API's checks, the portal's estimate): the rules matching its
    items, and what it would pay back per order with their fees (`kept`: the customer keeps
    them), after the units other returns hold (`held`, per order and line)."""
    prior = {item.id: held.get((item.order_id, item.line_id), 0) for item in items}
    matched = matching(policy, orders, items, email, prior)
    picks = [(item.order_id, item.line_id, item.quantity) for item in items]
    currency = currency_of(orders, (item.order_id for item in items))
    return matched, estimate(
        orders, held, picks, policy, terms(policy, items, matched, currency, kept)
    )


def first(rules: Iterable[Rule], field: str) -> object | None:
    """What the first rule that sets `field` says, or None."""
    for rule in rules:
        value = getattr(rule.then, field)
        if value is not None:
            return value
    return None


def terms(
    policy: Policy,
    items: Iterable[ReturnItem],
    matched: Mapping[str, list[Rule]],
    currency: str,
    kept: bool = False,
) -> Terms:
    """The fees the rules set: each matched line's restocking fee, and the return shipping fee
    (the highest of every item's: a rule's where one matches it, else the policy's). Items the
    customer keeps are neither shipped nor restocked: only a rule's fees apply to them."""
    percents: dict[str, dict[str, int]] = {}
    fees: list[int | None] = []
    # First scan only where every item's rules (or, for an item no rule decides, the policy)
    # say so: one parcel, one moment to pay.
    when: list[object] = []
    for item in items:
        rules = matched.get(item.id, [])
        when.append(first(rules, "refund_on") or policy.refund_on)
        percent = first(rules, "restocking_fee_percent")
        if isinstance(percent, int):
            percents.setdefault(item.order_id, {})[item.line_id] = percent
        elif kept:
            percents.setdefault(item.order_id, {})[item.line_id] = 0
        rule_fees = [
            fee
            for fee in (amount_in(r.then.return_shipping_fee, currency) for r in rules)
            if fee is not None
        ]
        fees.append(max(rule_fees) if rule_fees else None)
    refund_on: RefundOn | None = None
    if when and all(w == "first_scan" for w in when):
        refund_on = "first_scan"
    elif policy.refund_on == "first_scan":
        refund_on = "receipt"  # a rule holds some item back to the receipt
    if kept:
        return Terms(
            restocking_fee_percent=percents,
            return_shipping_fee=max((fee for fee in fees if fee is not None), default=0),
        )
    shipping = (
        max(NO_TERMS.shipping_fee(policy, currency) if fee is None else fee for fee in fees)
        if any(fee is not None for fee in fees)
        else None
    )
    return Terms(restocking_fee_percent=percents, return_shipping_fee=shipping, refund_on=refund_on)


def fixed(policy: Policy, items: Iterable[ReturnItem], terms: Terms, currency: str) -> Terms:
    """`terms` with every item's restocking fee written out (the policy's where no rule set one),
    so that they stay the same whichever policy reads them later."""
    percents = {order_id: dict(lines) for order_id, lines in terms.restocking_fee_percent.items()}
    for item in items:
        percents.setdefault(item.order_id, {}).setdefault(
            item.line_id, policy.restocking_fee_percent
        )
    return Terms(
        restocking_fee_percent=percents,
        return_shipping_fee=terms.shipping_fee(policy, currency),
        refund_on=terms.refund_on,
    )


def joined(first_terms: Terms, then: Terms) -> Terms:
    """Fees of a return's items decided at two times (both `fixed`): each line keeps the fee it
    was decided with; the parcel pays the higher return shipping fee."""
    percents = {o: dict(lines) for o, lines in first_terms.restocking_fee_percent.items()}
    for order_id, lines in then.restocking_fee_percent.items():
        for line_id, percent in lines.items():
            percents.setdefault(order_id, {}).setdefault(line_id, percent)
    return Terms(
        restocking_fee_percent=percents,
        return_shipping_fee=max(
            first_terms.return_shipping_fee or 0, then.return_shipping_fee or 0
        ),
        # Items added later that would wait for the receipt make the whole parcel wait.
        refund_on=first_terms.refund_on if first_terms.refund_on == then.refund_on else None,
    )


def window_days(policy: Policy, rules: Iterable[Rule]) -> int:
    days = first(rules, "window_days")
    return days if isinstance(days, int) else policy.return_window_days


def photos_required(policy: Policy, reason: Reason, rules: Iterable[Rule]) -> bool:
    """Whether photos of an item are asked for: a rule that says so decides, else its reason."""
    required = first(rules, "photos_required")
    if isinstance(required, bool):
        return required
    return reason in policy.photos_required_for


def methods_offered(
    policy: Policy, items: Iterable[ReturnItem], matched: Mapping[str, list[Rule]]
) -> list[ReturnMethod]:
    """The methods a customer may choose for these items: for each item the first matching
    rule's that names methods, else the policy's; the return is offered those all its items
    share. In store only where the shop has a store."""
    offered: list[ReturnMethod] | None = None
    for item in items:
        methods = first(matched.get(item.id, []), "methods")
        own = methods if isinstance(methods, list) else policy.return_methods
        offered = list(own) if offered is None else [m for m in offered if m in own]
    return [
        method
        for method in (policy.return_methods if offered is None else offered)
        if method is not ReturnMethod.IN_STORE or policy.stores
    ]


def keep_allowed(
    policy: Policy,
    items: Iterable[ReturnItem],
    matched: Mapping[str, list[Rule]],
    estimated_refund: int,
    currency: str,
) -> bool:
    """Whether the customer may keep the items and be paid back at once: a rule says so for
    every item, or the estimated refund is at most the policy's limit (and no rule refuses it
    for an item)."""
    says = [first(matched.get(item.id, []), "keep_item") for item in items]
    if says and all(value is True for value in says):
        return True
    limit = amount_in(policy.keep_item_below_amount, currency)
    return (
        limit is not None
        and estimated_refund <= limit
        and all(value is not False for value in says)
    )


def results(
    policy: Policy,
    orders: Mapping[str, Order],
    items: Iterable[ReturnItem],
    matched: Mapping[str, list[Rule]],
    within: Mapping[str, bool],
) -> list[RuleResult]:
    """Each matching rule on the return's eligibility, once per item it matched: what it decided
    for that item. `within` says, per item a rule's window applies to, whether it is open."""
    found = []
    for item in items:
        for rule in matched.get(item.id, []):
            outcome, parts = RuleOutcome.ELIGIBLE, []
            then = rule.then
            if then.reject is not None:
                outcome = RuleOutcome.INELIGIBLE
                parts.append(then.reject)
            if then.review:
                outcome = outcome if outcome is RuleOutcome.INELIGIBLE else RuleOutcome.REVIEW
                parts.append("an agent reviews it")
            deciding = next((r for r in matched[item.id] if r.then.window_days is not None), None)
            if then.window_days is not None and deciding is rule:
                if within.get(item.id, True):
                    parts.append(f"a {then.window_days}-day return window")
                else:
                    outcome = RuleOutcome.INELIGIBLE
                    parts.append(f"its {then.window_days}-day return window has closed")
            if then.restocking_fee_percent is not None:
                parts.append(f"restocking fee {then.restocking_fee_percent} %")
            fee = amount_in(then.return_shipping_fee, currency_of(orders, [item.order_id]))
            if fee is not None:
                parts.append(f"return shipping fee {fee}")
            if then.keep_item is not None:
                parts.append("may be kept" if then.keep_item else "may not be kept")
            if then.refund_on is not None:
                parts.append(
                    "refunded at the carrier's first scan"
                    if then.refund_on == "first_scan"
                    else "refunded on receipt"
                )
            if then.photos_required is not None:
                parts.append("photos asked for" if then.photos_required else "no photos asked for")
            if then.methods is not None:
                parts.append("sent back by " + ", ".join(m.value for m in then.methods))
            detail = f"{item.name}: " + ("; ".join(parts) or "matched")
            found.append(
                RuleResult(
                    rule=rule_id(rule),
                    outcome=outcome,
                    detail=detail,
                    item_id=item.id,
                    # The fee it sets, in minor units, for the pages to write as money.
                    amount=fee,
                )  # fmt: skip
            )
    return found
