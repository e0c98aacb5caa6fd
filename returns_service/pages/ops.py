"""The console's pages for ops and admins: the dashboard (returns by status, what waits too long,
reasons and SKUs, refunds; each chart with its table and a CSV of the list behind it), the
webhook endpoints with their failing deliveries, the shop's policy (tried on the last returns
before it is saved), and its block and allow lists of customers."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData

from returns_service import i18n
from returns_service.activities.webhooks import failure_words
from returns_service.api.deps import GatewayDep, SessionDep, WriteSessionDep
from returns_service.api.errors import Conflict, InvalidInput, NotFound, Unavailable
from returns_service.api.ids import new_id
from returns_service.api.routes.lists import CustomerListIn
from returns_service.api.routes.webhooks import (
    EndpointIn,
    failing_deliveries,
    make_endpoint,
    redeliver_once_more,
    remove_endpoint,
    rotate,
    test_endpoint,
)
from returns_service.config import Settings
from returns_service.domain.models import Policy, Reason, Resolution, ReturnMethod, WindowBasis
from returns_service.domain.simulation import Simulation
from returns_service.domain.status import EVENT_TYPES
from returns_service.pages.amounts import amount_rows, amounts_of, typed_rows
from returns_service.pages.charts import bars as bar_chart
from returns_service.pages.charts import per_day as day_chart
from returns_service.pages.console import RoleRefused, Staff, staff_of
from returns_service.pages.portal import checked_form
from returns_service.pages.render import language_of, render, whole_number
from returns_service.store import dashboard, lists
from returns_service.store.dashboard import WAITING
from returns_service.store.orders import current_policy, policy_history, put_policy
from returns_service.store.simulation import simulate_period
from returns_service.store.tables import ReturnRow, WebhookEndpointRow

router = APIRouter(prefix="/console", include_in_schema=False)

# The period a dashboard shows unless asked: the last 30 days, today included.
DEFAULT_DAYS = 30
LONGEST_DAYS = 366
# `from` is a keyword in Python: the period's first day comes in as `start`.
From = Annotated[str | None, Query(alias="from")]
EARLIEST, LATEST = date(1970, 1, 1), date(9998, 12, 31)
DeliveryPath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_]+$")]


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
        if not EARLIEST <= chosen[name] <= LATEST:  # a period must end on a day there is
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


def _span(start: str | None, end: str | None) -> tuple[datetime, datetime, dict[str, str]]:
    """The period asked for as moments: from its first day's start to before the day after its
    last; and what was wrong with the fields."""
    first, last, errors = period(start, end, datetime.now(UTC).date())
    begins = datetime.combine(first, time(), UTC)
    return begins, datetime.combine(last + timedelta(days=1), time(), UTC), errors


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard_page(
    request: Request, read: SessionDep, start: From = None, to: str | None = None
) -> Response:
    person = await _ops(request)
    begins, ends, errors = _span(start, to)
    async with read.begin():
        found = await dashboard.figures(read, begins, ends, datetime.now(UTC))
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
        bars=partial(bar_chart, accent=settings.shop_accent),
        per_day_chart=partial(
            day_chart,
            accent=settings.shop_accent,
            formatter=partial(i18n.money, language=language),
        ),
        query=_query(begins, ends),
    )


def _query(begins: datetime, ends: datetime) -> str:
    last = (ends - timedelta(days=1)).date()
    return f"from={begins.date().isoformat()}&to={last.isoformat()}"


CsvName = Annotated[
    str, Path(pattern=r"^(returns|skus|refunds|waiting-(" + "|".join(WAITING) + "))$")
]


@router.get("/dashboard/{name}.csv")
async def dashboard_csv(
    request: Request, name: CsvName, read: SessionDep, start: From = None, to: str | None = None
) -> Response:
    """The list behind a figure, as CSV for a spreadsheet."""
    await _ops(request)
    begins, ends, errors = _span(start, to)
    if errors:  # a file for a period nobody asked for would mislead: say what is wrong
        wrong = ", ".join(sorted(errors))
        return Response(
            f"The period is not valid ({wrong}): dates as 2026-11-30, the first before the last,"
            " at most a year.\n",
            status_code=422,
            media_type="text/plain; charset=utf-8",
        )
    rows: list[list[Any]]
    async with read.begin():
        if name == "returns":
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
                for r in await dashboard.returns_in(read, begins, ends)
            ]
        elif name == "skus":
            header = ["sku", "name", "units"]
            rows = [list(entry) for entry in await dashboard.skus_in(read, begins, ends)]
        elif name == "refunds":
            header = ["number", "amount", "currency", "method", "refunded_at"]
            rows = [
                [r.number, r.amount, r.currency, r.method, r.at.isoformat()]
                for r in await dashboard.refunds_in(read, begins, ends)
            ]
        else:
            header = ["number", "status", "customer_email", "created_at", "since", "due", "detail"]
            waiting = await dashboard.waiting_now(read, datetime.now(UTC))
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
                for w in waiting[name.removeprefix("waiting-")]
            ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([[_cell(value) for value in row] for row in rows])
    filename = f"{name}_{_query(begins, ends).replace('from=', '').replace('&to=', '_')}.csv"
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
    if isinstance(value, str) and value.lstrip(" ")[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


# --- webhooks ------------------------------------------------------------------------------------


@router.get("/webhooks", response_class=HTMLResponse)
async def webhooks_page(
    request: Request,
    read: SessionDep,
    redelivered: str | None = None,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    """Every endpoint, and the deliveries that did not get through, each with a Redeliver; a
    form to add one, and for each a test event, a new secret and Remove."""
    person = await _webhooks_person(request)
    return await _webhooks(
        request, person, read, redelivered=redelivered, problem=problem,
        done=done if done in ("removed",) else None,
    )  # fmt: skip


async def _webhooks_person(request: Request) -> Staff:
    person = await staff_of(request)
    if not person.may("webhooks"):
        raise RoleRefused
    return person


async def _webhooks(
    request: Request, person: Staff, read: Any, status_code: int = 200, **shown: Any
) -> Response:
    async with read.begin():
        endpoints = (
            await read.scalars(
                select(WebhookEndpointRow).order_by(WebhookEndpointRow.created_at.desc())
            )
        ).all()
        failing = {
            endpoint.id: await failing_deliveries(read, endpoint.id) for endpoint in endpoints
        }
        numbers = await _numbers(read, {d.return_id for ds in failing.values() for d in ds})
    words = i18n.translations(language_of(request))
    defaults: dict[str, Any] = {
        "redelivered": None, "problem": None, "done": None, "created": None, "rotated": None,
        "tested": None, "errors": {}, "values": {"events": list(EVENT_TYPES)},
    }  # fmt: skip
    return render(
        request, "console/webhooks.html", status_code=status_code, person=person,
        endpoints=endpoints, failing=failing, numbers=numbers, event_types=EVENT_TYPES,
        failure=lambda error: words.gettext(failure_words(error)),
        **{**defaults, **shown},
    )  # fmt: skip


@router.post("/webhooks", response_class=HTMLResponse)
async def add_webhook(request: Request, read: SessionDep, write: WriteSessionDep) -> Response:
    """A new endpoint; its secret is shown once, on the page this answers."""
    person = await _webhooks_person(request)
    form = await checked_form(request)
    values = {
        "url": str(form.get("url", "")).strip(),
        "description": str(form.get("description", "")).strip() or None,
        "events": [str(event) for event in form.getlist("events")],
    }
    errors: dict[str, str] = {}
    try:
        body = EndpointIn.model_validate(values)
        created = await make_endpoint(
            write, body, request.app.state.settings.webhooks_allow_private
        )
    except ValidationError as invalid:
        errors = {str(e["loc"][0]): "invalid" for e in invalid.errors() if e["loc"]}
    except InvalidInput as refused:
        # A host that is not found is most likely mistyped; anything else is an address
        # webhooks never go to.
        errors = {"url": "unresolved" if "does not resolve" in str(refused) else "forbidden"}
    if errors:
        return await _webhooks(request, person, read, status_code=422, errors=errors, values=values)
    return await _webhooks(request, person, read, created=created)


@router.post("/webhooks/{endpoint_id}/{action}", response_class=HTMLResponse)
async def webhook_action(
    request: Request,
    endpoint_id: DeliveryPath,
    action: Annotated[str, Path(pattern=r"^(test|secret|remove)$")],
    read: SessionDep,
    write: WriteSessionDep,
) -> Response:
    """Send a test event and show the answer; a new secret, shown once; or remove the endpoint
    (its box ticked: nothing is removed by a stray click)."""
    person = await _webhooks_person(request)
    form = await checked_form(request)
    try:
        if action == "test":
            allowed = request.app.state.settings.webhooks_allow_private
            tested = await test_endpoint(read, endpoint_id, allowed)
            return await _webhooks(request, person, read, tested=(endpoint_id, tested))
        if action == "secret":
            rotated = await rotate(write, endpoint_id)
            return await _webhooks(request, person, read, rotated=(endpoint_id, rotated))
        if form.get("confirm") != "yes":
            return await _webhooks(
                request,
                person,
                read,
                status_code=422,
                errors={"confirm": endpoint_id},
            )
        await remove_endpoint(write, endpoint_id)
    except NotFound:
        return RedirectResponse("/console/webhooks?problem=gone", status_code=303)
    return RedirectResponse("/console/webhooks?done=removed", status_code=303)


async def _numbers(read: Any, return_ids: set[str]) -> dict[str, str]:
    rows = await read.execute(
        select(ReturnRow.id, ReturnRow.number).where(ReturnRow.id.in_(sorted(return_ids)))
    )
    return {return_id: number for return_id, number in rows.all()}


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(
    request: Request,
    endpoint_id: DeliveryPath,
    delivery_id: DeliveryPath,
    write: WriteSessionDep,
    gateway: GatewayDep,
) -> Response:
    """The same as the API's redelivery: at the front of the endpoint's queue, with the same
    `webhook-id`, tried for another 72 hours."""
    person = await staff_of(request)
    await checked_form(request)
    if not person.may("webhooks"):
        raise RoleRefused
    try:
        await redeliver_once_more(write, gateway, endpoint_id, delivery_id)
    except NotFound:
        return RedirectResponse("/console/webhooks?problem=unknown", status_code=303)
    except Conflict:
        return RedirectResponse("/console/webhooks?problem=disabled", status_code=303)
    except Unavailable:
        pass  # queued; its queue wakes when the worker next looks
    return RedirectResponse(
        f"/console/webhooks?redelivered={quote(delivery_id)}#delivery-{quote(delivery_id)}",
        status_code=303,
    )


# --- the policy ----------------------------------------------------------------------------------

# The policy's fields by how the form writes them.
NUMBERS = (
    "return_window_days",
    "restocking_fee_percent",
    "store_credit_bonus_percent",
    "label_expiry_days",
    "label_reissue_days",
)
NEVER_WHEN_EMPTY = ("review_if_returns_in_90_days_over",)
# Amounts per currency (pages/amounts.py), and what each is when no row is given.
AMOUNTS = {"review_above_amount": None, "return_shipping_fee": 0, "keep_item_below_amount": None}
SWITCHES = ("refund_original_shipping", "auto_refund")
LISTS = ("non_returnable_skus", "non_returnable_categories")
CHOICES = {
    "resolutions": Resolution,
    "reasons": Reason,
    "photos_required_for": Reason,
    "return_methods": ReturnMethod,
}
# Written as JSON: the rules (domain/rules.py; also as forms on the rules page).
DOCUMENTS = ("rules",)
# Each store a row of the form (`store.<n>.id`, `.name`, `.address`, `.remove`), and an empty
# one to add a store.
STORE_FIELDS = ("id", "name", "address")
# "Try this policy" decides the returns of this many days again.
TRY_DAYS = 30
# The policy's history page shows this many versions (the API pages through all).
HISTORY_SHOWN = 50


@router.get("/policy", response_class=HTMLResponse)
async def policy_page(request: Request, read: SessionDep, saved: str | None = None) -> Response:
    person = await admin_of(request)
    async with read.begin():
        policy = await current_policy(read)
    return _policy_form(
        request, person, _values(policy, language_of(request)), {}, saved=saved is not None
    )


@router.get("/policy/history", response_class=HTMLResponse)
async def policy_history_page(request: Request, read: SessionDep) -> Response:
    """Who changed the policy, when, and what: the last versions, newest first."""
    person = await admin_of(request)
    async with read.begin():
        versions = await policy_history(read, HISTORY_SHOWN)
    return render(request, "console/policy_history.html", person=person, versions=versions)


async def admin_of(request: Request) -> Staff:
    person = await staff_of(request)
    if not person.may("policy"):
        raise RoleRefused
    return person


def _values(policy: Policy, language: str) -> dict[str, Any]:
    """The policy as the form shows it."""
    document = policy.model_dump(mode="json")
    values: dict[str, Any] = dict(document)
    for name, otherwise in AMOUNTS.items():
        value = getattr(policy, name)
        values[name] = amount_rows(None if value == otherwise else value, language)
    for name in LISTS:
        values[name] = "\n".join(document[name])
    for name in NEVER_WHEN_EMPTY:
        values[name] = "" if document[name] is None else str(document[name])
    for name in NUMBERS:
        values[name] = str(document[name])
    for name in DOCUMENTS:
        values[name] = json.dumps(document[name], indent=2, ensure_ascii=False)
    values["stores"] = [dict(store) for store in document["stores"]]
    return values


def _store_rows(form: FormData) -> list[dict[str, Any]]:
    """The stores' rows as typed (with their `remove` box), in the form's order."""
    numbers = sorted(
        {
            int(name.split(".")[1])
            for name in form
            if name.startswith("store.")
            and name.split(".")[1].isdigit()
            and len(name.split(".")[1]) <= 4
        }
    )
    return [
        {
            **{field: str(form.get(f"store.{n}.{field}", "")).strip() for field in STORE_FIELDS},
            "remove": form.get(f"store.{n}.remove") == "on",
        }
        for n in numbers
    ]


def _stores_of(rows: list[dict[str, Any]]) -> tuple[list[dict[str, str]], list[int]]:
    """The stores the rows keep (not removed, not left empty), and each one's row."""
    kept = [
        (n, {field: row[field] for field in STORE_FIELDS})
        for n, row in enumerate(rows)
        if not row["remove"] and any(row[field] for field in STORE_FIELDS)
    ]
    return [store for _, store in kept], [n for n, _ in kept]


