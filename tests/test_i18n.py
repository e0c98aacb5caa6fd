"""Languages and money: every message of the pages has its German words, and amounts in minor
units are written with each currency's own number of decimals (Babel's ISO 4217 data)."""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

import returns_service
from returns_service.activities.emails import money as email_money
from returns_service.i18n import choose, money, translations

PACKAGE = Path(returns_service.__file__).parent


def page_messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    method_map = [("pages/templates/**.html", "jinja2")]
    options = {"pages/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    for _, _, message, _, _ in extract_from_dir(str(PACKAGE), method_map, options):
        found.add(message)
    return found


def test_every_message_of_the_pages_is_in_german():
    messages = page_messages()
    assert len(messages) > 50
    german = translations("de")
    missing = []
    for message in messages:
        if isinstance(message, tuple):
            words = german.ngettext(message[0], message[1], 2)
            if words == message[1]:
                missing.append(message)
        elif german.gettext(message) == message:
            missing.append(message)
    assert missing == []


@pytest.mark.parametrize(
    ("amount", "currency", "language", "written"),
    [
        (12345, "EUR", "en", "€123.45"),
        (12345, "EUR", "de", "123,45\xa0€"),
        (12345, "JPY", "en", "¥12,345"),
        (12345, "TND", "en", "TND12.345"),
        (12345, "UGX", "de", "12.345\xa0UGX"),
    ],
)
def test_amounts_are_written_with_the_currencys_own_decimals(amount, currency, language, written):
    assert money(amount, currency, language) == written


@pytest.mark.parametrize(
    ("currency", "written"),
    [("EUR", "123.45 EUR"), ("XOF", "12345 XOF"), ("UGX", "12345 UGX"), ("TND", "12.345 TND")],
)
def test_emails_write_amounts_with_the_currencys_own_decimals(currency, written):
    assert email_money(12345, currency) == written


def test_the_language_comes_from_the_switcher_then_the_browser():
    assert choose(None, "de-DE,de;q=0.9,en;q=0.8") == "de"
    assert choose(None, "fr-FR, en;q=0.5, de;q=0.7") == "de"
    assert choose(None, "fr") == "en"
    assert choose("en", "de") == "en"
    assert choose("xx", "de") == "de"
