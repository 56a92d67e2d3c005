"""Issue 14, Lines, in the Hub's *Bill client*: decimal quantities in the
reader's locale, one-off lines (saved as a plan on request) and a tax
choice per line."""

from __future__ import annotations

from sqlalchemy import select

from bridge.models import Invoice, Plan, Product
from tests import shop as shops
from tests.hub import test_hub_bill
from tests.hub.test_hub_bill import count, form_data

shop = test_hub_bill.shop  # the same fixture

FR = {"Accept-Language": "fr"}


def test_a_decimal_quantity_and_a_one_off_line_with_its_own_tax(hub, shop, db):
    with db.session() as s:
        reduced = shops.add_vat(s, "5.5", name="Reduced VAT")
    page = hub.client.get("/bill")
    added = hub.client.post("/bill", data=form_data(page.data, shop, action="add-one-off"))
    text = added.data.decode()
    assert "Add a one-off line" in text
    assert 'name="items-2-description"' in text and 'name="items-2-unit_amount"' in text
    assert 'name="items-2-one_off" value="1"' in text
    data = form_data(
        page.data,
        shop,
        action="save",
        **{
            "items-0-quantity": "1.5",
            "items-2-one_off": "1",
            "items-2-description": "Printed manual",
            "items-2-unit_amount": "20.00",
            "items-2-quantity": "2",
            "items-2-tax": str(reduced),
        },
    )
    review = hub.client.post("/bill", data={**data, "action": "continue"})
    assert review.status_code == 200
    body = review.data.decode()
    assert ">1.5<" in body and "1.500" not in body
    assert "Printed manual" in body and "Reduced VAT 5.5" in body
    saved = hub.client.post("/bill", data=data)
    assert saved.status_code == 303
    with db.session() as s:
        invoice = s.scalars(select(Invoice)).one()
        lines = [(line.description, line.quantity_e3, line.net, line.tax) for line in invoice.lines]
        assert lines == [
            ("Hosting — Monthly", 1500, 4350, 870),
            ("Hosting — Setup", 1000, 15000, 3000),
            ("Printed manual", 2000, 4000, 220),
        ]
        assert invoice.lines[2].plan_id is None and invoice.lines[2].tax_rate_ids == [reduced]
        assert invoice.total == 23350 + 4090
        # The draft reopens with its one-off line and its quantities.
        invoice_id = invoice.id
    edit = hub.client.get(f"/bill/{invoice_id}").data.decode()
    assert 'value="1.5"' in edit and 'value="Printed manual"' in edit


def test_a_french_reader_types_and_reads_1_5(hub, shop, db):
    page = hub.client.get("/bill", headers=FR)
    data = form_data(page.data, shop, action="continue", **{"items-0-quantity": "1,5"})
    review = hub.client.post("/bill", data=data, headers=FR)
    assert review.status_code == 200
    assert ">1,5<" in review.data.decode()


def test_a_one_off_line_saved_as_a_one_time_plan(hub, shop, db):
    page = hub.client.get("/bill")
    data = form_data(
        page.data,
        shop,
        action="save",
        **{
            "items-1-plan_id": None,
            "items-1-quantity": "0.25",
            "items-1-one_off": "1",
            "items-1-description": "Migration from the old host",
            "items-1-unit_amount": "800",
            "items-1-save_as_plan": "y",
        },
    )
    assert hub.client.post("/bill", data=data).status_code == 303
    with db.session() as s:
        plan = s.scalars(select(Plan).where(Plan.name == "Migration from the old host")).one()
        assert (plan.amount, plan.kind.value) == (80000, "one_time")
        assert s.get(Product, plan.product_id).name == "One-off services"
        line = s.scalars(select(Invoice)).one().lines[1]
        assert (line.plan_id, line.quantity_e3, line.net) == (plan.id, 250, 20000)


def test_bad_one_off_and_quantity_input_comes_back_next_to_the_field(hub, shop, db):
    page = hub.client.get("/bill")
    cases = [
        ({"items-0-quantity": "1.2345"}, "items-0-quantity"),
        ({"items-0-quantity": "0"}, "items-0-quantity"),
        ({"items-0-quantity": "-1"}, "items-0-quantity"),
        ({"items-0-quantity": "10000.5"}, "items-0-quantity"),
        ({"items-0-quantity": "1,000"}, "items-0-quantity"),
        ({"items-1-one_off": "1", "items-1-unit_amount": "5"}, "items-1-description"),
        ({"items-1-one_off": "1", "items-1-description": "X"}, "items-1-unit_amount"),
        (
            {"items-1-one_off": "1", "items-1-description": "X", "items-1-unit_amount": "1.234"},
            "items-1-unit_amount",
        ),
    ]
    for changes, field in cases:
        for action in ("continue", "save"):
            answer = hub.client.post(
                "/bill", data=form_data(page.data, shop, action=action, **changes)
            )
            assert answer.status_code == 422, (changes, action)
            assert f'id="{field}-error"' in answer.data.decode(), (changes, action)
    assert count(db) == 0
