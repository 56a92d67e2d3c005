"""The words printed on invoice PDFs, in the invoice languages (English
and French). Dates and amounts are not here: Babel writes them for the
language (``bridge.pdf.render``)."""

from __future__ import annotations

LANGUAGES = ("en", "fr")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "invoice_number": "Invoice number",
        "issue_date": "Issue date",
        "due_date": "Due date",
        "paid_on": "Paid on",
        "voided_on": "Voided on",
        "from": "From",
        "bill_to": "Bill to",
        "details": "Details",
        "tax_id": "Tax ID",
        "description": "Description",
        "quantity": "Qty",
        "unit_price": "Unit price",
        "amount": "Amount",
        "subtotal": "Subtotal",
        "included": "included",
        "total": "Total",
        "amount_paid": "Amount paid",
        "refunded": "Refunded",
        "amount_due": "Amount due",
        "note": "Note",
        "page": "Page",
        "stamp_paid": "PAID",
        "stamp_void": "VOID",
        "stamp_draft": "DRAFT",
        "stamp_sample": "SAMPLE",
        # "Label: value", as the language punctuates it.
        "label_value": "{label}: {value}",
        # The sample invoice of "Preview sample".
        "sample_client": "Sample Client",
        "sample_company": "Example Company Ltd",
        "sample_address": "1 Example Street",
        "sample_city": "Springfield",
        "sample_line_recurring": "Website maintenance — Monthly",
        "sample_line_one_time": "Website redesign",
        "sample_tax": "VAT",
        "sample_text": "Sample text",
        "sample_note": "Thank you for your business.",
    },
    "fr": {
        "invoice": "Facture",
        "invoice_number": "Numéro de facture",
        "issue_date": "Date d’émission",
        "due_date": "Date d’échéance",
        "paid_on": "Payée le",
        "voided_on": "Annulée le",
        "from": "De",
        "bill_to": "Facturé à",
        "details": "Détails",
        "tax_id": "N° TVA",
        "description": "Description",
        "quantity": "Qté",
        "unit_price": "Prix unitaire",
        "amount": "Montant",
        "subtotal": "Sous-total",
        "included": "incluse",
        "total": "Total",
        "amount_paid": "Montant payé",
        "refunded": "Remboursé",
        "amount_due": "Reste à payer",
        "note": "Remarque",
        "page": "Page",
        "stamp_paid": "PAYÉE",
        "stamp_void": "ANNULÉE",
        "stamp_draft": "BROUILLON",
        "stamp_sample": "EXEMPLE",
        # French sets a (no-break) space before a colon.
        "label_value": "{label}\u00a0: {value}",
        "sample_client": "Client Exemple",
        "sample_company": "Société Exemple SARL",
        "sample_address": "1 rue de l’Exemple",
        "sample_city": "Lyon",
        "sample_line_recurring": "Maintenance du site — Mensuel",
        "sample_line_one_time": "Refonte du site",
        "sample_tax": "TVA",
        "sample_text": "Texte d’exemple",
        "sample_note": "Merci pour votre confiance.",
    },
}


def language_of(code: str | None) -> str:
    """One of ``LANGUAGES`` for a language code ("fr-CA", "fr_FR" -> "fr"),
    English for anything else."""
    base = (code or "").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else "en"