def _error_field(location: tuple[Any, ...], store_rows: list[int]) -> str:
    """The form's field a mistake is on: a store's row and field, or the policy's field."""
    if location[0] == "stores" and len(location) >= 3 and isinstance(location[1], int):
        return f"store.{store_rows[location[1]]}.{location[2]}"
    return str(location[0])


def policy_error(error: Any) -> dict[str, Any]:
    """What was wrong with a field, for the page to say in its language: the kind of mistake,
    the limit it broke, and the line of a list it is on."""
    kind = str(error["type"])
    limit = (error.get("ctx") or {}).get("le", (error.get("ctx") or {}).get("ge"))
    words = {
        "int_type": "whole", "int_parsing": "whole", "less_than_equal": "at_most",
        "greater_than_equal": "at_least", "too_short": "choose", "too_long": "too_many",
        "enum": "choose",
    }  # fmt: skip
    location = error["loc"]
    message = str(error.get("msg", ""))
    if location == ("stores",) and "own id" in message:
        return {"kind": "store_ids"}
    if location == ("stores",) and "in_store" in message:
        return {"kind": "store_needed"}
    if location[0] in DOCUMENTS:
        # Where in the JSON, as the API names it: rules[0].then.restocking_fee_percent.
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location[1:])
        return {"kind": words.get(kind, "invalid"), "limit": limit, "where": location[0] + where}
    line = location[1] + 1 if len(location) > 1 and isinstance(location[1], int) else None
    return {"kind": words.get(kind, "invalid"), "limit": limit, "line": line}


