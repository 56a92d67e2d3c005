"""The Cross Industry Invoice (UN/CEFACT CII D16B) XML of an issued invoice or
credit note, profile EN 16931 (Factur-X "EN 16931", urn:cen.eu:en16931:2017).

Every amount is the one stored on the invoice, its lines and their taxes:
nothing is recomputed, so the XML says what the PDF says. A VAT breakdown
row is the sum of the stored line taxes of one category and rate.

What EN 16931 cannot carry is refused with ``Conflict`` (409,
``einvoice_unsupported``) rather than written wrong: a line with more than
one tax, an amount with more than two decimals (EN 16931 allows two: a
three-decimal currency such as KWD passes while its amounts end in 0), a
partial credit note on an invoice with several VAT rates (its split per
rate is not stored), a party without a country.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from bridge.billing import legal
from bridge.billing.business import get_settings, localiser
from bridge.core import money
from bridge.core.errors import Conflict
from bridge.core.l10n import Localiser
from bridge.models import BusinessSettings, Client, CreditNote, Invoice, InvoiceStatus

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
PROFILE = "urn:cen.eu:en16931:2017"
INVOICE, CREDIT_NOTE = "380", "381"
# "One" (UN/ECE rec. 20): quantities of services have no other unit here.
UNIT = "C62"

for _prefix, _uri in (("rsm", RSM), ("ram", RAM), ("udt", UDT), ("qdt", QDT)):
    ET.register_namespace(_prefix, _uri)


@dataclass(frozen=True)
class Category:
    """A VAT category of EN 16931 (UNTDID 5305) with its rate and the
    exemption reason it needs."""

    code: str  # S standard, Z zero rated, E exempt, AE reverse charge
    percentage_e4: int
    reason: str = ""
    reason_code: str = ""


@dataclass
class _Line:
    description: str
    quantity_e3: int
    net: int
    price: Decimal
    category: Category
    period: tuple[date, date] | None = None


def unsupported(message: str) -> Conflict:
    return Conflict(message, code="einvoice_unsupported")


def invoice_xml(session: Session, invoice: Invoice) -> bytes:
    """The CII XML of an issued invoice (type 380)."""
    if invoice.status == InvoiceStatus.DRAFT or not invoice.number:
        raise Conflict("A draft has no e-invoice: finalize it first.", code="invoice_not_issued")
    settings = get_settings(session)
    words = localiser(session, invoice.language)
    lines = [_invoice_line(line, words) for line in invoice.lines]
    return _document(
        settings,
        invoice.client,
        words,
        type_code=INVOICE,
        number=invoice.number,
        issue_date=invoice.issue_date,
        currency=invoice.currency,
        lines=lines,
        taxes=[
            (_category(tax.percentage_e4, tax.exemption, words), tax.amount)
            for line in invoice.lines
            for tax in line.taxes
        ],
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        paid=invoice.amount_paid,
        due_date=words.day(invoice.due_at) if invoice.due_at else None,
    )


def credit_note_xml(session: Session, note: CreditNote) -> bytes:
    """The CII XML of a credit note (type 381), naming the invoice it
    corrects. Its lines are the invoice's VAT groups: for a full credit,
    each with the invoice's own stored amounts; for a partial one, the
    note's stored subtotal and tax, which only fit an invoice of one rate."""
    invoice = note.invoice
    settings = get_settings(session)
    words = localiser(session, invoice.language)
    groups: dict[Category, list[int]] = {}
    for line in invoice.lines:
        category = _line_category(line, words)
        group = groups.setdefault(category, [0, 0])
        group[0] += line.net
        group[1] += line.tax
    if note.amount == invoice.total:
        rows = groups
    elif len(groups) == 1:
        rows = {next(iter(groups)): [note.subtotal, note.tax]}
    else:
        raise unsupported(
            "A partial credit note on an invoice with several VAT rates cannot be an "
            "EN 16931 e-invoice: its split per rate is not recorded. Credit the whole "
            "invoice, or one credit note per rate."
        )
    label = words.gettext("Credit on invoice {number}").format(number=invoice.number)
    lines = [
        _Line(label, 1000, net, Decimal(_amount(net, invoice.currency)), category)
        for category, (net, _tax) in rows.items()
    ]
    return _document(
        settings,
        invoice.client,
        words,
        type_code=CREDIT_NOTE,
        number=note.number,
        issue_date=note.issue_date,
        currency=note.currency,
        lines=lines,
        taxes=[(category, tax) for category, (_net, tax) in rows.items()],
        subtotal=note.subtotal,
        tax=note.tax,
        total=note.amount,
        # A refunded credit note is settled; otherwise it is owed to the client.
        paid=note.amount if note.refund_payment_id is not None else 0,
        due_date=None,
        corrected=(invoice.number, invoice.issue_date),
    )


# Lines and categories --------------------------------------------------------------


