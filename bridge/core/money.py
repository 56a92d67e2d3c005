"""Money: an integer count of a currency's minor unit plus an ISO 4217 code.

Never a float. The exponent of every currency (JPY 0, EUR 2, KWD 3) comes
from ISO 4217, hard-coded below rather than read from Babel: Babel's CLDR
"digits" are a display convention and disagree with ISO for several codes
(ALL, IQD, IRR, LAK, RSD... are 0 in CLDR, 2 or 3 in ISO). Babel is used
only to format amounts for people. Amounts sent to Stripe follow Stripe's
own tables (``stripe_amount``), which differ from ISO again.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.numbers import NumberPattern, format_currency

from bridge.core.errors import Invalid

# ISO 4217 list one, active codes only. Left out on purpose: funds and units
# of account (BOV CHE CHW CLF COU MXV USN UYI UYW XSU XUA XDR XB*), precious
# metals (XAU XAG XPD XPT), the test and "no currency" codes (XTS XXX), and
# withdrawn codes (ANG CUC HRK SLL ZWL...).
_ISO_EXPONENT_0 = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"
_ISO_EXPONENT_3 = "BHD IQD JOD KWD LYD OMR TND"
_ISO_EXPONENT_2 = """
    AED AFN ALL AMD AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD BTN BWP BYN BZD
    CAD CDF CHF CNY COP CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
    GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS KHR KPW KYD KZT LAK LBP LKR LRD
    LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD PAB
    PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC
    SYP SZL THB TJS TMT TOP TRY TTD TWD TZS UAH USD UYU UZS VED VES WST XCD XCG YER ZAR ZMW
    ZWG
"""

CURRENCY_EXPONENTS: dict[str, int] = dict(
    sorted(
        [(code, 0) for code in _ISO_EXPONENT_0.split()]
        + [(code, 2) for code in _ISO_EXPONENT_2.split()]
        + [(code, 3) for code in _ISO_EXPONENT_3.split()]
    )
)
"""Every active ISO 4217 currency code -> its minor-unit exponent."""

CURRENCIES: frozenset[str] = frozenset(CURRENCY_EXPONENTS)

MAX_AMOUNT = 999_999_999_999
"""The largest amount accepted from people, in minor units. It is also
Stripe's ceiling (12 digits) for card payments."""

