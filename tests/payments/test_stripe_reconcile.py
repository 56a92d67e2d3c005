"""Reconciliation with Stripe against localstripe (customers, cards,
PaymentIntents and refunds made there for real) and ``responses`` fixtures
in Stripe's shapes for what localstripe lacks (disputes, subscriptions):
each kind of difference made on purpose and found, a clean state that
reports nothing, the safe fixes applied once (twice changes nothing the
second time) and recorded in the audit log, and ``bridge reconcile-stripe``
showing the fixes before it makes them."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import responses
import stripe
import time_machine
from click.testing import CliRunner
from flask.cli import ScriptInfo
from sqlalchemy import select

from bridge.billing import clients, invoices, reconciliation
from bridge.billing.invoices import Item
from bridge.billing.pauses import day_start
from bridge.billing.payments import CARD_GATEWAY, Outcome, apply_outcome
from bridge.billing.reconciliation import DifferenceKind, Remedy
from bridge.cli import cli
from bridge.models import (
    AuditEntry,
    Client,
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentStatus,
)
from bridge.payments.stripe.charges import charge_invoice
from bridge.payments.stripe.client import StripeApi
from bridge.payments.stripe_reconcile import reconcile
from tests import shop as shops
from tests.conftest import snapshot
from tests.payments import reconcile_shapes as shapes
from tests.payments.conftest import SECRET_KEY, open_invoice, save_card, store_keys


@pytest.fixture
def api(localstripe):
    return StripeApi(SECRET_KEY, api_base=localstripe.url, max_network_retries=0, rate_limit=0)


@pytest.fixture
def sdk(localstripe):
    """The SDK on localstripe, to make what happens at Stripe on its own."""
    return stripe.StripeClient(
        SECRET_KEY, base_addresses={"api": localstripe.url}, max_network_retries=0
    )


@pytest.fixture
def lists(localstripe):
    """Disputes and subscriptions in Stripe's shapes at localstripe's
    address; every other request goes through to localstripe."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(localstripe.url)
        yield shapes.StripeLists(mock, base=localstripe.url, only=("disputes", "subscriptions"))


def card_customer(sdk, email: str) -> tuple[str, str]:
    """A Stripe customer whose default card is a new Visa: (customer, card)."""
    customer = sdk.v1.customers.create(params={"email": email, "name": email})
    card = sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer.id})
    sdk.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": card.id}}
    )
    return customer.id, card.id


def charge_at_stripe(sdk, customer: str, amount: int, metadata: dict | None = None) -> str:
    """A PaymentIntent made at Stripe, not by the bridge; its id."""
    intent = sdk.v1.payment_intents.create(
        params={
            "amount": amount,
            "currency": "eur",
            "customer": customer,
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "metadata": metadata or {},
        }
    )
    assert intent.status == "succeeded"
    return intent.id


def pay_by_card(db, api, invoice_id: int) -> str:
    """The bridge charges the invoice to the saved card: the PaymentIntent."""
    with db.session() as s:
        result = charge_invoice(s, api, s.get(Invoice, invoice_id))
    assert result.status == "succeeded", result
    return result.payment_intent_id


def record_card_payment(db, invoice_id: int, intent_id: str, amount: int) -> int:
    """A settled card payment here, for ``intent_id``, of ``amount``."""
    with db.session() as s:
        invoice = invoices.lock_invoice(s, invoice_id)
        payment = Payment(
            invoice=invoice,
            client_id=invoice.client_id,
            amount=amount,
            currency="EUR",
            method=PaymentMethod.CARD,
            gateway=CARD_GATEWAY,
            status=PaymentStatus.PENDING,
            created_at=invoice.created_at,
        )
        s.add(payment)
        s.flush()
        apply_outcome(
            s, invoice, payment, Outcome(PaymentStatus.SUCCEEDED, payment_intent_id=intent_id)
        )
        return payment.id


def subscribe(db, shop) -> int:
    """A monthly invoice for the shop's client (paying it starts the
    subscription the bridge renews)."""
    with db.session() as s:
        invoice = invoices.bill_client(
            s, clients.get_client(s, shop["client"]), [Item(shop["monthly"])]
        )
        invoices.finalize(s, invoice)
        return invoice.id


def kinds(report) -> dict[str, list]:
    found: dict[str, list] = {}
    for difference in report.differences:
        found.setdefault(difference.kind.value, []).append(difference)
    return found


