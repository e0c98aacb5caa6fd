"""The policy simulator's tallies keep each currency apart: ¥17,230 and €135.66 are not 17,365 of
anything (issue 23, finding 2)."""

from __future__ import annotations

from datetime import UTC, datetime

from returns_service.domain.models import Policy
from returns_service.domain.simulation import Redecided, Simulator


def test_estimated_refunds_are_totalled_per_currency():
    at = datetime(2026, 11, 30, tzinfo=UTC)
    simulator = Simulator(Policy())
    simulator.count(Redecided(at, "ret_a", "R-1", "approved", 13566, "approved", 13566, "EUR"))
    simulator.count(Redecided(at, "ret_b", "R-2", "approved", 17230, "rejected", 17230, "JPY"))
    simulator.count(Redecided(at, "ret_c", "R-3", "rejected", 5000, "rejected", 5000, "EUR"))
    result = simulator.result
    assert result.now.estimated_refund_totals == {"EUR": 13566, "JPY": 17230}
    # Under the draft the yen return is rejected: it pays nothing; the rejected one never did.
    assert result.draft.estimated_refund_totals == {"EUR": 13566}
    assert [(c.number, c.currency) for c in result.changes] == [("R-2", "JPY")]
