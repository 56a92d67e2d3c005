"""A client's whole journey through the portal in Debian's Chromium, paying
through localstripe's stand-in for Stripe.js (SPEC 3 and 11, issue 13):

staff invite the client from the API -> the invitation email arrives in
the mail folder (the scheduler's ``deliver_mail`` job, folder transport)
-> the person opens its link, sets their name and password -> the portal's
home, logged in, with the unpaid invoice and its *Pay* link -> the hosted
page, paid with 4242 4242 4242 4242 -> the invoice paid on the portal, the
subscription active -> the card replaced by a 3-D Secure card on the
payment method page -> the next renewal (the renew job, its clock moved
past the period's end) asks for authentication; the portal links it and
the person completes it on the hosted page -> with
``portal_client_can_cancel`` on, *Cancel at period end*, and the
subscription says when it ends.

The app runs in a real WSGI server on loopback over a migrated SQLite
database. Screenshots of each page go to ``BRIDGE_SCREENSHOTS`` when set."""

from __future__ import annotations

import email
import re
from datetime import timedelta
from email import policy as email_policy
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # a browser and localstripe

import requests  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bridge.billing import clients  # noqa: E402
from bridge.mail.delivery import FolderTransport  # noqa: E402
from bridge.models import (  # noqa: E402
    Client,
    Invoice,
    InvoiceStatus,
    PaymentState,
    Subscription,
    SubscriptionStatus,
)
from scheduler.jobs import JobContext, run_job  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.e2e.test_hosted_page_browser import (  # noqa: E402, F401  (fixtures)
    THREE_D_SECURE,
    VISA,
    WAIT_MS,
    Site,
    browser,
    card_app,
    complete_3d_secure,
    expect_paid,
    localstripe,
    type_card,
)
from tests.hub.test_hub_browser import expect, shots  # noqa: E402, F401  (fixture)

PERSON_NAME = "Alice Martin"
PASSWORD = "plum orbit lantern cactus"  # noqa: S105  (a test password)


@pytest.fixture(scope="module")
def site(localstripe, sqlite_template, tmp_path_factory):  # noqa: F811
    """The bridge on loopback: Stripe at localstripe, mail to a folder."""
    folder = tmp_path_factory.mktemp("portal-journey")
    app = card_app(localstripe, sqlite_template, folder, MAIL_FOLDER=str(folder / "mail"))
    with LiveServer(app) as server:
        app.extensions["bridge.db"].set_public_url(server.url)
        site = Site(app, server.url)
        site.mail_folder = folder / "mail"
        with site.db.session() as s:
            client = s.get(Client, site.shop.client_id)
            box = app.extensions["bridge.secret_box"]
            made, _secret = clients.create_site(
                s, box, client, name="martin-bakery.example", url="https://martin-bakery.example"
            )
            site.site_id = made.id
        site.jobs = JobContext(
            database=site.db,
            box=app.extensions["bridge.secret_box"],
            stripe_api_base=localstripe.url,
            mail_transport=FolderTransport(site.mail_folder, sender="billing@pixelpine.example"),
        )
        yield site
    app.extensions["bridge.db"].dispose()


def api(site, method: str, path: str, **kwargs) -> requests.Response:
    """A call to the REST API with the staff token."""
    return requests.request(
        method,
        f"{site.url}/api/v1{path}",
        headers={"Authorization": f"Bearer {site.token}"},
        timeout=10,
        **kwargs,
    )


def arrived(site, to: str) -> list[email.message.EmailMessage]:
    """The emails to ``to`` delivered to the mail folder so far."""
    run_job(site.jobs, "deliver_mail")
    messages = [
        email.message_from_bytes(path.read_bytes(), policy=email_policy.default)
        for path in sorted(site.mail_folder.glob("*.eml"))
    ]
    return [m for m in messages if m["To"].addresses[0].addr_spec == to]


def snap(page, folder: Path, name: str) -> None:
    page.screenshot(path=folder / f"portal-journey-{name}.png", full_page=True)


