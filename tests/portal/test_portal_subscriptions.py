"""The portal's Subscriptions page: current and inactive plans with the next
renewal as it will be billed (tax included); *Cancel at period end* and
*Resume* only when the agency allows it (``portal_client_can_cancel``) and
the person's role may pay; another client's subscription is a 404 and stays
as it was; a second submit changes nothing; the audit log names the person."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.billing import business, renewals, roles, self_service, subscriptions
from bridge.models import AuditEntry, Client, Invoice, Site
from bridge.models.subscriptions import Subscription, SubscriptionStatus
from tests.e2e.conftest import make_invoice
from tests.portal.conftest import PERSON_EMAIL


def allow_cancel(db, allowed: bool = True) -> None:
    with db.session() as s:
        business.get_settings(s).portal_client_can_cancel = allowed


def subscription_of(db, invoice_id: int) -> Subscription:
    """The subscription the invoice's recurring line started."""
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        subscription_id = next(
            line.subscription_id for line in invoice.lines if line.subscription_id
        )
        subscription = s.get(Subscription, subscription_id)
        s.expunge(subscription)
        return subscription


@pytest.fixture
def active(db, shop) -> Subscription:
    """Managed hosting x 2 (98.00 + 20 % VAT), paid, so active."""
    return subscription_of(db, make_invoice(db, shop, "paid").id)


def entries(db, action: str) -> list[AuditEntry]:
    with db.session() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))
        s.expunge_all()
        return rows


def text(response) -> str:
    return re.sub(r"\s+", " ", response.data.decode())


def test_current_and_inactive_plans_with_the_next_renewal_tax_included(db, shop, portal, active):
    pending = subscription_of(db, make_invoice(db, shop, "open").id)
    ended = subscription_of(db, make_invoice(db, shop, "paid").id)
    with db.session() as s:
        client = s.get(Client, shop.client_id)
        site = Site(
            client=client,
            public_id="site-bakery",
            name="martin-bakery.example",
            url="https://martin-bakery.example",
            secret_encrypted="-",
            secret_rotated_at=client.created_at,
            created_at=client.created_at,
        )
        s.add(site)
        s.flush()
        s.get(Subscription, active.id).site_id = site.id
        subscriptions.cancel(s, s.get(Subscription, ended.id), at_period_end=False)
    page = portal.get("/portal/subscriptions")
    assert page.status_code == 200
    body = text(page)
    current, inactive = body.split('id="inactive-title"')
    assert f'id="subscription-{active.id}"' in current
    assert f'id="subscription-{pending.id}"' in current
    assert f'id="subscription-{ended.id}"' in inactive
    assert "Website care · Managed hosting" in current
    assert "martin-bakery.example" in current
    assert "Active" in current and "Waiting for the first payment" in current
    # 2 x 49.00 with 20 % VAT on top, as the renewal invoice will bill it.
    assert "€117.60 every month" in current
    assert "tax included · quantity 2" in current
    assert "Cancelled" in inactive
    # The agency has not allowed cancelling: whom to ask instead.
    assert f'id="cancel-{active.id}"' not in body
    assert "To cancel, contact Pixel &amp; Pine Studio (" in body
    assert "billing@pixelpine.example" in body


def test_an_empty_account_says_so(portal):
    body = text(portal.get("/portal/subscriptions"))
    assert 'id="no-current"' in body and "inactive-title" not in body


def test_cancel_at_period_end_when_allowed_then_resume(db, portal, active, person):
    allow_cancel(db)
    listing = text(portal.get("/portal/subscriptions"))
    assert f'id="cancel-{active.id}"' in listing
    assert "To cancel, contact" not in listing
    confirm = portal.get(f"/portal/subscriptions/{active.id}/cancel")
    assert confirm.status_code == 200
    assert "then stops; nothing more is billed." in text(confirm)

    path = f"/portal/subscriptions/{active.id}/cancel"
    answer = portal.post(path, page=path)
    assert answer.status_code == 303
    row = subscription_of_id(db, active.id)
    assert row.cancel_at_period_end and row.status == SubscriptionStatus.ACTIVE
    listing = text(portal.get(answer.headers["Location"]))
    assert "Ends on" in listing and f'id="resume-{active.id}"' in listing
    assert "will end at the end of its paid period" in listing
    (entry,) = entries(db, "subscription.cancel_scheduled")
    assert (entry.actor_kind, entry.actor_id, entry.actor_label) == ("client", person, PERSON_EMAIL)
    assert entry.client_id == active.client_id

    # Sent twice (a double click, a reload): nothing more happens.
    assert portal.post(path, page="/portal/subscriptions").status_code == 303
    assert len(entries(db, "subscription.cancel_scheduled")) == 1

    resume = f"/portal/subscriptions/{active.id}/resume"
    assert portal.post(resume, page="/portal/subscriptions").status_code == 303
    assert not subscription_of_id(db, active.id).cancel_at_period_end
    assert portal.post(resume, page="/portal/subscriptions").status_code == 303
    (resumed,) = entries(db, "subscription.cancel_undone")
    assert (resumed.actor_kind, resumed.actor_id) == ("client", person)
    assert f'id="cancel-{active.id}"' in text(portal.get("/portal/subscriptions"))


