"""The ops dashboard's figures, read from the store: returns by status, what waits too long, the
return reasons and most returned SKUs, the refunds per day. Each figure comes with the list of
returns (or refunds) behind it, for the page's tables and CSV exports."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from returns_service.domain.status import Status
from returns_service.store.tables import LedgerEntryRow, ReturnReasonRow, ReturnRow

# What waits too long, each with the statuses it looks at.
WAITING = ("pending_review", "label_expiring", "not_refunded", "refund_failed", "label_refused")
# A label this close to its expiry, not yet shipped, is about to be wasted.
LABEL_EXPIRY_WARNING = timedelta(days=3)
REVIEW_WAIT = timedelta(days=1)
REFUND_WAIT = timedelta(hours=1)
# The returns read for the lists (open ones) and for the period's SKUs, at most.
LIMIT = 20_000


@dataclass(frozen=True)
class Listed:
    """A return in one of the dashboard's lists."""

    id: str
    number: str
    status: str
    customer_email: str
    created_at: datetime
    since: datetime | None = None  # when what it waits for began
    detail: str | None = None  # a refusal's or failure's words
    due: datetime | None = None  # when it will be too late (a label's expiry)


@dataclass(frozen=True)
class RefundMade:
    return_id: str
    number: str
    amount: int
    currency: str
    method: str
    at: datetime


