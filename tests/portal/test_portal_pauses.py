"""The portal's Subscriptions page shows a pause ("Paused until <date>");
clients cannot pause nor cancel a paused plan themselves."""

from __future__ import annotations

from datetime import timedelta

from bridge.billing import pauses
from bridge.core import clock
from bridge.models.subscriptions import Subscription
from tests.portal.test_portal_subscriptions import active as active  # noqa: F401  (fixture)
from tests.portal.test_portal_subscriptions import allow_cancel, text


def test_a_paused_plan_shows_until_when(db, portal, active):  # noqa: F811
    allow_cancel(db)
    until = (clock.now() + timedelta(days=100)).date()
    with db.session() as s:
        pauses.pause(s, s.get(Subscription, active.id), until)
        s.commit()
    page = text(portal.get("/portal/subscriptions"))
    assert 'class="status status-paused"' in page
    assert "Paused until" in page and str(until.year) in page
    assert f'id="cancel-{active.id}"' not in page and 'action="/portal/subscriptions' not in page
    assert "/pause" not in page


def test_an_open_ended_pause_says_until_further_notice(db, portal, active):  # noqa: F811
    with db.session() as s:
        pauses.pause(s, s.get(Subscription, active.id), None)
        s.commit()
    assert "Paused until further notice" in text(portal.get("/portal/subscriptions"))


def test_the_pause_and_the_resume_are_in_the_clients_activity(db, portal, active):  # noqa: F811
    with db.session() as s:
        subscription = s.get(Subscription, active.id)
        pauses.pause(s, subscription, None)
        s.commit()
        pauses.resume(s, s.get(Subscription, active.id))
        s.commit()
    page = text(portal.get("/portal/activity"))
    assert "paused" in page and "resumed" in page
