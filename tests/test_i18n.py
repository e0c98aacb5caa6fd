"""Languages and money: every message of the pages has its German words, and amounts in minor
units are written with each currency's own number of decimals (Babel's ISO 4217 data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

import returns_service
from returns_service.activities.emails import status_email
from returns_service.domain.models import Refund, RefundMethod, ReturnMethod
from returns_service.domain.status import Status
from returns_service.i18n import choose, configure, languages, money, parse_money, translations
from returns_service.pages.brand import text_on
from tests.factories import a_return_state

PACKAGE = Path(returns_service.__file__).parent


def page_messages() -> set[str | tuple[str, ...]]:
    """Every message of the pages and the emails, as Babel extracts them for translators."""
    found: set[str | tuple[str, ...]] = set()
    method_map = [
        ("activities/emails.py", "python"),
        ("api/limits.py", "python"),
        ("pages/templates/**.html", "jinja2"),
        ("activities/templates/**.j2", "jinja2"),
    ]
    i18n = {"extensions": "jinja2.ext.i18n"}
    options = {"pages/templates/**.html": i18n, "activities/templates/**.j2": i18n}
    for _, _, message, _, _ in extract_from_dir(str(PACKAGE), method_map, options):
        found.add(message)
    return found


def test_every_message_of_the_pages_and_emails_is_in_german():
    messages = page_messages()
    assert len(messages) > 50
    with (PACKAGE / "locales/de/LC_MESSAGES/messages.po").open("rb") as source:
        german = read_po(source, locale="de")
    missing = []
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        found = german.get(key)
        words = found.string if found is not None else None
        if not words or (isinstance(words, tuple) and not all(words)):
            missing.append(message)
    assert missing == []
    assert translations("de").gettext("Sign out") == "Abmelden"  # and the catalog is read


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
    ("currency", "language", "written"),
    [
        ("EUR", "en", "€123.45"),
        ("XOF", "en", "F\u202fCFA12,345"),
        ("UGX", "de", "12.345\xa0UGX"),
        ("TND", "en", "TND12.345"),
        ("EUR", "de", "123,45\xa0€"),
    ],
)
def test_emails_write_refunds_in_the_customers_language_with_the_currencys_decimals(
    currency, language, written
):
    state = a_return_state("ret_mail", Status.REFUNDED, 7).model_copy(
        update={"currency": currency, "refunded_amount": 12345, "language": language}
    )
    message = status_email(state, "https://shop.example")
    assert message is not None
    assert written in message.body
    german = language == "de"
    assert message.subject.startswith("Rücksendung" if german else "Return")
    assert "https://shop.example/portal/returns/ret_mail" in message.body


def test_the_language_comes_from_the_switcher_then_the_browser():
    assert choose(None, "de-DE,de;q=0.9,en;q=0.8") == "de"
    assert choose(None, "fr-FR, en;q=0.5, de;q=0.7") == "de"
    assert choose(None, "fr") == "en"
    assert choose("en", "de") == "en"
    assert choose("xx", "de") == "de"


def test_text_on_the_shops_colour_stays_readable():
    assert text_on("#0b6e4f") == "#ffffff"  # dark green: white text
    assert text_on("#ffd400") == "#1b1f24"  # yellow: dark text


def test_a_shop_adds_a_language_and_its_own_words(tmp_path):
    """A shop's catalogs (RETURNS_LOCALES_DIR): French is offered by its own name, and the
    shop's German word replaces ours while every other message keeps ours."""
    for code, word in (("fr", "Se déconnecter"), ("de", "Tschüss")):
        folder = tmp_path / code / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "messages.po").write_text(
            f'msgid ""\nmsgstr ""\n"Language: {code}\\n"\n'
            '"Content-Type: text/plain; charset=utf-8\\n"\n\n'
            f'msgid "Sign out"\nmsgstr "{word}"\n',
            encoding="utf-8",
        )
    configure(tmp_path)
    try:
        assert languages() == {"en": "English", "de": "Deutsch", "fr": "Français"}
        assert translations("fr").gettext("Sign out") == "Se déconnecter"
        assert translations("de").gettext("Sign out") == "Tschüss"
        assert translations("de").gettext("Order number") == "Bestellnummer"
        assert choose(None, "fr-CA, en;q=0.5") == "fr"
    finally:
        configure(None)
    assert "fr" not in languages()


@pytest.mark.parametrize("method", ["label", "keep_item"])
def test_store_credit_is_called_store_credit_in_the_email(method):
    """A gift's kept item said "We have refunded" though nothing went back to a card."""
    state = a_return_state("ret_credit", Status.REFUNDED, 7)
    credit = Refund(
        id="rf_1", amount=2725, capture_id=None, method=RefundMethod.STORE_CREDIT,
        status="succeeded", created_at=state.created_at, issued_to="grace@example.com",
    )  # fmt: skip
    state = state.model_copy(
        update={"refunds": [credit], "refunded_amount": 2725, "method": ReturnMethod(method)}
    )
    message = status_email(state, "https://shop.example")
    assert message is not None
    assert "in store credit" in message.body and "We have refunded" not in message.body
    assert ("You keep the items" in message.body) == (method == "keep_item")


@pytest.mark.parametrize(
    ("typed", "currency", "language", "minor"),
    [
        ("69,75", "EUR", "de", 6975),
        ("69.75", "EUR", "de", 6975),  # a German agent typing a point means the same
        ("1.234,50", "EUR", "de", 123450),
        ("€ 69,75", "EUR", "de", 6975),
        ("$1,234.50", "USD", "en", 123450),
        ("17230", "JPY", "en", 17230),
        ("150", "EUR", "en", 15000),
    ],
)
def test_typed_amounts_are_read_as_the_language_writes_them(typed, currency, language, minor):
    assert parse_money(typed, currency, language) == minor


@pytest.mark.parametrize("typed", ["12.345", "172.5 JPY", "-5,00", "1e5", "NaN", "zwölf", ""])
def test_what_is_not_an_amount_in_the_currency_is_refused(typed):
    currency = "JPY" if "JPY" in typed else "EUR"
    with pytest.raises(ValueError):
        parse_money(typed, currency, "en")


def test_no_message_holds_a_bare_percent_sign():
    """The pages' gettext formats every message with `%`: a bare one ("50% off") fails the whole
    page at render time (found when a hint said "50% of its price")."""
    bare = re.compile(r"(?<!%)%(?![(%])")
    found = []
    for message in page_messages():
        for text in message if isinstance(message, tuple) else (message,):
            if text and bare.search(text):
                found.append(text)
    assert found == []
