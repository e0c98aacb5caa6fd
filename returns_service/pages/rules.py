"""The policy's rules as forms, for admins (`/console/policy/rules`): each rule its own form (its
name, the items it is about, what it decides), tried on the last returns or saved, moved up,
removed; a new rule added at the end. Every change is validated as `PUT /v1/policy` validates
the whole policy (a mistake is shown on its field and nothing is saved), kept in the policy's
history with who saved it, and made against the version the page showed: had the policy changed
meanwhile, nothing is saved and the page shows it as it is now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from returns_service.api.deps import SessionDep, WriteSessionDep
from returns_service.domain.models import Policy, Reason, ReturnMethod, Rule
from returns_service.domain.simulation import Simulation
from returns_service.pages.amounts import amount_rows, amounts_of, typed_rows
from returns_service.pages.console import Staff
from returns_service.pages.ops import TRY_DAYS, admin_of, policy_error
from returns_service.pages.portal import checked_form
from returns_service.pages.render import language_of, render, whole_number
from returns_service.store.orders import current_policy, policy_version, put_policy
from returns_service.store.simulation import simulate_period

router = APIRouter(prefix="/console", include_in_schema=False)

# A rule's fields by how its form writes them: lists one per line, whole numbers, choices,
# yes/no/unset, and the words a customer reads when it refuses.
LINES = {"when.skus": "skus", "when.categories": "categories", "when.customer_emails": None}
NUMBERS = ("then.window_days", "then.restocking_fee_percent")
# Amounts per currency (pages/amounts.py); no row: not said.
AMOUNTS = ("when.amount_above", "then.return_shipping_fee")
CHOSEN = {"when.reasons": Reason, "then.methods": ReturnMethod}
YES_NO = ("then.keep_item", "then.photos_required")


def rule_values(rule: Rule | None, language: str) -> dict[str, Any]:
    """A rule as its form shows it (None: the empty form of a new rule)."""
    document = rule.model_dump(mode="json") if rule is not None else {"when": {}, "then": {}}
    when, then = document.get("when", {}), document["then"]
    values: dict[str, Any] = {"name": document.get("name", "")}
    for name in LINES:
        values[name] = "\n".join(when.get(name.split(".")[1]) or [])
    for name in AMOUNTS:
        side, field = name.split(".")
        amount = getattr(getattr(rule, side), field) if rule is not None else None
        values[name] = amount_rows(amount, language)
    for name in NUMBERS:
        value = then.get(name.split(".")[1])
        values[name] = "" if value is None else str(value)
    for name in CHOSEN:
        part = when if name.startswith("when.") else then
        values[name] = list(part.get(name.split(".")[1]) or [])
    for name in YES_NO:
        value = then.get(name.split(".")[1])
        values[name] = "" if value is None else ("yes" if value else "no")
    values["then.reject"] = then.get("reject") or ""
    values["then.review"] = bool(then.get("review"))
    values["then.refund_on"] = then.get("refund_on") or ""
    return values


def rule_document(values: dict[str, Any], amounts: dict[str, Any]) -> dict[str, Any]:
    """The rule a form wrote, as the policy's JSON (what is left empty is not said)."""
    when: dict[str, Any] = {}
    then: dict[str, Any] = {}
    for name in LINES:
        lines = [line.strip() for line in values[name].splitlines() if line.strip()]
        if lines:
            when[name.split(".")[1]] = lines
    for name, amount in amounts.items():
        if amount is not None:
            (when if name.startswith("when.") else then)[name.split(".")[1]] = amount
    for name in NUMBERS:
        if values[name]:
            then[name.split(".")[1]] = whole_number(values[name])
    for name in CHOSEN:
        if values[name]:
            (when if name.startswith("when.") else then)[name.split(".")[1]] = values[name]
    for name in YES_NO:
        if values[name] in ("yes", "no"):
            then[name.split(".")[1]] = values[name] == "yes"
        elif values[name]:  # neither: refused on its field by the policy's model
            then[name.split(".")[1]] = values[name]
    if values["then.reject"]:
        then["reject"] = values["then.reject"]
    if values["then.review"]:
        then["review"] = True
    if values["then.refund_on"]:
        then["refund_on"] = values["then.refund_on"]
    return {"name": values["name"], "when": when, "then": then}


def form_values(
    form: FormData, language: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, Any]]]:
    """The rule's form as typed, its amounts as read, and the mistakes in them by field."""
    values: dict[str, Any] = {
        name: str(form.get(name, "")).strip()
        for name in ("name", *LINES, *NUMBERS, *YES_NO, "then.reject")
    }
    amounts: dict[str, Any] = {}
    mistakes: dict[str, dict[str, Any]] = {}
    for name in AMOUNTS:
        values[name] = typed_rows(form, name)
        amounts[name], said = amounts_of(name, values[name], language)
        mistakes.update(said)
    values["then.refund_on"] = str(form.get("then.refund_on", ""))
    values["then.review"] = form.get("then.review") == "on"
    for name in CHOSEN:
        values[name] = [str(value) for value in form.getlist(name)]
    return values, amounts, mistakes


