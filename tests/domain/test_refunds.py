from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from returns_service.domain.models import Capture, Order, OrderLine, Policy
from returns_service.domain.refunds import (
    CaptureBalance,
    ClaimedUnits,
    InsufficientCaptures,
    ReturnedUnits,
    allocate,
    order_discount_shares,
    original_shipping,
    refund_by_order,
    units_value,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def order(lines, discount=0, shipping=0, captures=()):
    return Order(
        id="o_1",
        number="1001",
        customer={"email": "ann@example.com"},
        currency="EUR",
        placed_at=T0,
        lines=lines,
        order_discount_amount=discount,
        shipping_amount=shipping,
        captures=list(captures),
    )


SHIRT = OrderLine(
    id="l1",
    sku="S",
    name="Shirt",
    quantity=2,
    unit_amount=2500,
    discount_amount=500,
    tax_amount=950,
)


def test_the_contract_example_refunds_2725_for_one_shirt():
    # 2500 - 500/2 + 950/2
    assert units_value(order([SHIRT]), SHIRT, 1) == 2725


def test_order_discount_is_spread_in_proportion_and_sums_exactly():
    lines = [
        OrderLine(id="a", sku="A", name="A", quantity=1, unit_amount=1000),
        OrderLine(id="b", sku="B", name="B", quantity=1, unit_amount=2000),
        OrderLine(id="c", sku="C", name="C", quantity=3, unit_amount=333),
    ]
    shares = order_discount_shares(order(lines, discount=100))
    assert sum(shares.values()) == 100
    assert shares["b"] > shares["a"]


def test_restocking_and_return_shipping_fees_are_subtracted_and_rounded_down():
    o = order([SHIRT])
    policy = Policy(restocking_fee_percent=15, return_shipping_fee=300)
    [refund] = refund_by_order(
        {"o_1": o}, [ReturnedUnits(order_id="o_1", line_id="l1", quantity=1)], policy
    )
    # 2725 * 0.85 = 2316.25 -> 2316; then the return shipping fee
    assert refund.items_amount == 2725
    assert refund.amount == 2316 - 300


def test_original_shipping_only_when_the_whole_order_comes_back():
    o = order([SHIRT], shipping=490)
    policy = Policy(refund_original_shipping=True)
    [one] = refund_by_order(
        {"o_1": o}, [ReturnedUnits(order_id="o_1", line_id="l1", quantity=1)], policy
    )
    [both] = refund_by_order(
        {"o_1": o}, [ReturnedUnits(order_id="o_1", line_id="l1", quantity=2)], policy
    )
    assert one.shipping_amount == 0
    assert both.shipping_amount == 490 and both.amount == 5450 + 490


def test_original_shipping_goes_with_units_that_complete_the_order_for_good():
    o = order([SHIRT], shipping=490)
    policy = Policy(refund_original_shipping=True)
    mine = [ClaimedUnits(line_id="l1", back=1, units=1, amount=2424)]
    # The other unit is back for good on a return that paid: this one completes the order.
    assert original_shipping(o, mine, {"l1": 1}, False, policy) == 490
    # ... unless another return has the shipping already, or the other unit may yet go back.
    assert original_shipping(o, mine, {"l1": 1}, True, policy) == 0
    assert original_shipping(o, mine, {}, False, policy) == 0
    # A return that brought none of the order's units back never takes its shipping.
    assert original_shipping(o, [], {"l1": 2}, False, policy) == 0
    assert original_shipping(o, [ClaimedUnits(line_id="l1")], {"l1": 2}, False, policy) == 0


def test_allocation_takes_the_newest_capture_first_and_spills_over():
    old = Capture(id="old", amount=3000, captured_at=T0)
    new = Capture(id="new", amount=1000, captured_at=T0.replace(day=2))
    shares = allocate(
        2500,
        [CaptureBalance(capture=old, remaining=3000), CaptureBalance(capture=new, remaining=1000)],
    )
    assert [(s.capture_id, s.amount) for s in shares] == [("new", 1000), ("old", 1500)]
    named = allocate(
        2500,
        [CaptureBalance(capture=old, remaining=3000), CaptureBalance(capture=new, remaining=1000)],
        "old",
    )
    assert [(s.capture_id, s.amount) for s in named] == [("old", 2500)]
    with pytest.raises(InsufficientCaptures):
        allocate(
            4001,
            [
                CaptureBalance(capture=old, remaining=3000),
                CaptureBalance(capture=new, remaining=1000),
            ],
        )


@given(
    quantity=st.integers(1, 20),
    unit=st.integers(0, 100_000),
    discount_share=st.floats(0, 1),
    tax=st.integers(0, 50_000),
    parts=st.lists(st.integers(1, 5), min_size=1, max_size=20),
)
def test_partial_returns_of_a_line_never_add_up_to_more_than_was_paid(
    quantity, unit, discount_share, tax, parts
):
    line = OrderLine(
        id="l",
        sku="S",
        name="N",
        quantity=quantity,
        unit_amount=unit,
        discount_amount=int(unit * quantity * discount_share),
        tax_amount=tax,
    )
    o = order([line])
    paid = unit * quantity - line.discount_amount + tax
    returned = 0
    total = 0
    for part in parts:
        if returned >= quantity:
            break
        n = min(part, quantity - returned)
        total += units_value(o, line, n, returned)
        returned += n
    assert total <= paid
    if returned == quantity:
        assert total == paid


# --- worked examples, as the README shows them ---------------------------------------------------

SHIRTS = OrderLine(
    id="l1",
    sku="S",
    name="Shirt",
    quantity=2,
    unit_amount=2500,
    discount_amount=500,
    tax_amount=950,
)
CAPS = OrderLine(id="l2", sku="C", name="Cap", quantity=3, unit_amount=1000, tax_amount=570)
THIRDS = OrderLine(
    id="l3", sku="T", name="Tee", quantity=3, unit_amount=999, discount_amount=100, tax_amount=200
)
FEES = Policy(restocking_fee_percent=10, return_shipping_fee=300, refund_original_shipping=True)


def test_order_discount_goes_by_largest_remainder():
    # 1001 over 4500 and 3000: 600.6 and 400.4; the odd unit goes to the larger remainder.
    assert order_discount_shares(order([SHIRTS, CAPS], discount=1001)) == {"l1": 601, "l2": 400}


@pytest.mark.parametrize(
    ("lines", "discount", "policy", "held", "returned", "expected"),
    [
        # The contract's example: 2500 - 500/2 + 950/2.
        ([SHIRT], 0, Policy(), {}, {"l1": 1}, (2725, 0, 0, 0, 2725)),
        # One shirt and one cap: 4849/2 -> 2424, 3170/3 -> 1056; 10% of 3480 is 348; less 300.
        ([SHIRTS, CAPS], 1001, FEES, {}, {"l1": 1, "l2": 1}, (3480, 0, 348, 300, 2832)),
        # The rest of that order: 4849 - 2424 and 3170 - 1056; the whole order is back, so its
        # shipping too; 10% of 4539 is 453.9, the refund rounds down, so the fee is 454.
        (
            [SHIRTS, CAPS],
            1001,
            FEES,
            {"l1": 1, "l2": 1},
            {"l1": 1, "l2": 2},
            (4539, 490, 454, 300, 4275),
        ),
        # A line of 3097 paid in three single returns: 1032, 1032, then the remainder 1033.
        ([THIRDS], 0, Policy(), {}, {"l3": 1}, (1032, 0, 0, 0, 1032)),
        ([THIRDS], 0, Policy(), {"l3": 1}, {"l3": 1}, (1032, 0, 0, 0, 1032)),
        ([THIRDS], 0, Policy(), {"l3": 2}, {"l3": 1}, (1033, 0, 0, 0, 1033)),
        # 15% of 1033 = 154.95: the refund rounds down to 878, the fee is 155.
        (
            [THIRDS],
            0,
            Policy(restocking_fee_percent=15),
            {"l3": 2},
            {"l3": 1},
            (1033, 0, 155, 0, 878),
        ),
        # A return shipping fee never takes the refund below zero.
        ([THIRDS], 0, Policy(return_shipping_fee=5000), {}, {"l3": 1}, (1032, 0, 0, 1032, 0)),
    ],
)
def test_worked_examples(lines, discount, policy, held, returned, expected):
    o = order(lines, discount=discount, shipping=490)
    units = [
        ReturnedUnits(
            order_id="o_1", line_id=line_id, quantity=n, prior_quantity=held.get(line_id, 0)
        )
        for line_id, n in returned.items()
    ]
    [refund] = refund_by_order({"o_1": o}, units, policy, {"o_1": held})
    assert (
        refund.items_amount,
        refund.shipping_amount,
        refund.restocking_fee,
        refund.return_shipping_fee,
        refund.amount,
    ) == expected