def _rule_names(rules: str) -> list[str]:
    """The names of the rules the form's JSON holds (none where it is not readable)."""
    try:
        found = json.loads(rules or "[]")
    except (ValueError, RecursionError):
        return []
    if not isinstance(found, list):
        return []
    return [str(rule["name"]) for rule in found if isinstance(rule, dict) and "name" in rule]


def _policy_form(
    request: Request,
    person: Staff,
    values: dict[str, Any],
    errors: dict[str, dict[str, Any]],
    saved: bool = False,
    tried: Simulation | None = None,
) -> HTMLResponse:
    return render(
        request, "console/policy.html", status_code=422 if errors else 200, person=person,
        values=values, errors=errors, saved=saved, bases=[b.value for b in WindowBasis],
        tried=tried, try_days=TRY_DAYS, rule_names=_rule_names(values.get("rules", "")),
        # The chosen ones first, in their order (the reasons are shown to customers in it).
        options={
            name: [*chosen, *(c.value for c in kind if c.value not in chosen)]
            for name, kind in CHOICES.items()
            for chosen in [[v for v in values[name] if v in {c.value for c in kind}]]
        },
    )  # fmt: skip


@router.post("/policy", response_class=HTMLResponse)
async def save_policy(request: Request, write: WriteSessionDep) -> Response:
    """Validated as `PUT /v1/policy` is (the same model); a mistake is shown on its field and
    nothing is saved. It applies to returns created from now on."""
    person = await staff_of(request)
    form = await checked_form(request)
    if not person.may("policy"):
        raise RoleRefused
    values: dict[str, Any] = {
        name: str(form.get(name, "")).strip()
        for name in (*NUMBERS, *NEVER_WHEN_EMPTY, *LISTS, *DOCUMENTS, "window_basis")
    }
    for name in SWITCHES:
        values[name] = form.get(name) == "on"
    for name in CHOICES:
        values[name] = [str(value) for value in form.getlist(name)]
    typed: dict[str, dict[str, Any]] = {}
    amounts: dict[str, Any] = {}
    for name, otherwise in AMOUNTS.items():
        values[name] = typed_rows(form, name)
        amount, mistakes = amounts_of(name, values[name], language_of(request))
        typed.update(mistakes)
        amounts[name] = otherwise if amount is None else amount
    rows = _store_rows(form)
    values["stores"] = [row for row in rows if any(row[field] for field in STORE_FIELDS)]
    async with write.begin():
        current = await current_policy(write)
    # What the form does not show (rules, stores, methods) stays as it is.
    document: dict[str, Any] = {**current.model_dump(mode="json"), **values}
    for name in NUMBERS:
        document[name] = whole_number(values[name])
    for name in NEVER_WHEN_EMPTY:
        document[name] = whole_number(values[name]) if values[name] else None
    for name in LISTS:
        document[name] = [line.strip() for line in values[name].splitlines() if line.strip()]
    document.update(amounts)
    document["stores"], store_rows = _stores_of(rows)
    unreadable = dict(typed)
    for name in DOCUMENTS:
        try:
            document[name] = json.loads(values[name] or "[]")
        except (ValueError, RecursionError):
            unreadable[name] = {"kind": "json"}
    if unreadable:
        return _policy_form(request, person, values, unreadable)
    try:
        policy = Policy.model_validate(document)
    except ValidationError as invalid:
        errors = {}
        for error in invalid.errors():
            if error["loc"]:
                field = _error_field(error["loc"], store_rows)
                said = policy_error(
                    {**error, "loc": (field,)} if field != error["loc"][0] else error
                )
                errors[field] = said
        return _policy_form(request, person, values, errors or {"": {"kind": "invalid"}})
    if form.get("intent") == "try":
        # Every return of the last days decided again under the draft: nothing is saved.
        before = datetime.now(UTC) + timedelta(seconds=1)
        async with write.begin():
            simulator = await simulate_period(
                write, policy, before - timedelta(days=TRY_DAYS), before
            )
        return _policy_form(request, person, values, {}, tried=simulator.result)
    async with write.begin():
        await put_policy(write, policy, datetime.now(UTC), person.principal.actor.label())
    return RedirectResponse("/console/policy?saved=1", status_code=303)