def run(db, api, *, apply: bool = False, **kwargs):
    """The report, and with ``apply`` the safe fixes made."""
    with db.session() as s:
        report = reconcile(s, api, **kwargs)
        return report, reconciliation.apply_safe(s, report) if apply else []


@pytest.fixture
def alice(db, shop, sdk):
    """The shop's client linked to a Stripe customer whose default card is
    the client's saved card (the two sides agree)."""
    customer, card = card_customer(sdk, "alice@example.com")
    save_card(db, shop["client"], customer=customer, method=card)
    return customer


def test_a_clean_state_reports_nothing(db, shop, api, alice, lists):
    pay_by_card(db, api, subscribe(db, shop))
    pay_by_card(db, api, open_invoice(db, shop))

    report, applied = run(db, api, apply=True)

    assert report.differences == [] and applied == []
    assert report.empty and report.unavailable == []


@pytest.fixture
def differences(db, shop, api, sdk, alice, lists):
    """One difference of each kind, made on purpose."""
    made = {}
    # Paid by the bridge (its subscription is renewed by the bridge), then
    # part refunded in Stripe's dashboard, then disputed by the bank.
    paid = pay_by_card(db, api, subscribe(db, shop))
    made["refund"] = sdk.v1.refunds.create(params={"payment_intent": paid, "amount": 1000}).id
    lists.lists["disputes"].append(shapes.dispute("dp_fraud", paid, 1900))
    # The same customer still subscribed at Stripe: billed twice.
    lists.lists["subscriptions"].append(shapes.subscription_of("sub_twice", alice))
    # Taken at Stripe for an open invoice of ours (its answer never came back).
    made["open_invoice"] = open_invoice(db, shop)
    made["found"] = charge_at_stripe(
        sdk, alice, 15000, {"bb_invoice_id": str(made["open_invoice"])}
    )
    # Charged in Stripe's dashboard: no invoice of ours.
    made["dashboard"] = charge_at_stripe(sdk, alice, 2000)
    # Both sides have it, for different amounts.
    made["short_invoice"] = open_invoice(db, shop)
    made["short"] = charge_at_stripe(
        sdk, alice, 2500, {"bb_invoice_id": str(made["short_invoice"])}
    )
    record_card_payment(db, made["short_invoice"], made["short"], 15000)
    # Settled here, unknown to Stripe.
    made["phantom_invoice"] = open_invoice(db, shop)
    record_card_payment(db, made["phantom_invoice"], "pi_NotAtStripe0001", 15000)
    # Bob changed his default card at Stripe; the bridge has the old one.
    with db.session() as s:
        made["bob"] = shops.add_client(s, name="Bob", email="bob@example.com")
    made["bob_customer"], made["bob_card"] = card_customer(sdk, "bob@example.com")
    save_card(db, made["bob"], customer=made["bob_customer"], method="pm_old_card")
    return made


def test_each_kind_of_difference_is_found(db, api, differences, shop):
    made = differences
    report, applied = run(db, api)

    assert applied == []
    found = kinds(report)
    assert set(found) == set(DifferenceKind)

    missing_here = {d.stripe_id: d for d in found["payment_missing_here"]}
    assert set(missing_here) == {made["found"], made["dashboard"]}
    ours = missing_here[made["found"]]
    assert (ours.remedy, ours.safe) == (Remedy.RECORD_PAYMENT, True)
    assert (ours.invoice_id, ours.amount, ours.currency) == (made["open_invoice"], 15000, "EUR")
    assert "amount due 15000 -> 0 EUR" in ours.change
    dashboard = missing_here[made["dashboard"]]
    assert (dashboard.remedy, dashboard.safe, dashboard.invoice_id) == (Remedy.MANUAL, False, None)

    (phantom,) = found["payment_missing_at_stripe"]
    assert (phantom.stripe_id, phantom.invoice_id) == (
        "pi_NotAtStripe0001",
        made["phantom_invoice"],
    )
    (short,) = found["amount_differs"]
    assert (short.stripe_id, short.amount, short.invoice_id) == (
        made["short"],
        2500,
        made["short_invoice"],
    )
    assert short.detail == "Stripe took €25.00; the payment here is €150.00"
    (refund,) = found["refund_without_credit_note"]
    assert (refund.stripe_id, refund.amount, refund.remedy, refund.safe) == (
        made["refund"],
        1000,
        Remedy.ISSUE_CREDIT_NOTE,
        True,
    )
    (dispute,) = found["dispute"]
    assert dispute.stripe_id == "dp_fraud" and dispute.client_id == shop["client"]
    (card,) = found["card_differs"]
    assert (card.client_id, card.remedy, card.facts["payment_method"]) == (
        made["bob"],
        Remedy.UPDATE_CARD,
        made["bob_card"],
    )
    (twice,) = found["double_billing_risk"]
    assert (twice.stripe_id, twice.client_id, twice.remedy) == (
        "sub_twice",
        shop["client"],
        Remedy.MANUAL,
    )
    assert sum(d.safe for d in report.differences) == 3


