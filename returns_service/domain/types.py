"""Constrained types shared by the API's schemas, the domain models and the store's columns.

Every string that comes from outside is bounded by the column that keeps it (the lengths below
are the tables' lengths too) and free of NUL and lone surrogates, which no database stores and no
encoder writes; single-line texts (names, numbers, locations) hold no control characters, so none
reaches a mail header, a file name or a label. Amounts and moments fit what the store, JSON and
Python's dates can hold, with room for the date arithmetic the policy does.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StrictInt,
    WithJsonSchema,
)

ID_LENGTH = 64
SKU_LENGTH = 64
NAME_LENGTH = 200
TEXT_LENGTH = 1000
EMAIL_LENGTH = 320
METHOD_LENGTH = 32
LOCATION_LENGTH = 64
TRACKING_LENGTH = 64
CATEGORY_LENGTH = 64
# Ten billion in a currency with two decimals: far above any order, far below 2**53.
MAX_AMOUNT = 10**12
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_NEWLINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain a NUL character")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode (it holds a lone surrogate)")
    return value


def blank(text: str | None) -> bool:
    """Nothing a person could read: empty, spaces, or only invisible format characters (a
    zero-width space) — not a reason, a note or a comment."""
    return not any(not char.isspace() and unicodedata.category(char) != "Cf" for char in text or "")


def _single_line(value: str) -> str:
    _storable(value)
    if _CONTROL.search(value):
        raise ValueError("must be one line without control characters")
    if value and not value.strip():
        raise ValueError("must not be only spaces")
    return value


def _search_term(value: str) -> str:
    # Bytes that were not UTF-8 reach us as U+FFFD: the term was not what the caller meant.
    if "\ufffd" in value:
        raise ValueError("must be valid UTF-8")
    return _single_line(value)


def plain_tracking_number(value: str) -> str:
    """Carriers' numbers are letters and digits: spaces, hyphens and case make no other number
    (a customer who types "1Z-999 AA1" means the parcel labelled 1Z999AA1)."""
    return "".join(value.split()).replace("-", "").upper()


def _tracking_number(value: object) -> object:
    return plain_tracking_number(value) if isinstance(value, str) else value


def _text(value: str) -> str:
    _storable(value)
    if _CONTROL_BUT_NEWLINES.search(value):
        raise ValueError("must not contain control characters")
    return value


Ident = Annotated[str, Field(min_length=1, max_length=ID_LENGTH, pattern=r"^[A-Za-z0-9_.:-]+$")]
# Any single line (a search term); its length is bounded where it is used.
OneLine = Annotated[str, AfterValidator(_search_term)]
# Another system's id of something (a customer id): one line, any characters.
Reference = Annotated[str, Field(min_length=1, max_length=ID_LENGTH), AfterValidator(_single_line)]
Sku = Annotated[str, Field(min_length=1, max_length=SKU_LENGTH), AfterValidator(_single_line)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_LENGTH), AfterValidator(_single_line)]
Category = Annotated[
    str, Field(min_length=1, max_length=CATEGORY_LENGTH), AfterValidator(_single_line)
]
Method = Annotated[str, Field(min_length=1, max_length=METHOD_LENGTH), AfterValidator(_single_line)]
# A product's picture on the shop's CDN: an https address, shown where its host is allowed.
ImageUrl = Annotated[
    str,
    Field(min_length=9, max_length=2000, pattern=r"^https://[A-Za-z0-9.-]+(:\d+)?/[^\s\"'<>\\]*$"),
]
Location = Annotated[
    str, Field(min_length=1, max_length=LOCATION_LENGTH), AfterValidator(_single_line)
]
TrackingNumber = Annotated[
    str,
    BeforeValidator(_tracking_number),
    Field(min_length=1, max_length=TRACKING_LENGTH, pattern=r"^[A-Z0-9]+$"),
]
# An order's number, as customers type it to sign in.
OrderNumber = Annotated[
    str, Field(min_length=1, max_length=ID_LENGTH), AfterValidator(_single_line)
]
# A postal code as a customer types it (one line; compared without spaces, dashes and case).
PostalCode = Annotated[str, Field(min_length=1, max_length=20), AfterValidator(_single_line)]
Text = Annotated[str, Field(max_length=TEXT_LENGTH), AfterValidator(_text)]
ShortText = Annotated[str, Field(max_length=500), AfterValidator(_text)]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _email(value: str) -> str:
    _single_line(value)
    if not _EMAIL.match(value):
        raise ValueError("not an email address")
    return value.lower()


Email = Annotated[str, Field(max_length=EMAIL_LENGTH), AfterValidator(_email)]


def _deliverable(value: str) -> str:
    """An address mail can be sent to as typed: its local part plain ASCII of at most 64
    characters (RFC 5321), an international domain written as IDNA (`xn--...`)."""
    local, _, domain = value.rpartition("@")
    if len(local) > 64 or not local.isascii():
        raise ValueError("the part before @ must be at most 64 plain ASCII characters")
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError as error:
        raise ValueError("the domain is not one mail can be sent to") from error
    return f"{local}@{ascii_domain}"


# An address the service itself writes to (a gift's recipient's), not only keeps.
DeliverableEmail = Annotated[Email, AfterValidator(_deliverable)]

MinorUnits = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]

# "Any currency the map does not name", in a policy's amounts.
ANY_CURRENCY = "*"
_CURRENCY_KEY = re.compile(r"^([A-Z]{3}|\*)$")
CURRENCIES_PER_AMOUNT = 50


def _amounts(value: object) -> int | dict[str, int]:
    """One clear mistake for the field (not one per shape it could have had)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value <= MAX_AMOUNT:
            raise ValueError(f"must be between 0 and {MAX_AMOUNT} (minor units)")
        return value
    if not isinstance(value, dict):
        raise ValueError("must be an amount in minor units, or a map of currency to amount")
    if not 1 <= len(value) <= CURRENCIES_PER_AMOUNT:
        raise ValueError(f"a map of 1 to {CURRENCIES_PER_AMOUNT} currencies")
    for code, amount in value.items():
        if not isinstance(code, str) or not _CURRENCY_KEY.match(code):
            raise ValueError(f"{str(code)[:8]!r} is not a currency code (EUR, USD, ...) or *")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValueError(f"{code}: must be a whole number of minor units")
        if not 0 <= amount <= MAX_AMOUNT:
            raise ValueError(f"{code}: must be between 0 and {MAX_AMOUNT} (minor units)")
    return dict(value)


