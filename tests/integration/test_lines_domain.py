"""Issue 14, Lines, in the domain: a subscription keeps a decimal quantity
and its own line's rates, renewals bill it rounded once, MRR counts it."""

from sqlalchemy import select

from bridge.billing import metrics, renewals, subscriptions
from bridge.billing.invoices import Item
from bridge.models import Subscription, SubscriptionStatus
from tests.integration import test_billing_domain as domain
from tests.integration.test_billing_domain import JAN_31, bill, finalize, pay

shop = domain.shop  # the same fixture


def test_a_subscription_for_1_5_renews_for_1_5_and_counts_so_in_mrr(db, shop):
    invoice_id = bill(
        db, shop, [Item(shop["monthly"], "1.5", tax_rate_ids=(shop["vat"],))], tax_rate_ids=[]
    )
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        sub = s.scalars(select(Subscription)).one()
        assert sub.status == SubscriptionStatus.ACTIVE
        assert (sub.quantity_e3, str(sub.quantity), sub.amount) == (1500, "1.5", 4350)
        assert sub.tax_rate_ids == [shop["vat"]]  # the line's own rates
        start, end = subscriptions.period_bounds(s, sub, 1)
        _rates, line, totals = renewals.renewal_line(s, sub, start, end)
        assert (line.quantity_e3, totals.net, totals.taxes) == (1500, 4350, {shop["vat"]: 870})
        assert metrics.mrr(s, client_id=shop["client"]) == 4350


def test_a_third_of_an_hour_rounds_half_up_once_in_mrr(db, shop):
    invoice_id = bill(db, shop, [Item(shop["monthly"], "0.335")])
    finalize(db, invoice_id)
    pay(db, invoice_id, JAN_31)
    with db.session() as s:
        # 29.00 x 0.335 = 9.715 -> 9.72, as the renewal line bills it.
        assert s.scalars(select(Subscription)).one().amount == 972
        assert metrics.mrr(s, client_id=shop["client"]) == 972
