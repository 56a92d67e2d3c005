"""Words, amounts and dates written for people, in one language and the
business time zone.

The words come from the gettext catalogues under ``bridge/translations``
(``<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo`` by ``make`` and
by the wheel build); their message ids are the English texts, so English
needs no translation and a word missing from a catalogue reads in English.
Amounts are ``bridge.core.money.format_amount``; dates are Babel's, after
moving an aware datetime into the business zone (an invoice paid at 23:30
UTC on 31 March is paid on 1 April in Paris).

Adding a language is adding a catalogue and its code to ``LANGUAGES``.
"""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_interval, format_time
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

from bridge.core.money import format_amount

LANGUAGES = ("en", "fr", "de")
"""The languages invoices, pages and emails can be written in."""

DEFAULT_LANGUAGE = "en"
DOMAIN = "messages"
TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"

# CLDR names regions that ISO 3166-1 does not assign as alpha-2 codes: the
# user-assigned ranges (AA, QM-QZ, XA-XZ, ZZ: CLDR's XK Kosovo, XA/XB
# pseudo-locales) and the exceptionally reserved codes (EU, UN, IC...).
_USER_ASSIGNED = (
    {"AA", "ZZ"}
    | {f"Q{c}" for c in "MNOPQRSTUVWXYZ"}
    | {f"X{c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
)
_EXCEPTIONALLY_RESERVED = {
    *("AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "FX", "IC", "SU", "TA", "UK", "UN"),
}

COUNTRIES: frozenset[str] = frozenset(
    code
    for code in Locale("en").territories
    if len(code) == 2 and code.isalpha() and code not in _USER_ASSIGNED | _EXCEPTIONALLY_RESERVED
)
"""The officially assigned ISO 3166-1 alpha-2 codes (249), from Babel's
CLDR territories: what a country may be."""

_lock = threading.Lock()
_catalogues: dict[str, Translations] = {}


class MissingCatalogue(RuntimeError):
    """A language's compiled catalogue (``.mo``) is not installed."""


def catalogue_language(code: str | None) -> str | None:
    """The one of ``LANGUAGES`` that a language or locale code is written in
    ("fr-CA", "fr_FR" -> "fr", "DE" -> "de"), or None when there is no
    catalogue for it."""
    base = (code or "").replace("_", "-").split("-")[0].strip().lower()
    return base if base in LANGUAGES else None


def language_of(code: str | None) -> str:
    """One of ``LANGUAGES`` for a language or locale code ("fr-CA", "fr_FR"
    -> "fr", "DE" -> "de"); English for anything else, None included."""
    return catalogue_language(code) or DEFAULT_LANGUAGE


def translations(language: str) -> Translations:
    """The compiled catalogue of ``language`` (one of ``LANGUAGES``), read
    once per process. Raises ``MissingCatalogue`` when its ``.mo`` file is
    absent: a build that forgot ``pybabel compile`` must fail loudly rather
    than print English on a French invoice."""
    catalogue = _catalogues.get(language)
    if catalogue is not None:
        return catalogue
    if language not in LANGUAGES:
        raise ValueError(f"Unknown language: {language!r}")
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    if not path.is_file():
        raise MissingCatalogue(
            f"{path} is missing: compile the catalogues (make, or pybabel compile -d "
            f"{TRANSLATIONS_DIR})."
        )
    with _lock:
        catalogue = _catalogues.get(language)
        if catalogue is None:
            with path.open("rb") as handle:
                catalogue = _catalogues[language] = Translations(handle, domain=DOMAIN)
    return catalogue


def zone_of(name: str | tzinfo | None) -> tzinfo:
    """The time zone ``name`` (an IANA name or a tzinfo); UTC when empty or
    unknown, so a bad setting never stops an invoice from being written."""
    if isinstance(name, tzinfo):
        return name
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return UTC


# Days written by Babel, kept per process: a renewal day's thousands of
# receipts and invoice emails write the same few days (about 0.15 ms each
# through Babel's pattern engine, 3 % of the renew job's CPU).
@lru_cache(maxsize=4096)
def _written_date(day: date, format: str, locale: Locale) -> str:
    return format_date(day, format=format, locale=locale)


@lru_cache(maxsize=4096)
def _written_period(start: date, end: date, locale: Locale) -> str:
    return format_interval(start, end, "yMMMd", locale=locale)


@lru_cache(maxsize=32)
def _babel_locale(code: str, language: str) -> str:
    """The Babel locale for ``code`` ("fr_CA" formats like Canada) when it
    is a variant of ``language``, else ``language`` itself."""
    try:
        parsed = Locale.parse((code or language).replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return language
    return str(parsed) if parsed.language == language else language


class Localiser:
    """Writes for people in one language: its words (``gettext``, also
    ``_``), amounts, dates in the business time zone, numbers, percentages.

    ``language`` may be a regional code ("fr_CA"): the words are the
    language's ("fr"), numbers and dates follow the region."""

    def __init__(self, language: str | None = DEFAULT_LANGUAGE, tz: str | tzinfo | None = "UTC"):
        self.language = language_of(language)
        self.locale = _babel_locale(language or "", self.language)
        self.zone = zone_of(tz)
        self.translations = translations(self.language)

    def __repr__(self) -> str:
        return f"Localiser({self.locale!r}, {str(self.zone)!r})"

    # Words -----------------------------------------------------------------

    def gettext(self, message: str) -> str:
        """``message`` (its English text) in this language."""
        return self.translations.gettext(message)

    _ = gettext

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        """The singular or plural form for ``count``, in this language."""
        return self.translations.ngettext(singular, plural, count)

    def pgettext(self, context: str, message: str) -> str:
        """``message`` in this language, where ``context`` tells apart two
        meanings of the same English word."""
        return self.translations.pgettext(context, message)

    def label_value(self, label: str, value: str) -> str:
        """ "Label: value", punctuated as the language does (French puts a
        no-break space before the colon)."""
        return self.gettext("{label}: {value}").format(label=label, value=value)

    def template_context(self) -> dict:
        """What a Jinja template with the ``jinja2.ext.i18n`` extension
        needs to translate in this language (``_()``, ``{% trans %}``), plus
        the localiser itself as ``l10n``. Passed with each render rather than
        installed on the environment, so renders in two languages at once
        never see each other's words."""
        return {
            "gettext": self.gettext,
            "ngettext": self.ngettext,
            "pgettext": self.pgettext,
            "_": self.gettext,
            "l10n": self,
        }

    # Amounts and numbers ---------------------------------------------------

    def money(self, amount_minor: int, currency: str) -> str:
        """``amount_minor`` of ``currency`` as this locale writes it
        ("€1,234.56", "1 234,56 €", "1.234,56 €")."""
        return format_amount(amount_minor, currency, self.locale)

    def number(self, value: int | Decimal) -> str:
        """A quantity or decimal number with this locale's separators."""
        return format_decimal(value, locale=self.locale)

    def percent(self, percentage_e4: int) -> str:
        """A rate given in ten-thousandths of a percent (200 000 is 20 %),
        with as many decimals as it has ("20%", "5,5 %")."""
        # TRANSLATORS: how a percentage is written, as a Unicode number
        # pattern (# and 0 are digits, "," the group separator): French puts a
        # narrow no-break space (U+202F) before the sign, German a no-break
        # space (U+00A0).
        pattern = self.gettext("#,##0%")
        return format_percent(
            Decimal(percentage_e4) / Decimal(1_000_000),
            format=pattern,
            locale=self.locale,
            decimal_quantization=False,
        )

    # Dates -----------------------------------------------------------------

    def day(self, value: date | datetime) -> date:
        """The calendar day of ``value`` in the business zone: an aware
        datetime is converted first, a date is taken as it is. A naive
        datetime is refused: it could be any day."""
        if isinstance(value, datetime):
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"a naive datetime has no day in a time zone: {value!r}")
            return value.astimezone(self.zone).date()
        return value

    def date(self, value: date | datetime | None, format: str = "medium") -> str:
        """``value`` written as a date ("Mar 31, 2027", "31 mars 2027",
        "31.03.2027" in the medium format); an empty string for None."""
        if value is None:
            return ""
        return _written_date(self.day(value), format, self.locale)

    def time(self, value: datetime | None) -> str:
        """The time of day of ``value`` in the business zone ("2:05 PM",
        "14:05"); an empty string for None."""
        if value is None:
            return ""
        self.day(value)  # refuses a naive datetime
        return format_time(value, format="short", tzinfo=self.zone, locale=self.locale)

    def period(self, start: date | datetime, end: date | datetime) -> str:
        """Two days as one interval ("Mar 1 – 31, 2027")."""
        return _written_period(self.day(start), self.day(end), self.locale)

    def country(self, code: str | None) -> str:
        """The name of an ISO 3166 country code in this language (the code
        itself when unknown)."""
        if not code:
            return ""
        return Locale.parse(self.locale).territories.get(code.upper(), code)


def day_display(l10n: Localiser, value: date | datetime | None) -> str | None:
    """A date or instant as ``l10n``'s language writes the day in full
    ("March 5, 2027", "5 mars 2027", "5. März 2027": the long format, like
    WordPress's default date format), in the business time zone, or None."""
    return l10n.date(value, "long") if value is not None else None
