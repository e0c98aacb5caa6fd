"""Properties of the refund arithmetic over random orders, discounts, taxes, captures, policies and
sequences of partial returns that may span two orders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from returns_service.domain import rules
from returns_service.domain.models import (
    Capture,
    Order,
    OrderLine,
    Policy,
    Reason,
    ReturnItem,
)
from returns_service.domain.refunds import (
    CaptureBalance,
    Terms,
    allocate,
    estimate,
    line_paid,
    refund_by_order,
    returned_units,
    split_over_orders,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


@st.composite
def orders(draw: st.DrawFn, order_id: str) -> Order:
    lines = []
    for index in range(draw(st.integers(1, 4))):
        quantity = draw(st.integers(1, 6))
        unit = draw(st.integers(0, 40_000))
        lines.append(
            OrderLine(
                id=f"l{index}",
                sku=f"SKU-{index}",
                name=f"Item {index}",
                quantity=quantity,
                unit_amount=unit,
                discount_amount=draw(st.integers(0, unit * quantity)),
                tax_amount=draw(st.integers(0, 15_000)),
            )
        )
    after_line_discounts = sum(ln.unit_amount * ln.quantity - ln.discount_amount for ln in lines)
    shaped = Order(
        id=order_id,
        number=order_id.upper(),
        customer={"email": "ann@example.com"},
        currency="EUR",
        placed_at=T0,
        lines=lines,
        order_discount_amount=draw(st.integers(0, after_line_discounts)),
        shipping_amount=draw(st.integers(0, 2_000)),
    )
    # What the customer paid, captured in one to three parts at different times.
    paid = sum(line_paid(shaped, line) for line in lines) + shaped.shipping_amount
    cuts = sorted(draw(st.lists(st.integers(0, paid), max_size=2)))
    bounds = [0, *cuts, paid]
    captures = [
        Capture(id=f"{order_id}_cap{i}", amount=high - low, captured_at=T0 + timedelta(hours=i))
        for i, (low, high) in enumerate(zip(bounds, bounds[1:], strict=False))
    ]
    return shaped.model_copy(update={"captures": captures})


def an_item(
    number: int, order: Order, line: OrderLine, count: int, reason: Reason = Reason.WRONG_SIZE
) -> ReturnItem:
    return ReturnItem(
        id=f"ri_{number}",
        order_id=order.id,
        line_id=line.id,
        sku=line.sku,
        name=line.name,
        quantity=count,
        reason=reason,
    )


# Rules that change the fees of the items they match (by SKU, reason or value), in any order.
rule_sets = st.lists(
    st.fixed_dictionaries(
        {
            "when": st.fixed_dictionaries(
                {},
                optional={
                    "skus": st.lists(
                        st.sampled_from([f"SKU-{i}" for i in range(4)]), min_size=1, max_size=4
                    ),
                    "reasons": st.lists(st.sampled_from(list(Reason)), min_size=1, max_size=8),
                    "amount_above": st.integers(0, 60_000),
                },
            ),
            "then": st.fixed_dictionaries(
                {},
                optional={
                    "restocking_fee_percent": st.integers(0, 100),
                    "return_shipping_fee": st.integers(0, 3_000),
                },
            ).filter(bool),  # a rule says what it decides
        }
    ),
    max_size=3,
).map(lambda found: [{"name": f"rule-{i}", **rule} for i, rule in enumerate(found)])

policies = st.builds(
    Policy,
    restocking_fee_percent=st.integers(0, 40),
    return_shipping_fee=st.integers(0, 1_500),
    refund_original_shipping=st.booleans(),
    rules=rule_sets,
)


def ruled(policy: Policy, by_id: dict[str, Order], items: list[ReturnItem], prior) -> Terms:
    """The fees the policy's rules set for these items (as the workflow decides them)."""
    return rules.terms(
        policy, items, rules.matching(policy, by_id, items, "ann@example.com", prior), "EUR"
    )