def test_apply_does_the_safe_fixes_once_and_logs_them(db, api, differences):
    made = differences
    report, applied = run(db, api, apply=True)

    assert sorted(a.difference.remedy.value for a in applied if a.done) == [
        "issue_credit_note",
        "record_payment",
        "update_card",
    ]
    with db.session() as s:
        invoice = s.get(Invoice, made["open_invoice"])
        assert invoice.status == InvoiceStatus.PAID
        (payment,) = invoice.payments
        assert payment.stripe_payment_intent_id == made["found"]
        note = s.scalar(select(CreditNote).where(CreditNote.stripe_refund_id == made["refund"]))
        assert note is not None and note.amount == 1000
        bob = s.get(Client, made["bob"])
        assert (bob.default_payment_method_id, bob.card_last4) == (made["bob_card"], "4242")
        logged = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("%.reconciled")))
        )
        assert logged == {"payment.reconciled", "credit_note.reconciled", "client.reconciled"}

    before = snapshot(db)
    again, applied_again = run(db, api, apply=True)
    assert applied_again == []
    assert snapshot(db) == before
    # What only a person can settle is still reported.
    assert sorted(kinds(again)) == [
        "amount_differs",
        "dispute",
        "double_billing_risk",
        "payment_missing_at_stripe",
        "payment_missing_here",
    ]
    assert not any(d.safe for d in again.differences)


def test_a_card_replaced_in_the_portal_is_never_overwritten_by_stripes_default(
    db, shop, api, sdk, lists
):
    """The client replaced their card in the portal: the new card is attached
    to their customer at Stripe but is the bridge's default, not Stripe's.
    Taking Stripe's default would charge the card they left: a person
    decides, and --apply leaves the saved card as it is."""
    customer, old_card = card_customer(sdk, "carol@example.com")
    new_card = sdk.v1.payment_methods.attach("pm_card_visa", params={"customer": customer}).id
    save_card(db, shop["client"], customer=customer, method=new_card)

    report, applied = run(db, api, apply=True)

    (card,) = kinds(report)["card_differs"]
    assert (card.client_id, card.remedy, card.safe) == (shop["client"], Remedy.MANUAL, False)
    assert old_card in card.detail and "for a person to say" in card.detail
    assert applied == []
    with db.session() as s:
        assert s.get(Client, shop["client"]).default_payment_method_id == new_card


def test_a_refund_beyond_what_is_refundable_is_left_to_a_person(db, shop, api, sdk, alice, lists):
    paid = pay_by_card(db, api, open_invoice(db, shop))
    refund = sdk.v1.refunds.create(params={"payment_intent": paid, "amount": 5000}).id
    with db.session() as s:
        invoice = s.scalar(select(Invoice).where(Invoice.status == InvoiceStatus.PAID))
        invoices.issue_credit_note(s, invoice, amount=12000, reason="money back by transfer")

    report, applied = run(db, api, apply=True)

    (difference,) = report.differences
    assert (difference.stripe_id, difference.remedy, difference.safe) == (
        refund,
        Remedy.MANUAL,
        False,
    )
    assert "at most what was paid and not refunded" in difference.detail
    assert applied == []


def cli_run(app, *args):
    return CliRunner().invoke(cli, list(args), obj=ScriptInfo(create_app=lambda: app))


