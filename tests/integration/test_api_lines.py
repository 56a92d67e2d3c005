"""Issue 14, Lines: decimal quantities, one-off lines and per-line tax rates
through the API (both databases)."""

import re

import pytest

from tests import shop as shops
from tests.pdf.conftest import pdf_text


@pytest.fixture
def shop(api_eur):
    api = api_eur
    plans = shops.api_product(api, "Hosting", {"monthly": shops.MONTHLY, "setup": shops.SETUP})
    vat = shops.api_vat(api)
    reduced = shops.api_vat(api, "5.5", name="Reduced VAT")
    client = shops.api_client(api)
    return {**plans, "vat": vat, "reduced": reduced, "client": client}


def bill(api, shop, items, **extra):
    body = {"client_id": shop["client"]["id"], "items": items, **extra}
    return api.post("/invoices", json=body)


def test_a_decimal_quantity_is_billed_exactly_and_rounded_once(api_eur, shop):
    # 29.00 x 1.5 = 43.50; 333 x 0.333 = 110.889 -> 111 (half-up, once).
    answer = bill(
        api_eur,
        shop,
        [
            {"plan_id": shop["monthly"]["id"], "quantity": 1.5},
            {"description": "Support", "unit_amount": 333, "quantity": "0.333"},
        ],
        tax_rate_ids=[shop["vat"]["id"]],
    )
    assert answer.status_code == 201, answer.get_json()
    invoice = answer.get_json()
    lines = invoice["lines"]
    assert [(line["quantity"], line["quantity_e3"]) for line in lines] == [
        (1.5, 1500),
        (0.333, 333),
    ]
    assert [line["net"] for line in lines] == [4350, 111]
    assert invoice["subtotal"] == 4461
    assert invoice["tax"] == 870 + 22
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    subs = api_eur.get(f"/subscriptions?client_id={shop['client']['id']}").get_json()["data"]
    assert [(s["quantity"], s["quantity_e3"]) for s in subs] == [(1.5, 1500)]
    assert sent["status"] == "open"


def test_whole_quantities_still_read_as_integers(api_eur, shop):
    invoice = bill(api_eur, shop, [{"plan_id": shop["monthly"]["id"], "quantity": 2}]).get_json()
    assert invoice["lines"][0]["quantity"] == 2
    assert isinstance(invoice["lines"][0]["quantity"], int)


@pytest.mark.parametrize(
    ("quantity", "message"),
    [
        (1.2345, "At most 3 decimals."),
        ("1.2345", "At most 3 decimals."),
        (0, "Must be more than 0."),
        ("0.000", "Must be more than 0."),
        (-1, "Must be more than 0."),
        ("-0.5", "Must be more than 0."),
        (10_000.001, "At most 10000."),
        (10**30, "At most 10000."),
        ("1,5", "Not a number: write it like 1.5."),
        ("lots", "Not a number: write it like 1.5."),
        (True, "Not a number."),
        (None, "Field may not be null."),
    ],
)
def test_a_bad_quantity_is_a_422_naming_the_field(api_eur, shop, quantity, message):
    answer = bill(api_eur, shop, [{"plan_id": shop["monthly"]["id"], "quantity": quantity}])
    assert answer.status_code == 422
    assert answer.get_json()["error"]["fields"]["items.0.quantity"] == [message]


def test_a_one_off_line_with_its_own_tax_next_to_a_plan_at_the_invoice_rate(api_eur, shop):
    answer = bill(
        api_eur,
        shop,
        [
            {"plan_id": shop["setup"]["id"]},
            {
                "description": "Printed manual",
                "unit_amount": 2000,
                "quantity": 2,
                "tax_rate_ids": [shop["reduced"]["id"]],
            },
            {"description": "Migration", "unit_amount": 10000, "tax_rate_ids": []},
        ],
        tax_rate_ids=[shop["vat"]["id"]],
    )
    assert answer.status_code == 201, answer.get_json()
    invoice = answer.get_json()
    setup, book, migration = invoice["lines"]
    assert (setup["plan_id"], setup["tax_rate_ids"], setup["tax"]) == (
        shop["setup"]["id"],
        None,
        3000,
    )
    assert (book["plan_id"], book["kind"], book["description"]) == (
        None,
        "one_time",
        "Printed manual",
    )
    assert (book["tax_rate_ids"], book["tax"]) == ([shop["reduced"]["id"]], 220)
    assert (migration["tax_rate_ids"], migration["tax"], migration["taxes"]) == ([], 0, [])
    assert invoice["subtotal"] == 15000 + 4000 + 10000
    assert invoice["tax"] == 3000 + 220
    assert invoice["total"] == 29000 + 3220
    # Changing the invoice's rates keeps the lines' own.
    patched = api_eur.patch(f"/invoices/{invoice['id']}", json={"tax_rate_ids": []}).get_json()
    assert [line["tax"] for line in patched["lines"]] == [0, 220, 0]


