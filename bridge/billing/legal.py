"""What the law of the seller's country asks of an invoice: the seller's
and the client's identities, payment terms, exemption wording, the cap on
net terms, and the fields without which an invoice to a business may not
be issued. One place per country; France is the first (Code de commerce
L441-9 and L441-10, CGI art. 242 nonies A); other countries have no rules
yet, so nothing is added or refused for them.

Words are English message ids of the one catalogue; the French
catalogue holds the wording the French law uses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.core.errors import Invalid
from bridge.core.l10n import Localiser
from bridge.models import BusinessSettings, Client

FRANCHISE = "franchise"
REVERSE_CHARGE = "reverse_charge"
# The VAT exemptions a 0 % rate can stand for, and the invoices' wording.
EXEMPTIONS = (FRANCHISE, REVERSE_CHARGE)

# France: net terms may not exceed 60 days from the issue date
# (Code de commerce L441-10), and a business client owes a fixed 40 EUR
# indemnity for recovery costs when paying late (D441-5).
FR_MAX_NET_TERMS_DAYS = 60
FR_RECOVERY_INDEMNITY_EUR_CENTS = 4000

# The business settings this module owns (changed through
# ``business.update_settings``).
SETTINGS_FIELDS = (
    "legal_form",
    "share_capital",
    "siren",
    "siret",
    "rcs_city",
    "individual_entrepreneur",
    "late_payment_penalty_text",
    "early_payment_discount_text",
    "facturx_default",
    "accounting_journal_code",
    "accounting_client_account",
    "accounting_sales_account",
    "accounting_vat_account",
)

# The settings' labels in the refusal's message (the API's field names
# are in its ``fields``).
SELLER_FIELD_LABELS = {
    "company_name": "company name",
    "address_line1": "address",
    "postal_code": "postal code",
    "city": "city",
    "legal_form": "legal form",
    "share_capital": "share capital",
    "siren": "SIREN",
    "rcs_city": "RCS city",
    "tax_id": "VAT number",
}


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when printed."""
    return message


EXEMPTION_WORDING = {
    # TRANSLATORS: the French VAT franchise mention, printed as the law words it.
    FRANCHISE: _("VAT not applicable, art. 293 B of the French General Tax Code"),
    # TRANSLATORS: the reverse-charge mention ("Autoliquidation" in French).
    REVERSE_CHARGE: _("Reverse charge"),
}


# Checking numbers -------------------------------------------------------------------


def _digits(value: str) -> str:
    return re.sub(r"[\s.\-]", "", value or "")


def _luhn(number: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(number)):
        digit = int(char)
        if position % 2:
            digit *= 2
            digit -= 9 if digit > 9 else 0
        total += digit
    return total % 10 == 0


def check_siren(value: str, field: str = "siren") -> str:
    """A SIREN: 9 digits with a valid Luhn key (spaces allowed), or ""."""
    siren = _digits(value)
    if siren and not (len(siren) == 9 and siren.isdigit() and _luhn(siren)):
        raise Invalid(
            "A SIREN is 9 digits with a valid check digit.",
            code="invalid_siren",
            fields={field: [_("Not a valid SIREN.")]},
        )
    return siren


def check_siret(value: str, field: str = "siret") -> str:
    """A SIRET: 14 digits (the SIREN and the establishment's 5) with a
    valid Luhn key, or "". La Poste's establishments use another key."""
    siret = _digits(value)
    if siret and not (
        len(siret) == 14
        and siret.isdigit()
        and (_luhn(siret) or (siret.startswith("356000000") and sum(map(int, siret)) % 5 == 0))
    ):
        raise Invalid(
            "A SIRET is 14 digits with a valid check digit.",
            code="invalid_siret",
            fields={field: [_("Not a valid SIRET.")]},
        )
    return siret


def check_vat_number(value: str, field: str = "tax_id") -> str:
    """A VAT number without blanks, upper-cased; a French one (FR...) must
    have the French shape: a 2-character key and the 9-digit SIREN. The key
    itself is not recomputed (the tax office's VIES service is the proof);
    numbers of other countries are kept as typed."""
    number = re.sub(r"[\s.\-]", "", value or "").upper()
    if number.startswith("FR") and not re.fullmatch(r"FR[0-9A-HJ-NP-Z]{2}[0-9]{9}", number):
        raise Invalid(
            "A French VAT number is FR, a 2-character key and the 9-digit SIREN.",
            code="invalid_vat_number",
            fields={field: [_("Not a French VAT number.")]},
        )
    return number


def check_exemption(exemption: str, percentage_e4: int) -> str:
    """An exemption kind ("" for none); only a 0 % rate can be one."""
    if exemption and exemption not in EXEMPTIONS:
        raise Invalid(
            f"An exemption is one of: {', '.join(EXEMPTIONS)}.",
            fields={"exemption": [_("Unknown exemption.")]},
        )
    if exemption and percentage_e4 != 0:
        raise Invalid(
            "Only a 0 % rate can stand for a VAT exemption.",
            code="exemption_needs_zero_rate",
            fields={"exemption": [_("The rate must be 0 %.")]},
        )
    return exemption


def check_settings(settings: BusinessSettings, changes: dict) -> None:
    """Checks (and normalises, in place) the legal part of ``changes`` to
    the settings: registration and VAT numbers, and the net terms against
    the cap of the country the settings will have."""
    if "siren" in changes:
        changes["siren"] = check_siren(changes["siren"])
    if "siret" in changes:
        changes["siret"] = check_siret(changes["siret"])
    if changes.get("tax_id"):
        changes["tax_id"] = check_vat_number(changes["tax_id"])
    if changes.get("share_capital") is not None and changes["share_capital"] < 0:
        raise Invalid("The share capital cannot be negative.", fields={"share_capital": ["< 0"]})
    siren = changes.get("siren", settings.siren)
    siret = changes.get("siret", settings.siret)
    if siren and siret and not siret.startswith(siren):
        raise Invalid(
            "The SIRET starts with the SIREN of the same business.",
            code="siret_siren_mismatch",
            fields={"siret": [_("Does not start with the SIREN.")]},
        )
    if "invoice_net_terms_days" in changes or "country" in changes:
        check_net_terms(
            changes.get("country", settings.country),
            changes.get("invoice_net_terms_days", settings.invoice_net_terms_days) or 0,
        )


