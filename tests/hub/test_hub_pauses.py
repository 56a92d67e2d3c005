"""The Hub's client page pauses and resumes a subscription: a small form
with an optional date; errors come back as a notice and change nothing."""

from __future__ import annotations

from datetime import timedelta

from bridge.billing import subscriptions
from bridge.core import clock
from tests.hub.test_hub_client_page import hosting, text_of
from tests.hub.test_hub_client_page import shop as shop  # noqa: F401  (fixture)


def test_a_subscription_is_paused_until_a_date_then_resumed(hub, db, shop):  # noqa: F811
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    act = f"{base}/subscriptions/{sid}/"
    page = text_of(hub.client.get(base + "?tab=products"))
    assert f'action="{act}pause"' in page and 'name="until"' in page
    assert f'<label for="pause-until-{sid}">' in page
    until = (clock.now() + timedelta(days=90)).date()
    assert hub.post(act + "pause", {"until": until.isoformat()}, page=base).status_code == 302
    with db.session() as s:
        paused = subscriptions.get_subscription(s, sid)
        assert paused.paused_at is not None and paused.paused_until.date() == until
    page = text_of(hub.client.get(base + "?tab=products"))
    assert "Paused from" in page and "Resume now" in page
    assert hub.post(act + "resume-pause", page=base).status_code == 302
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).paused_at is None


def test_a_pause_without_a_date_lasts_until_resumed(hub, db, shop):  # noqa: F811
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    paused = hub.post(f"{base}/subscriptions/{sid}/pause", {"until": ""}, page=base)
    assert paused.status_code == 302
    assert "until resumed" in text_of(hub.client.get(base + "?tab=products"))


def test_a_bad_pause_date_is_a_notice_and_changes_nothing(hub, db, shop):  # noqa: F811
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    for bad in ("2001-01-01", "not a date"):
        refused = hub.post(f"{base}/subscriptions/{sid}/pause", {"until": bad}, page=base)
        assert refused.status_code == 422 and 'role="alert"' in text_of(refused)
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).paused_at is None
