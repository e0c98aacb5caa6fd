"""Refund arithmetic and capture allocation. Integers in minor units throughout, rounded down.

A line's paid total is its units' price, less its own discount and its share of order-level
discounts, plus its tax. Returned units of a line are valued by cumulative rounding: the first k
units of a line are worth floor(k * paid / quantity), so any sequence of partial returns of a line
adds up to at most what was paid for it, and exactly that when every unit comes back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from pydantic import Field

from returns_service.domain.models import (
    Capture,
    Model,
    Order,
    OrderLine,
    Policy,
    RefundOn,
    ReturnItem,
)
from returns_service.domain.types import amount_in


class Terms(Model):
    """What the policy's rules change in a return's arithmetic (domain/rules.py decides them):
    the restocking fee of the lines they match, and the return shipping fee. Without them the
    policy's own fees apply."""

    # Per order and line, where a rule sets it.
    restocking_fee_percent: dict[str, dict[str, int]] = Field(default_factory=dict)
    # The return's shipping fee, where a rule sets it for one of its items.
    return_shipping_fee: int | None = None
    # When the return is paid back by itself, where rules set it for every item (None: the
    # policy's `refund_on`).
    refund_on: RefundOn | None = None

    def percent(self, policy: Policy, order_id: str, line_id: str) -> int:
        by_line = self.restocking_fee_percent.get(order_id, {})
        return by_line.get(line_id, policy.restocking_fee_percent)

    def pays_on(self, policy: Policy) -> RefundOn:
        return self.refund_on or policy.refund_on

    def shipping_fee(self, policy: Policy, currency: str) -> int:
        """The return's shipping fee in `currency`, the return's (the policy's where no rule set
        one; none where the policy names other currencies only)."""
        if self.return_shipping_fee is None:
            return amount_in(policy.return_shipping_fee, currency) or 0
        return self.return_shipping_fee


NO_TERMS = Terms()


def waived(terms: Terms, items: Iterable[ReturnItem]) -> Terms:
    """`terms` with every item's restocking fee and the return shipping fee waived (staff's
    exception, said why on the return)."""
    percents = {o: dict(lines) for o, lines in terms.restocking_fee_percent.items()}
    for item in items:
        percents.setdefault(item.order_id, {})[item.line_id] = 0
    return Terms(restocking_fee_percent=percents, return_shipping_fee=0, refund_on=terms.refund_on)


def currency_of(orders: Mapping[str, Order], order_ids: Iterable[str]) -> str:
    """The currency of a return on these orders (one return, one currency); "" for none."""
    return next((orders[o].currency for o in order_ids if o in orders), "")


class ReturnedUnits(Model):
    """Units of one order line that a return gives back."""

    order_id: str
    line_id: str
    quantity: int = Field(ge=0)
    # Units of this line that earlier returns already hold or gave back.
    prior_quantity: int = Field(default=0, ge=0)


class OrderRefund(Model):
    order_id: str
    items_amount: int
    shipping_amount: int
    restocking_fee: int
    return_shipping_fee: int
    amount: int


class CaptureBalance(Model):
    capture: Capture
    remaining: int


class CaptureShare(Model):
    capture_id: str
    amount: int


class AboveMaximum(Exception):
    def __init__(self, requested: int, maximum: int) -> None:
        super().__init__(f"refund of {requested} is more than the {maximum} still refundable")
        self.requested = requested
        self.maximum = maximum


class InsufficientCaptures(Exception):
    def __init__(self, requested: int, available: int) -> None:
        super().__init__(f"refund of {requested} exceeds the {available} the captures still hold")
        self.requested = requested
        self.available = available