def subscription_of_id(db, subscription_id: int) -> Subscription:
    with db.session() as s:
        row = s.get(Subscription, subscription_id)
        s.expunge(row)
        return row


def test_cancel_refused_while_the_agency_does_not_allow_it(db, portal, active):
    path = f"/portal/subscriptions/{active.id}/cancel"
    assert portal.get(path).status_code == 409
    answer = portal.post(path, page="/portal/subscriptions")
    assert answer.status_code == 409
    assert "does not let subscriptions be changed" in text(answer)
    assert not subscription_of_id(db, active.id).cancel_at_period_end
    assert entries(db, "subscription.cancel_scheduled") == []


def test_a_role_that_may_not_pay_sees_no_button_and_gets_403(db, shop, portal, active):
    allow_cancel(db)
    with db.session() as s:
        role = roles.create_role(
            s, name="Look only", permissions={"billing": {"level": "view", "actions": []}}
        )
        s.get(Client, shop.client_id).role_id = role.id
    body = text(portal.get("/portal/subscriptions"))
    assert f'id="cancel-{active.id}"' not in body
    assert "To cancel, contact Pixel &amp; Pine Studio" in body
    path = f"/portal/subscriptions/{active.id}/cancel"
    assert portal.get(path).status_code == 403
    assert portal.post(path, page="/portal/subscriptions").status_code == 403
    assert not subscription_of_id(db, active.id).cancel_at_period_end


def test_a_role_without_billing_cannot_open_the_page(db, shop, portal, active):
    with db.session() as s:
        role = roles.create_role(
            s, name="Sites only", permissions={"sites": {"level": "view", "actions": []}}
        )
        s.get(Client, shop.client_id).role_id = role.id
    assert portal.get("/portal/subscriptions").status_code == 403


def test_another_clients_subscription_is_a_404_and_stays_as_it_was(db, active, other_portal):
    allow_cancel(db)
    cancel = f"/portal/subscriptions/{active.id}/cancel"
    assert other_portal.get(cancel).status_code == 404
    assert other_portal.post(cancel, page="/portal/subscriptions").status_code == 404
    with db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, active.id), at_period_end=True)
    resume = f"/portal/subscriptions/{active.id}/resume"
    assert other_portal.post(resume, page="/portal/subscriptions").status_code == 404
    assert subscription_of_id(db, active.id).cancel_at_period_end
    assert other_portal.get("/portal/subscriptions/999999/cancel").status_code == 404
    assert f"subscription-{active.id}" not in text(other_portal.get("/portal/subscriptions"))


def test_a_post_without_the_csrf_token_changes_nothing(db, portal, active):
    allow_cancel(db)
    answer = portal.client.post(f"/portal/subscriptions/{active.id}/cancel", data={})
    assert answer.status_code == 400
    assert not subscription_of_id(db, active.id).cancel_at_period_end


def test_an_ended_subscription_cannot_be_cancelled_or_resumed(db, portal, active):
    allow_cancel(db)
    with db.session() as s:
        subscriptions.cancel(s, s.get(Subscription, active.id), at_period_end=False)
    path = f"/portal/subscriptions/{active.id}/cancel"
    assert portal.get(path).status_code == 409
    assert portal.post(path, page="/portal/subscriptions").status_code == 409
    resume = f"/portal/subscriptions/{active.id}/resume"
    answer = portal.post(resume, page="/portal/subscriptions")
    assert answer.status_code == 409
    assert "can no longer be changed" in text(answer)
    assert subscription_of_id(db, active.id).status == SubscriptionStatus.CANCELLED


def test_the_next_renewal_shown_is_what_the_scheduler_bills(db, active):
    with db.session() as s:
        row = self_service.plan_row(s, s.get(Subscription, active.id))
        assert row.renews_at == active.current_period_end
        assert row.renewal_total == row.price_total == 11760
    later = time_machine.travel(row.renews_at + timedelta(minutes=1), tick=False)
    with later, db.session() as s:
        invoice = renewals.renew(s, s.get(Subscription, active.id))
        assert (invoice.period_start, invoice.total) == (row.renews_at, row.renewal_total)


def test_the_page_in_french(db, portal, active):
    allow_cancel(db)
    portal.post("/portal/language", {"language": "fr", "next": "/portal/subscriptions"})
    body = text(portal.get("/portal/subscriptions"))
    assert "Abonnements" in body and "117,60" in body and "taxes comprises" in body
    assert f'id="cancel-{active.id}"' in body and "Annuler en fin de période" in body
    confirm = text(portal.get(f"/portal/subscriptions/{active.id}/cancel"))
    assert "plus rien n&#39;est facturé." in confirm


def test_a_change_scheduled_for_the_renewal_shows_read_only(db, portal, active):
    from bridge.billing import plan_changes

    with db.session() as s:
        plan_changes.schedule(s, s.get(Subscription, active.id), quantity_e3=3_000)
    body = text(portal.get("/portal/subscriptions"))
    assert "Scheduled change" in body and "quantity 3" in body
    # The next renewal is billed on the new quantity: 3 x 49.00 + 20 % VAT.
    assert "€176.40" in body and "€117.60 every month" in body
    assert "cancel-change" not in body  # read-only: only the agency cancels it
