"""Issue 14, Discounts: coupons through the API (both databases): every
field validated (422 naming it), expired / used-up coupons a 409 with a
stable code, a discounted invoice's lines sum to its totals with taxes on
the discounted amounts, a full refund returns exactly what was paid, and
"20 % off for 3 cycles, then full price" over five renewals."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from bridge.billing import renewals
from bridge.models import AuditEntry, Invoice
from tests.integration.test_api_invoices import shop as shop  # noqa: F401  (fixture)

START = datetime(2027, 1, 10, 10, 0, tzinfo=UTC)


def coupon(api, **fields):
    body = {"name": "Welcome", "duration": "once", "percent_off": "20", **fields}
    body = {key: value for key, value in body.items() if value is not None}
    response = api.post("/coupons", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bill(api, shop, items=None, **extra):  # noqa: F811
    body = {
        "client_id": shop["client"]["id"],
        "items": items or [{"plan_id": shop["setup"]["id"]}],
        "tax_rate_ids": [shop["vat"]["id"]],
        **extra,
    }
    return api.post("/invoices", json=body)


def assert_sums(invoice):
    lines = invoice["lines"]
    assert invoice["subtotal"] == sum(line["net"] for line in lines)
    assert invoice["tax"] == sum(line["tax"] for line in lines)
    assert invoice["total"] == invoice["subtotal"] + invoice["tax"]
    assert invoice["discount"] == sum(line["discount"] for line in lines)
    for line in lines:
        assert 0 <= line["discount"] <= line["amount"]
        assert line["net"] == line["amount"] - line["discount"]  # exclusive VAT here


def test_create_list_get_and_archive_a_coupon(api_eur, db):
    made = coupon(api_eur, percent_off="12.5", code="Spring-25", max_redemptions=10)
    assert (made["percent_off"], made["percent_off_e2"], made["code"]) == (
        "12.5",
        1250,
        "Spring-25",
    )
    assert made["status"] == "active" and made["times_redeemed"] == 0
    assert [c["id"] for c in api_eur.get("/coupons").get_json()["data"]] == [made["id"]]
    assert api_eur.get(f"/coupons/{made['id']}").get_json()["name"] == "Welcome"
    archived = api_eur.delete(f"/coupons/{made['id']}")
    assert archived.status_code == 200 and archived.get_json()["status"] == "archived"
    assert api_eur.get("/coupons?status=active").get_json()["data"] == []
    with db.session() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
    assert {"coupon.created", "coupon.archived"} <= actions


@pytest.mark.parametrize(
    "body, field",
    [
        ({"percent_off": "12.345"}, "percent_off"),
        ({"percent_off": "0"}, "percent_off"),
        ({"percent_off": "100.01"}, "percent_off"),
        ({"percent_off": 20}, "percent_off"),
        ({"amount_off": 500}, "percent_off"),  # both given
        ({"percent_off": None}, "percent_off"),
        ({"name": ""}, "name"),
        ({"duration": "weekly"}, "duration"),
        ({"duration": "repeating"}, "duration_cycles"),
        ({"duration_cycles": 3}, "duration_cycles"),  # "once" takes no cycles
        ({"duration": "repeating", "duration_cycles": 0}, "duration_cycles"),
        ({"code": "has space"}, "code"),
        ({"expires_on": "2000-01-01"}, "expires_on"),
        ({"expires_on": "tomorrow"}, "expires_on"),
        ({"max_redemptions": 0}, "max_redemptions"),
        ({"product_ids": [999_999]}, "product_ids"),
        ({"product_ids": []}, "product_ids"),
    ],
)
def test_bad_coupon_fields_are_a_422_naming_the_field(api_eur, body, field):
    response = api_eur.post(
        "/coupons", json={"name": "X", "duration": "once", "percent_off": "10", **body}
    )
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert api_eur.get("/coupons").get_json()["data"] == []


def test_amount_off_alone_and_bad_amounts(api_eur):
    body = {"name": "Five off", "duration": "forever", "amount_off": 500}
    made = api_eur.post("/coupons", json=body).get_json()
    assert (made["amount_off"], made["currency"], made["percent_off"]) == (500, "EUR", None)
    for bad in (0, -1, 1.5, "5"):
        response = api_eur.post("/coupons", json={**body, "amount_off": bad})
        assert (
            response.status_code == 422 and "amount_off" in response.get_json()["error"]["fields"]
        )


def test_codes_are_unique_whatever_their_case(api_eur):
    coupon(api_eur, code="SUMMER")
    response = api_eur.post(
        "/coupons", json={"name": "Y", "duration": "once", "percent_off": "5", "code": "summer"}
    )
    assert response.status_code == 422 and "code" in response.get_json()["error"]["fields"]


def test_a_percent_coupon_by_code_discounts_each_line_and_taxes_the_rest(api_eur, shop):  # noqa: F811
    coupon(api_eur, code="Welcome20", percent_off="12.5")
    # Setup 150.00 and Monthly 29.00 x 3 = 87.00; 12.5 % -> 18.75 and 10.875 -> 10.88.
    answer = bill(
        api_eur,
        shop,
        [{"plan_id": shop["setup"]["id"]}, {"plan_id": shop["monthly"]["id"], "quantity": 3}],
        coupon_code="welcome20",
    )
    assert answer.status_code == 201, answer.get_json()
    invoice = answer.get_json()
    assert [line["discount"] for line in invoice["lines"]] == [1875, 1088]
    assert [line["net"] for line in invoice["lines"]] == [13125, 7612]
    assert [line["tax"] for line in invoice["lines"]] == [2625, 1522]  # 20 % of the rest
    assert invoice["discount"] == 2963 and invoice["discount_id"]
    assert_sums(invoice)


def test_amount_off_larger_than_the_line_takes_it_to_zero_never_below(api_eur, shop):  # noqa: F811
    made = coupon(api_eur, percent_off=None, amount_off=1_000_000)
    invoice = bill(
        api_eur, shop, [{"plan_id": shop["monthly"]["id"]}], coupon_id=made["id"]
    ).get_json()
    line = invoice["lines"][0]
    assert (line["amount"], line["discount"], line["net"], line["tax"]) == (2900, 2900, 0, 0)
    assert (invoice["subtotal"], invoice["tax"], invoice["total"]) == (0, 0, 0)


def test_amount_off_is_spread_over_the_lines_exactly(api_eur, shop):  # noqa: F811
    made = coupon(api_eur, percent_off=None, amount_off=1000)
    invoice = bill(
        api_eur,
        shop,
        [{"plan_id": shop["setup"]["id"]}, {"plan_id": shop["monthly"]["id"]}],
        coupon_id=made["id"],
    ).get_json()
    # 10.00 over 150.00 and 29.00: 837.99 and 162.01 -> 838 and 162.
    assert [line["discount"] for line in invoice["lines"]] == [838, 162]
    assert_sums(invoice)


def test_a_coupon_of_chosen_products_leaves_the_other_lines(api_eur, shop):  # noqa: F811
    other = api_eur.post("/products", json={"name": "SEO"}).get_json()
    made = coupon(api_eur, product_ids=[other["id"]])
    invoice = bill(api_eur, shop, coupon_id=made["id"]).get_json()
    assert invoice["discount"] == 0 and invoice["lines"][0]["net"] == 15000


def test_unknown_expired_and_used_up_coupons(api_eur, shop):  # noqa: F811
    response = bill(api_eur, shop, coupon_code="NOPE")
    assert response.status_code == 422 and "coupon_code" in response.get_json()["error"]["fields"]
    response = bill(api_eur, shop, coupon_id=999_999)
    assert response.status_code == 422 and "coupon_id" in response.get_json()["error"]["fields"]
    with time_machine.travel(START, tick=False):
        expiring = coupon(api_eur, code="LAST", expires_on="2027-01-31", max_redemptions=1)
        assert bill(api_eur, shop, coupon_code="last").status_code == 201
        used_up = bill(api_eur, shop, coupon_code="last")
        assert used_up.status_code == 409
        assert used_up.get_json()["error"]["code"] == "coupon_exhausted"
    with time_machine.travel(START + timedelta(days=30), tick=False):
        late = coupon(api_eur, code="LATE", expires_on="2027-02-09")
    with time_machine.travel(START + timedelta(days=30), tick=False):
        assert bill(api_eur, shop, coupon_code="late").status_code == 201  # its last day
    with time_machine.travel(START + timedelta(days=30, hours=24), tick=False):
        expired = bill(api_eur, shop, coupon_id=late["id"])
        assert expired.status_code == 409
        assert expired.get_json()["error"]["code"] == "coupon_expired"
    api_eur.delete(f"/coupons/{expiring['id']}")
    archived = api_eur.post(
        f"/clients/{shop['client']['id']}/coupon", json={"coupon_id": expiring["id"]}
    )
    assert archived.status_code == 409
    assert archived.get_json()["error"]["code"] == "coupon_archived"


def test_apply_needs_exactly_one_of_id_or_code(api_eur, shop):  # noqa: F811
    for body in ({}, {"coupon_id": 1, "coupon_code": "X"}, {"coupon_id": "1"}):
        response = api_eur.post(f"/clients/{shop['client']['id']}/coupon", json=body)
        assert response.status_code == 422, body
        assert "coupon_id" in response.get_json()["error"]["fields"]


def test_a_full_refund_of_a_discounted_invoice_returns_exactly_what_was_paid(api_eur, shop):  # noqa: F811
    made = coupon(api_eur, percent_off="33.33")
    invoice = bill(
        api_eur,
        shop,
        [{"plan_id": shop["setup"]["id"]}, {"plan_id": shop["monthly"]["id"], "quantity": "1.5"}],
        coupon_id=made["id"],
    ).get_json()
    assert_sums(invoice)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    paid = api_eur.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": invoice["total"], "method": "cash"}
    )
    assert paid.status_code in (200, 201), paid.get_json()
    note = api_eur.post(
        f"/invoices/{invoice['id']}/credit-notes", json={"amount": invoice["total"]}
    )
    assert note.status_code == 201, note.get_json()
    credit = note.get_json()
    assert credit["amount"] == invoice["total"]
    assert (credit["subtotal"], credit["tax"]) == (invoice["subtotal"], invoice["tax"])
    after = api_eur.get(f"/invoices/{invoice['id']}").get_json()
    assert after["amount_refunded"] == after["amount_paid"] == invoice["total"]


def test_20_percent_off_for_3_cycles_then_full_price(api_eur, shop, db):  # noqa: F811
    with time_machine.travel(START, tick=False):
        first = bill(api_eur, shop, [{"plan_id": shop["monthly"]["id"]}]).get_json()
        api_eur.post(f"/invoices/{first['id']}/finalize")
        api_eur.post(f"/invoices/{first['id']}/payments", json={"amount": 3480, "method": "cash"})
        sub = api_eur.get("/subscriptions").get_json()["data"][0]
        made = coupon(api_eur, duration="repeating", duration_cycles=3, code="THREE")
        applied = api_eur.post(f"/subscriptions/{sub['id']}/coupon", json={"coupon_code": "three"})
        assert applied.status_code == 201, applied.get_json()
        assert applied.get_json()["coupon"]["id"] == made["id"]
    totals = []
    for month in range(1, 6):
        at = datetime(2027, 1 + month, 10, 10, 30, tzinfo=UTC)
        with time_machine.travel(at, tick=False), db.session() as s:
            renewals.renew_due(s, at)
            s.commit()
            # The scheduler running again in the same period renews nothing twice.
            renewals.renew_due(s, at)
            s.commit()
        with db.session() as s:
            renewal = s.scalars(
                select(Invoice)
                .where(Invoice.subscription_id == sub["id"])
                .order_by(Invoice.period_start.desc())
            ).first()
            totals.append((renewal.discount, renewal.subtotal, renewal.total))
            renewal_id, renewal_total = renewal.id, renewal.total
        # Paid, so the subscription renews again next month (outside the
        # session above: SQLite has one writer, and its transaction holds it).
        paid = api_eur.post(
            f"/invoices/{renewal_id}/payments", json={"amount": renewal_total, "method": "cash"}
        )
        assert paid.status_code == 201, paid.get_json()
    assert totals == [(580, 2320, 2784)] * 3 + [(0, 2900, 3480)] * 2


def _mrr(db, client_id):
    from bridge.billing import metrics
    from bridge.models import Client

    with db.session() as s:
        return metrics.mrr(s, client_id=client_id), s.get(Client, client_id).mrr, metrics.mrr(s)


def test_mrr_counts_the_discounted_amount(api_eur, shop, db):  # noqa: F811
    client_id = shop["client"]["id"]
    with time_machine.travel(START, tick=False):
        first = bill(api_eur, shop, [{"plan_id": shop["monthly"]["id"], "quantity": 2}]).get_json()
        api_eur.post(f"/invoices/{first['id']}/finalize")
        api_eur.post(
            f"/invoices/{first['id']}/payments", json={"amount": first["total"], "method": "cash"}
        )
        assert _mrr(db, client_id) == (5800, 5800, 5800)
        forever = coupon(api_eur, duration="forever", percent_off="12.5")
        applied = api_eur.post(f"/clients/{client_id}/coupon", json={"coupon_id": forever["id"]})
        assert applied.status_code == 201, applied.get_json()
        assert _mrr(db, client_id) == (5075, 5075, 5075)  # 58.00 - 7.25
        sub = api_eur.get("/subscriptions").get_json()["data"][0]
        once = coupon(api_eur, percent_off=None, amount_off=10_000, duration="once")
        api_eur.post(f"/subscriptions/{sub['id']}/coupon", json={"coupon_id": once["id"]})
        # The subscription's own coupon wins; 100.00 off a 58.00 line: 0.
        assert _mrr(db, client_id) == (0, 0, 0)
    at = datetime(2027, 2, 10, 10, 30, tzinfo=UTC)
    with time_machine.travel(at, tick=False), db.session() as s:
        renewals.renew_due(s, at)
        s.commit()
    with db.session() as s:
        renewal = s.scalars(select(Invoice).where(Invoice.subscription_id == sub["id"])).one()
        assert (renewal.discount, renewal.total) == (5800, 0)
    # Its one cycle used: the subscription is at full price again (its own
    # coupon, used up, still stands in for the client's).
    assert _mrr(db, client_id) == (5800, 5800, 5800)


def test_the_discount_prints_on_the_pdf_and_the_hosted_page(api_eur, shop, client):  # noqa: F811
    from tests.pdf.conftest import pdf_text

    made = coupon(api_eur, percent_off="10")
    invoice = bill(api_eur, shop, coupon_id=made["id"]).get_json()  # 150.00 - 15.00
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    assert sent["coupon"]["name"] == "Welcome" and sent["coupon"]["percent_off"] == "10"
    assert [line["discount"] for line in sent["lines"]] == [1500]
    page = client.get(sent["hosted_url"].split("localhost", 1)[-1]).data.decode()
    assert 'id="subtotal">€150.00' in page and 'id="discount">-€15.00' in page
    assert 'id="discount-label">Discount: Welcome — 10% off<' in page
    assert '<td class="num discount-col line-discount">-€15.00</td>' in page
    # Lines - discount + tax = total, as the page prints them.
    assert 'id="total">€162.00' in page and ">€27.00<" in page
    text = pdf_text(api_eur.get(f"/invoices/{invoice['id']}/pdf").data)
    assert "Subtotal\nDiscount: Welcome — 10% off\nVAT (20%)\nTotal" in text
    assert "€150.00\n -€15.00\n €27.00\n€162.00" in text  # 135.00 + 20 % VAT
    listed = api_eur.get(f"/invoices?client_id={shop['client']['id']}").get_json()["data"]
    assert listed[0]["discount"] == 1500
    plain = api_eur.get(f"/invoices/{bill(api_eur, shop).get_json()['id']}").get_json()
    assert plain["coupon"] is None and plain["lines"][0]["discount"] == 0


def test_a_coupon_on_a_draft_reprices_it_and_survives_an_edit(api_eur, shop):  # noqa: F811
    invoice = bill(api_eur, shop).get_json()
    made = coupon(api_eur, percent_off="50", code="HALF")
    applied = api_eur.post(f"/invoices/{invoice['id']}/coupon", json={"coupon_code": "half"})
    assert applied.status_code == 200, applied.get_json()
    assert applied.get_json()["discount"] == 7500
    edited = api_eur.patch(
        f"/invoices/{invoice['id']}",
        json={"items": [{"plan_id": shop["monthly"]["id"], "quantity": 2}]},
    ).get_json()
    assert edited["discount"] == 2900 and edited["discount_id"] == applied.get_json()["discount_id"]
    assert_sums(edited)
    api_eur.post(f"/invoices/{invoice['id']}/finalize")
    late = api_eur.post(f"/invoices/{invoice['id']}/coupon", json={"coupon_id": made["id"]})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "invoice_not_draft"
