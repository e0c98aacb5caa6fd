"""The ops dashboard's figures on SQLite and PostgreSQL: returns by status and reason in the
chosen period, what waits too long now (each list only what belongs there), the most returned
products and the refunds per day from the ledger."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from returns_service.domain.models import Label, Refund, ReturnError, Status, Timestamps
from returns_service.store.dashboard import figures
from returns_service.store.returns import project_return
from returns_service.store.tables import LedgerEntryRow
from tests.store.test_store import an_order, register, request_for, state_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


async def a_return(sessions, status: Status, created: datetime, **changes):
    order = await an_order(sessions)
    request = request_for(order, 1, created_at=created)
    registered = await register(sessions, request)
    state = state_of(request, order, status, 2).model_copy(
        update={"number": registered.number, **changes}
    )
    async with sessions.begin() as session:
        assert await project_return(session, state)
    return state


async def test_the_dashboard_counts_the_period_and_lists_what_waits_too_long(any_sessions):
    day_ago = NOW - timedelta(days=1, minutes=1)
    waiting_review = await a_return(any_sessions, Status.PENDING_REVIEW, day_ago)
    await a_return(any_sessions, Status.PENDING_REVIEW, NOW - timedelta(hours=2))  # not yet
    expiring = await a_return(
        any_sessions, Status.LABEL_SENT, NOW - timedelta(days=28),
        label=Label(id="lb_1", carrier="c", tracking_number="T1",
                    expires_at=NOW + timedelta(days=2)),
    )  # fmt: skip
    await a_return(
        any_sessions, Status.LABEL_SENT, NOW - timedelta(days=2),
        label=Label(id="lb_2", carrier="c", tracking_number="T2",
                    expires_at=NOW + timedelta(days=28)),
    )  # fmt: skip
    refused = await a_return(
        any_sessions, Status.APPROVED, NOW - timedelta(hours=3),
        errors=[ReturnError(code="LabelRefused", detail="no such street", at=NOW)],
    )  # fmt: skip
    late = await a_return(
        any_sessions, Status.RECEIVED, NOW - timedelta(days=3),
        timestamps=Timestamps(received_at=NOW - timedelta(hours=2)),
    )  # fmt: skip
    await a_return(
        any_sessions, Status.RECEIVED, NOW - timedelta(days=3),
        timestamps=Timestamps(received_at=NOW - timedelta(minutes=10)),
    )  # fmt: skip
    failed = await a_return(
        any_sessions, Status.RECEIVED, NOW - timedelta(days=3),
        timestamps=Timestamps(received_at=NOW - timedelta(minutes=10)),
        refunds=[Refund(id="rf_failed_1_o", amount=100, capture_id=None,
                        method="original_payment", status="failed", created_at=NOW,
                        failure_reason="card_declined")],
    )  # fmt: skip
    refunded = await a_return(any_sessions, Status.REFUNDED, NOW - timedelta(days=5))
    await a_return(any_sessions, Status.REFUNDED, NOW - timedelta(days=90))  # before the period
    async with any_sessions.begin() as session:
        for n, (amount, at, status) in enumerate(
            [(1500, NOW - timedelta(days=5), "succeeded"),
             (2500, NOW - timedelta(days=1), "succeeded"),
             (999, NOW - timedelta(days=1), "failed"),
             (700, NOW - timedelta(days=60), "succeeded")]
        ):  # fmt: skip
            session.add(
                LedgerEntryRow(
                    id=f"le_{refunded.id}_{n}",
                    idempotency_key=f"k_{refunded.id}_{n}",
                    return_id=refunded.id,
                    sequence=n,
                    order_id=refunded.order_ids[0],
                    capture_id=None,
                    method="original_payment",
                    amount=amount,
                    currency="EUR",
                    status=status,
                    created_at=at,
                )  # fmt: skip
            )

    start = datetime(2026, 11, 1, tzinfo=UTC)
    async with any_sessions() as session:
        found = await figures(session, start, datetime(2026, 12, 1, tzinfo=UTC), NOW)

    assert found.by_status == {
        "pending_review": 2, "label_sent": 2, "approved": 1, "received": 3, "refunded": 1,
    }  # fmt: skip
    assert found.reasons == {"wrong_size": 9}
    assert found.skus == [("SKU-001", "Shirt", 9)]
    numbers = {kind: [w.number for w in listed] for kind, listed in found.waiting.items()}
    assert numbers == {
        "pending_review": [waiting_review.number],
        "label_expiring": [expiring.number],
        "not_refunded": [late.number],
        "refund_failed": [failed.number],
        "label_refused": [refused.number],
    }
    assert found.waiting["refund_failed"][0].detail == "card_declined"
    assert found.waiting["label_refused"][0].detail == "no such street"
    assert found.waiting["label_expiring"][0].due == NOW + timedelta(days=2)
    assert [(r.amount, r.number) for r in found.refunds] == [
        (1500, refunded.number),
        (2500, refunded.number),
    ]
    per_day = found.refunds_per_day()["EUR"]
    assert len(per_day) == 30 and sum(per_day.values()) == 4000
    assert per_day[date(2026, 11, 25)] == 1500 and per_day[date(2026, 11, 29)] == 2500
    assert found.refund_totals() == {"EUR": 4000}