_MINOR_UNITS = {"type": "integer", "minimum": 0, "maximum": MAX_AMOUNT}
# An amount the policy sets (a limit, a fee): a number is that many minor units in every
# currency (what every policy said before amounts had currencies: 20000 is EUR 200.00 and
# JPY 20,000); a map sets it per currency, in that currency's minor units, with `*` for the
# currencies it does not name. What a currency neither names is, each field says.
Amounts = Annotated[
    int | dict[str, int],
    PlainValidator(_amounts),
    WithJsonSchema(
        {
            "anyOf": [
                _MINOR_UNITS,
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": CURRENCIES_PER_AMOUNT,
                    "propertyNames": {"pattern": _CURRENCY_KEY.pattern},
                    "additionalProperties": {
                        "type": "integer",
                        "minimum": 0,
                        "maximum": MAX_AMOUNT,
                    },
                },
            ],
            "description": "Minor units in every currency, or a map of currency code (or * for "
            "any other) to minor units of that currency.",
        }
    ),
]


def amount_in(amount: Amounts | None, currency: str) -> int | None:
    """What `amount` is in `currency`'s minor units; None where it says nothing for it."""
    if amount is None or isinstance(amount, int):
        return amount
    found = amount.get(currency.upper())
    return amount.get(ANY_CURRENCY) if found is None else found


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """A moment given as text must be RFC 3339 with its offset (a number is not a time)."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339.match(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with a UTC offset, e.g. 2026-11-01T10:00:00Z")


def _within_range(value: datetime) -> datetime:
    # The local year first: converting 9999-12-31T23:00-05:00 to UTC would overflow.
    if value.tzinfo is None:
        raise ValueError("needs a UTC offset (RFC 3339)")
    if not EARLIEST.year <= value.year < LATEST.year or not EARLIEST <= value < LATEST:
        raise ValueError(f"must lie between {EARLIEST.year} and {LATEST.year}")
    return value


# A point in time from outside: RFC 3339 text with an offset (or a datetime), 1970 to 2200.
Moment = Annotated[datetime, BeforeValidator(_rfc3339), AfterValidator(_within_range)]