# Stripe's tables, from https://docs.stripe.com/currencies. The zero-decimal
# list includes UGX, but the "special cases" table on the same page overrides
# it: UGX and ISK "transitioned to a zero-decimal currency, but backwards
# compatibility requires you to represent it as a two-decimal value" (5 ISK is
# sent as 500). HUF and TWD are two-decimal for charges at Stripe, as in ISO;
# their divisible-by-100 rule applies only to manual payouts, which we never
# create.
STRIPE_ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"}
    | {"PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
STRIPE_THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
STRIPE_WHOLE_UNITS_AS_TWO_DECIMAL = frozenset({"ISK", "UGX"})

# ASCII digits only: ``\d`` would also accept Arabic-Indic and other digits.
_AMOUNT_TEXT = re.compile(r"(?P<units>[0-9]+)(?:\.(?P<fraction>[0-9]+))?")
# from_decimal refuses values whose minor-unit count would have more digits
# than this, so an exponent like 1E999999999 cannot build a gigantic int.
_MAX_DIGITS = 40


class UnknownCurrency(Invalid, ValueError):
    """Not an active ISO 4217 code written as three upper-case letters."""

    code = "unknown_currency"


class InvalidAmount(Invalid, ValueError):
    """An amount that cannot be represented, or accepted, in its currency."""

    code = "invalid_amount"


def is_currency(code: object) -> bool:
    """Whether ``code`` is an active ISO 4217 code, exactly as listed
    (upper case, no spaces)."""
    return isinstance(code, str) and code in CURRENCY_EXPONENTS


def exponent(code: str) -> int:
    """The ISO 4217 minor-unit exponent of ``code`` (0, 2 or 3); raises
    ``UnknownCurrency`` for anything ``is_currency`` refuses."""
    if not is_currency(code):
        raise UnknownCurrency(
            f"{_shorten(repr(code))} is not an ISO 4217 currency code (such as EUR)."
        )
    return CURRENCY_EXPONENTS[code]


def parse_amount(text: str, currency: str) -> int:
    """The amount a person typed, in minor units of ``currency``.

    Accepts only ASCII digits with at most one ``.`` followed by 1 to
    ``exponent(currency)`` digits: "12", "12.5", "12.50" (EUR), "1.234" (KWD).
    Refuses, with ``InvalidAmount``, signs, spaces, group separators, exponents,
    "NaN", "Infinity", more decimals than the currency has (even zeros), and
    amounts above ``MAX_AMOUNT``. Callers strip form input themselves.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_amount takes text, not {type(text).__name__}")
    exp = exponent(currency)
    match = _AMOUNT_TEXT.fullmatch(text)
    if match is None:
        if text.startswith("-") and _AMOUNT_TEXT.fullmatch(text[1:]):
            raise InvalidAmount(f"Amounts cannot be negative: {_shorten(text)}.")
        example = f"12.{'5'.ljust(exp, '0')}" if exp else "1250"
        raise InvalidAmount(
            f"{_shorten(repr(text))} is not a valid amount: write digits with an optional "
            f"decimal point, like {example}."
        )
    fraction = match["fraction"] or ""
    if len(fraction) > exp:
        raise InvalidAmount(
            f"{currency} has {_decimals(exp)}: {_shorten(text)} is not a valid amount."
        )
    units = match["units"].lstrip("0") or "0"
    # Compared by length first so int() never sees a huge string.
    if len(units) <= len(str(MAX_AMOUNT)):
        amount = int(units) * 10**exp + int(fraction.ljust(exp, "0") or "0")
        if amount <= MAX_AMOUNT:
            return amount
    raise InvalidAmount(
        f"{_shorten(text)} is above the largest amount accepted "
        f"({to_decimal(MAX_AMOUNT, currency)} {currency})."
    )


def to_decimal(amount_minor: int, currency: str) -> Decimal:
    """The exact value of ``amount_minor`` in major units, with exactly
    ``exponent(currency)`` decimal places (1250 EUR -> Decimal("12.50"))."""
    _require_int(amount_minor)
    sign, digits, _ = Decimal(amount_minor).as_tuple()
    # Built from its digits, so no decimal context can round it.
    return Decimal((sign, digits, -exponent(currency)))


def from_decimal(value: Decimal, currency: str) -> int:
    """The minor units of ``value``, a major-unit amount; raises
    ``InvalidAmount`` unless ``value`` is finite and exact at the currency's
    precision (Decimal("12.50") and Decimal("12.5") are 1250 EUR,
    Decimal("12.505") is refused). Never rounds."""
    if not isinstance(value, Decimal):
        raise TypeError(f"from_decimal takes a Decimal, not {type(value).__name__}")
    exp = exponent(currency)
    if not value.is_finite():
        raise InvalidAmount(f"{value} is not an amount.")
    if value.is_zero():
        return 0
    if value.adjusted() + exp >= _MAX_DIGITS:
        raise InvalidAmount(f"{_shorten(str(value))} is too large an amount.")
    sign, digits, value_exp = value.as_tuple()
    # Work on the digits rather than with 10**-shift: an exponent such as
    # 1E-999999999 must not build a huge power of ten just to be refused.
    shift = int(value_exp) + exp
    if shift < 0:
        if any(digits[shift:]):
            raise InvalidAmount(
                f"{currency} has {_decimals(exp)}: {_shorten(str(value))} is not a valid amount."
            )
        digits, shift = digits[:shift], 0
    magnitude = int("".join(map(str, digits))) * 10**shift
    return -magnitude if sign else magnitude


def format_amount(amount_minor: int, currency: str, locale: str = "en") -> str:
    """``amount_minor`` written for people in ``locale`` by Babel, with
    exactly the currency's ISO decimals: "€12.50" (en), "12,50 €" (fr, with
    Babel's no-break spaces), "¥1,000", "KWD1.234"; negative amounts carry the
    locale's minus sign. Raises ``ValueError`` for a locale Babel does not
    know."""
    if not isinstance(locale, str):
        raise ValueError(f"Unknown locale: {locale!r}")
    return _formatted_amount(amount_minor, currency, locale)


# An agency bills a handful of prices in one or two currencies, and Babel's
# formatting is most of an email's placeholder cost on renewal day: the same
# amount is written once per process. ``typed`` keeps 2900 and 2900.0 apart,
# so what ``to_decimal`` refuses is refused every time (errors are not cached).
@lru_cache(maxsize=4096, typed=True)
def _formatted_amount(amount_minor: int, currency: str, locale: str) -> str:
    value = to_decimal(amount_minor, currency)
    babel_locale, pattern = _currency_pattern(locale, exponent(currency))
    return format_currency(
        value, currency, format=pattern, locale=babel_locale, currency_digits=False
    )


def stripe_exponent(currency: str) -> int:
    """The exponent Stripe uses for ``currency`` in API amounts: 0 for its
    zero-decimal list, 3 for its three-decimal list, 2 otherwise, and 2 for
    ISK and UGX (whole units written with two zero decimals)."""
    exponent(currency)
    if currency in STRIPE_WHOLE_UNITS_AS_TWO_DECIMAL:
        return 2
    if currency in STRIPE_ZERO_DECIMAL:
        return 0
    if currency in STRIPE_THREE_DECIMAL:
        return 3
    return 2


def stripe_amount(amount_minor: int, currency: str) -> int:
    """The integer to send to Stripe as ``amount`` for ``amount_minor``.

    The rule: Stripe counts in units of 10**-stripe_exponent(currency) while
    we count in ISO units of 10**-exponent(currency), so the amount is scaled
    by 10**(stripe_exponent - exponent). Hence 5 ISK (ISO 0) is sent as 500,
    1000 JPY as 1000, 12.50 EUR as 1250, 1.230 KWD as 1230.

    Raises ``InvalidAmount`` when Stripe cannot take the amount: a negative
    amount; one that scaling down would truncate (MGA is ISO two-decimal but
    Stripe zero-decimal, so only whole ariary; LYD and IQD are ISO
    three-decimal, unknown to Stripe's list, so only multiples of 10); a
    three-decimal amount (BHD JOD KWD OMR TND) whose last digit is not 0,
    which Stripe rejects; a result above Stripe's 12-digit ceiling.
    """
    _require_int(amount_minor)
    iso_exp = exponent(currency)
    stripe_exp = stripe_exponent(currency)
    if amount_minor < 0:
        raise InvalidAmount(f"Stripe takes no negative amounts: {amount_minor} {currency}.")
    if stripe_exp >= iso_exp:
        result = amount_minor * 10 ** (stripe_exp - iso_exp)
    else:
        result, rest = divmod(amount_minor, 10 ** (iso_exp - stripe_exp))
        if rest:
            raise InvalidAmount(
                f"Stripe takes {currency} with {_decimals(stripe_exp)}: "
                f"{to_decimal(amount_minor, currency)} cannot be charged."
            )
    if currency in STRIPE_THREE_DECIMAL and result % 10:
        raise InvalidAmount(
            f"Stripe takes {currency} amounts only in multiples of 0.010: "
            f"{to_decimal(amount_minor, currency)} cannot be charged."
        )
    if result > MAX_AMOUNT:
        raise InvalidAmount(
            f"{to_decimal(amount_minor, currency)} {currency} is above Stripe's maximum."
        )
    return result


def from_stripe_amount(stripe_value: int, currency: str) -> int:
    """Our minor units for an ``amount`` Stripe reports in ``currency`` (the
    inverse of ``stripe_amount``); raises ``InvalidAmount`` if it holds a
    fraction of our minor unit (say 550 ISK-at-Stripe, 5.50 ISK)."""
    _require_int(stripe_value)
    iso_exp = exponent(currency)
    stripe_exp = stripe_exponent(currency)
    if iso_exp >= stripe_exp:
        return stripe_value * 10 ** (iso_exp - stripe_exp)
    amount, rest = divmod(stripe_value, 10 ** (stripe_exp - iso_exp))
    if rest:
        raise InvalidAmount(
            f"Stripe amount {stripe_value} is a fraction of a {currency} minor unit."
        )
    return amount


# Stripe's minimum charge amounts (https://docs.stripe.com/currencies,
# "Minimum and maximum charge amounts"), in major units. Stripe refuses a
# smaller charge (``amount_too_small``); a currency not listed has a minimum
# Stripe checks in the account's settlement currency, which only Stripe
# can tell (such a refusal is recorded as a failed payment like any other).
_STRIPE_MINIMUMS = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50",
    "CAD": "0.50", "CHF": "0.50", "CZK": "15.00", "DKK": "2.50", "EUR": "0.50",
    "GBP": "0.30", "HKD": "4.00", "HUF": "175.00", "INR": "0.50", "JPY": "50",
    "MXN": "10", "MYR": "2", "NOK": "3.00", "NZD": "0.50", "PLN": "2.00",
    "RON": "2.00", "SEK": "3.00", "SGD": "0.50", "THB": "10",
}  # fmt: skip
STRIPE_MINIMUM_CHARGE: dict[str, int] = {
    code: from_decimal(Decimal(value), code) for code, value in _STRIPE_MINIMUMS.items()
}
"""Currency -> the smallest card charge Stripe takes, in our minor units."""


def stripe_step(currency: str) -> int:
    """The smallest step, in our minor units, of an amount Stripe can charge
    in ``currency``: 1 for most; 10 for the three-decimal currencies (Stripe
    wants the last digit 0) and for LYD and IQD (three decimals in ISO, two
    at Stripe); 100 for MGA (two in ISO, none at Stripe)."""
    step = 10 ** max(0, exponent(currency) - stripe_exponent(currency))
    if currency in STRIPE_THREE_DECIMAL:
        step = max(step, 10)
    return step


def stripe_charge_amount(amount_minor: int, currency: str) -> int:
    """What a card is charged for ``amount_minor`` due: the amount rounded
    up to ``stripe_step`` (5.124 KWD is charged 5.130 KWD). Stripe's
    documentation asks integrations to round three-decimal amounts to ten
    (5.124 to 5.120 or 5.130); rounding up means a card payment always
    settles what is due, the few fils over it being counted as paid."""
    _require_int(amount_minor)
    step = stripe_step(currency)
    return -(-amount_minor // step) * step


@dataclass(frozen=True)
class CardLimit:
    """Why an amount cannot be charged by card at Stripe: ``below_minimum``
    (``limit`` is Stripe's minimum) or ``above_maximum`` (``limit`` is the
    largest amount), in our minor units."""

    reason: str
    limit: int

    def message(self, currency: str) -> str:
        limit = f"{to_decimal(self.limit, currency)} {currency}"
        if self.reason == "below_minimum":
            return f"Stripe's smallest card payment in {currency} is {limit}."
        return f"Stripe's largest card payment in {currency} is {limit}."


def card_limit(amount_minor: int, currency: str) -> CardLimit | None:
    """Why ``amount_minor`` (a positive amount due) cannot be paid by card
    through Stripe, or None when it can (after ``stripe_charge_amount``)."""
    charged = stripe_charge_amount(amount_minor, currency)
    minimum = STRIPE_MINIMUM_CHARGE.get(currency)
    if minimum is not None and charged < minimum:
        return CardLimit("below_minimum", minimum)
    largest = _largest_charge(currency)
    if charged > largest:
        return CardLimit("above_maximum", largest)
    return None


def _largest_charge(currency: str) -> int:
    """The largest amount (our minor units) ``stripe_amount`` accepts."""
    scale = stripe_exponent(currency) - exponent(currency)
    largest = MAX_AMOUNT // 10**scale if scale >= 0 else MAX_AMOUNT * 10**-scale
    step = stripe_step(currency)
    return largest // step * step


def round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to the nearest integer, halves away
    from zero (2.5 -> 3, -2.5 -> -3), in exact integer arithmetic. The
    denominator must be positive."""
    _require_int(numerator)
    _require_int(denominator)
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, not {denominator}")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


def percent_of(amount_minor: int, percentage_e4: int) -> int:
    """``percentage_e4`` / 10 000 percent of ``amount_minor`` (200 000 is 20 %,
    55 000 is 5.5 %), rounded half-up once, to a whole minor unit."""
    _require_int(amount_minor)
    _require_int(percentage_e4)
    return round_half_up(amount_minor * percentage_e4, 100 * 10_000)


# Quantities --------------------------------------------------------------------
#
# A quantity (1, 1.5 hours, 0.25 days) is stored as an integer count of
# thousandths, ``quantity_e3`` (1.5 -> 1500), like tax percentages are stored
# in ten-thousandths (``percentage_e4``). Integers rather than Numeric(12,3):
# SQLite has no exact decimal type (Numeric is a float there), and SQL sums of
# ``unit_amount x quantity_e3`` (metrics, MRR) stay exact integers on both
# databases.

QUANTITY_SCALE = 1000
"""Thousandths: quantities have at most three decimals."""

_QUANTITY_TEXT = re.compile(r"(?P<units>[0-9]{1,9})(?:\.(?P<fraction>[0-9]{1,3}))?")


class InvalidQuantity(Invalid, ValueError):
    """A quantity that is not a positive number with at most three decimals."""

    code = "invalid_quantity"


def quantity_e3(value: object) -> int:
    """The thousandths of ``value`` (an int, a Decimal or text such as "1.5";
    forms turn the reader's decimal sign into a point first); raises
    ``InvalidQuantity`` for more than three decimals, floats, signs, NaN or
    anything else. Never rounds. Zero is returned as 0:
    callers check their own bounds."""
    if isinstance(value, bool):
        raise InvalidQuantity("A quantity is a number.")
    if isinstance(value, int):
        return value * QUANTITY_SCALE
    if isinstance(value, str):
        match = _QUANTITY_TEXT.fullmatch(value.strip())
        if match is None:
            raise InvalidQuantity("Write a positive number with at most 3 decimals, like 1.5.")
        fraction = (match["fraction"] or "").ljust(3, "0")
        return int(match["units"]) * QUANTITY_SCALE + int(fraction)
    if isinstance(value, Decimal):
        if not value.is_finite() or value.adjusted() > 12:
            raise InvalidQuantity("Write a positive number with at most 3 decimals.")
        scaled = value * QUANTITY_SCALE
        if scaled != scaled.to_integral_value():
            raise InvalidQuantity("At most 3 decimals.")
        return int(scaled)
    raise InvalidQuantity("A quantity is a number.")


def quantity_decimal(quantity_e3: int) -> Decimal:
    """The quantity as a Decimal without trailing zeros: 1500 -> 1.5, 2000 -> 2."""
    _require_int(quantity_e3)
    value = Decimal(quantity_e3).scaleb(-3)
    whole = value.to_integral_value()
    return whole.quantize(Decimal(1)) if value == whole else value.normalize()


def line_amount(unit_amount: int, quantity_e3: int) -> int:
    """THE rounding rule of a line: ``unit_amount x quantity``, in minor
    units, rounded half-up once (to the nearest minor unit, halves away from
    zero): 3.33 x 1.5 = 4.995 -> 5.00. Whole quantities never round. Taxes
    are then computed on this amount (bridge/billing/taxes.py)."""
    _require_int(unit_amount)
    return round_half_up(unit_amount * quantity_e3, QUANTITY_SCALE)


def prorated_amount(
    unit_amount: int, quantity_e3: int, remaining_seconds: int, period_seconds: int
) -> int:
    """THE proration rule (plan changes, ``bridge.billing.plan_changes``):
    ``unit_amount x quantity x remaining_seconds / period_seconds``, in
    minor units, rounded half-up ONCE for the whole product (never the line
    first and the share after): Stripe's default proration, by seconds of
    the period. Monthly 10.00 with 15 of 30 days left: 5.00."""
    _require_int(unit_amount)
    _require_int(quantity_e3)
    _require_int(remaining_seconds)
    _require_int(period_seconds)
    if period_seconds <= 0 or not 0 <= remaining_seconds <= period_seconds:
        raise ValueError("remaining seconds must be within a positive period")
    return round_half_up(
        unit_amount * quantity_e3 * remaining_seconds, QUANTITY_SCALE * period_seconds
    )


def names_percentage(name: str, percentage_e4: int) -> bool:
    """Whether a tax rate's name already says its percentage ("VAT 20%",
    "TVA 5,5 %"), so a label need not repeat it."""
    _require_int(percentage_e4)
    text = f"{Decimal(percentage_e4).scaleb(-4).normalize():f}"
    return text in name or text.replace(".", ",") in name


@lru_cache(maxsize=64)
def _currency_pattern(locale: str, decimals: int) -> tuple[Locale, NumberPattern]:
    """The locale and its standard currency pattern, showing exactly
    ``decimals`` decimals."""
    try:
        babel_locale = Locale.parse(locale.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"Unknown locale: {locale!r}") from exc
    # The locale's pattern carries its own decimals (two nearly everywhere);
    # a copy with the currency's ISO exponent keeps symbol placement and
    # grouping from the locale but never shows fils or yen fractions wrongly.
    pattern = copy.copy(babel_locale.currency_formats["standard"])
    pattern.frac_prec = (decimals, decimals)
    return babel_locale, pattern


def _require_int(value: object) -> None:
    # bool is an int subclass, and a float would silently lose exactness.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"expected an int, not {type(value).__name__}")


def _decimals(exp: int) -> str:
    return "no decimals" if exp == 0 else f"at most {exp} decimals"


def _shorten(text: str) -> str:
    # Messages echo what was given; a pasted novel should not echo whole.
    return text if len(text) <= 32 else text[:29] + "..."
