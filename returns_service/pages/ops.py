"""The console's pages for ops and admins: the dashboard (returns by status, what waits too long,
reasons and SKUs, refunds; each chart with its table and a CSV of the list behind it), the
webhook endpoints with their failing deliveries, and the shop's policy."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from returns_service import i18n
from returns_service.api.deps import SessionDep
from returns_service.config import Settings
from returns_service.pages import charts
from returns_service.pages.console import RoleRefused, Staff, staff_of
from returns_service.pages.render import language_of, render
from returns_service.store import dashboard
from returns_service.store.dashboard import WAITING, Figures

router = APIRouter(prefix="/console", include_in_schema=False)

# The period a dashboard shows unless asked: the last 30 days, today included.
DEFAULT_DAYS = 30
LONGEST_DAYS = 366


async def _ops(request: Request) -> Staff:
    person = await staff_of(request)
    if not person.may("dashboard"):
        raise RoleRefused
    return person


def period(start: str | None, end: str | None, today: date) -> tuple[date, date, dict[str, str]]:
    """The days asked for (`from`, `to`, both included), or the last 30 days; and, per field,
    what was wrong with it."""
    errors: dict[str, str] = {}
    chosen: dict[str, date] = {}
    for name, value, default in (
        ("to", end, today),
        ("from", start, today - timedelta(days=DEFAULT_DAYS - 1)),
    ):
        try:
            chosen[name] = date.fromisoformat(value) if value else default
        except ValueError:
            errors[name] = "date"
            chosen[name] = default
    first, last = chosen["from"], chosen["to"]
    if not errors and first > last:
        errors["from"] = "order"
    elif not errors and (last - first).days >= LONGEST_DAYS:
        errors["from"] = "long"
    if errors:
        first, last = today - timedelta(days=DEFAULT_DAYS - 1), today
    return first, last, errors


async def _figures(
    request: Request, read: Any, start: str | None, end: str | None
) -> tuple[Figures, dict[str, str]]:
    now = datetime.now(UTC)
    first, last, errors = period(start, end, now.date())
    begins = datetime.combine(first, time(), UTC)
    ends = datetime.combine(last + timedelta(days=1), time(), UTC)
    async with read.begin():
        found = await dashboard.figures(read, begins, ends, now)
    return found, errors


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(request: Request, read: SessionDep, to: str | None = None) -> Response:
    person = await _ops(request)
    start = request.query_params.get("from")
    found, errors = await _figures(request, read, start, to)
    settings: Settings = request.app.state.settings
    language = language_of(request)
    per_day = found.refunds_per_day()
    return render(
        request,
        "console/dashboard.html",
        status_code=422 if errors else 200,
        person=person,
        f=found,
        errors=errors,
        first=found.start.date(),
        last=(found.end - timedelta(days=1)).date(),
        values={"from": start or "", "to": to or ""},
        waiting_kinds=WAITING,
        waiting_counts=[len(found.waiting[kind]) for kind in WAITING],
        per_day=per_day,
        per_day_series={currency: list(amounts.values()) for currency, amounts in per_day.items()},
        day_labels=[i18n.short_day(d, language) for d in next(iter(per_day.values()), {})],
        refund_rows=[
            (d, [(currency, amounts[d]) for currency, amounts in per_day.items()])
            for d in next(iter(per_day.values()), {})
            if any(amounts[d] for amounts in per_day.values())
        ],
        bars=partial(charts.bars, accent=settings.shop_accent),
        per_day_chart=partial(
            charts.per_day,
            accent=settings.shop_accent,
            formatter=partial(_money, language=language),
        ),
        query=_query(found),
    )


def _money(amount: int, currency: str, language: str) -> str:
    return i18n.money(amount, currency, language)


def _query(found: Figures) -> str:
    last = (found.end - timedelta(days=1)).date()
    return f"from={found.start.date().isoformat()}&to={last.isoformat()}"


CsvName = Annotated[
    str, Path(pattern=r"^(returns|skus|refunds|waiting-(" + "|".join(WAITING) + "))$")
]


@router.get("/dashboard/{name}.csv")
async def dashboard_csv(
    request: Request, name: CsvName, read: SessionDep, to: str | None = None
) -> Response:
    """The list behind a figure, as CSV for a spreadsheet."""
    await _ops(request)
    start = request.query_params.get("from")
    found, _ = await _figures(request, read, start, to)
    rows: list[list[Any]]
    if name == "returns":
        async with read.begin():
            listed = await dashboard.returns_in(read, found.start, found.end)
        header = ["number", "status", "customer_email", "created_at", "reasons", "currency",
                  "estimated_refund_amount"]  # fmt: skip
        rows = [
            [
                r.number,
                r.status,
                r.customer_email,
                r.created_at.isoformat(),
                " ".join(r.reasons),
                r.currency,
                r.estimated_refund_amount,
            ]  # fmt: skip
            for r in listed
        ]
    elif name == "skus":
        header = ["sku", "name", "units"]
        rows = [list(entry) for entry in found.skus]
    elif name == "refunds":
        header = ["number", "amount", "currency", "method", "refunded_at"]
        rows = [[r.number, r.amount, r.currency, r.method, r.at.isoformat()] for r in found.refunds]
    else:
        header = ["number", "status", "customer_email", "created_at", "since", "due", "detail"]
        rows = [
            [
                w.number,
                w.status,
                w.customer_email,
                w.created_at.isoformat(),
                w.since.isoformat() if w.since else "",
                w.due.isoformat() if w.due else "",
                w.detail or "",
            ]  # fmt: skip
            for w in found.waiting[name.removeprefix("waiting-")]
        ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    filename = f"{name}_{_query(found).replace('from=', '').replace('&to=', '_')}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


def _cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text, never runs as a formula (what a customer typed, an
    email, may begin with `=`)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