def test_the_command_shows_the_fixes_then_makes_them_once(app, db, box, localstripe, differences):
    app.config["STRIPE_API_BASE"] = localstripe.url
    app.config["STRIPE_RATE_LIMIT"] = "0"
    store_keys(db, box)

    looked = cli_run(app, "reconcile-stripe")
    assert looked.exit_code == 0, looked.output
    assert "8 differences" in looked.output
    assert looked.output.count("[safe: ") == 3
    assert "Run again with --apply" in looked.output

    applied = cli_run(app, "reconcile-stripe", "--apply")
    assert applied.exit_code == 0, applied.output
    report, shown = applied.output.split("Applying the safe fixes:")
    assert "8 differences" in report
    assert "amount due 15000 -> 0 EUR" in shown
    assert "pm_old_card -> " in shown
    assert "Fixed 3 of 3 safe differences." in applied.output

    before = snapshot(db)
    again = cli_run(app, "reconcile-stripe", "--apply")
    assert again.exit_code == 0, again.output
    assert "Applying" not in again.output and "[safe: " not in again.output
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "--since 'yesterday' is not a date (YYYY-MM-DD)"),
        (("--since", "2026-02-30"), "is not a date"),
        (("--since", "2999-01-01"), "The period cannot start in the future."),
    ],
)
def test_bad_input_is_exit_status_2_and_changes_nothing(
    app, db, box, localstripe, shop, args, message
):
    app.config["STRIPE_API_BASE"] = localstripe.url
    store_keys(db, box)
    before = snapshot(db)
    result = cli_run(app, "reconcile-stripe", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert snapshot(db) == before


def test_without_stripe_the_command_says_so(app, shop):
    result = cli_run(app, "reconcile-stripe")
    assert result.exit_code == 2
    assert "Stripe is not connected" in result.output


def test_a_stripe_without_disputes_is_named_in_the_report(db, shop, api, alice):
    """localstripe has no /v1/disputes: the rest is compared, the gap named."""
    report, _ = run(db, api)
    assert report.unavailable == ["disputes"]
    assert report.empty


def test_a_payment_received_in_the_period_but_created_before_it_is_looked_up(
    db, shop, api, alice, lists
):
    """A PaymentIntent created the day before the period, confirmed (and so
    received here) in it, is not in Stripe's list of the period: it is
    looked up by its id rather than reported missing."""
    pay_by_card(db, api, open_invoice(db, shop))
    tomorrow = date.today() + timedelta(days=1)
    with db.session() as s:
        start = day_start(s, tomorrow)
        s.scalar(select(Payment)).received_at = start + timedelta(minutes=1)
    with time_machine.travel(start + timedelta(hours=1)):
        report, _ = run(db, api, since=tomorrow)
    assert report.empty, [d.line() for d in report.differences]


def test_stripe_is_read_page_by_page_through_the_rate_limiter(db, shop):
    """Three pages of PaymentIntents (``has_more``), every page paced by
    the client-side limiter."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = shapes.StripeLists(mock)
        fake.lists["payment_intents"] = [
            shapes.payment_intent(f"pi_Dashboard{n:04d}", "cus_someone", 100 + n)
            for n in range(210)
        ]
        api = StripeApi(SECRET_KEY, max_network_retries=0, rate_limit=10)
        report, _ = run(db, api)

    assert [d.stripe_id for d in report.differences] == [f"pi_Dashboard{n:04d}" for n in range(210)]
    pages = [query for path, query in fake.calls if path == "payment_intents"]
    assert len(pages) == 3 and "starting_after" in pages[2]
    assert api.limiter.waited > 0


def test_a_fix_that_is_no_longer_safe_when_applied_is_skipped_with_the_reason(
    db, shop, api, sdk, alice, lists
):
    invoice_id = open_invoice(db, shop)
    charge_at_stripe(sdk, alice, 15000, {"bb_invoice_id": str(invoice_id)})
    with db.session() as s:
        report = reconcile(s, api)
        assert [d.safe for d in report.differences] == [True]
        # Paid by bank transfer between the report and its fix.
        invoices.record_offline_payment(
            s, s.get(Invoice, invoice_id), amount=15000, method=PaymentMethod.BANK_TRANSFER
        )
        s.commit()
        (result,) = reconciliation.apply_safe(s, report)

    assert not result.done
    assert result.note == "no longer safe: the invoice is paid, 0 due"
    with db.session() as s:
        assert [p.method for p in s.get(Invoice, invoice_id).payments] == [
            PaymentMethod.BANK_TRANSFER
        ]
