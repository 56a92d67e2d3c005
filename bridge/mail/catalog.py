"""Every email the bridge sends: its key, who receives it, the placeholders
it offers, and its default subject. Default bodies are files:
``templates/emails/<key>.html`` (the HTML body, placed in the layout) and
``templates/emails/<key>.txt`` (the text alternative), Jinja templates
whose words come from the gettext catalogues (``_()``), like the subjects
(marked ``N_`` here): ``EmailKind.defaults(language)`` writes them, with
their ``[[placeholders]]``, in one language."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import bridge_templates
import jinja2

from bridge.core.l10n import Localiser

EMAIL_DIR = Path(bridge_templates.__file__).resolve().parent / "emails"

CLIENT = "client"
AGENCY = "agency"


def N_(message: str) -> str:  # noqa: N802  (gettext's name for "mark only")
    """Marks a default subject for the catalogues; translated when used."""
    return message


# name -> (description, sample value for previews)
PLACEHOLDERS: dict[str, tuple[str, str]] = {
    "client_name": (N_("The client's name"), "Ada Lovelace"),
    "client_email": (N_("The client's email address"), "ada@example.com"),
    "client_company": (N_("The client's company"), "Analytical Engines Ltd"),
    "company_name": (N_("Your company name (business settings)"), "Pixel & Press Agency"),
    "company_email": (N_("Your email address (business settings)"), "billing@agency.example"),
    "company_phone": (N_("Your phone number (business settings)"), "+33 1 23 45 67 89"),
    "company_website": (N_("Your website (business settings)"), "https://agency.example"),
    "invoice_number": (N_("The invoice number"), "INV-2026-00042"),
    "total": (N_("The invoice total, tax included"), "€1,200.00"),
    "amount_due": (N_("What is left to pay on the invoice"), "€1,200.00"),
    "issue_date": (N_("The date the invoice was issued"), "Nov 25, 2026"),
    "due_date": (N_("The invoice's due date"), "Dec 9, 2026"),
    "pay_link": (N_("The invoice's page: see, pay, download"), "https://billing.example/i/sample"),
    "pdf_link": (N_("The invoice PDF"), "https://billing.example/i/sample/pdf"),
    "amount_paid": (N_("The amount of this payment"), "€1,200.00"),
    "payment_date": (N_("The date of the payment"), "Nov 25, 2026"),
    "payment_method": (N_("How it was paid (card, bank transfer...)"), "Visa •••• 4242"),
    "attempt": (N_("Which charge attempt this was (1, 2...)"), "2"),
    "retry_date": (N_("When the card is charged again (empty: no more retries)"), "Nov 28, 2026"),
    "failure_reason": (
        N_("Why the bank declined the payment"),
        "Your card has insufficient funds.",
    ),
    "days_overdue": (N_("Days since the due date"), "7"),
    "plan_name": (N_("The subscribed product and plan"), "Website maintenance — Monthly"),
    "site_name": (N_("The site the subscription is for (may be empty)"), "ada.example"),
    "amount": (N_("The subscription's price per period, before tax"), "€90.00"),
    "renewal_date": (N_("The date the subscription renews"), "Dec 1, 2026"),
    "end_date": (N_("The date the subscription ended or ends"), "Dec 1, 2026"),
    "pause_start": (N_("The date a pause starts (the end of the paid period)"), "Jul 1, 2026"),
    "resume_date": (
        N_('The date a pause ends, or "further notice" when it has none'),
        "Sep 1, 2026",
    ),
    "period_end": (N_("The end of the period that starts on resuming"), "Oct 1, 2026"),
    "invitation_link": (
        N_("The link that accepts the invitation"),
        "https://billing.example/invite",
    ),
    "accepted_date": (N_("When the client accepted"), "Nov 25, 2026"),
    "user_name": (N_("The person's name, else their email"), "Olivia Owner"),
    "difference_count": (N_("How many differences the reconciliation found"), "2"),
    "period_start": (N_("The first day the reconciliation compared"), "Nov 3, 2026"),
    "differences": (
        N_("The differences, one a line, each with what the bridge can do"),
        "- payment_missing_here pi_3Sample (invoice #42): succeeded at Stripe for invoice "
        "INV-2026-00042, no settled payment here [safe: record_payment]",
    ),
    "reset_link": (
        N_("The link that sets a new password (valid one hour, once)"),
        "https://billing.example/password-reset/sample",
    ),
}

_CLIENT = (
    "client_name",
    "client_email",
    "client_company",
    "company_name",
    "company_email",
    "company_phone",
    "company_website",
)
_INVOICE = (
    "invoice_number",
    "total",
    "amount_due",
    "issue_date",
    "due_date",
    "pay_link",
    "pdf_link",
)
_SUBSCRIPTION = ("plan_name", "site_name", "amount")
_AGENCY = ("company_name", "client_name", "client_email", "client_company")


@dataclass(frozen=True)
class EmailKind:
    key: str
    audience: str  # CLIENT (branded) or AGENCY (plain, to the business email)
    title: str  # what triggers it, for people
    placeholders: tuple[str, ...]
    subject: str  # the default subject

    def defaults(self, language: str) -> tuple[str, str, str]:
        """The default subject, HTML body and text body in ``language``."""
        return _defaults(self.key, self.subject, language)


KINDS: dict[str, EmailKind] = {
    kind.key: kind
    for kind in (
        EmailKind(
            "client_invitation",
            CLIENT,
            N_("A client is invited to their billing account"),
            (*_CLIENT, "invitation_link"),
            N_("[[company_name]] invites you to your billing account"),
        ),
        EmailKind(
            "client_password_reset",
            CLIENT,
            N_("A client's person asked to reset their portal password (to that person)"),
            (*_CLIENT, "user_name", "reset_link"),
            N_("[[user_name]], reset your password for [[company_name]]"),
        ),
        EmailKind(
            "invoice_sent",
            CLIENT,
            N_("An invoice is issued (finalized) and sent to the client"),
            (*_CLIENT, *_INVOICE),
            N_("Invoice [[invoice_number]] from [[company_name]]"),
        ),
        EmailKind(
            "payment_receipt",
            CLIENT,
            N_("A payment settles an invoice"),
            (*_CLIENT, *_INVOICE, "amount_paid", "payment_date", "payment_method"),
            N_("Receipt for invoice [[invoice_number]]"),
        ),
        EmailKind(
            "payment_failed",
            CLIENT,
            N_("A card payment of an invoice failed"),
            (*_CLIENT, *_INVOICE, "attempt", "retry_date", "failure_reason"),
            N_("Payment of invoice [[invoice_number]] failed"),
        ),
        EmailKind(
            "action_required",
            CLIENT,
            N_("The bank asks the client to confirm a card payment (3-D Secure)"),
            (*_CLIENT, *_INVOICE, "attempt"),
            N_("Please confirm the payment of invoice [[invoice_number]]"),
        ),
        EmailKind(
            "upcoming_renewal",
            CLIENT,
            N_("A subscription renews soon"),
            (*_CLIENT, *_SUBSCRIPTION, "renewal_date"),
            N_("Your [[plan_name]] subscription renews on [[renewal_date]]"),
        ),
        EmailKind(
            "overdue_reminder",
            CLIENT,
            N_("An invoice is past its due date"),
            (*_CLIENT, *_INVOICE, "days_overdue"),
            N_("Reminder: invoice [[invoice_number]] is overdue"),
        ),
        EmailKind(
            "subscription_cancelled",
            CLIENT,
            N_("A subscription is cancelled"),
            (*_CLIENT, *_SUBSCRIPTION, "end_date"),
            N_("Your [[plan_name]] subscription is cancelled"),
        ),
        EmailKind(
            "subscription_paused",
            CLIENT,
            N_("A subscription is paused"),
            (*_CLIENT, *_SUBSCRIPTION, "pause_start", "resume_date"),
            N_("Your [[plan_name]] subscription is paused"),
        ),
        EmailKind(
            "subscription_resumed",
            CLIENT,
            N_("A paused subscription resumes"),
            (*_CLIENT, *_SUBSCRIPTION, "resume_date", "period_end"),
            N_("Your [[plan_name]] subscription has resumed"),
        ),
        EmailKind(
            "subscription_expired",
            CLIENT,
            N_("A subscription used up its billing cycles"),
            (*_CLIENT, *_SUBSCRIPTION, "end_date"),
            N_("Your [[plan_name]] subscription has ended"),
        ),
        EmailKind(
            "agency_payment_received",
            AGENCY,
            N_("A client's payment settled an invoice (to the agency)"),
            (
                *_AGENCY,
                "invoice_number",
                "total",
                "amount_paid",
                "payment_date",
                "payment_method",
                "pay_link",
            ),
            N_("Payment received: [[client_name]], invoice [[invoice_number]]"),
        ),
        EmailKind(
            "agency_payment_failed",
            AGENCY,
            N_("A client's card payment failed (to the agency)"),
            (
                *_AGENCY,
                "invoice_number",
                "amount_due",
                "attempt",
                "retry_date",
                "failure_reason",
                "pay_link",
            ),
            N_("Payment failed: [[client_name]], invoice [[invoice_number]]"),
        ),
        EmailKind(
            "agency_subscription_behind",
            AGENCY,
            N_("A subscription missed renewals and is held by the renew job (to the agency)"),
            (*_AGENCY, *_SUBSCRIPTION, "renewal_date"),
            N_("Renewals on hold: [[client_name]], [[plan_name]]"),
        ),
        EmailKind(
            "agency_invitation_accepted",
            AGENCY,
            N_("A client accepted their invitation (to the agency)"),
            (*_AGENCY, "accepted_date"),
            N_("[[client_name]] accepted your invitation"),
        ),
        EmailKind(
            "agency_reconciliation",
            AGENCY,
            N_("The daily reconciliation found differences with Stripe (to the agency)"),
            ("company_name", "difference_count", "period_start", "differences"),
            N_("Stripe reconciliation: [[difference_count]] differences to check"),
        ),
        EmailKind(
            "staff_password_reset",
            AGENCY,
            N_("A staff user asked to reset their Hub password (to that user)"),
            ("company_name", "user_name", "reset_link"),
            N_("[[user_name]], reset your Billing Bridge password"),
        ),
    )
}


def sample_values(kind: EmailKind, business: dict[str, str] | None = None) -> dict[str, str]:
    """Values for previews and test messages: the business's own details
    where they are filled in (``business``), samples for the rest."""
    values = {name: PLACEHOLDERS[name][1] for name in kind.placeholders}
    for name, value in (business or {}).items():
        if name in values and value:
            values[name] = value
    return values


@cache
def _defaults(key: str, subject: str, language: str) -> tuple[str, str, str]:
    l10n = Localiser(language)
    context = l10n.template_context()
    return (
        l10n.gettext(subject),
        _environment().get_template(f"{key}.html").render(context),
        _environment().get_template(f"{key}.txt").render(context),
    )


@cache
def _environment() -> jinja2.Environment:
    # Not autoescaped: the defaults hold only the catalogues' words (ours)
    # and [[placeholders]], whose values are escaped when they are filled in
    # (bridge.mail.placeholders).
    return jinja2.Environment(  # noqa: S701
        loader=jinja2.FileSystemLoader(str(EMAIL_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
