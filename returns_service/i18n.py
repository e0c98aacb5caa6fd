"""Languages: gettext catalogs (`locales/<language>/LC_MESSAGES/messages.po`, read with Babel when
first used, so there is no build step), the language a request asks for, and money and dates
formatted for it from Babel's locale and currency data (every ISO 4217 code, with its own number of
minor units)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from gettext import NullTranslations
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_precision,
    get_currency_symbol,
    parse_decimal,
)
from babel.support import Translations

CATALOGS = Path(__file__).parent / "locales"
DEFAULT = "en"
COOKIE = "returns_language"
_shop_catalogs: Path | None = None


def configure(shop_catalogs: Path | None) -> None:
    """Use a shop's own catalogs too (`RETURNS_LOCALES_DIR`): more languages, or its own words
    for ours (a message it does not translate keeps ours)."""
    global _shop_catalogs
    _shop_catalogs = shop_catalogs
    translations.cache_clear()
    languages.cache_clear()


def _catalog(folder: Path | None, language: str) -> Path | None:
    path = folder / language / "LC_MESSAGES" / "messages.po" if folder else None
    return path if path is not None and path.is_file() else None


@lru_cache(maxsize=1)
def languages() -> dict[str, str]:
    """The languages offered (English, and every one with a catalog), each by the name it
    gives itself, for the switcher."""
    codes = {DEFAULT}
    for folder in (CATALOGS, _shop_catalogs):
        if folder is not None and folder.is_dir():
            codes |= {entry.name for entry in folder.iterdir() if _catalog(folder, entry.name)}
    named = {}
    for code in sorted(codes, key=lambda code: (code != DEFAULT, code)):
        try:
            name = Locale.parse(code).get_display_name(code) or code
        except (UnknownLocaleError, ValueError):
            continue
        named[code] = name[:1].upper() + name[1:]
    return named


def _read(path: Path, language: str) -> Translations:
    with path.open("rb") as source:
        catalog = read_po(source, locale=language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(fp=compiled)


@lru_cache(maxsize=16)
def translations(language: str) -> NullTranslations:
    """The language's catalog, the shop's words first; English is the messages themselves."""
    ours = _catalog(CATALOGS, language)
    shops = _catalog(_shop_catalogs, language)
    found: NullTranslations = _read(ours, language) if ours else NullTranslations()
    if shops is not None:
        theirs = _read(shops, language)
        theirs.add_fallback(found)
        found = theirs
    return found


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language chosen with the switcher, else the first of the browser's that we offer."""
    offered = languages()
    if cookie in offered:
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
        if language in offered:
            return language
    return DEFAULT


def minor_digits(currency: str) -> int:
    """Minor units per major unit as a power of ten (JPY 0, EUR 2, TND 3), for any ISO code."""
    return int(get_currency_precision(currency.upper()))


def money(amount: int, currency: str, language: str) -> str:
    """`amount` minor units of `currency`, written as a reader of `language` expects."""
    major = Decimal(amount).scaleb(-minor_digits(currency))
    return str(format_currency(major, currency.upper(), locale=_locale(language)))


def amount_text(amount: int, currency: str, language: str) -> str:
    """`amount` minor units as a person types it in a form field ("69.75", "69,75", "17230"):
    the number without the currency's sign or grouping."""
    digits = minor_digits(currency)
    major = Decimal(amount).scaleb(-digits)
    pattern = "0." + "0" * digits if digits else "0"
    return str(format_decimal(major, format=pattern, locale=_locale(language)))


_ONE_MARK = re.compile(r"^(\d+)[.,](\d+)$")
# Digits and the marks some language groups or splits them with; nothing else (no exponent).
_TYPED = re.compile(r"^[0-9][0-9.,'\u2019]{0,19}$")


def parse_money(text: str, currency: str, language: str) -> int:
    """An amount a person typed ("69.75", "69,75", "1.234,50", "€ 69,75") as minor units of
    `currency`, read the way `language` writes numbers; a single mark before the last digits is
    the decimal mark in any language (a German agent typing "69.75" means 69,75). ValueError:
    not an amount, negative, or finer than the currency's minor unit."""
    locale = _locale(language)
    code = currency.upper()
    cleaned = "".join(text.split())
    for sign in {code, str(get_currency_symbol(code, locale=locale))}:
        cleaned = cleaned.replace(sign, "")
    if not _TYPED.match(cleaned):
        raise ValueError("not an amount")
    try:
        value = parse_decimal(cleaned, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation):
        found = _ONE_MARK.match(cleaned)
        if found is None:
            raise ValueError("not an amount") from None
        value = Decimal(f"{found[1]}.{found[2]}")
    minor = value.scaleb(minor_digits(code))
    if not minor.is_finite() or minor < 0 or minor != minor.to_integral_value():
        raise ValueError("not an amount in the currency's units")
    return int(minor)


def day(moment: datetime | date, language: str, zone: str | None = None) -> str:
    """A day, written out; a moment's day where the reader is (`zone`, else UTC)."""
    if isinstance(moment, datetime):
        moment = moment.astimezone(time_zone(zone)).date()
    return str(format_date(moment, format="long", locale=_locale(language)))


def short_day(value: date, language: str) -> str:
    """A day in few characters (a chart's axis): "30 Nov", "30. Nov."."""
    return str(format_date(value, format="d MMM", locale=_locale(language)))


def moment(value: datetime, language: str, zone: str | None = None) -> str:
    """A moment in the reader's time zone (the browser's, which the pages keep in a cookie),
    saying which; in UTC while it is not known."""
    where = time_zone(zone)
    written = format_datetime(value, format="medium", tzinfo=where, locale=_locale(language))
    return f"{written} {value.astimezone(where).tzname() or zone}"


TIME_ZONE_COOKIE = "returns_tz"
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}$")


@lru_cache(maxsize=256)
def time_zone(name: str | None) -> tzinfo:
    """An IANA time zone by its name ("Europe/Berlin"); UTC for none or one that is not."""
    if not name or len(name) > 64 or not _ZONE_NAME.match(name):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


@lru_cache(maxsize=16)
def _locale(language: str) -> Locale:
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse(DEFAULT)