def order_discount_shares(order: Order) -> dict[str, int]:
    """Spread the order-level discount over lines in proportion to their value after line
    discounts, by largest remainder so that the shares add up to the discount exactly."""
    values = {
        line.id: line.unit_amount * line.quantity - line.discount_amount for line in order.lines
    }
    total = sum(max(v, 0) for v in values.values())
    discount = min(order.order_discount_amount, total)
    if total == 0 or discount == 0:
        return {line_id: 0 for line_id in values}
    shares = {lid: discount * max(v, 0) // total for lid, v in values.items()}
    remainders = sorted(
        values, key=lambda lid: (-(discount * max(values[lid], 0) % total), list(values).index(lid))
    )
    for lid in remainders[: discount - sum(shares.values())]:
        shares[lid] += 1
    return shares


def line_paid(order: Order, line: OrderLine) -> int:
    """What the customer paid for the whole line, tax included."""
    share = order_discount_shares(order)[line.id]
    return max(line.unit_amount * line.quantity - line.discount_amount - share, 0) + line.tax_amount


def units_value(order: Order, line: OrderLine, quantity: int, prior_quantity: int = 0) -> int:
    """Value of `quantity` units of `line` after `prior_quantity` units came back before."""
    paid = line_paid(order, line)
    end = min(prior_quantity + quantity, line.quantity)
    start = min(prior_quantity, line.quantity)
    return paid * end // line.quantity - paid * start // line.quantity


def refund_by_order(
    orders: Mapping[str, Order],
    units: Iterable[ReturnedUnits],
    policy: Policy,
    held: Mapping[str, Mapping[str, int]] | None = None,
    terms: Terms = NO_TERMS,
) -> list[OrderRefund]:
    """What a return refunds, per order, under `policy` (and its rules' `terms`). `held` gives,
    per order and line, the units earlier returns hold: with them, a return that brings back the
    rest of an order brings back the whole order (and its original shipping, when the policy
    refunds it)."""
    per_order: dict[str, list[ReturnedUnits]] = {}
    for unit in units:
        per_order.setdefault(unit.order_id, []).append(unit)
    shipping_fee_left = terms.shipping_fee(policy, currency_of(orders, per_order))
    result = []
    for order_id, order_units in per_order.items():
        order = orders[order_id]
        by_percent: dict[int, int] = {}
        returned_after: dict[str, int] = dict((held or {}).get(order_id, {}))
        for unit in order_units:
            line = order.line(unit.line_id)
            if line is None or unit.quantity == 0:
                continue
            percent = terms.percent(policy, order_id, line.id)
            by_percent[percent] = by_percent.get(percent, 0) + units_value(
                order, line, unit.quantity, unit.prior_quantity
            )
            before = max(returned_after.get(line.id, 0), unit.prior_quantity)
            returned_after[line.id] = before + unit.quantity
        whole_order_back = all(returned_after.get(ln.id, 0) >= ln.quantity for ln in order.lines)
        shipping = (
            order.shipping_amount if policy.refund_original_shipping and whole_order_back else 0
        )
        refund = priced(order_id, by_percent, shipping, shipping_fee_left)
        shipping_fee_left -= refund.return_shipping_fee
        result.append(refund)
    return result


def ceiling_by_order(
    orders: Mapping[str, Order],
    units: Iterable[ReturnedUnits],
    policy: Policy,
    terms: Terms = NO_TERMS,
) -> dict[str, int]:
    """Per order, the most an entitlement for `units` can come to on these orders' figures: a
    line's k units at most their share rounded up (the entitlement's own bound, whatever other
    returns of the line did), the original shipping where the policy pays it, less the fees as
    the entitlement takes them. What an approval fixes: on the same figures, the entitlement never
    pays more; only figures pushed again later can ask for more."""
    per_order: dict[str, list[ReturnedUnits]] = {}
    for unit in units:
        per_order.setdefault(unit.order_id, []).append(unit)
    fee_left = terms.shipping_fee(policy, currency_of(orders, per_order))
    ceilings = {}
    for order_id, order_units in per_order.items():
        order = orders.get(order_id)
        if order is None:
            continue
        by_percent: dict[int, int] = {}
        for unit in order_units:
            line = order.line(unit.line_id)
            if line is None or unit.quantity == 0:
                continue
            share = -(-line_paid(order, line) * min(unit.quantity, line.quantity) // line.quantity)
            percent = terms.percent(policy, order_id, line.id)
            by_percent[percent] = by_percent.get(percent, 0) + share
        shipping = order.shipping_amount if policy.refund_original_shipping else 0
        part = priced(order_id, by_percent, shipping if by_percent else 0, fee_left)
        fee_left -= part.return_shipping_fee
        ceilings[order_id] = part.amount
    return ceilings


def estimate(
    orders: Mapping[str, Order],
    held: Mapping[tuple[str, str], int],
    picks: Iterable[tuple[str, str, int]],
    policy: Policy,
    terms: Terms = NO_TERMS,
) -> list[OrderRefund]:
    """What a return of `picks` (order, line, units) would pay back per order, as its workflow
    reckons it when the return is requested: after the units other returns hold (`held`, per
    order and line), under `policy`."""
    units = [
        ReturnedUnits(
            order_id=order_id,
            line_id=line_id,
            quantity=quantity,
            prior_quantity=held.get((order_id, line_id), 0),
        )
        for order_id, line_id, quantity in picks
        if quantity > 0 and order_id in orders
    ]
    by_order: dict[str, dict[str, int]] = {}
    for (order_id, line_id), quantity in held.items():
        by_order.setdefault(order_id, {})[line_id] = quantity
    return refund_by_order(orders, units, policy, by_order, terms)


def priced(
    order_id: str, by_percent: Mapping[int, int], shipping: int, return_fee_left: int
) -> OrderRefund:
    """An order's refund from the value of its items (by the restocking fee percent that applies
    to them) and its original shipping: less the restocking fee, and less what is left of the
    return shipping fee."""
    items_amount = sum(by_percent.values())
    # Cumulative rounding down: the fee is what is left after rounding the refund down (per
    # percent: one restocking fee for the whole order reckons exactly as it always did).
    restocking_fee = sum(
        amount - (amount * (100 - percent) // 100) for percent, amount in by_percent.items()
    )
    gross = items_amount + shipping - restocking_fee
    return_fee = min(return_fee_left, gross)
    return OrderRefund(
        order_id=order_id,
        items_amount=items_amount,
        shipping_amount=shipping,
        restocking_fee=restocking_fee,
        return_shipping_fee=return_fee,
        amount=gross - return_fee,
    )


class ClaimedUnits(Model):
    """Units of one order line a return brought back, as reckoned when its money was."""

    line_id: str
    # Units received, in any condition, and what they are worth.
    back: int = Field(default=0, ge=0)
    amount: int = Field(default=0, ge=0)
    # Of those, units received in a condition the policy pays back by itself.
    units: int = Field(default=0, ge=0)


class Entitlement(Model):
    """What one return may pay back for one order, reckoned once, from the live state of every
    return of the order, when the return's goods are back: `refund` is the most (an agent may
    pay back damaged goods too), `due` what the policy pays back by itself (goods in a
    condition it restocks)."""

    refund: OrderRefund
    due: OrderRefund
    lines: list[ClaimedUnits]


def entitle(
    order: Order,
    back: Mapping[str, int],
    refundable: Mapping[str, int],
    others: Mapping[str, ClaimedUnits],
    kept: Mapping[str, int],
    shipping_taken: bool,
    policy: Policy,
    return_fee_left: int,
    terms: Terms = NO_TERMS,
) -> Entitlement:
    """The entitlement of a return that brought back `back` units per line of `order`, of which
    `refundable` are in a condition the policy pays back, when other returns have claimed
    `others` (summed per line; `kept` of those units per line on returns that can no longer be
    rejected) and, if `shipping_taken`, the order's original shipping.

    A line's claims add up cumulatively: with C units claimed before for A, k more are worth
    floor((C + k) * paid / quantity) - A, and never more than k units' share rounded up. However
    returns are cancelled, rejected or received in between, a line never pays back more than was
    paid for it, and the original shipping is paid once, when every unit is back for good."""
    lines = []
    for line in order.lines:
        came = min(back.get(line.id, 0), line.quantity)
        if came == 0:
            continue
        good = min(refundable.get(line.id, 0), came)
        other = others.get(line.id) or ClaimedUnits(line_id=line.id)
        paid = line_paid(order, line)
        claimed = min(other.back + came, line.quantity)
        fair = -(-paid * came // line.quantity)
        amount = min(max(paid * claimed // line.quantity - other.amount, 0), fair)
        lines.append(ClaimedUnits(line_id=line.id, back=came, amount=amount, units=good))
    shipping = original_shipping(order, lines, kept, shipping_taken, policy)
    return priced_claims(order, lines, shipping, policy, return_fee_left, terms)


def original_shipping(
    order: Order,
    lines: Iterable[ClaimedUnits],
    kept: Mapping[str, int],
    shipping_taken: bool,
    policy: Policy,
) -> int:
    """The order's original shipping, when the policy pays it back, nobody has it yet, and every
    unit is back: the return's own `lines` and the `kept` units of returns that can no longer be
    rejected (one still open for a decision might give its units back, and the order would not
    be whole)."""
    own = {claim.line_id: claim.back for claim in lines if claim.back}
    if not policy.refund_original_shipping or shipping_taken or not own:
        return 0  # (a return that brought none of the order's units back never takes it)
    whole = all(own.get(ln.id, 0) + kept.get(ln.id, 0) >= ln.quantity for ln in order.lines)
    return order.shipping_amount if whole else 0


def priced_claims(
    order: Order,
    lines: list[ClaimedUnits],
    shipping: int,
    policy: Policy,
    return_fee_left: int,
    terms: Terms = NO_TERMS,
) -> Entitlement:
    """An entitlement from the value of its claimed units and the original shipping: `due` counts
    the units the policy pays back by itself, each line's share of its value, and the shipping
    only with them (goods that came back damaged are an agent's decision, shipping and all)."""
    items: dict[int, int] = {}
    due: dict[int, int] = {}
    for claim in lines:
        percent = terms.percent(policy, order.id, claim.line_id)
        items[percent] = items.get(percent, 0) + claim.amount
        if claim.back:
            due[percent] = due.get(percent, 0) + claim.amount * claim.units // claim.back
    shipping_due = shipping if sum(due.values()) else 0
    return Entitlement(
        refund=priced(order.id, items, shipping, return_fee_left),
        due=priced(order.id, due, shipping_due, return_fee_left),
        lines=lines,
    )


def allocate(
    amount: int, balances: list[CaptureBalance], capture_id: str | None = None
) -> list[CaptureShare]:
    """Split `amount` over captures: the named capture first, else the most recent one, then
    spill over to older captures, each up to what it still holds."""
    ordered = sorted(balances, key=lambda b: (b.capture.captured_at, b.capture.id), reverse=True)
    if capture_id is not None:
        ordered.sort(key=lambda b: b.capture.id != capture_id)
    available = sum(max(b.remaining, 0) for b in ordered)
    if amount > available:
        raise InsufficientCaptures(amount, available)
    shares = []
    left = amount
    for balance in ordered:
        if left == 0:
            break
        take = min(left, max(balance.remaining, 0))
        if take > 0:
            shares.append(CaptureShare(capture_id=balance.capture.id, amount=take))
            left -= take
    return shares


def returned_units(
    items: Iterable[ReturnItem], prior: Mapping[str, int], quantity: Callable[[ReturnItem], int]
) -> list[ReturnedUnits]:
    """The units `quantity` picks from each item, after the units earlier returns hold (and after
    earlier items of this return that name the same line)."""
    taken: dict[tuple[str, str], int] = {}
    units = []
    for item in items:
        key = (item.order_id, item.line_id)
        before = prior.get(item.id, 0) + taken.get(key, 0)
        count = quantity(item)
        units.append(
            ReturnedUnits(
                order_id=item.order_id, line_id=item.line_id, quantity=count, prior_quantity=before
            )
        )
        taken[key] = taken.get(key, 0) + count
    return units


def split_over_orders(amount: int, maxima: Mapping[str, int]) -> dict[str, int]:
    """Spread an amount chosen for the whole return over its orders, each up to its maximum."""
    split = {}
    left = amount
    for order_id, maximum in maxima.items():
        take = min(left, max(maximum, 0))
        split[order_id] = take
        left -= take
    if left > 0:
        raise AboveMaximum(amount, amount - left)
    return split