def _category(percentage_e4: int, exemption: str, words: Localiser) -> Category:
    if exemption == legal.FRANCHISE:
        return Category("E", 0, words.gettext(legal.EXEMPTION_WORDING[legal.FRANCHISE]))
    if exemption == legal.REVERSE_CHARGE:
        return Category(
            "AE", 0, words.gettext(legal.EXEMPTION_WORDING[legal.REVERSE_CHARGE]), "VATEX-EU-AE"
        )
    return Category("S" if percentage_e4 else "Z", percentage_e4)


def _line_category(line, words: Localiser) -> Category:
    if len(line.taxes) > 1:
        raise unsupported(
            "A line with more than one tax cannot be an EN 16931 e-invoice (one VAT rate a line)."
        )
    if not line.taxes:
        # TRANSLATORS: the reason of a line billed without VAT, in an e-invoice.
        return Category("E", 0, words.gettext("Not subject to VAT"))
    tax = line.taxes[0]
    return _category(tax.percentage_e4, tax.exemption, words)


def _invoice_line(line, words: Localiser) -> _Line:
    category = _line_category(line, words)
    exact = not line.discount and not any(tax.inclusive for tax in line.taxes)
    # The net price: the unit price when nothing changed it, else the
    # stored net amount per unit (a coupon's discount, an included tax).
    price = Decimal(line.unit_amount) if exact else Decimal(line.net) * 1000 / line.quantity_e3
    period = None
    if line.period_start and line.period_end:
        period = (words.day(line.period_start), words.day(line.period_end))
    return _Line(
        line.description,
        line.quantity_e3,
        line.net,
        price.scaleb(-money.exponent(line.invoice.currency)).quantize(Decimal("0.000001")),
        category,
        period,
    )


def _one_exempt_category(
    lines: list[_Line], taxes: list[tuple[Category, int]]
) -> tuple[list[_Line], list[tuple[Category, int]]]:
    """EN 16931 allows one "exempt" (E) VAT breakdown a document (BR-E-01):
    lines exempt for different reasons share one, naming every reason."""
    reasons = list(
        dict.fromkeys(line.category.reason for line in lines if line.category.code == "E")
    )
    if len(reasons) < 2:
        return lines, taxes
    merged = Category("E", 0, "; ".join(reasons))

    def one(category: Category) -> Category:
        return merged if category.code == "E" else category

    for line in lines:
        line.category = one(line.category)
    return lines, [(one(category), amount) for category, amount in taxes]


# The document --------------------------------------------------------------------------


def _amount(minor: int, currency: str) -> str:
    """An amount as EN 16931 writes it: at most two decimals."""
    value = money.to_decimal(minor, currency)
    if money.exponent(currency) > 2:
        rounded = value.quantize(Decimal("0.01"))
        if rounded != value:
            raise unsupported(
                f"EN 16931 writes amounts with at most two decimals: {value} {currency} "
                "cannot be written exactly."
            )
        value = rounded
    return f"{value:f}"


def _percent(percentage_e4: int) -> str:
    value = (Decimal(percentage_e4) / 10_000).normalize()
    return f"{value:f}"


def _date(parent: ET.Element, tag: str, day: date, ns: str = UDT) -> None:
    holder = ET.SubElement(parent, tag)
    ET.SubElement(holder, f"{{{ns}}}DateTimeString", format="102").text = day.strftime("%Y%m%d")


def _sub(parent: ET.Element, name: str, text: str | None = None, **attrs) -> ET.Element:
    element = ET.SubElement(parent, f"{{{RAM}}}{name}", attrs)
    if text is not None:
        element.text = text
    return element


def _party(parent: ET.Element, tag: str, name: str, owner, siren: str, vat: str) -> None:
    if not owner.country:
        raise unsupported(f"{name or 'A party'} has no country: an e-invoice needs one.")
    party = _sub(parent, tag)
    _sub(party, "Name", name)
    if siren:
        _sub(_sub(party, "SpecifiedLegalOrganization"), "ID", siren, schemeID="0002")
    address = _sub(party, "PostalTradeAddress")
    if owner.postal_code:
        _sub(address, "PostcodeCode", owner.postal_code)
    if owner.address_line1:
        _sub(address, "LineOne", owner.address_line1)
    if owner.address_line2:
        _sub(address, "LineTwo", owner.address_line2)
    if owner.city:
        _sub(address, "CityName", owner.city)
    _sub(address, "CountryID", owner.country)
    if vat:
        _sub(_sub(party, "SpecifiedTaxRegistration"), "ID", vat, schemeID="VA")
    elif siren and tag == "SellerTradeParty":
        # No VAT number (a franchise): the seller's tax registration is its SIREN.
        _sub(_sub(party, "SpecifiedTaxRegistration"), "ID", siren, schemeID="FC")


