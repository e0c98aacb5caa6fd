"""A policy's amount on a form (a review limit, a fee, what may be kept, a rule's "worth more
than"): one row per currency, its code and the amount typed as money in it ("200.00",
"200,00"), and `*` for any currency the rows do not name, in its smallest unit (as a plain
number in the API). Rows are `<name>.<n>.currency` and `<name>.<n>.amount`; one empty row adds
a currency."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from babel.numbers import is_currency

from returns_service import i18n
from returns_service.domain.types import ANY_CURRENCY, MAX_AMOUNT, Amounts
from returns_service.pages.render import whole_number

_CODE = re.compile(r"^[A-Z]{3}$")
# At most this many currencies for one amount (the policy's own bound).
MOST_ROWS = 50


def amount_rows(value: Amounts | None, language: str) -> list[dict[str, str]]:
    """The amount as the form shows it: its currencies in order, then `*`."""
    if value is None:
        return []
    if isinstance(value, int):
        return [{"currency": ANY_CURRENCY, "amount": str(value)}]
    return [
        {
            "currency": code,
            "amount": str(amount)
            if code == ANY_CURRENCY
            else i18n.amount_text(amount, code, language),
        }
        for code, amount in sorted(value.items(), key=lambda kv: (kv[0] == ANY_CURRENCY, kv[0]))
    ]


def typed_rows(form: Mapping[str, Any], name: str) -> list[dict[str, str]]:
    """The rows of `name` as typed, in the form's order, leaving out the empty ones."""
    prefix = f"{name}."
    numbers = sorted(
        {
            int(number)
            for key in form
            if key.startswith(prefix)
            for number in [key[len(prefix) :].split(".")[0]]
            if number.isdigit() and len(number) <= 3
        }
    )
    rows = [
        {
            "currency": str(form.get(f"{name}.{n}.currency", "")).strip().upper(),
            "amount": str(form.get(f"{name}.{n}.amount", "")).strip(),
        }
        for n in numbers
    ]
    return [row for row in rows if row["currency"] or row["amount"]][: MOST_ROWS + 1]


def amounts_of(
    name: str, rows: list[dict[str, str]], language: str
) -> tuple[Amounts | None, dict[str, dict[str, Any]]]:
    """What the rows say (None: nothing; a plain number where only `*` is given), and each
    mistake by its row's field (limits are the policy model's to check)."""
    found: dict[str, int] = {}
    errors: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows):
        code, typed = row["currency"], row["amount"]
        where = f"{name}.{n}"
        if code != ANY_CURRENCY and not (_CODE.match(code) and is_currency(code)):
            errors[f"{where}.currency"] = {"kind": "currency"}
            continue
        if code in found:
            errors[f"{where}.currency"] = {"kind": "twice"}
            continue
        if not typed:
            errors[f"{where}.amount"] = {"kind": "money_needed"}
            continue
        if code == ANY_CURRENCY:
            amount = whole_number(typed)
            if not isinstance(amount, int):
                errors[f"{where}.amount"] = {"kind": "whole"}
                continue
        else:
            try:
                amount = i18n.parse_money(typed, code, language)
            except ValueError:
                errors[f"{where}.amount"] = {"kind": "money", "currency": code}
                continue
        if amount > MAX_AMOUNT:
            errors[f"{where}.amount"] = {"kind": "too_much"}
            continue
        found[code] = amount
    if len(found) > MOST_ROWS:
        errors[name] = {"kind": "too_many"}
    if not found:
        return None, errors
    if list(found) == [ANY_CURRENCY]:
        return found[ANY_CURRENCY], errors
    return found, errors
