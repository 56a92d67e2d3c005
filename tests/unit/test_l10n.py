"""The localiser (words, amounts and dates in a language and the business
time zone) and its catalogues: every word of the code is in the template,
every language translates all of it, and what runs is what the .po says."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bridge.core import l10n
from bridge.core.l10n import LANGUAGES, Localiser, language_of

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = ROOT / "bridge" / "translations"
TRANSLATED = [language for language in LANGUAGES if language != "en"]


# The localiser ------------------------------------------------------------------


@pytest.mark.parametrize(
    "code, language",
    [
        ("fr", "fr"),
        ("fr-CA", "fr"),
        ("fr_FR", "fr"),
        ("FR", "fr"),
        ("de-AT", "de"),
        ("en-GB", "en"),
        ("it", "en"),
        ("", "en"),
        (None, "en"),
        ("x-klingon", "en"),
    ],
)
def test_language_of_maps_codes_to_a_language_with_a_catalogue(code, language):
    assert language_of(code) == language


def test_words_amounts_and_dates_in_each_language():
    paid = date(2027, 3, 31)
    expected = {
        "en": ("Amount due", "€1,234.56", "Mar 31, 2027", "20%"),
        "fr": ("Reste à payer", "1\u202f234,56\xa0€", "31 mars 2027", "20\u202f%"),
        "de": ("Offener Betrag", "1.234,56\xa0€", "31.03.2027", "20\xa0%"),
    }
    for language, (words, amount, day, rate) in expected.items():
        localiser = Localiser(language)
        assert localiser.gettext("Amount due") == words
        assert localiser.money(123456, "EUR") == amount
        assert localiser.date(paid) == day
        assert localiser.percent(200_000) == rate


def test_a_datetime_is_dated_in_the_business_time_zone():
    late = datetime(2027, 3, 31, 22, 30, tzinfo=UTC)
    assert Localiser("en", "UTC").date(late) == "Mar 31, 2027"
    assert Localiser("en", "Europe/Paris").date(late) == "Apr 1, 2027"
    assert Localiser("de", "Europe/Berlin").date(late, "long") == "1. April 2027"
    assert Localiser("en", "America/New_York").date(late) == "Mar 31, 2027"
    # A calendar date is a day already: no zone moves it.
    assert Localiser("en", "Pacific/Kiritimati").date(date(2027, 3, 31)) == "Mar 31, 2027"


def test_a_naive_datetime_has_no_day_and_none_is_blank():
    with pytest.raises(ValueError):
        Localiser("en").date(datetime(2027, 3, 31, 12, 0))
    assert Localiser("fr").date(None) == ""


def test_an_unknown_time_zone_falls_back_to_utc():
    assert str(Localiser("en", "Mars/Olympus_Mons").zone) == "UTC"
    assert str(Localiser("en", None).zone) == "UTC"


def test_a_regional_code_formats_like_its_region_with_the_language_words():
    swiss = Localiser("de_CH")
    assert swiss.language == "de" and swiss.gettext("Invoice") == "Rechnung"
    assert swiss.money(123456, "CHF") == "CHF\xa01'234.56"


def test_label_value_and_plurals_follow_the_language():
    assert Localiser("en").label_value("Tax ID", "X1") == "Tax ID: X1"
    assert Localiser("fr").label_value("N° TVA", "X1") == "N° TVA\xa0: X1"
    assert Localiser("de").label_value("USt-IdNr.", "X1") == "USt-IdNr.: X1"
    for language, one, three in (
        ("en", "1 month", "3 months"),
        ("fr", "1 mois", "3 mois"),
        ("de", "1 Monat", "3 Monate"),
    ):
        localiser = Localiser(language)
        forms = [
            localiser.ngettext("%(num)d month", "%(num)d months", n) % {"num": n} for n in (1, 3)
        ]
        assert forms == [one, three]


def test_catalogues_are_read_once():
    assert Localiser("fr").translations is Localiser("fr-CA").translations


def test_a_missing_compiled_catalogue_is_an_error_not_english(monkeypatch, tmp_path):
    monkeypatch.setattr(l10n, "TRANSLATIONS_DIR", tmp_path)
    monkeypatch.setattr(l10n, "_catalogues", {})
    with pytest.raises(l10n.MissingCatalogue):
        Localiser("de")


# The catalogues ----------------------------------------------------------------------


def _read_po(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def _ids(catalog) -> set:
    return {(message.context, message.id) for message in catalog if message.id}


def test_the_template_holds_exactly_the_words_of_the_code_and_templates():
    """A word added to the code or a template without `make messages` fails
    here, before anyone reads it untranslated."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    extracted = set()
    for _file, _line, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        directory_filter=lambda path: not os.path.basename(path).startswith((".", "_")),
    ):
        extracted.add((context, message))
    assert extracted == _ids(_read_po(CATALOGUES / "messages.pot"))


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_word_is_translated_and_none_is_fuzzy(language):
    template = _read_po(CATALOGUES / "messages.pot")
    catalog = _read_po(CATALOGUES / language / "LC_MESSAGES" / "messages.po")
    assert _ids(catalog) == _ids(template)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(strings):
            problems.append(message.id)
    assert not problems, f"{language}: untranslated or fuzzy: {problems}"
    assert not catalog.obsolete


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_compiled_catalogue_is_the_po_file(language):
    """What runs (.mo) says what the translators wrote (.po): an edited .po
    left uncompiled fails here (`make translations` compiles it)."""
    folder = CATALOGUES / language / "LC_MESSAGES"
    source = _read_po(folder / "messages.po")
    with (folder / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)

    def translations(catalog):
        def key(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        # An untranslated plural is compiled as its English forms.
        return {
            (message.context, key(message.id)): key(message.string)
            for message in catalog
            if message.id
            and any(key(message.string) or ())
            and key(message.string) != key(message.id)
            and not message.fuzzy
        }

    assert translations(compiled) == translations(source)
