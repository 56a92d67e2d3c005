"""The Hub's *Change plan* screen: the preview shows the prorated invoice
and writes nothing, confirming applies it once, bad input is a message
next to the field."""

from __future__ import annotations

from sqlalchemy import func, select

from bridge.billing import subscriptions
from bridge.models import Invoice
from tests.hub.test_hub_client_page import hosting, text_of
from tests.hub.test_hub_client_page import shop as shop  # noqa: F401  (fixture)


def _invoices(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Invoice))


def test_preview_then_change_the_quantity_now(hub, db, shop):  # noqa: F811
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    page = f"{base}/subscriptions/{sid}/change"
    assert f'href="{page}"' in text_of(hub.client.get(base + "?tab=products"))
    form = text_of(hub.client.get(page))
    assert '<label for="quantity">' in form and '<label for="plan_id">' in form
    with db.session() as s:
        plan_id = subscriptions.get_subscription(s, sid).plan_id
    before = _invoices(db)
    preview = hub.post(page, {"plan_id": plan_id, "quantity": "3", "step": "preview"}, page=page)
    assert preview.status_code == 200
    shown = text_of(preview)
    assert 'id="change-total"' in shown and "Unused time on" in shown
    assert _invoices(db) == before
    applied = hub.post(page, {"plan_id": plan_id, "quantity": "3", "step": "apply"}, page=page)
    assert applied.status_code == 302
    assert _invoices(db) == before + 1
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).quantity_e3 == 3000
    again = hub.post(page, {"plan_id": plan_id, "quantity": "3", "step": "apply"}, page=page)
    assert again.status_code == 409 and 'role="alert"' in text_of(again)
    assert _invoices(db) == before + 1


def test_a_bad_quantity_is_a_message_next_to_the_field(hub, db, shop):  # noqa: F811
    shop = shop[0]
    sid = hosting(db, shop.client_id)
    page = f"/clients/{shop.client_id}/subscriptions/{sid}/change"
    with db.session() as s:
        plan_id = subscriptions.get_subscription(s, sid).plan_id
    before = _invoices(db)
    for bad in ("1.2345", "x", "0"):
        refused = hub.post(page, {"plan_id": plan_id, "quantity": bad, "step": "apply"}, page=page)
        assert refused.status_code == 422
        assert 'id="quantity-error"' in text_of(refused)
    assert _invoices(db) == before


def test_schedule_a_change_at_the_next_renewal_then_cancel_it(hub, db, shop):  # noqa: F811
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    page = f"{base}/subscriptions/{sid}/change"
    form = text_of(hub.client.get(page))
    assert 'id="when-now"' in form and 'id="when-renewal"' in form
    assert "Now (prorated)" in form and "At next renewal (" in form
    with db.session() as s:
        sub = subscriptions.get_subscription(s, sid)
        plan_id, quantity_e3 = sub.plan_id, sub.quantity_e3
    before = _invoices(db)
    wanted = {"plan_id": plan_id, "quantity": "4", "when": "renewal"}
    preview = hub.post(page, {**wanted, "step": "preview"}, page=page)
    assert preview.status_code == 200
    shown = text_of(preview)
    assert "The renewal invoice of" in shown and "Unused time on" not in shown
    assert "Schedule for" in shown
    assert _invoices(db) == before
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).pending_plan_id is None
    scheduled = hub.post(page, {**wanted, "step": "apply"}, page=page)
    assert scheduled.status_code == 302
    assert _invoices(db) == before  # nothing billed now
    with db.session() as s:
        sub = subscriptions.get_subscription(s, sid)
        assert (sub.quantity_e3, sub.pending_quantity_e3) == (quantity_e3, 4000)
    products = text_of(hub.client.get(base + "?tab=products"))
    assert "Changes to" in products and "Cancel scheduled change" in products
    assert f'action="{base}/subscriptions/{sid}/cancel-change"' in products
    assert "Already scheduled for" in text_of(hub.client.get(page))
    assert hub.post(f"{base}/subscriptions/{sid}/cancel-change", page=base).status_code == 302
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).pending_plan_id is None
    assert "Cancel scheduled change" not in text_of(hub.client.get(base + "?tab=products"))
    again = hub.post(f"{base}/subscriptions/{sid}/cancel-change", page=base)
    assert again.status_code == 409 and 'role="alert"' in text_of(again)


def test_cancelling_a_scheduled_change_needs_the_token_and_write_access(
    hub,
    app,
    db,
    shop,  # noqa: F811
):
    from bridge.billing import plan_changes
    from tests.hub.conftest import Hub, add_staff

    shop = shop[0]
    sid = hosting(db, shop.client_id)
    with db.session() as s:
        plan_changes.schedule(s, subscriptions.get_subscription(s, sid), quantity_e3=5000)
        s.commit()
    url = f"/clients/{shop.client_id}/subscriptions/{sid}/cancel-change"
    assert hub.client.post(url).status_code == 400  # no CSRF token
    add_staff(db, email="reader@agency.example", name="Rita Reader", read_only=True)
    reader = Hub(app.test_client())
    assert reader.login(email="reader@agency.example").status_code == 302
    assert reader.post(url, page="/clients").status_code == 403
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).pending_quantity_e3 == 5000


def test_a_downgrade_previews_and_applies_a_credit(hub, db, shop):  # noqa: F811
    from bridge.billing import balances

    shop = shop[0]
    sid = hosting(db, shop.client_id)
    page = f"/clients/{shop.client_id}/subscriptions/{sid}/change"
    with db.session() as s:
        sub = subscriptions.get_subscription(s, sid)
        plan_id, quantity = sub.plan_id, sub.quantity_e3 // 1000
    fewer = {"plan_id": plan_id, "quantity": str(quantity - 1)}
    shown = text_of(hub.post(page, {**fewer, "step": "preview"}, page=page))
    assert 'id="change-credit"' in shown and "Change now and credit" in shown
    applied = hub.post(page, {**fewer, "step": "apply"}, page=page)
    assert applied.status_code == 302
    with db.session() as s:
        assert balances.balance_of(s, shop.client_id, "EUR") > 0