def rule_errors(invalid: ValidationError, index: int) -> dict[str, dict[str, Any]]:
    """What was wrong with the rule numbered `index`, by its form's field; "" for the rest of
    the policy (which the form does not show)."""
    errors: dict[str, dict[str, Any]] = {}
    for error in invalid.errors():
        location = error["loc"]
        if location[:2] != ("rules", index) or len(location) < 3:
            errors[""] = {"kind": "invalid"}
            continue
        field = ".".join(str(part) for part in location[2:4])
        said = policy_error({**error, "loc": (field, *location[4:])})
        if field == "then" and len(location) == 3:
            said["kind"] = "decides"
        errors[field] = said
    return errors


async def rules_page_of(
    request: Request,
    person: Staff,
    policy: Policy,
    version: int,
    **shown: Any,
) -> HTMLResponse:
    """The page: every rule's form (the one just posted as it was typed, with its mistakes)."""
    editing = shown.pop("editing", None)
    language = language_of(request)
    forms = [rule_values(rule, language) for rule in [*policy.rules, None]]
    if editing is not None:
        index, values = editing
        forms[index] = values
    errors = shown.pop("errors", {})
    shown = {"saved": None, "problem": None, "tried": None, "opened": None, **shown}
    return render(
        request, "console/rules.html", status_code=shown.pop("status_code", 200),
        person=person, forms=forms, rules=len(policy.rules), version=version,
        reasons=[r.value for r in Reason], methods=[m.value for m in ReturnMethod],
        errors=errors, editing_index=editing[0] if editing else None, try_days=TRY_DAYS,
        **shown,
    )  # fmt: skip


@router.get("/policy/rules", response_class=HTMLResponse)
async def rules_page(
    request: Request,
    read: SessionDep,
    saved: Annotated[str | None, Query(pattern=r"^(save|try|up|remove)$")] = None,
    rule: Annotated[int | None, Query(ge=1, le=1000)] = None,
) -> Response:
    """The rules; `saved` says what was just saved, `rule` (numbered from 1) is shown open."""
    person = await admin_of(request)
    async with read.begin():
        policy = await current_policy(read)
        version = await policy_version(read)
    opened = rule - 1 if rule is not None else None
    return await rules_page_of(request, person, policy, version, saved=saved, opened=opened)


@router.post("/policy/rules", response_class=HTMLResponse)
async def change_rule(request: Request, write: WriteSessionDep) -> Response:
    """Save, try, move up or remove one rule (`index`: its place, or `new`), against the
    policy's `version` the page showed."""
    person = await admin_of(request)
    form = await checked_form(request)
    intent = str(form.get("intent", "save"))
    async with write.begin():
        policy = await current_policy(write)
        version = await policy_version(write)
    rules = [rule.model_dump(mode="json") for rule in policy.rules]
    place = str(form.get("index", ""))
    index = len(rules) if place == "new" else int(place) if place.isdigit() else -1
    stale = str(form.get("version", "")) != str(version)
    new = index == len(rules)
    if stale or not 0 <= index <= len(rules) or (new and intent not in ("save", "try")):
        return await rules_page_of(
            request, person, policy, version, problem="moved", status_code=409
        )
    values, amounts, mistakes = form_values(form, language_of(request))
    if mistakes and intent in ("save", "try"):
        return await rules_page_of(
            request, person, policy, version, editing=(index, values), errors=mistakes,
            status_code=422,
        )  # fmt: skip
    if intent == "remove":
        del rules[index]
    elif intent == "up" and index > 0:
        rules[index - 1], rules[index] = rules[index], rules[index - 1]
    elif intent in ("save", "try"):
        rules[index:index + 1] = [rule_document(values, amounts)]  # fmt: skip
    try:
        draft = Policy.model_validate({**policy.model_dump(mode="json"), "rules": rules})
    except ValidationError as invalid:
        return await rules_page_of(
            request, person, policy, version, editing=(index, values),
            errors=rule_errors(invalid, index), status_code=422,
        )  # fmt: skip
    if intent == "try":
        before = datetime.now(UTC) + timedelta(seconds=1)
        async with write.begin():
            simulator = await simulate_period(
                write, draft, before - timedelta(days=TRY_DAYS), before
            )
        tried: Simulation = simulator.result
        return await rules_page_of(
            request, person, policy, version, editing=(index, values), tried=tried
        )
    async with write.begin():
        if await policy_version(write) != version:  # saved by someone else a moment ago
            return await rules_page_of(
                request, person, policy, version, problem="moved", status_code=409
            )
        await put_policy(write, draft, datetime.now(UTC), person.principal.actor.label())
    shown = max(0, index - 1) if intent == "up" else index
    where = "" if intent == "remove" else f"&rule={shown + 1}#rule-{shown + 1}"
    return RedirectResponse(f"/console/policy/rules?saved={intent}{where}", status_code=303)
