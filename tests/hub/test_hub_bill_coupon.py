"""Issue 14, Discounts, in the Hub's *Bill client*: a coupon code on a new
bill (any case) discounts the review and the saved draft; an unknown or
used-up code is an error next to the field and bills nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from bridge.billing import coupons
from bridge.models import Invoice
from tests.hub import test_hub_bill
from tests.hub.test_hub_bill import form_data

shop = test_hub_bill.shop  # the same fixture


def test_a_coupon_code_discounts_the_bill(hub, shop, db):
    with db.session() as s:
        coupons.create_coupon(s, name="Spring", percent_off="10", code="SPRING", max_redemptions=1)
        s.commit()
    page = hub.client.get("/bill")
    assert 'id="coupon_code"' in page.data.decode()
    data = form_data(page.data, shop, action="save", coupon_code="spring")
    review = hub.client.post("/bill", data={**data, "action": "continue"})
    assert review.status_code == 200
    shown = review.data.decode()
    # The coupon's row and each line's discount, as the invoice page shows them.
    assert 'id="discount-label">Discount: Spring — 10% off<' in shown
    saved = hub.client.post("/bill", data=data)
    assert saved.status_code == 303, saved.data.decode()
    with db.session() as s:
        invoice = s.scalars(select(Invoice)).one()
        assert invoice.discount == sum(line.discount for line in invoice.lines) > 0
        invoice_id, lines = invoice.id, len(invoice.lines)
    page = hub.client.get(f"/invoices/{invoice_id}").data.decode()
    cells = re.compile(r'class="num line-discount"[^>]*>([^<]*)<')
    assert len(cells.findall(shown)) == lines == 2
    assert cells.findall(shown) == cells.findall(page) == ["-€5.80", "-€15.00"]
    total = re.compile(r'id="discount">([^<]*)<')
    assert total.findall(shown) == total.findall(page) == ["-€20.80"]
    again = form_data(hub.client.get("/bill").data, shop, action="save", coupon_code="SPRING")
    used_up = hub.client.post("/bill", data=again)
    assert used_up.status_code == 422
    assert "used up" in used_up.data.decode()
    unknown = form_data(hub.client.get("/bill").data, shop, action="save", coupon_code="NOPE")
    answer = hub.client.post("/bill", data=unknown)
    assert answer.status_code == 422 and "No such coupon code" in answer.data.decode()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Invoice)) == 1
