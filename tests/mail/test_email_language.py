"""An email is written in one language: the subject, the body, its button
and every placeholder (dates, amounts, payment methods) alike. Before, a
French invoice's email read "Hello Alice, Here is invoice ... issued on
31 janv. 2026 ... Pay invoice" with French dates in English sentences.

The messages are checked as queued in the outbox (what the deliverer sends
as is) and once through a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re

import pytest

from bridge.core import clock
from bridge.mail.catalog import KINDS
from bridge.mail.delivery import SmtpTransport, deliver_due
from tests.mail.conftest import issue, outbox
from tests.mail.smtp_server import SmtpServer

# Words of the English defaults that must not be left in another language.
ENGLISH = (
    "Hello",
    "Here is invoice",
    "issued on",
    "Amount due",
    "Due date",
    "Pay invoice",
    "Download",
    "Thank you",
    "from ",
    "Receipt",
    "received your payment",
    "See the invoice",
    "bank transfer",
    "Paid",
)
FRENCH = ("Bonjour", "Voici la facture", "Reste à payer", "Payer la facture", "150,00\u00a0€")
GERMAN = ("Hallo", "anbei die Rechnung", "Offener Betrag", "Rechnung bezahlen", "150,00\u00a0€")


def words_of(message) -> str:
    return "\n".join((message.subject, message.body_text, strip_tags(message.body_html)))


def strip_tags(page: str) -> str:
    body = page.split('class="content"', 1)[-1]
    return re.sub(r"<[^>]+>", " ", body)


def assert_one_language(message, expected: tuple[str, ...], language: str) -> None:
    text = words_of(message)
    for word in expected:
        assert word in text, (word, text)
    for word in ENGLISH:
        assert word not in text, (word, text)
    assert f'<html lang="{language}">' in message.body_html


@pytest.mark.parametrize(("language", "expected"), [("fr", FRENCH), ("de", GERMAN)])
def test_an_invoice_email_follows_the_invoice_language(shop, db, language, expected):
    """The business writes in English; this invoice is in another language."""
    api = shop["api"]
    draft = issue(shop, finalize=False)
    response = api.patch(f"/invoices/{draft['id']}", json={"language": language})
    assert response.status_code == 200, response.get_json()
    api.post(f"/invoices/{draft['id']}/finalize")
    (sent,) = outbox(db, "invoice_sent")
    assert_one_language(sent, expected, language)
    # The receipt too, with the payment method in the same language.
    response = api.post(
        f"/invoices/{draft['id']}/payments", json={"amount": 15000, "method": "bank_transfer"}
    )
    assert response.status_code == 201, response.get_json()
    (receipt,) = outbox(db, "payment_receipt")
    method = {"fr": "virement", "de": "Banküberweisung"}[language]
    assert_one_language(receipt, (expected[0], "150,00\u00a0€", method), language)
    # The agency's note is in the agency's (business) language: English.
    (note,) = outbox(db, "agency_payment_received")
    assert "bank transfer" in note.body_text and "€150.00" in note.body_text


def test_a_business_in_german_writes_every_client_email_in_german(shop, db):
    shop["api"].patch("/settings", json={"invoice_language": "de"})
    issue(shop)
    (sent,) = outbox(db, "invoice_sent")
    assert_one_language(sent, GERMAN, "de")
    assert sent.subject.startswith("Rechnung ")


def test_an_edited_template_is_sent_in_the_language_it_was_written_in(shop, db):
    """The agency's own words cannot be translated: an email of an edited
    template follows the business's language, placeholders included."""
    api = shop["api"]
    response = api.put(
        "/email-templates/invoice_sent",
        json={
            "subject": "Your invoice [[invoice_number]]",
            "body_html": "<p>Dear [[client_name]], [[total]] is due on [[due_date]].</p>",
        },
    )
    assert response.status_code == 200, response.get_json()
    draft = issue(shop, finalize=False)
    api.patch(f"/invoices/{draft['id']}", json={"language": "fr"})
    api.post(f"/invoices/{draft['id']}/finalize")
    (sent,) = outbox(db, "invoice_sent")
    assert "€150.00" in sent.body_text and "150,00" not in sent.body_text
    assert '<html lang="en">' in sent.body_html


@pytest.mark.parametrize("language", ["fr", "de"])
@pytest.mark.parametrize("key", list(KINDS))
def test_every_default_template_exists_in_every_language(key, language):
    subject, body_html, body_text = KINDS[key].defaults(language)
    english = KINDS[key].defaults("en")
    assert subject != english[0]
    assert body_html != english[1] and body_text != english[2]
    # Every placeholder of the English default is kept by the translation.
    for part, translated in zip(english, (subject, body_html, body_text), strict=True):
        assert sorted(re.findall(r"\[\[\w+\]\]", part)) == sorted(
            re.findall(r"\[\[\w+\]\]", translated)
        ), (key, language, translated)


def test_a_french_invoice_email_through_smtp(shop, db):
    """What the SMTP server receives is the queued message: French."""
    api = shop["api"]
    draft = issue(shop, finalize=False)
    api.patch(f"/invoices/{draft['id']}", json={"language": "fr"})
    api.post(f"/invoices/{draft['id']}/finalize")
    server = SmtpServer().start()
    try:
        smtp = SmtpTransport(
            "127.0.0.1", server.port, sender="billing@agency.example", security="none"
        )
        assert deliver_due(db, smtp, now=clock.now()).sent == 1
    finally:
        server.stop()
    (received,) = server.messages
    assert received["Subject"].startswith("Facture ")
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Bonjour" in text and "Payer la facture" in html and "Hello" not in text
