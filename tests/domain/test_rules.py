"""The policy's rules as pure functions: what they match, and the fees, methods, keeping and photos
that follow for a return's items."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from returns_service.domain import rules
from returns_service.domain.models import Order, Policy, Reason, ReturnItem, ReturnMethod

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ORDER = Order.model_validate(
    {
        "id": "o_1",
        "number": "1001",
        "customer": {"email": "ann@example.com"},
        "currency": "EUR",
        "placed_at": T0,
        "lines": [
            {"id": "l1", "sku": "A", "name": "Shirt", "quantity": 2, "unit_amount": 1000,
             "category": "apparel"},
            {"id": "l2", "sku": "B", "name": "Lamp", "quantity": 1, "unit_amount": 8000},
        ],
    }
)  # fmt: skip


def item(line: str, reason: Reason = Reason.WRONG_SIZE, quantity: int = 1) -> ReturnItem:
    found = ORDER.line(line)
    assert found is not None
    return ReturnItem(
        id=f"ri_{line}", order_id="o_1", line_id=line, sku=found.sku, name=found.name,
        quantity=quantity, reason=reason,
    )  # fmt: skip


def matched(policy: Policy, items: list[ReturnItem], email: str = "ann@example.com"):
    return rules.matching(policy, {"o_1": ORDER}, items, email)


def test_every_condition_of_a_rule_must_hold_for_the_item():
    policy = Policy(
        rules=[
            {
                "name": "r",
                "when": {"categories": ["apparel"], "reasons": ["damaged"], "amount_above": 999},
                "then": {"review": True},
            }
        ]
    )
    shirts = [item("l1", Reason.DAMAGED), item("l1", Reason.WRONG_SIZE), item("l2", Reason.DAMAGED)]
    assert [r.name for r in matched(policy, shirts[:1])["ri_l1"]] == ["r"]
    assert matched(policy, shirts[1:2])["ri_l1"] == []  # wrong reason
    assert matched(policy, shirts[2:])["ri_l2"] == []  # no category
    # The item's value, not the order's: one shirt is worth 1000, above 999; not above 1000.
    stricter = Policy(
        rules=[{"name": "r", "when": {"amount_above": 1000}, "then": {"review": True}}]
    )
    assert matched(stricter, [item("l1")])["ri_l1"] == []
    assert len(matched(stricter, [item("l1", quantity=2)])["ri_l1"]) == 1


def test_customer_emails_match_whatever_the_case():
    policy = Policy(
        rules=[
            {
                "name": "vip",
                "when": {"customer_emails": ["Ann@Example.com"]},
                "then": {"review": True},
            }
        ]
    )
    assert len(matched(policy, [item("l2")], "ANN@example.COM")["ri_l2"]) == 1
    assert matched(policy, [item("l2")], "bob@example.com")["ri_l2"] == []


def test_the_first_rule_decides_a_fee_and_the_highest_shipping_fee_is_the_parcels():
    policy = Policy(
        restocking_fee_percent=5,
        return_shipping_fee=400,
        rules=[
            {"name": "a", "when": {"skus": ["A"]}, "then": {"restocking_fee_percent": 20,
                                                           "return_shipping_fee": 0}},
            {"name": "b", "when": {}, "then": {"restocking_fee_percent": 50}},
        ],
    )  # fmt: skip
    items = [item("l1")]
    terms = rules.terms(policy, items, matched(policy, items), "EUR")
    assert terms.percent(policy, "o_1", "l1") == 20
    assert terms.shipping_fee(policy, "EUR") == 0  # the only item's rule waives it
    both = [item("l1"), item("l2")]
    terms = rules.terms(policy, both, matched(policy, both), "EUR")
    assert terms.percent(policy, "o_1", "l2") == 50
    # The lamp has no shipping rule: the policy's fee for it, the highest of the parcel's.
    assert terms.shipping_fee(policy, "EUR") == 400


def test_methods_offered_are_those_every_item_allows():
    policy = Policy(
        return_methods=["label", "qr_drop_off", "in_store"],
        stores=[{"id": "s1", "name": "Mitte", "address": "Torstr. 1"}],
        rules=[{"name": "bulky", "when": {"skus": ["B"]}, "then": {"methods": ["in_store"]}}],
    )
    assert rules.methods_offered(policy, [item("l1")], matched(policy, [item("l1")])) == [
        "label", "qr_drop_off", "in_store"
    ]  # fmt: skip
    both = [item("l1"), item("l2")]
    assert rules.methods_offered(policy, both, matched(policy, both)) == [ReturnMethod.IN_STORE]


def test_keeping_items_is_allowed_by_the_limit_or_by_a_rule_for_every_item():
    policy = Policy(
        keep_item_below_amount=1500,
        rules=[
            {"name": "cheap", "when": {"skus": ["A"]}, "then": {"keep_item": True}},
            {"name": "never", "when": {"skus": ["B"]}, "then": {"keep_item": False}},
        ],
    )
    shirts = [item("l1", quantity=2)]
    assert rules.keep_allowed(policy, shirts, matched(policy, shirts), 2000, "EUR")  # the rule
    lamp = [item("l2")]
    assert not rules.keep_allowed(policy, lamp, matched(policy, lamp), 100, "EUR")  # a rule refuses
    plain = Policy(keep_item_below_amount=1500)
    assert rules.keep_allowed(plain, lamp, matched(plain, lamp), 1500, "EUR")
    assert not rules.keep_allowed(plain, lamp, matched(plain, lamp), 1501, "EUR")
    # Never by default:
    assert not rules.keep_allowed(Policy(), lamp, matched(Policy(), lamp), 0, "EUR")


def test_photos_are_asked_for_by_rule_first_then_by_reason():
    policy = Policy(
        rules=[
            {"name": "no-photos", "when": {"skus": ["A"]}, "then": {"photos_required": False}},
            {"name": "photos", "when": {"skus": ["B"]}, "then": {"photos_required": True}},
        ]
    )
    assert not rules.photos_required(policy, Reason.DAMAGED, policy.rules[:1])
    assert rules.photos_required(policy, Reason.WRONG_SIZE, policy.rules[1:])
    assert rules.photos_required(policy, Reason.DAMAGED, [])
    assert not rules.photos_required(policy, Reason.WRONG_SIZE, [])


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"rules": [{"name": "a", "then": {"review": True}}] * 2}, "rules"),
        ({"return_methods": ["in_store"]}, "stores"),
        ({"stores": [{"id": "s", "name": "a", "address": "b"}] * 2}, "stores"),
        ({"rules": [{"name": "a b", "then": {"review": True}}]}, "rules"),
        ({"rules": [{"name": "a", "then": {"restocking_fee_percent": 101}}]}, "rules"),
        ({"return_methods": ["teleport"]}, "return_methods"),
        # Found by the attack on the first version: each was saved as it came.
        ({"return_methods": ["label", "label"]}, "return_methods"),
        ({"rules": [{"name": "a", "then": {}}]}, "rules"),
        ({"rules": [{"name": "a", "then": {"methods": ["label", "label"]}}]}, "rules"),
        ({"rules": [{"name": "a", "then": {"methods": ["in_store"]}}]}, "rules"),
    ],
)
def test_a_policy_that_cannot_work_is_refused_on_its_field(document, field):
    with pytest.raises(ValidationError) as refused:
        Policy.model_validate(document)
    assert refused.value.errors()[0]["loc"][0] == field