def test_a_one_off_line_saved_as_a_plan_goes_to_the_one_off_product(api_eur, shop):
    items = [
        {"description": "Migration", "unit_amount": 10000, "quantity": "1", "save_as_plan": True}
    ]
    invoice = bill(api_eur, shop, items).get_json()
    plan_id = invoice["lines"][0]["plan_id"]
    assert plan_id is not None
    products = api_eur.get("/products?per_page=100").get_json()["data"]
    one_off = [p for p in products if p["name"] == "One-off services"]
    assert len(one_off) == 1
    again = bill(api_eur, shop, [{**items[0], "description": "Backup restore"}]).get_json()
    products = api_eur.get("/products?per_page=100").get_json()["data"]
    assert len([p for p in products if p["name"] == "One-off services"]) == 1
    assert again["lines"][0]["plan_id"] not in (None, plan_id)


@pytest.mark.parametrize(
    ("item", "field", "message"),
    [
        ({"unit_amount": 100}, "description", "Required without plan_id (a one-off line)."),
        ({"description": "X"}, "unit_amount", "Required without plan_id (a one-off line)."),
        ({"description": "  ", "unit_amount": 1}, "description", None),
        ({"description": "X", "unit_amount": -1}, "unit_amount", None),
        ({"description": "X", "unit_amount": 10**13}, "unit_amount", None),
        ({"description": "X" * 501, "unit_amount": 1}, "description", None),
        ({"description": "X", "unit_amount": "12.50"}, "unit_amount", None),
        ({"description": "X", "unit_amount": 1, "tax_rate_ids": [999]}, "tax_rate_ids", None),
        ({"description": "X", "unit_amount": 1, "tax_rate_ids": "1"}, "tax_rate_ids", None),
        ({"description": "X", "unit_amount": 1, "product_id": 1}, "product_id", None),
        ({"description": "X", "unit_amount": 1, "save_as_plan": "yes"}, "save_as_plan", None),
        (
            {"description": "X", "unit_amount": 1, "save_as_plan": True, "product_id": 999},
            "product_id",
            None,
        ),
        ("PLAN+description", "description", None),
    ],
)
def test_a_bad_one_off_line_is_a_422_naming_the_field(api_eur, shop, item, field, message):
    if item == "PLAN+description":
        item = {"plan_id": shop["setup"]["id"], "description": "X"}
    answer = bill(api_eur, shop, [item])
    assert answer.status_code == 422, answer.get_json()
    errors = answer.get_json()["error"]["fields"]
    assert f"items.0.{field}" in errors, errors
    if message:
        assert errors[f"items.0.{field}"] == [message]


def test_decimal_quantities_on_the_hosted_page_and_the_pdf(api_eur, shop, client):
    invoice = bill(
        api_eur,
        shop,
        [
            {"plan_id": shop["setup"]["id"], "quantity": "1.5"},
            {
                "description": "Book",
                "unit_amount": 2000,
                "tax_rate_ids": [shop["reduced"]["id"]],
            },
        ],
        tax_rate_ids=[shop["vat"]["id"]],
        language="fr",
    ).get_json()
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    page = client.get(sent["hosted_url"].split("localhost", 1)[-1]).data.decode()
    assert ">1,5<" in page and "1,500" not in page
    assert "VAT 20" in page and "Reduced VAT 5,5" in page
    pdf = api_eur.get(f"/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200
    text = pdf_text(pdf.data)
    assert re.search(r"(^|\s)1,5(\s|$)", text), text
    assert "1,500" not in text
    assert "VAT 20" in text and "Reduced VAT 5,5" in text