# --- the block and allow lists --------------------------------------------------------------------


async def _lists_person(request: Request) -> Staff:
    person = await staff_of(request)
    if not person.may("lists"):
        raise RoleRefused
    return person


@router.get("/lists", response_class=HTMLResponse)
async def lists_page(request: Request, read: SessionDep, done: str | None = None) -> Response:
    person = await _lists_person(request)
    return await _lists(request, person, read, {}, {}, done=done)


async def _lists(
    request: Request,
    person: Staff,
    read: Any,
    values: dict[str, str],
    errors: dict[str, str],
    done: str | None = None,
) -> HTMLResponse:
    async with read.begin():
        entries = await lists.entries(read)
    return render(
        request, "console/lists.html", status_code=422 if errors else 200, person=person,
        entries=entries, values=values, errors=errors, done=done,
    )  # fmt: skip


@router.post("/lists", response_class=HTMLResponse)
async def add_to_list(request: Request, read: SessionDep, write: WriteSessionDep) -> Response:
    """As `POST /v1/customer-lists`: the same model, the same one entry per address."""
    person = await staff_of(request)
    form = await checked_form(request)
    if not person.may("lists"):
        raise RoleRefused
    values = {name: str(form.get(name, "")).strip() for name in ("email", "list", "reason")}
    try:
        entry = CustomerListIn.model_validate({**values, "reason": values["reason"] or None})
    except ValidationError as invalid:
        wrong = {str(e["loc"][0]): "invalid" for e in invalid.errors() if e["loc"]}
        return await _lists(request, person, read, values, wrong)
    async with write.begin():
        try:
            await lists.add_entry(
                write, new_id("cl"), entry.list, entry.email, entry.reason,
                person.principal.actor.label(), datetime.now(UTC),
            )  # fmt: skip
        except lists.Listed:
            return await _lists(request, person, read, values, {"email": "listed"})
    return RedirectResponse("/console/lists?done=added", status_code=303)


ListEntryId = Annotated[str, Path(max_length=64, pattern=r"^cl_[0-9a-z]+$")]


@router.post("/lists/{entry_id}/remove", response_class=HTMLResponse)
async def remove_from_list(
    request: Request, entry_id: ListEntryId, write: WriteSessionDep
) -> Response:
    person = await staff_of(request)
    await checked_form(request)
    if not person.may("lists"):
        raise RoleRefused
    async with write.begin():
        await lists.remove_entry(write, entry_id)
    return RedirectResponse("/console/lists?done=removed", status_code=303)
