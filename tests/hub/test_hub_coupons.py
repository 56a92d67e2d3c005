"""Issue 14, Discounts, in the Hub: the coupon list (empty and full), the
new coupon form (each bad field refused next to it, nothing saved), archive,
and a coupon applied to a client or a subscription and removed, through the
same domain functions as the API."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import func, select

from bridge.billing import coupons
from bridge.models import CatalogStatus, Client, Coupon, CouponDuration, Discount, Invoice
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.test_hub_client_page import hosting, text_of

GOOD = {
    "name": "Summer sale",
    "code": "SUMMER20",
    "kind": "percent",
    "percent_off": "20",
    "amount_off": "",
    "applies_to": "invoice",
    "duration": "repeating",
    "duration_cycles": "3",
    "expires_on": "2099-12-31",
    "max_redemptions": "100",
}


@pytest.fixture
def shop(db):
    shop = make_shop(db)
    make_invoice(db, shop, "paid")  # the client's monthly hosting is active
    return shop


def coupon_count(db) -> int:
    with db.session() as s:
        return s.scalar(select(func.count()).select_from(Coupon))


def error_of(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error">([^<]*)<', page)
    return match.group(1).strip() if match else ""


def add_coupon(db, **terms) -> int:
    with db.session() as s:
        coupon = coupons.create_coupon(s, **({"name": "Ten", "percent_off": "10"} | terms))
        s.commit()
        return coupon.id


def test_the_coupon_list_says_when_there_is_none(hub, shop):
    page = text_of(hub.client.get("/coupons"))
    assert 'id="no-coupons"' in page and "No coupons yet." in page
    assert 'href="/coupons/new"' in page
    assert 'href="/coupons" aria-current="page"' in page  # in the navigation


def test_a_new_coupon_is_saved_and_listed_with_its_terms(hub, db, shop):
    form = hub.client.get("/coupons/new")
    assert form.status_code == 200
    saved = hub.post("/coupons/new", GOOD, page="/coupons/new")
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/coupons")
    with db.session() as s:
        coupon = s.scalars(select(Coupon)).one()
        assert (coupon.name, coupon.code, coupon.percent_off_e2) == (
            "Summer sale",
            "SUMMER20",
            2000,
        )
        assert coupon.duration == CouponDuration.REPEATING and coupon.duration_cycles == 3
        assert coupon.expires_on == date(2099, 12, 31) and coupon.max_redemptions == 100
        assert coupon.product_ids is None
    page = text_of(hub.client.get("/coupons"))
    row = page[page.index(f'id="coupon-{coupon.id}"') :]
    for expected in ("Summer sale", "SUMMER20", "20% off", "3 cycles", "0 / 100", "Dec 31, 2099"):
        assert expected in row, expected


def test_an_amount_off_on_chosen_products_forever(hub, db, shop):
    data = GOOD | {
        "code": "",
        "kind": "amount",
        "percent_off": "",
        "amount_off": "49.50",
        "applies_to": "products",
        "product_ids": "",
        "duration": "forever",
        "duration_cycles": "",
        "expires_on": "",
        "max_redemptions": "",
    }
    page = hub.client.get("/coupons/new").data.decode()
    product_id = int(re.search(r'<option value="(\d+)">Website care<', page).group(1))
    assert hub.post("/coupons/new", data | {"product_ids": str(product_id)}).status_code == 302
    with db.session() as s:
        coupon = s.scalars(select(Coupon)).one()
        assert (coupon.amount_off, coupon.currency, coupon.code) == (4950, "EUR", None)
        assert coupon.product_ids == [product_id] and coupon.duration == CouponDuration.FOREVER
    assert "€49.50 off" in text_of(hub.client.get("/coupons"))


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"name": ""}, "name", "Required."),
        ({"name": "x" * 201}, "name", "At most 200 characters."),
        ({"code": "two words"}, "code", "1 to 60 letters, digits, - or _."),
        ({"percent_off": ""}, "percent_off", "A percentage more than 0"),
        ({"percent_off": "0"}, "percent_off", "A percentage more than 0"),
        ({"percent_off": "100.5"}, "percent_off", "A percentage more than 0"),
        ({"percent_off": "12.345"}, "percent_off", "A percentage more than 0"),
        ({"percent_off": "-5"}, "percent_off", "A percentage more than 0"),
        ({"kind": "amount", "amount_off": "0"}, "amount_off", "Write an amount"),
        ({"kind": "amount", "amount_off": "abc"}, "amount_off", "Write an amount"),
        ({"kind": "amount", "amount_off": "1.999"}, "amount_off", "Write an amount"),
        ({"applies_to": "products"}, "product_ids", "Choose at least one product."),
        (
            {"applies_to": "products", "product_ids": "abc"},
            "product_ids",
            "Choose at least one product.",
        ),
        ({"applies_to": "products", "product_ids": "999"}, "product_ids", "Unknown: [999]"),
        ({"duration_cycles": ""}, "duration_cycles", "A whole number from 1 to 1,000."),
        ({"duration_cycles": "1001"}, "duration_cycles", "A whole number from 1 to 1,000."),
        ({"duration_cycles": "2.5"}, "duration_cycles", "A whole number from 1 to 1,000."),
        ({"max_redemptions": "0"}, "max_redemptions", "A whole number from 1 to 1,000,000"),
        ({"max_redemptions": "lots"}, "max_redemptions", "A whole number from 1 to 1,000,000"),
        ({"expires_on": "31/12/2099"}, "expires_on", "A date such as 2026-12-31"),
        ({"expires_on": "2001-01-01"}, "expires_on", "Already past."),
    ],
)
def test_a_bad_coupon_form_comes_back_with_the_message_and_saves_nothing(
    hub, db, shop, change, field, message
):
    answer = hub.post("/coupons/new", GOOD | change, page="/coupons/new")
    page = text_of(answer)
    assert answer.status_code == 422
    assert error_of(page, field).startswith(message), page
    assert f'aria-describedby="{field}-error"' in page
    assert 'id="form-error"' in page
    assert coupon_count(db) == 0


def test_a_code_already_taken_whatever_its_case_is_refused(hub, db, shop):
    add_coupon(db, code="summer20")
    answer = hub.post("/coupons/new", GOOD, page="/coupons/new")
    assert answer.status_code == 422
    assert error_of(text_of(answer), "code") == "Another coupon has this code."
    assert coupon_count(db) == 1


def test_the_form_speaks_the_readers_language(hub, db, shop):
    answer = hub.client.post(
        "/coupons/new",
        data={"csrf_token": _token(hub), **(GOOD | {"name": "", "percent_off": "20,5"})},
        headers={"Accept-Language": "fr"},
    )
    page = text_of(answer)
    assert answer.status_code == 422 and 'lang="fr"' in page
    assert error_of(page, "name") == "Obligatoire."
    assert not error_of(page, "percent_off")  # 20,5 read with the French decimal comma
    assert coupon_count(db) == 0


def _token(hub) -> str:
    from tests.hub.conftest import csrf_token

    return csrf_token(hub.client.get("/coupons/new").data)


def test_archiving_a_coupon_keeps_it_listed_and_stops_new_uses(hub, db, shop):
    coupon_id = add_coupon(db, code="TEN")
    assert hub.post(f"/coupons/{coupon_id}/archive", page="/coupons").status_code == 302
    with db.session() as s:
        assert s.get(Coupon, coupon_id).status == CatalogStatus.ARCHIVED
    page = text_of(hub.client.get("/coupons"))
    assert "Archived" in page and f"/coupons/{coupon_id}/archive" not in page
    refused = hub.post(f"/clients/{shop.client_id}/coupon", {"coupon_code": "ten"}, page="/")
    assert refused.status_code == 409 and "This coupon is archived." in text_of(refused)
    assert hub.post("/coupons/999/archive", page="/coupons").status_code == 404


def test_a_long_coupon_name_and_many_coupons_list(hub, db, shop):
    long_name = "Rentrée — remise fidélité pour les clients historiques " * 3
    for n in range(12):
        add_coupon(db, name=f"{long_name[:190]} {n}", code=f"CODE-{n}")
    page = text_of(hub.client.get("/coupons"))
    assert page.count('class="coupon-name"') == 12 and "12 coupons" in page


def test_a_coupon_is_applied_to_a_client_and_removed(hub, db, shop):
    coupon_id = add_coupon(db, code="LOYAL", duration="repeating", duration_cycles=3)
    base = f"/clients/{shop.client_id}"
    bad = hub.post(base + "/coupon", {"coupon_code": "nope"}, page=base)
    assert bad.status_code == 422 and "No coupon has this code." in text_of(bad)
    missing = hub.post(base + "/coupon", {"coupon_code": " "}, page=base)
    assert missing.status_code == 422
    assert hub.post(base + "/coupon", {"coupon_code": "loyal"}, page=base).status_code == 302
    page = text_of(hub.client.get(base))
    box = page[page.index('id="client-coupon"') :]
    assert "Ten" in box and "10% off" in box and "3 more invoices" in box
    with db.session() as s:
        discount_id = coupons.current(s, client_id=shop.client_id).id
        assert s.get(Discount, discount_id).coupon_id == coupon_id
        assert s.get(Coupon, coupon_id).times_redeemed == 1
    # The client's next bill takes it.
    billed = make_invoice(db, shop, "draft")
    with db.session() as s:
        assert s.get(Invoice, billed.id).discount > 0
    assert hub.post(base + "/coupon/remove", page=base).status_code == 302
    with db.session() as s:
        assert coupons.current(s, client_id=shop.client_id) is None
        assert s.get(Discount, discount_id).ended_at is not None
    assert 'id="client-coupon-code"' in text_of(hub.client.get(base))


def test_a_coupon_is_applied_to_a_subscription_and_removed(hub, db, shop):
    add_coupon(db, code="HOST50", percent_off="50", duration="forever")
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    path = f"{base}/subscriptions/{sid}/coupon"
    assert hub.post(path, {"coupon_code": "HOST50"}, page=base).status_code == 302
    products = text_of(hub.client.get(base + "?tab=products"))
    assert "50% off" in products and "forever" in products
    with db.session() as s:
        assert coupons.current(s, subscription_id=sid).coupon.code == "HOST50"
    assert hub.post(path + "/remove", page=base).status_code == 302
    with db.session() as s:
        assert coupons.current(s, subscription_id=sid) is None
    # Another client's subscription is not found here.
    assert (
        hub.post(f"/clients/999/subscriptions/{sid}/coupon", {"coupon_code": "x"}).status_code
        == 404
    )


def test_a_read_only_user_sees_no_coupon_buttons(client, db, shop):
    from tests.hub.conftest import Hub, add_staff, finish_getting_started

    finish_getting_started(db)
    add_staff(db, email="reader@agency.example", read_only=True)
    add_coupon(db, code="TEN")
    hub = Hub(client)
    hub.login(email="reader@agency.example")
    page = text_of(hub.client.get("/coupons"))
    assert "Ten" in page and "/archive" not in page and "/coupons/new" not in page
    assert hub.client.get("/coupons/new").status_code == 403
    client_page = text_of(hub.client.get(f"/clients/{shop.client_id}"))
    assert 'name="coupon_code"' not in client_page


def discounted_invoice(db, shop, **terms):
    """An invoice of the shop's client (1 200.00 + 2 x 49.00, 20 % VAT) with
    the client's coupon of ``terms``."""
    coupon_id = add_coupon(db, **terms)
    with db.session() as s:
        coupons.apply_to_client(s, s.get(Client, shop.client_id), s.get(Coupon, coupon_id))
        s.commit()
    return make_invoice(db, shop, "open")