@dataclass
class Figures:
    start: datetime
    end: datetime
    by_status: dict[str, int] = field(default_factory=dict)
    waiting: dict[str, list[Listed]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    skus: list[tuple[str, str, int]] = field(default_factory=list)  # sku, name, units
    refunds: list[RefundMade] = field(default_factory=list)

    def refunds_per_day(self) -> dict[str, dict[date, int]]:
        """Per currency, the amount refunded each day of the period (days without one: 0)."""
        last = (self.end - timedelta(microseconds=1)).date()  # the period ends before `end`
        days = [
            self.start.date() + timedelta(days=n)
            for n in range((last - self.start.date()).days + 1)
        ]
        totals: dict[str, dict[date, int]] = {}
        for refund in self.refunds:
            per_day = totals.setdefault(refund.currency, dict.fromkeys(days, 0))
            per_day[refund.at.date()] = per_day.get(refund.at.date(), 0) + refund.amount
        return totals

    def refund_totals(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for refund in self.refunds:
            totals[refund.currency] += refund.amount
        return dict(totals)


def _at(value: Any) -> datetime | None:
    return datetime.fromisoformat(str(value)) if value else None


@dataclass(frozen=True)
class InPeriod:
    """A return created in the period, for the CSV behind the status and reason figures."""

    number: str
    status: str
    customer_email: str
    created_at: datetime
    reasons: list[str]
    currency: str
    estimated_refund_amount: int


async def returns_in(session: AsyncSession, start: datetime, end: datetime) -> list[InPeriod]:
    rows = await session.execute(
        select(
            ReturnRow.number,
            ReturnRow.status,
            ReturnRow.customer_email,
            ReturnRow.created_at,
            ReturnRow.currency,
            ReturnRow.document,
        )
        .where(ReturnRow.created_at >= start, ReturnRow.created_at < end)
        .where(ReturnRow.document.is_not(None))
        .order_by(ReturnRow.created_at, ReturnRow.id)
        .limit(LIMIT)
    )
    return [
        InPeriod(
            number=number,
            status=status,
            customer_email=email,
            created_at=created_at,
            reasons=sorted({item["reason"] for item in document.get("items", [])}),
            currency=currency,
            estimated_refund_amount=int(document.get("estimated_refund_amount") or 0),
        )
        for number, status, email, created_at, currency, document in rows.all()
    ]


def _listed(
    row: ReturnRow,
    since: datetime | None = None,
    detail: str | None = None,
    due: datetime | None = None,
) -> Listed:
    return Listed(
        due=due,
        id=row.id,
        number=row.number,
        status=row.status,
        customer_email=row.customer_email,
        created_at=row.created_at,
        since=since,
        detail=detail,
    )


async def figures(session: AsyncSession, start: datetime, end: datetime, now: datetime) -> Figures:
    """Everything the dashboard shows: the period's figures (returns created, refunds made from
    `start` to before `end`) and what waits too long now, whenever it began."""
    found = Figures(start=start, end=end)
    in_period = (ReturnRow.created_at >= start) & (ReturnRow.created_at < end)
    counted = await session.execute(
        select(ReturnRow.status, func.count()).where(in_period).group_by(ReturnRow.status)
    )
    counts = {status: int(n) for status, n in counted.all()}
    found.by_status = {s.value: counts[s.value] for s in Status if s.value in counts}
    reasons = await session.execute(
        select(ReturnReasonRow.reason, func.count())
        .where(ReturnReasonRow.created_at >= start, ReturnReasonRow.created_at < end)
        .group_by(ReturnReasonRow.reason)
    )
    found.reasons = dict(sorted(((r, int(n)) for r, n in reasons.all()), key=lambda x: -x[1]))
    found.skus = await skus_in(session, start, end)
    found.waiting = await waiting_now(session, now)
    found.refunds = await refunds_in(session, start, end)
    return found


async def refunds_in(session: AsyncSession, start: datetime, end: datetime) -> list[RefundMade]:
    """The refunds the ledger made in the period, oldest first."""
    refunds = await session.execute(
        select(LedgerEntryRow, ReturnRow.number)
        .join(ReturnRow, ReturnRow.id == LedgerEntryRow.return_id)
        .where(
            LedgerEntryRow.status == "succeeded",
            LedgerEntryRow.created_at >= start,
            LedgerEntryRow.created_at < end,
        )
        .order_by(LedgerEntryRow.created_at)
        .limit(LIMIT)
    )
    return [
        RefundMade(
            return_id=entry.return_id,
            number=number,
            amount=entry.amount,
            currency=entry.currency,
            method=entry.method,
            at=entry.created_at,
        )
        for entry, number in refunds.all()
    ]


async def skus_in(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[str, str, int]]:
    """The most returned SKUs of returns created in the period: units asked back, most first."""
    documents = await session.scalars(
        select(ReturnRow.document)
        .where(ReturnRow.created_at >= start, ReturnRow.created_at < end)
        .where(ReturnRow.document.is_not(None))
        .limit(LIMIT)
    )
    units: Counter[str] = Counter()
    names: dict[str, str] = {}
    for document in documents:
        for item in document.get("items", []):
            units[item["sku"]] += int(item["quantity"])
            names.setdefault(item["sku"], item.get("name") or item["sku"])
    return [(sku, names[sku], n) for sku, n in units.most_common(10)]


async def waiting_now(session: AsyncSession, now: datetime) -> dict[str, list[Listed]]:
    """What waits longer than it should, oldest first in each list."""
    rows = await session.scalars(
        select(ReturnRow)
        .where(ReturnRow.status.in_(("pending_review", "approved", "label_sent", "received")))
        .where(ReturnRow.document.is_not(None))
        .order_by(ReturnRow.created_at)
        .limit(LIMIT)
    )
    waiting: dict[str, list[Listed]] = {kind: [] for kind in WAITING}
    for row in rows:
        document: dict[str, Any] = row.document or {}
        stamps = document.get("timestamps") or {}
        errors = document.get("errors") or []
        if row.status == "pending_review" and row.created_at <= now - REVIEW_WAIT:
            waiting["pending_review"].append(_listed(row, row.created_at))
        elif row.status == "label_sent":
            expires = _at((document.get("label") or {}).get("expires_at"))
            if expires is not None and expires <= now + LABEL_EXPIRY_WARNING:
                waiting["label_expiring"].append(
                    _listed(row, _at(stamps.get("label_sent_at")), due=expires)
                )
        elif row.status == "approved":
            refused = [e for e in errors if e.get("code") == "LabelRefused"]
            if refused:
                waiting["label_refused"].append(
                    _listed(row, _at(refused[-1].get("at")), refused[-1].get("detail"))
                )
        elif row.status == "received":
            failed = [r for r in document.get("refunds") or [] if r.get("status") == "failed"]
            received = _at(stamps.get("received_at"))
            if failed:
                waiting["refund_failed"].append(
                    _listed(
                        row, _at(failed[-1].get("created_at")), failed[-1].get("failure_reason")
                    )
                )
            elif received is not None and received <= now - REFUND_WAIT:
                waiting["not_refunded"].append(_listed(row, received))
    return waiting
