"""Both payment gateways satisfy the one ``PaymentGateway`` interface the
scheduler, the API and the collect step use; the offline one, called through
it, takes no card, leaves nothing pending and refunds nothing."""

from __future__ import annotations

import pytest
import time_machine
from sqlalchemy import select

from bridge.billing import collection
from bridge.billing.gateway import PaymentGateway, PaymentOptions
from bridge.core.errors import Conflict
from bridge.models import Invoice, Payment
from bridge.payments.gateways import payment_gateway
from bridge.payments.offline import OfflineGateway
from bridge.payments.stripe.gateway import StripeGateway
from scheduler.jobs import JobContext
from tests.payments.conftest import (
    NOW,
    PUBLISHABLE_KEY,
    SECRET_KEY,
    get_invoice,
    open_invoice,
    save_card,
    store_keys,
)
from tests.scheduler.fakes import RecordingGateway

OPERATIONS = ("payment_options", "charge_invoice", "reconcile_pending", "refund")


def test_both_gateways_and_the_test_stand_in_are_payment_gateways():
    for gateway in (StripeGateway(SECRET_KEY), OfflineGateway(), RecordingGateway()):
        assert isinstance(gateway, PaymentGateway), gateway
        assert all(callable(getattr(gateway, name)) for name in OPERATIONS)
    assert (StripeGateway(SECRET_KEY).name, OfflineGateway().name) == ("stripe", "offline")
    assert StripeGateway(SECRET_KEY).charges_saved_cards
    assert not OfflineGateway().charges_saved_cards
    assert not isinstance(object(), PaymentGateway)


def test_the_stored_settings_choose_the_gateway(db, app, box):
    with db.session() as s:
        assert isinstance(payment_gateway(s, box), OfflineGateway)
        assert isinstance(
            JobContext(database=app.extensions["bridge.db"], box=box).gateway(s), OfflineGateway
        )
    store_keys(db, box)
    with db.session() as s:
        assert isinstance(payment_gateway(s, box), StripeGateway)
        ctx = JobContext(database=app.extensions["bridge.db"], box=box)
        first = ctx.gateway(s)
        assert isinstance(first, StripeGateway)
        assert ctx.gateway(s) is first  # one rate limiter for the process


def test_the_offline_gateway_through_the_interface(db, shop):
    gateway: PaymentGateway = OfflineGateway()
    save_card(db, shop["client"])
    invoice_id = open_invoice(db, shop)
    with db.session() as s:
        s.get(Invoice, invoice_id).next_charge_at = NOW
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        assert gateway.payment_options(s) == PaymentOptions(False, None, "")
        with pytest.raises(Conflict) as no_card:
            gateway.charge_invoice(s, invoice)
        assert no_card.value.code == "card_payments_unavailable"
        with pytest.raises(Conflict) as no_refund:
            gateway.refund(s, invoice, 100, "goodwill")
        assert no_refund.value.code == "stripe_not_configured"
        assert gateway.reconcile_pending(s, now=NOW) == 0
        # The collect step claims nothing it could not charge.
        with time_machine.travel(NOW, tick=False):
            report = collection.collect_due(s, gateway, NOW)
        assert report.counts() == collection.CollectReport().counts()
    invoice = get_invoice(db, invoice_id)
    assert invoice.next_charge_at == NOW
    assert invoice.amount_due == 15000
    with db.session() as s:
        assert s.scalars(select(Payment)).all() == []


def test_the_stripe_gateway_describes_card_payments(db, box):
    store_keys(db, box)
    with db.session() as s:
        assert StripeGateway(SECRET_KEY).payment_options(s) == PaymentOptions(
            True, PUBLISHABLE_KEY, ""
        )