def _document(
    settings: BusinessSettings,
    client: Client,
    words: Localiser,
    *,
    type_code: str,
    number: str,
    issue_date: date,
    currency: str,
    lines: list[_Line],
    taxes: list[tuple[Category, int]],
    subtotal: int,
    tax: int,
    total: int,
    paid: int,
    due_date: date | None,
    corrected: tuple[str, date] | None = None,
) -> bytes:
    lines, taxes = _one_exempt_category(lines, taxes)
    root = ET.Element(f"{{{RSM}}}CrossIndustryInvoice")
    context = ET.SubElement(root, f"{{{RSM}}}ExchangedDocumentContext")
    _sub(_sub(context, "GuidelineSpecifiedDocumentContextParameter"), "ID", PROFILE)
    document = ET.SubElement(root, f"{{{RSM}}}ExchangedDocument")
    _sub(document, "ID", number)
    _sub(document, "TypeCode", type_code)
    _date(document, f"{{{RAM}}}IssueDateTime", issue_date)
    # The payment terms French law asks for, as notes and as the terms' text.
    mentions = legal.mentions(settings, client, set(), words, currency)
    for text in mentions.terms:
        note = _sub(document, "IncludedNote")
        _sub(note, "Content", text)
    transaction = ET.SubElement(root, f"{{{RSM}}}SupplyChainTradeTransaction")
    for position, line in enumerate(lines, 1):
        item = _sub(transaction, "IncludedSupplyChainTradeLineItem")
        _sub(_sub(item, "AssociatedDocumentLineDocument"), "LineID", str(position))
        _sub(_sub(item, "SpecifiedTradeProduct"), "Name", line.description)
        agreement = _sub(item, "SpecifiedLineTradeAgreement")
        _sub(
            _sub(agreement, "NetPriceProductTradePrice"),
            "ChargeAmount",
            f"{line.price.normalize():f}",
        )
        delivery = _sub(item, "SpecifiedLineTradeDelivery")
        _sub(
            delivery,
            "BilledQuantity",
            f"{money.quantity_decimal(line.quantity_e3):f}",
            unitCode=UNIT,
        )
        settlement = _sub(item, "SpecifiedLineTradeSettlement")
        line_tax = _sub(settlement, "ApplicableTradeTax")
        _sub(line_tax, "TypeCode", "VAT")
        _sub(line_tax, "CategoryCode", line.category.code)
        _sub(line_tax, "RateApplicablePercent", _percent(line.category.percentage_e4))
        if line.period:
            period = _sub(settlement, "BillingSpecifiedPeriod")
            _date(period, f"{{{RAM}}}StartDateTime", line.period[0])
            _date(period, f"{{{RAM}}}EndDateTime", line.period[1])
        summation = _sub(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _sub(summation, "LineTotalAmount", _amount(line.net, currency))

    agreement = _sub(transaction, "ApplicableHeaderTradeAgreement")
    _party(
        agreement,
        "SellerTradeParty",
        legal.seller_name(settings),
        settings,
        settings.siren,
        settings.tax_id,
    )
    _party(
        agreement,
        "BuyerTradeParty",
        client.company or client.name,
        client,
        client.siren,
        client.tax_id,
    )
    _sub(transaction, "ApplicableHeaderTradeDelivery")
    settlement = _sub(transaction, "ApplicableHeaderTradeSettlement")
    _sub(settlement, "InvoiceCurrencyCode", currency)
    bases: dict[Category, int] = {}
    for line in lines:
        bases[line.category] = bases.get(line.category, 0) + line.net
    amounts: dict[Category, int] = {category: 0 for category in bases}
    for category, amount in taxes:
        amounts[category] = amounts.get(category, 0) + amount
    for category, basis in bases.items():
        breakdown = _sub(settlement, "ApplicableTradeTax")
        _sub(breakdown, "CalculatedAmount", _amount(amounts[category], currency))
        _sub(breakdown, "TypeCode", "VAT")
        if category.reason:
            _sub(breakdown, "ExemptionReason", category.reason)
        _sub(breakdown, "BasisAmount", _amount(basis, currency))
        _sub(breakdown, "CategoryCode", category.code)
        if category.reason_code:
            _sub(breakdown, "ExemptionReasonCode", category.reason_code)
        _sub(breakdown, "RateApplicablePercent", _percent(category.percentage_e4))
    if due_date is not None or mentions.terms:
        terms = _sub(settlement, "SpecifiedTradePaymentTerms")
        if mentions.terms:
            _sub(terms, "Description", " ".join(mentions.terms))
        if due_date is not None:
            _date(terms, f"{{{RAM}}}DueDateDateTime", due_date)
    summation = _sub(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _sub(summation, "LineTotalAmount", _amount(subtotal, currency))
    _sub(summation, "TaxBasisTotalAmount", _amount(subtotal, currency))
    _sub(summation, "TaxTotalAmount", _amount(tax, currency), currencyID=currency)
    _sub(summation, "GrandTotalAmount", _amount(total, currency))
    _sub(summation, "TotalPrepaidAmount", _amount(paid, currency))
    _sub(summation, "DuePayableAmount", _amount(total - paid, currency))
    if corrected is not None:
        reference = _sub(settlement, "InvoiceReferencedDocument")
        _sub(reference, "IssuerAssignedID", corrected[0])
        _date(reference, f"{{{RAM}}}FormattedIssueDateTime", corrected[1], QDT)
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True)
