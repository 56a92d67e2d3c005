"""The Hub's products & services screen through the test client: the list
with its status filter and expandable plans, a new product with its first
plan, a new plan, a duplicated plan, a product's new name, archive and
restore, and bad input coming back next to its field."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from bridge.models import CatalogStatus, IntervalUnit, Plan, PlanKind, Product, TaxRate
from tests import shop as shops
from tests.hub.conftest import csrf_token
from tests.integration.test_api_settings import png


def text_of(response) -> str:
    return response.data.decode()


@pytest.fixture
def eur(db):
    with db.session() as s:
        shops.open_business(s)


@pytest.fixture
def care(db, eur) -> dict[str, int]:
    """Website care: a site build (1,200.00 once) and hosting (49.00 a month)."""
    with db.session() as s:
        plans = shops.add_product(
            s,
            "Website care",
            {
                "build": shops.one_time("Site build", 120000),
                "hosting": shops.recurring("Managed hosting", 4900),
            },
        )
        product_id = s.get(Plan, plans["build"]).product_id
    return {"product": product_id, **plans}


def plan_form(**fields) -> dict:
    return {
        "plan_name": "Hosting",
        "kind": "recurring",
        "amount": "49.50",
        "interval_unit": "month",
        "interval_count": "1",
        "billing_cycles": "",
    } | fields


def test_an_empty_catalogue_says_what_a_product_is(hub):
    page = text_of(hub.client.get("/products"))
    assert 'id="no-products"' in page
    assert 'id="new-product"' in page
    assert 'aria-current="page" href="/products"' not in page  # nav entry is the real screen
    assert '<a href="/products" aria-current="page">' in page


def test_the_list_shows_each_product_with_status_plan_count_and_its_plans(hub, care):
    page = text_of(hub.client.get("/products"))
    assert "Website care" in page
    assert "2 plans" in page
    assert "Site build" in page and "€1,200.00" in page and "One-time" in page
    assert "Managed hosting" in page and "€49.00" in page and "every month" in page
    assert "<details" in page


def test_the_status_filter_separates_active_and_archived_products(hub, care, db):
    with db.session() as s:
        shops.add_product(s, "Old SEO pack", {})
        old = s.scalar(select(Product).where(Product.name == "Old SEO pack"))
        old.status = CatalogStatus.ARCHIVED
    active = text_of(hub.client.get("/products?status=active"))
    archived = text_of(hub.client.get("/products?status=archived"))
    assert "Website care" in active and "Old SEO pack" not in active
    assert "Old SEO pack" in archived and "Website care" not in archived
    everything = text_of(hub.client.get("/products?status=bogus"))
    assert "Website care" in everything and "Old SEO pack" in everything


def test_a_new_product_with_a_recurring_plan_stores_the_amount_in_minor_units(hub, db, eur):
    response = hub.post(
        "/products/new",
        {"name": "Maintenance", "description": "Updates", **plan_form(billing_cycles="12")},
        page="/products/new",
    )
    assert response.status_code == 302, response.data
    with db.session() as s:
        product = s.scalar(select(Product).where(Product.name == "Maintenance"))
        (plan,) = product.plans
        assert plan.kind == PlanKind.RECURRING
        assert plan.amount == 4950
        assert plan.currency == "EUR"
        assert (plan.interval_unit, plan.interval_count, plan.billing_cycles) == (
            IntervalUnit.MONTH,
            1,
            12,
        )
    page = text_of(hub.client.get(response.headers["Location"]))
    assert "12 cycles" in page


def test_a_new_product_without_a_plan_name_has_no_plan_yet(hub, db, eur):
    response = hub.post(
        "/products/new", {"name": "SEO audit", **plan_form(plan_name="")}, page="/products/new"
    )
    assert response.status_code == 302
    with db.session() as s:
        assert s.scalar(select(Product).where(Product.name == "SEO audit")).plans == []


def test_a_one_time_plan_added_to_a_product(hub, db, care):
    response = hub.post(
        f"/products/{care['product']}/plans/new",
        plan_form(plan_name="Logo design", kind="one_time", amount="300"),
        page=f"/products/{care['product']}/plans/new",
    )
    assert response.status_code == 302
    with db.session() as s:
        plan = s.scalar(select(Plan).where(Plan.name == "Logo design"))
        assert (plan.kind, plan.amount, plan.interval_unit) == (PlanKind.ONE_TIME, 30000, None)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "Required."),
        ({"amount": "12.345"}, "amount", "Write an amount such as 49 or 49.50."),
        ({"amount": "-3"}, "amount", "Write an amount such as 49 or 49.50."),
        ({"amount": "abc"}, "amount", "Write an amount such as 49 or 49.50."),
        ({"interval_count": "x"}, "interval_count", "A whole number."),
        ({"interval_count": "40"}, "interval_count", "Between 1 and 36"),
        ({"billing_cycles": "0"}, "billing_cycles", "Between 1 and 1000"),
    ],
)
def test_bad_input_on_the_new_product_form_comes_back_next_to_its_field(
    hub, db, eur, fields, field, message
):
    data = {"name": "Maintenance", **plan_form(), **fields}
    response = hub.post("/products/new", data, page="/products/new")
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert message in page.split(f'id="{field}-error"')[1][:200]
    with db.session() as s:
        assert s.scalar(select(Product)) is None


def test_a_plan_needs_a_currency_first(hub, db):
    response = hub.post("/products/new", {"name": "Care", **plan_form()}, page="/products/new")
    assert response.status_code == 422
    assert "Choose the business currency first" in text_of(response)


def test_duplicating_a_plan_opens_the_form_prefilled_and_saves_a_new_plan(hub, db, care):
    path = f"/products/{care['product']}/plans/new?from={care['hosting']}"
    form = text_of(hub.client.get(path))
    assert 'value="Managed hosting (copy)"' in form
    assert 'value="49.00"' in form
    assert '<option value="recurring" selected>' in form
    response = hub.post(path, plan_form(plan_name="Managed hosting 2027", amount="55"), page=path)
    assert response.status_code == 302
    with db.session() as s:
        copy = s.scalar(select(Plan).where(Plan.name == "Managed hosting 2027"))
        assert copy.amount == 5500
        assert copy.duplicated_from_id == care["hosting"]
        assert s.get(Plan, care["hosting"]).amount == 4900  # the original is untouched


def test_a_product_changes_its_name_only(hub, db, care):
    path = f"/products/{care['product']}/edit"
    assert 'value="Website care"' in text_of(hub.client.get(path))
    response = hub.post(path, {"name": "Website care plus"}, page=path)
    assert response.status_code == 302
    with db.session() as s:
        assert s.get(Product, care["product"]).name == "Website care plus"
    refused = hub.post(path, {"name": "  "}, page=path)
    assert refused.status_code == 422
    assert 'id="name-error"' in text_of(refused)


def test_archive_and_restore_a_product_and_a_plan(hub, db, care):
    product, plan = care["product"], care["hosting"]
    assert hub.post(f"/products/{product}/archive", page="/products").status_code == 302
    assert hub.post(f"/plans/{plan}/archive", page="/products").status_code == 302
    with db.session() as s:
        assert s.get(Product, product).status == CatalogStatus.ARCHIVED
        assert s.get(Plan, plan).status == CatalogStatus.ARCHIVED
    page = text_of(hub.client.get("/products?status=archived"))
    assert "Restore" in page
    # An archived product takes no new plan until it is restored.
    refused = hub.post(
        f"/products/{product}/plans/new", plan_form(), page=f"/products/{product}/plans/new"
    )
    assert refused.status_code == 422
    assert "restore it before adding plans" in text_of(refused)
    assert hub.post(f"/products/{product}/restore", page="/products").status_code == 302
    assert hub.post(f"/plans/{plan}/restore", page="/products").status_code == 302
    with db.session() as s:
        assert s.get(Product, product).status == CatalogStatus.ACTIVE
        assert s.get(Plan, plan).status == CatalogStatus.ACTIVE


def test_a_missing_product_or_plan_is_a_404(hub, care):
    assert hub.client.get("/products/999999/edit").status_code == 404
    assert hub.post("/plans/999999/archive", page="/products").status_code == 404


def test_a_read_only_user_sees_the_catalogue_without_write_buttons(hub, care, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    page = text_of(hub.client.get("/products"))
    assert "Website care" in page
    assert 'id="new-product"' not in page
    assert ">Archive<" not in page and "Duplicate" not in page
    assert hub.post(f"/products/{care['product']}/archive", page="/products").status_code == 403
    assert hub.client.get("/products/new").status_code == 403


def test_tax_rates_are_listed_added_archived_and_restored(hub, db):
    assert 'id="no-tax-rates"' in text_of(hub.client.get("/tax-rates"))
    response = hub.post(
        "/tax-rates", {"name": "VAT", "percentage": "7.7", "inclusive": "y"}, page="/tax-rates"
    )
    assert response.status_code == 302
    with db.session() as s:
        (rate,) = s.scalars(select(TaxRate))
        assert (rate.name, rate.percentage_e4, rate.inclusive) == ("VAT", 77000, True)
        rate_id = rate.id
    page = text_of(hub.client.get("/tax-rates"))
    assert "VAT" in page and "7.7 %" in page
    assert hub.post(f"/tax-rates/{rate_id}/archive", page="/tax-rates").status_code == 302
    with db.session() as s:
        assert s.get(TaxRate, rate_id).status == CatalogStatus.ARCHIVED
    assert hub.post(f"/tax-rates/{rate_id}/restore", page="/tax-rates").status_code == 302
    with db.session() as s:
        assert s.get(TaxRate, rate_id).status == CatalogStatus.ACTIVE


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"name": " "}, "name"),
        ({"percentage": "120"}, "percentage"),
        ({"percentage": "7.12345"}, "percentage"),
        ({"percentage": "abc"}, "percentage"),
    ],
)
def test_bad_input_on_the_tax_rate_form_comes_back_next_to_its_field(hub, db, fields, field):
    data = {"name": "VAT", "percentage": "20", **fields}
    response = hub.post("/tax-rates", data, page="/tax-rates")
    assert response.status_code == 422
    assert f'id="{field}-error"' in text_of(response)
    with db.session() as s:
        assert s.scalar(select(TaxRate)) is None


def test_a_read_only_user_cannot_add_a_tax_rate(hub, db, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    assert "New tax rate" not in text_of(hub.client.get("/tax-rates"))
    refused = hub.post("/tax-rates", {"name": "VAT", "percentage": "20"}, page="/tax-rates")
    assert refused.status_code == 403


def test_a_product_gets_a_new_image_and_loses_it_and_a_bad_file_is_refused(hub, db, care):
    path = f"/products/{care['product']}/edit"
    token = csrf_token(hub.client.get(path).data)

    def send(**data):
        return hub.client.post(
            path,
            data={"csrf_token": token, "name": "Website care", **data},
            content_type="multipart/form-data",
        )

    assert send(image=(io.BytesIO(png()), "logo.png")).status_code == 302
    with db.session() as s:
        assert s.get(Product, care["product"]).image_id is not None
    refused = send(image=(io.BytesIO(b"not an image"), "logo.png"))
    assert refused.status_code == 422
    assert 'id="image-error"' in text_of(refused)
    assert send(remove_image="y").status_code == 302
    with db.session() as s:
        assert s.get(Product, care["product"]).image_id is None
