"""The portal's home: what is due now (Pay links, overdue, the bank asking
for confirmation, the total) and what renews next; for a role without
billing, a welcome only."""

from __future__ import annotations

from bridge.models.invoices import Invoice, PaymentState
from tests.integration.test_invitations import accept, invite, link_token, mails
from tests.portal.billing import (
    ask_bank_confirmation,
    give_role_without_billing,
    invoice_of,
    make_overdue,
    rows,
)
from tests.portal.conftest import Portal


def test_the_home_lists_the_unpaid_invoices_with_their_pay_links_and_total(
    db, shop, portal, second_client
):
    first = invoice_of(db, shop, shop.client_id)
    second = invoice_of(db, shop, shop.client_id)
    invoice_of(db, shop, shop.client_id, "paid")
    invoice_of(db, shop, shop.client_id, "void")
    invoice_of(db, shop, shop.client_id, "draft")
    theirs = invoice_of(db, shop, second_client)
    page = portal.get("/portal/")
    assert page.status_code == 200
    text = page.data.decode()
    assert "Hello Alice Martin" in text
    assert rows(page.data, "pay-") == [f"pay-{first.id}", f"pay-{second.id}"]
    assert f'id="pay-{first.id}" href="/i/{first.token}"' in text
    assert theirs.number not in text and theirs.token not in text
    # Each build + 2 hostings with VAT: the total is the two amounts due.
    assert 'id="total-due-EUR"' in text
    assert "Nothing to pay" not in text


def test_an_overdue_invoice_says_so(db, shop, portal):
    late = invoice_of(db, shop, shop.client_id)
    make_overdue(db, late.id)
    text = portal.get("/portal/").data.decode()
    assert "Overdue since" in text


def test_a_payment_waiting_for_the_bank_asks_for_confirmation(db, shop, portal):
    waiting = invoice_of(db, shop, shop.client_id)
    ask_bank_confirmation(db, waiting.id)
    text = portal.get("/portal/").data.decode()
    assert "Your bank asks you to confirm this payment." in text
    assert f'id="confirm-{waiting.id}" href="/i/{waiting.token}"' in text
    assert f'id="pay-{waiting.id}"' not in text


def test_a_payment_being_processed_is_not_offered_again(db, shop, portal):
    processing = invoice_of(db, shop, shop.client_id)
    with db.session() as session:
        session.get(Invoice, processing.id).payment_state = PaymentState.PROCESSING
    text = portal.get("/portal/").data.decode()
    assert "Your payment is being processed." in text
    assert f'id="processing-{processing.id}" href="/i/{processing.token}"' in text
    assert f'id="pay-{processing.id}"' not in text


def test_nothing_due_and_nothing_renewing_say_so(db, shop, portal):
    invoice_of(db, shop, shop.client_id, "draft")
    text = portal.get("/portal/").data.decode()
    assert "Nothing to pay. Thank you!" in text
    assert "No renewal coming up." in text
    assert 'id="pay-' not in text


def test_the_next_renewals_name_the_plan_date_and_amount(db, shop, portal, second_client):
    invoice_of(db, shop, shop.client_id, "paid")  # starts the hosting subscription
    invoice_of(db, shop, second_client, "paid")
    page = portal.get("/portal/")
    ids = rows(page.data, "renewal-")
    assert len(ids) == 1  # the build is a one-off; Bob's hosting is not Alice's
    text = page.data.decode()
    assert "No renewal coming up." not in text
    assert "Renews on" in text


def test_a_role_without_billing_sees_a_welcome_and_no_money(db, shop, portal):
    invoice_of(db, shop, shop.client_id)
    invoice_of(db, shop, shop.client_id, "paid")
    give_role_without_billing(db, shop.client_id)
    page = portal.get("/portal/")
    assert page.status_code == 200
    text = page.data.decode()
    assert "Welcome to your account with Pixel &amp; Pine Studio." in text
    assert 'id="pay-' not in text and "€" not in text and "To pay now" not in text
    assert 'href="/portal/invoices"' not in text
    assert portal.get("/portal/invoices").status_code == 403


def test_the_home_speaks_french(db, shop, portal):
    late = invoice_of(db, shop, shop.client_id)
    make_overdue(db, late.id)
    switched = portal.post("/portal/language", {"language": "fr", "next": "/portal/"})
    assert switched.status_code == 302
    text = portal.get("/portal/").data.decode()
    assert "Bonjour Alice Martin" in text
    assert "À payer maintenant" in text
    assert "En retard depuis" in text


def test_after_accepting_an_invitation_the_home_shows_the_invoice_to_pay(client, db, shop):
    waiting = invoice_of(db, shop, shop.client_id)
    invite(db, shop.client_id)
    [message] = mails(db, "client_invitation")
    response = accept(client, link_token(message), name="Alice Martin")
    assert response.headers["Location"] == "/portal/"
    text = Portal(client).get("/portal/").data.decode()
    assert waiting.number in text
    assert f'id="pay-{waiting.id}" href="/i/{waiting.token}"' in text
    activity = Portal(client).get("/portal/activity").data.decode()
    assert "Alice Martin joined the account" in activity
