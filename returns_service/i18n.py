"""Languages: gettext catalogs (`locales/<language>/LC_MESSAGES/messages.po`, read with Babel when
first used, so there is no build step), the language a request asks for, and money and dates
formatted for it from Babel's locale and currency data (every ISO 4217 code, with its own number of
minor units)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, get_currency_precision
from babel.support import Translations

CATALOGS = Path(__file__).parent / "locales"
# The languages offered, by the name each gives itself (the switcher's links).
LANGUAGES = {"en": "English", "de": "Deutsch"}
DEFAULT = "en"
COOKIE = "returns_language"


@lru_cache(maxsize=16)
def translations(language: str) -> NullTranslations:
    """The language's catalog; English is the messages themselves."""
    path = CATALOGS / language / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language chosen with the switcher, else the first of the browser's that we offer."""
    if cookie in LANGUAGES:
        return cookie
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        wanted.append((-quality, position, tag.strip().lower()))
    for _, _, tag in sorted(wanted):
        language = tag.split("-")[0]
        if language in LANGUAGES:
            return language
    return DEFAULT


def minor_digits(currency: str) -> int:
    """Minor units per major unit as a power of ten (JPY 0, EUR 2, TND 3), for any ISO code."""
    return int(get_currency_precision(currency.upper()))


def money(amount: int, currency: str, language: str) -> str:
    """`amount` minor units of `currency`, written as a reader of `language` expects."""
    major = Decimal(amount).scaleb(-minor_digits(currency))
    return str(format_currency(major, currency.upper(), locale=_locale(language)))


def day(moment: datetime, language: str) -> str:
    return str(format_date(moment, format="long", locale=_locale(language)))


def moment(value: datetime, language: str) -> str:
    """A moment, in UTC and saying so (the customer's own zone is not known)."""
    written = format_datetime(value, format="medium", tzinfo=UTC, locale=_locale(language))
    return f"{written} UTC"


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)