# The rules ----------------------------------------------------------------------------


def is_business(client: Client) -> bool:
    """A client is a business when it names a company or a registration
    or VAT number; otherwise a consumer, who gets no B2B-only mentions."""
    return bool(client.company or client.siren or client.tax_id)


def french(settings: BusinessSettings) -> bool:
    """Whether French invoicing law applies: the seller is in France."""
    return settings.country == "FR"


def max_net_terms_days(country: str) -> int | None:
    """The legal cap on net terms in ``country``, None when there is none."""
    return FR_MAX_NET_TERMS_DAYS if country == "FR" else None


def check_net_terms(country: str, days: int, field: str = "invoice_net_terms_days") -> int:
    """Refuses net terms over the seller's country's legal cap."""
    cap = max_net_terms_days(country)
    if cap is not None and days > cap:
        raise Invalid(
            f"Net terms cannot exceed {cap} days from the issue date in France "
            "(Code de commerce, L441-10).",
            code="net_terms_too_long",
            fields={field: [_("At most 60 days from the issue date in France.")]},
        )
    return days


def missing_seller_fields(settings: BusinessSettings, exemptions: set[str]) -> list[str]:
    """The seller's fields, by settings name, that an invoice to a
    business in France must print and that are empty. An individual
    entrepreneur has no legal form, capital or RCS registration to print;
    a seller whose every line is under the VAT franchise has no VAT number."""
    if not french(settings):
        return []
    required = ["company_name", "address_line1", "postal_code", "city", "siren"]
    if not settings.individual_entrepreneur:
        required += ["legal_form", "share_capital", "rcs_city"]
    if exemptions != {FRANCHISE}:
        required.append("tax_id")
    return [name for name in required if getattr(settings, name) in (None, "")]


def require_issuable(settings: BusinessSettings, client: Client, exemptions: set[str]) -> None:
    """Refuses (422, ``legal_mentions_missing``) to issue an invoice to a
    business client in France while a mandatory seller field is empty,
    naming the fields."""
    if client.country != "FR" or not is_business(client):
        return
    missing = missing_seller_fields(settings, exemptions)
    if missing:
        names = ", ".join(SELLER_FIELD_LABELS[name] for name in missing)
        raise Invalid(
            "An invoice to a business in France must print the seller's legal details: "
            f"fill in {names} in the company settings first.",
            code="legal_mentions_missing",
            fields={name: [_("Required on invoices to businesses in France.")] for name in missing},
        )


# What invoices print ---------------------------------------------------------------------


@dataclass(frozen=True)
class Mentions:
    """The legal lines of one invoice, already in its language."""

    seller: list[str]  # under the seller's address
    client: list[str]  # under the client's address
    terms: list[str]  # payment terms and other mentions, under the totals
    exemptions: list[str]  # one per exemption used on the invoice


def seller_name(settings: BusinessSettings) -> str:
    """The company name, followed by "EI" for an individual entrepreneur."""
    name = settings.company_name
    if settings.individual_entrepreneur and name and not name.endswith(" EI"):
        name = f"{name} EI"
    return name


def mentions(
    settings: BusinessSettings,
    client: Client,
    exemptions: set[str],
    l10n: Localiser,
    currency: str,
) -> Mentions:
    """The legal lines to print on an invoice of ``settings``' business to
    ``client`` (``exemptions``: those of its taxes). Outside France only the
    registration numbers that are set and the exemption wording."""
    _ = l10n.gettext
    seller: list[str] = []
    if not settings.individual_entrepreneur and settings.legal_form:
        if settings.share_capital:
            seller.append(
                _("{legal_form} with a share capital of {amount}").format(
                    legal_form=settings.legal_form,
                    amount=l10n.money(settings.share_capital, settings.currency or currency),
                )
            )
        else:
            seller.append(settings.legal_form)
    if settings.siren:
        registration = l10n.label_value("SIREN", settings.siren)
        if settings.rcs_city and not settings.individual_entrepreneur:
            registration += f" — RCS {settings.rcs_city}"
        seller.append(registration)
    if settings.siret:
        seller.append(l10n.label_value("SIRET", settings.siret))
    business = is_business(client)
    client_lines: list[str] = []
    if business and client.siren:
        client_lines.append(l10n.label_value("SIREN", client.siren))
    if business and client.tax_id:
        client_lines.append(l10n.label_value(_("VAT number"), client.tax_id))
    terms: list[str] = []
    if french(settings):
        terms.append(_("Category of operation: provision of services"))
        terms.append(
            settings.late_payment_penalty_text
            or _("Late payment penalties: three times the French legal interest rate.")
        )
        if business:
            terms.append(
                _("Fixed indemnity for recovery costs in case of late payment: {amount}").format(
                    amount=l10n.money(FR_RECOVERY_INDEMNITY_EUR_CENTS, "EUR")
                )
            )
        terms.append(settings.early_payment_discount_text or _("No discount for early payment."))
    return Mentions(
        seller=seller,
        client=client_lines,
        terms=terms,
        exemptions=[_(EXEMPTION_WORDING[kind]) for kind in EXEMPTIONS if kind in exemptions],
    )