def test_the_hub_and_hosted_invoice_pages_show_each_lines_discount(hub, db, shop):
    made = discounted_invoice(db, shop, name="SUMMER20", percent_off="20")
    with db.session() as s:
        invoice = s.get(Invoice, made.id)
        lines = [(line.amount, line.discount) for line in invoice.lines]
        total, tax = invoice.total, invoice.tax
    assert lines == [(120_000, 24_000), (9_800, 1_960)]
    # Lines - discount + tax = total.
    assert sum(a for a, _ in lines) - sum(d for _, d in lines) + tax == total == 124_608
    hub_page = text_of(hub.client.get(f"/invoices/{made.id}"))
    hosted = text_of(hub.client.get(made.path))
    for page in (hub_page, hosted):
        assert 'id="discount-label">Discount: SUMMER20 — 20% off<' in page
        assert ">-€240.00</td>" in page and ">-€19.60</td>" in page
        assert 'id="discount">-€259.60<' in page
        assert "€1,246.08" in page


def test_a_hundred_percent_off_invoice_renders_with_a_total_of_zero(hub, db, shop):
    made = discounted_invoice(db, shop, name="Free month", percent_off="100")
    with db.session() as s:
        assert s.get(Invoice, made.id).total == 0
    hosted = hub.client.get(made.path)
    assert hosted.status_code == 200
    page = text_of(hosted)
    assert 'id="total">€0.00<' in page and "Discount: Free month — 100% off" in page
    assert hub.client.get(f"/invoices/{made.id}").status_code == 200
    assert hub.client.get(f"/invoices/{made.id}/pdf").status_code == 200