def test_invited_client_pays_replaces_the_card_and_cancels(browser, site, shots):  # noqa: F811
    invoice = site.invoice(site_id=site.site_id)
    with site.db.session() as s:
        client_email = s.get(Client, site.shop.client_id).email

    # Staff invite the client from the API; the email arrives.
    response = api(site, "POST", f"/clients/{site.shop.client_id}/invite")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "pending"
    (invitation,) = [m for m in arrived(site, client_email) if "invit" in m["Subject"].lower()]
    text = invitation.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"https?://\S+/invitations/[A-Za-z0-9_-]+", text).group(0)
    assert link.startswith(site.url)

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    # The person sets their name and password and lands on their portal.
    page.goto(link)
    expect(page.locator("h1")).to_have_text("Set up your account")
    snap(page, shots, "01-invitation")
    page.fill("#name", PERSON_NAME)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/portal/")
    expect(page.locator("h1")).to_contain_text(PERSON_NAME)
    expect(page.locator(".portal-person")).to_have_text(PERSON_NAME)

    # The home shows the unpaid invoice with its Pay link to the hosted page.
    pay = page.locator(f"#pay-{invoice.id}")
    expect(pay).to_have_attribute("href", re.compile(re.escape(invoice.path) + "$"))
    expect(page.locator(f"#due-{invoice.id}")).to_contain_text("€1,557.60")
    snap(page, shots, "02-home-unpaid")
    pay.click()

    # Paid on the hosted page with the test card; the card is saved.
    page.locator("#card-element input[placeholder=number]").wait_for(timeout=WAIT_MS)
    type_card(page, VISA)
    page.locator("#pay-button").click()
    expect_paid(page, site, invoice)
    snap(page, shots, "03-hosted-page-paid")
    with site.db.session() as s:
        assert s.get(Client, site.shop.client_id).card_last4 == "4242"
        (subscription,) = s.scalars(
            select(Subscription).where(Subscription.client_id == site.shop.client_id)
        ).all()
        assert subscription.status == SubscriptionStatus.ACTIVE
        subscription_id = subscription.id

    # Back in the portal: nothing left to pay, the invoice paid, the
    # subscription active on its site, no way to cancel (the agency's setting).
    page.goto(f"{site.url}/portal/")
    expect(page.locator("#nothing-due")).to_be_visible()
    expect(page.locator(f"#renewal-{subscription_id}")).to_contain_text("martin-bakery.example")
    page.click("nav.portal-nav >> text=Invoices")
    page.wait_for_url(f"{site.url}/portal/invoices")
    expect(page.locator(f"#invoice-{invoice.id} .status")).to_have_text("Paid")
    expect(page.locator(f"#invoice-{invoice.id}")).to_contain_text("by card")
    snap(page, shots, "04-invoices-paid")
    page.click("nav.portal-nav >> text=Subscriptions")
    page.wait_for_url(f"{site.url}/portal/subscriptions")
    row = page.locator(f"#subscription-{subscription_id}")
    expect(row.locator(".status")).to_have_text("Active")
    expect(row.locator(".plan-site")).to_have_text("martin-bakery.example")
    expect(row.locator(".plan-renewal")).to_be_visible()
    expect(page.locator(f"#cancel-{subscription_id}")).to_have_count(0)
    expect(page.locator("#contact-to-cancel")).to_be_visible()
    snap(page, shots, "05-subscriptions-active")

    # The card replaced by a 3-D Secure card, authenticated in the browser.
    page.click("nav.portal-nav >> text=Payment method")
    page.wait_for_url(f"{site.url}/portal/payment-method")
    expect(page.locator("#saved-card")).to_contain_text("4242")
    page.click("#replace-card-button")
    page.locator("#card-element input[placeholder=number]").wait_for(timeout=WAIT_MS)
    type_card(page, THREE_D_SECURE)
    snap(page, shots, "06-payment-method-replace")
    page.click("#save-card-button")
    complete_3d_secure(page)
    page.wait_for_url(f"{site.url}/portal/payment-method?saved=1", timeout=WAIT_MS)
    expect(page.locator("#card-saved")).to_be_visible()
    expect(page.locator("#saved-card")).to_contain_text("3184")
    snap(page, shots, "07-payment-method-replaced")
    with site.db.session() as s:
        assert s.get(Client, site.shop.client_id).card_last4 == "3184"
        period_end = s.get(Subscription, subscription_id).current_period_end

    # The next renewal, its clock past the period's end: charged off-session
    # to the new card, whose bank wants the cardholder.
    record = run_job(site.jobs, "renew", period_end + timedelta(minutes=1))
    assert record["ok"], record
    assert record["counts"]["renewed"] == 1, record
    with site.db.session() as s:
        renewal = s.scalar(select(Invoice).where(Invoice.subscription_id == subscription_id))
        assert renewal.payment_state == PaymentState.ACTION_REQUIRED
        assert renewal.status == InvoiceStatus.OPEN
        renewal_id, renewal_path = renewal.id, f"/i/{renewal.hosted_token}"

    # The portal links it: on the home, and on the payment method page.
    page.goto(f"{site.url}/portal/payment-method")
    confirm = page.locator(f"#awaiting #confirm-{renewal_id}")
    expect(confirm).to_have_attribute("href", re.compile(re.escape(renewal_path) + "$"))
    snap(page, shots, "08-payment-method-action-required")
    page.goto(f"{site.url}/portal/")
    confirm = page.locator(f"#confirm-{renewal_id}")
    expect(confirm).to_have_attribute("href", re.compile(re.escape(renewal_path) + "$"))
    snap(page, shots, "09-home-action-required")
    confirm.click()
    page.locator("#authenticate-button").click(timeout=WAIT_MS)
    complete_3d_secure(page)
    expect(page.locator("#invoice-status")).to_have_text("Paid", timeout=WAIT_MS)
    snap(page, shots, "10-renewal-authenticated")

    # The agency lets clients cancel; the person cancels at period end.
    response = api(site, "PATCH", "/settings", json={"portal_client_can_cancel": True})
    assert response.status_code == 200, response.text
    page.goto(f"{site.url}/portal/subscriptions")
    page.click(f"#cancel-{subscription_id}")
    expect(page.locator("#cancel-terms")).to_be_visible()
    snap(page, shots, "11-cancel-confirm")
    page.click("#confirm-cancel")
    page.wait_for_url(f"{site.url}/portal/subscriptions?done=cancelled")
    expect(page.locator("#done")).to_be_visible()
    row = page.locator(f"#subscription-{subscription_id}")
    expect(row.locator(".status")).to_have_text("Ends at period end")
    expect(row.locator(".plan-ends")).to_contain_text("Ends on")
    expect(page.locator(f"#resume-{subscription_id}")).to_be_visible()
    snap(page, shots, "12-subscriptions-ending")
    with site.db.session() as s:
        assert s.get(Subscription, subscription_id).cancel_at_period_end

    assert problems == [], problems
    context.close()
