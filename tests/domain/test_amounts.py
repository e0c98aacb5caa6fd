"""Issue 23, finding 2: a policy's amounts per currency. A number is that many minor units in
every currency (as every policy before said); a map sets them per currency, `*` for the rest;
a currency a map does not name is reviewed, pays no fee, is never kept, and matches no rule's
"worth more than"."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from returns_service.domain import rules
from returns_service.domain.models import Order, Policy
from returns_service.domain.refunds import NO_TERMS
from returns_service.domain.status import Event
from tests.domain.test_eligibility import facts, order, verdict
from tests.domain.test_rules import ORDER, item


def in_yen(found: Order) -> Order:
    return found.model_copy(update={"currency": "JPY"})


def test_a_review_limit_per_currency_weighs_each_return_in_its_own():
    limits = Policy(review_above_amount={"EUR": 20000, "JPY": 30000})
    assert verdict(facts(order(), estimate=20001), limits)[0] is Event.NEEDS_REVIEW
    # ¥25,000 is under the yen limit, though above the euro one.
    assert verdict(facts(in_yen(order()), estimate=25000), limits)[0] is Event.ELIGIBLE
    assert verdict(facts(in_yen(order()), estimate=30001), limits)[0] is Event.NEEDS_REVIEW
    # A currency the map does not name: an agent reviews, and the eligibility says why.
    event, results = verdict(facts(order(), estimate=1), Policy(review_above_amount={"JPY": 9}))
    assert event is Event.NEEDS_REVIEW
    said = next(r for r in results if r.rule == "review_threshold")
    assert said.detail == "the policy sets no review limit for EUR: an agent reviews"
    # `*` names the rest; a plain number is every currency, as before.
    rest = Policy(review_above_amount={"JPY": 9, "*": 20000})
    assert verdict(facts(order(), estimate=20000), rest)[0] is Event.ELIGIBLE
    assert verdict(facts(in_yen(order()), estimate=20001))[0] is Event.NEEDS_REVIEW


def matched(policy: Policy, found: Order, items: list) -> dict:
    return rules.matching(policy, {"o_1": found}, items, "ann@example.com")


def test_fees_and_rule_amounts_are_read_in_the_returns_currency():
    policy = Policy(
        return_shipping_fee={"EUR": 400, "JPY": 900},
        rules=[
            {"name": "dear", "when": {"amount_above": {"EUR": 5000}},
             "then": {"return_shipping_fee": {"EUR": 700}}},
        ],
    )  # fmt: skip
    lamp = [item("l2")]  # worth 8000
    euro = rules.terms(policy, lamp, matched(policy, ORDER, lamp), "EUR")
    assert euro.shipping_fee(policy, "EUR") == 700  # the rule's, in euros
    yen = rules.terms(policy, lamp, matched(policy, in_yen(ORDER), lamp), "JPY")
    # The rule names euros only: it does not match a yen item; the policy's yen fee applies.
    assert matched(policy, in_yen(ORDER), lamp)["ri_l2"] == []
    assert yen.shipping_fee(policy, "JPY") == 900
    # A currency neither names pays no fee.
    assert NO_TERMS.shipping_fee(policy, "USD") == 0
    assert NO_TERMS.shipping_fee(Policy(return_shipping_fee=250), "USD") == 250


def test_keeping_items_by_a_limit_per_currency():
    policy = Policy(keep_item_below_amount={"EUR": 1500})
    lamp = [item("l2")]
    assert rules.keep_allowed(policy, lamp, matched(policy, ORDER, lamp), 1500, "EUR")
    assert not rules.keep_allowed(policy, lamp, matched(policy, ORDER, lamp), 1, "JPY")


@pytest.mark.parametrize(
    ("amount", "said"),
    [
        ({"eur": 5}, "'eur' is not a currency code"),
        ({}, "a map of 1 to 50 currencies"),
        ({"EUR": -1}, "EUR: must be between 0"),
        ({"EUR": 1.5}, "EUR: must be a whole number"),
        (True, "must be an amount in minor units, or a map"),
        (10**13, "must be between 0 and"),
    ],
)
def test_an_amount_that_is_neither_is_refused_once_on_its_field(amount, said):
    with pytest.raises(ValidationError) as refused:
        Policy(return_shipping_fee=amount)
    [error] = refused.value.errors()
    assert error["loc"] == ("return_shipping_fee",)
    assert said in error["msg"]
