from datetime import UTC, datetime, timedelta

from returns_service.domain.eligibility import EligibilityFacts, evaluate, window_start
from returns_service.domain.models import Order, OrderLine, Policy, ReturnItem, WindowBasis
from returns_service.domain.status import Event

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


def order(delivered_days_ago=3, final_sale=False, category="apparel", delivered=True):
    delivered_at = NOW - timedelta(days=delivered_days_ago)
    return Order(
        id="o_1",
        number="1001",
        customer={"email": "ann@example.com"},
        currency="EUR",
        placed_at=delivered_at - timedelta(days=5),
        fulfilled_at=delivered_at - timedelta(days=1),
        delivered_at=delivered_at if delivered else None,
        lines=[
            OrderLine(
                id="l1",
                sku="SKU-1",
                name="Shirt",
                quantity=2,
                unit_amount=2500,
                final_sale=final_sale,
                category=category,
            )
        ],
    )


def facts(o, quantity=1, available=2, recent=0, estimate=2500):
    item = ReturnItem(
        id="ri_1",
        order_id=o.id,
        line_id="l1",
        sku="SKU-1",
        name="Shirt",
        quantity=quantity,
        reason="wrong_size",
    )
    return EligibilityFacts(
        now=NOW,
        orders={o.id: o},
        items=[item],
        available_quantity={"ri_1": available},
        reserved=quantity <= available,
        returns_in_90_days=recent,
        estimated_refund_amount=estimate,
    )


def verdict(f, policy=None):
    return evaluate(f, policy or Policy())


def test_within_the_window_is_approved_and_every_rule_is_shown():
    event, results = verdict(facts(order()))
    assert event is Event.ELIGIBLE
    assert {r.rule for r in results} == {
        "return_window",
        "final_sale",
        "non_returnable",
        "returnable_quantity",
        "review_threshold",
        "frequent_returner",
    }


def test_after_the_window_is_rejected_with_a_reason():
    event, results = verdict(facts(order(delivered_days_ago=31)))
    assert event is Event.INELIGIBLE
    [window] = [r for r in results if r.rule == "return_window"]
    assert "window closed" in window.detail


def test_window_basis_falls_back_to_fulfilled_then_placed():
    o = order(delivered=False)
    assert window_start(o, WindowBasis.DELIVERED) == (WindowBasis.FULFILLED, o.fulfilled_at)
    assert window_start(o, WindowBasis.PLACED) == (WindowBasis.PLACED, o.placed_at)


def test_final_sale_and_non_returnable_category_are_ineligible():
    assert verdict(facts(order(final_sale=True)))[0] is Event.INELIGIBLE
    policy = Policy(non_returnable_categories=["apparel"])
    assert verdict(facts(order()), policy)[0] is Event.INELIGIBLE


def test_quantity_already_held_by_other_returns_is_ineligible():
    event, results = verdict(facts(order(), quantity=2, available=1))
    assert event is Event.INELIGIBLE
    assert any("1 still returnable" in r.detail for r in results)


def test_expensive_returns_and_frequent_returners_go_to_review():
    assert verdict(facts(order(), estimate=20001))[0] is Event.NEEDS_REVIEW
    assert verdict(facts(order(), estimate=20000))[0] is Event.ELIGIBLE
    assert verdict(facts(order(), recent=6))[0] is Event.NEEDS_REVIEW
