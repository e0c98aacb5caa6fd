"""A return's books: the arithmetic of what it may pay back, what its policy pays by itself and
what its approval fixed, per order, on the figures the workflow holds. Pure functions of those
figures (no clock, no I/O), so the workflow asks and the tests can too; the decisions about when
to pay stay in the workflow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from returns_service.domain import refunds
from returns_service.domain.models import (
    RESTOCKABLE,
    Condition,
    Order,
    Policy,
    ReplacementItem,
    ReturnItem,
    ReturnMethod,
    ReturnState,
)


def refundable_quantity(item: ReturnItem) -> int:
    """The units of `item` that came back in a condition the policy pays for."""
    return item.quantity_received if item.condition in RESTOCKABLE else 0


@dataclass(frozen=True)
class Books:
    """The figures: the return as it stands, its orders and policy as decided, the units earlier
    returns took, what it holds of each order, and once its goods are back, per order what it may
    pay back in all (`entitled`) and what of that its policy pays by itself (`due`)."""

    state: ReturnState
    orders: dict[str, Order]
    policy: Policy
    terms: refunds.Terms
    held: dict[str, dict[str, int]]
    prior_quantity: dict[str, int]
    entitled: dict[str, int] | None
    due: dict[str, int]

    def claimed_items(self) -> list[ReturnItem]:
        """The items as the return claims them for money: kept items count as back in good
        condition; units a fulfilled replacement sent something for are not claimed (the
        customer was given goods for them, not money)."""
        if self.state.method is ReturnMethod.KEEP_ITEM or self.state.refund_due_at_first_scan:
            # Paid before the goods are back (kept, or at the carrier's first scan): every unit
            # counts as back in good order, as the payment was decided.
            return [
                item.model_copy(
                    update={"quantity_received": item.quantity, "condition": Condition.GOOD}
                )
                for item in self.state.items
            ]
        replaced = self.replaced_units()
        if not replaced:
            return self.state.items
        return [
            item.model_copy(
                update={"quantity_received": item.quantity_received - replaced.get(item.id, 0)}
            )
            for item in self.state.items
        ]

    def replaced_units(self) -> dict[str, int]:
        """Per returned item, the units a fulfilled replacement order replaced."""
        replacement = self.state.replacement
        if replacement is None or replacement.status != "fulfilled":
            return {}
        units: dict[str, int] = {}
        for line in replacement.items:
            if line.item_id is not None:
                units[line.item_id] = units.get(line.item_id, 0) + line.quantity
        return units

    def replaceable(self) -> list[ReplacementItem]:
        """The replacement lines for what came back in a condition the policy accepts: each for
        as many units of its item as arrived so (one for one), never more."""
        good = {
            item.id: item.quantity_received if item.condition in RESTOCKABLE else 0
            for item in self.state.items
        }
        lines = []
        for line in self.state.replacement_items:
            units = min(line.quantity, good.get(line.item_id or "", 0))
            if units > 0:
                good[line.item_id or ""] -= units
                lines.append(line.model_copy(update={"quantity": units}))
        return lines

    def amount_for(self, quantity: Callable[[ReturnItem], int]) -> int:
        units = refunds.returned_units(self.state.items, self.prior_quantity, quantity)
        return sum(r.amount for r in self.refund_by_order(units))

    def refund_by_order(self, units: list[refunds.ReturnedUnits]) -> list[refunds.OrderRefund]:
        return refunds.refund_by_order(self.orders, units, self.policy, self.held, self.terms)

    def received_value_by_order(self) -> dict[str, int]:
        """Per order, what every received unit is worth under the return's policy: the most the
        return may refund for it in all."""
        units = refunds.returned_units(
            self.state.items, self.prior_quantity, lambda item: item.quantity_received
        )
        return {r.order_id: r.amount for r in self.refund_by_order(units)}

    def refundable_by_order(self) -> dict[str, int]:
        """Per order, the most still refundable: the return's entitlement (before it, what the
        received units are worth), less what this return already paid back (or may have: a
        refund still pending counts)."""
        maxima = (
            dict(self.entitled) if self.entitled is not None else self.received_value_by_order()
        )
        for refund in self.state.refunds:
            if refund.status != "failed" and refund.order_id in maxima:
                maxima[refund.order_id] = max(maxima[refund.order_id] - refund.amount, 0)
        return maxima

    def policy_pays(self, maxima: dict[str, int]) -> int:
        """What a refund without an amount pays: what the policy pays back by itself and is not
        paid yet, within what the approval fixed (returns approved before it fixed an amount:
        no limit of their own)."""
        if self.state.approved_amount is None:
            return self.policy_due(maxima)
        return sum(self.policy_split(maxima).values())

    def policy_due(self, maxima: dict[str, int]) -> int:
        """What the policy pays back by itself on the figures as they are now."""
        return sum(self.policy_due_by_order(maxima).values())

    def policy_due_by_order(self, maxima: dict[str, int]) -> dict[str, int]:
        if self.entitled is not None:
            paid = self.paid_by_order()
            return {
                order_id: min(max(self.due.get(order_id, 0) - paid.get(order_id, 0), 0), most)
                for order_id, most in maxima.items()
            }
        units = refunds.returned_units(self.state.items, self.prior_quantity, refundable_quantity)
        return {part.order_id: part.amount for part in self.refund_by_order(units)}

    def policy_split(self, maxima: dict[str, int]) -> dict[str, int]:
        """Per order, what the policy pays now: what it owes on the figures as they are now,
        but never more than the approval's figures give the units that came back in a condition
        it accepts (per order: the share of what was approved that arrived), nor more than the
        approved total."""
        caps = self.approved_by_order()
        paid = self.paid_by_order()
        left = max((self.state.approved_amount or 0) - self.state.refunded_amount, 0)
        split = {}
        for order_id, owed in self.policy_due_by_order(maxima).items():
            take = min(owed, max(caps.get(order_id, 0) - paid.get(order_id, 0), 0), left)
            split[order_id] = take
            left -= take
        return split

    def approved_by_order(self) -> dict[str, int]:
        """Per order, the most the approval's figures (the orders as the return was decided on)
        give the units claimed back in a condition the policy accepts."""
        units = refunds.returned_units(
            self.claimed_items(), self.prior_quantity, refundable_quantity
        )
        return refunds.ceiling_by_order(self.orders, units, self.policy, self.terms)

    def due_beyond_approval(self, maxima: dict[str, int]) -> int:
        if self.state.approved_amount is None:
            return 0
        return max(self.policy_due(maxima) - self.policy_pays(maxima), 0)

    def approvable(self) -> int:
        """What an approval fixes: the most the return's items can come to on the figures the
        approval saw (the estimate, each line's units rounded up, and the orders' original
        shipping where the policy pays it once the whole order is back)."""
        units = refunds.returned_units(
            self.state.items, self.prior_quantity, lambda item: item.quantity
        )
        return sum(refunds.ceiling_by_order(self.orders, units, self.policy, self.terms).values())

    def paid_by_order(self) -> dict[str, int]:
        paid: dict[str, int] = {}
        for refund in self.state.refunds:
            if refund.status != "failed" and refund.order_id is not None:
                paid[refund.order_id] = paid.get(refund.order_id, 0) + refund.amount
        return paid

    def refundable_amount(self) -> int:
        return sum(self.refundable_by_order().values())