# A return asks for (order index, line index, quantity, share of the maximum an agent refunds).
asks = st.lists(
    st.tuples(
        st.integers(0, 1), st.integers(0, 3), st.integers(1, 6), st.sampled_from(list(Reason))
    ),
    min_size=1,
    max_size=4,
)
returns = st.lists(
    st.tuples(asks, st.sampled_from([None, 0.0, 0.5, 1.0]), st.booleans()),
    min_size=1,
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(a=orders("o_a"), b=orders("o_b"), policy=policies, sequence=returns)
def test_refunds_never_exceed_captures_or_the_returned_units_and_splits_add_up(
    a: Order, b: Order, policy: Policy, sequence: list
) -> None:
    by_id = {a.id: a, b.id: b}
    held: dict[str, dict[str, int]] = {a.id: {}, b.id: {}}
    balances = {
        o.id: [CaptureBalance(capture=c, remaining=c.amount) for c in o.captures] for o in (a, b)
    }
    refunded = {a.id: 0, b.id: 0}
    shipping_refunded = {a.id: 0, b.id: 0}
    for return_index, (asked, share, name_capture) in enumerate(sequence):
        # The units this return gets: what its lines still have, as the reservation would give.
        items = []
        taken: dict[tuple[str, str], int] = {}
        for order_index, line_index, quantity, reason in asked:
            order = (a, b)[order_index]
            line = order.lines[line_index % len(order.lines)]
            left = (
                line.quantity - held[order.id].get(line.id, 0) - taken.get((order.id, line.id), 0)
            )
            if left <= 0:
                continue
            count = min(quantity, left)
            taken[(order.id, line.id)] = taken.get((order.id, line.id), 0) + count
            items.append(an_item(len(items) + 1, order, line, count, reason))
        if not items:
            continue
        prior = {item.id: held[item.order_id].get(item.line_id, 0) for item in items}
        units = returned_units(items, prior, lambda item: item.quantity)
        terms = ruled(policy, by_id, items, prior)
        per_order = refund_by_order(by_id, units, policy, held, terms)
        maxima = {r.order_id: r.amount for r in per_order}
        maximum = sum(maxima.values())
        # The automatic refund (None) pays the maximum; an agent picks part of it.
        amount = maximum if share is None else int(maximum * share)
        split = split_over_orders(amount, maxima)
        assert sum(split.values()) == amount
        for refund in per_order:
            assert 0 <= split[refund.order_id] <= refund.amount
            assert refund.amount >= 0 and refund.restocking_fee >= 0
        for order_id, part in split.items():
            if part == 0:
                continue
            named = balances[order_id][-1].capture.id if name_capture else None
            shares = allocate(part, balances[order_id], named)
            assert sum(s.amount for s in shares) == part
            for s in shares:
                balance = next(x for x in balances[order_id] if x.capture.id == s.capture_id)
                assert 0 < s.amount <= balance.remaining
                balance.remaining -= s.amount
            refunded[order_id] += part
        for refund in per_order:
            if refund.shipping_amount:
                shipping_refunded[refund.order_id] += refund.shipping_amount
        for (order_id, line_id), count in taken.items():
            held[order_id][line_id] = held[order_id].get(line_id, 0) + count
        assert return_index < 6

    for order in (a, b):
        captured = sum(c.amount for c in order.captures)
        assert refunded[order.id] <= captured
        assert all(x.remaining >= 0 for x in balances[order.id])
        # What the returned units cost, exactly, plus the shipping refunded with the last of them.
        cost = sum(
            Fraction(line_paid(order, line) * held[order.id].get(line.id, 0), line.quantity)
            for line in order.lines
        )
        assert refunded[order.id] <= cost + shipping_refunded[order.id]
        assert shipping_refunded[order.id] in (0, order.shipping_amount)


@settings(max_examples=200, deadline=None)
@given(order=orders("o_a"), parts=st.lists(st.integers(1, 6), min_size=1, max_size=12))
def test_returning_everything_in_parts_without_fees_refunds_exactly_what_was_paid(
    order: Order, parts: list[int]
) -> None:
    """With no fees, the parts add up to the paid total once every unit is back: rounding down at
    each step never loses a minor unit overall."""
    policy = Policy(refund_original_shipping=True)
    held: dict[str, dict[str, int]] = {order.id: {}}
    total = 0
    cursor = 0
    remaining = [(line, line.quantity) for line in order.lines]
    for part in parts * 10:
        if cursor >= len(remaining):
            break
        line, left = remaining[cursor]
        count = min(part, left)
        item = ReturnItem(
            id="ri_1",
            order_id=order.id,
            line_id=line.id,
            sku=line.sku,
            name=line.name,
            quantity=count,
            reason=Reason.OTHER,
            comment="x",
        )
        prior = {"ri_1": held[order.id].get(line.id, 0)}
        units = returned_units([item], prior, lambda i: i.quantity)
        [refund] = refund_by_order({order.id: order}, units, policy, held)
        total += refund.amount
        held[order.id][line.id] = held[order.id].get(line.id, 0) + count
        remaining[cursor] = (line, left - count)
        if left - count == 0:
            cursor += 1
    if cursor == len(remaining):
        assert total == sum(c.amount for c in order.captures)
    else:
        assert total <= sum(c.amount for c in order.captures)


@settings(max_examples=200, deadline=None)
@given(
    a=orders("o_a"),
    b=orders("o_b"),
    policy=policies,
    shares=st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=8, max_size=8),
)
def test_the_portals_estimate_is_what_the_workflow_reckons_at_the_request(
    a: Order, b: Order, policy: Policy, shares: list[tuple[float, float]]
) -> None:
    """The estimate a customer sees before submitting (one choice per line, after what other
    returns hold) is the amount the return's workflow reckons when it is requested."""
    by_id = {a.id: a, b.id: b}
    lines = [(order, line) for order in (a, b) for line in order.lines]
    held_flat: dict[tuple[str, str], int] = {}
    picks = []
    items = []
    for (order, line), (held_share, pick_share) in zip(lines, shares, strict=False):
        held = int(line.quantity * held_share)
        held_flat[(order.id, line.id)] = held
        count = int((line.quantity - held) * pick_share)
        picks.append((order.id, line.id, count))
        if count:
            items.append(an_item(len(items) + 1, order, line, count))
    prior = {item.id: held_flat[(item.order_id, item.line_id)] for item in items}
    terms = ruled(policy, by_id, items, prior)
    shown = sum(part.amount for part in estimate(by_id, held_flat, picks, policy, terms))
    held_nested: dict[str, dict[str, int]] = {}
    for (order_id, line_id), count in held_flat.items():
        held_nested.setdefault(order_id, {})[line_id] = count
    units = returned_units(items, prior, lambda item: item.quantity)
    reckoned = sum(
        part.amount for part in refund_by_order(by_id, units, policy, held_nested, terms)
    )
    assert shown == reckoned
