"""The hosted invoice page's words, in the invoice languages (English and
French), and dates and amounts written for the invoice's language."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from bridge.core.money import format_amount

LANGUAGES = ("en", "fr")

TEXT: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "issued": "Issued",
        "due": "Due",
        "paid_on": "Paid on",
        "period": "Period",
        "bill_to": "Bill to",
        "from": "From",
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
        "status_open": "Payment due",
        "status_paid": "Paid",
        "status_void": "Void",
        "status_uncollectible": "Uncollectible",
        "pay": "Pay",
        "pay_title": "Pay this invoice",
        "card_details": "Card details",
        "card_note": "Your card details go directly to our payment processor, Stripe; "
        "the card is saved for this account's future payments.",
        "paying": "Processing…",
        "paid_message": "Thank you: this invoice is paid.",
        "void_message": "This invoice was cancelled: there is nothing to pay.",
        "uncollectible_message": "This invoice is closed. Please contact us about it.",
        "processing_message": "A payment for this invoice is being processed. "
        "This page shows the result once it is confirmed.",
        "action_title": "Your bank asks you to confirm a payment",
        "action_text": "The payment of this invoice with your saved card needs your "
        "confirmation (3-D Secure).",
        "action_button": "Confirm the payment",
        "action_other_card": "Or pay with another card:",
        "failed_previous": "The last attempt to charge your card failed:",
        "offline_title": "How to pay",
        "offline_other": "Other ways to pay",
        "offline_none": "Please contact us to arrange payment.",
        "result_succeeded": "Payment received. Thank you!",
        "result_processing": "Your payment is being processed. This page shows the "
        "result once it is confirmed.",
        "result_failed": "The payment failed.",
        "result_error": "Something went wrong. Nothing was charged; please try again.",
        "download_pdf": "Download PDF",
        "not_found_title": "Invoice not found",
        "not_found_text": "This link is not valid. Please use the link from your "
        "invoice email, or contact whoever sent it.",
        "footer_secure": "Secure payment by Stripe",
    },
    "fr": {
        "invoice": "Facture",
        "issued": "Émise le",
        "due": "Échéance",
        "paid_on": "Payée le",
        "period": "Période",
        "bill_to": "Facturé à",
        "from": "De",
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
        "status_open": "À payer",
        "status_paid": "Payée",
        "status_void": "Annulée",
        "status_uncollectible": "Irrécouvrable",
        "pay": "Payer",
        "pay_title": "Payer cette facture",
        "card_details": "Carte bancaire",
        "card_note": "Les données de votre carte sont transmises directement à notre "
        "prestataire de paiement, Stripe ; la carte est enregistrée pour les "
        "prochains paiements de ce compte.",
        "paying": "Traitement…",
        "paid_message": "Merci : cette facture est payée.",
        "void_message": "Cette facture a été annulée : il n’y a rien à payer.",
        "uncollectible_message": "Cette facture est close. Merci de nous contacter à son sujet.",
        "processing_message": "Un paiement de cette facture est en cours de traitement. "
        "Cette page affichera le résultat une fois confirmé.",
        "action_title": "Votre banque demande de confirmer un paiement",
        "action_text": "Le paiement de cette facture avec votre carte enregistrée doit "
        "être confirmé (3-D Secure).",
        "action_button": "Confirmer le paiement",
        "action_other_card": "Ou payez avec une autre carte :",
        "failed_previous": "La dernière tentative de paiement par carte a échoué :",
        "offline_title": "Comment payer",
        "offline_other": "Autres moyens de paiement",
        "offline_none": "Merci de nous contacter pour convenir du paiement.",
        "result_succeeded": "Paiement reçu. Merci !",
        "result_processing": "Votre paiement est en cours de traitement. Cette page "
        "affichera le résultat une fois confirmé.",
        "result_failed": "Le paiement a échoué.",
        "result_error": "Une erreur est survenue. Rien n’a été débité ; veuillez réessayer.",
        "download_pdf": "Télécharger le PDF",
        "not_found_title": "Facture introuvable",
        "not_found_text": "Ce lien n’est pas valide. Utilisez le lien de l’e-mail de "
        "votre facture, ou contactez son expéditeur.",
        "footer_secure": "Paiement sécurisé par Stripe",
    },
}


def language_of(code: str | None) -> str:
    """One of ``LANGUAGES`` for an invoice's language ("fr-CA" -> "fr"),
    English when unknown."""
    base = (code or "en").replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else "en"


class Words:
    """What a template needs to write for people in one language."""

    def __init__(self, language: str, tz: ZoneInfo | None = None):
        self.language = language_of(language)
        # The business time zone: instants are dated on its wall clock.
        self.tz = tz or ZoneInfo("UTC")
        self.text = TEXT[self.language]

    def __getitem__(self, key: str) -> str:
        return self.text[key]

    def money(self, amount: int, currency: str) -> str:
        return format_amount(amount, currency, self.language)

    def date(self, value: datetime | date | None) -> str:
        """A calendar date as it is; an instant as its date in the business zone."""
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.tz).date()
        return format_date(value, format="medium", locale=self.language)
