"""The catalog through the API: products, pricing plans and tax rates."""

from sqlalchemy import text

from bridge.core.money import MAX_AMOUNT
from tests.conftest import snapshot

MONTHLY = {"name": "Monthly", "kind": "recurring", "amount": 4900, "interval_unit": "month"}
SETUP_FEE = {"name": "Set-up fee", "kind": "one_time", "amount": 150000}


def create_product(api, name="Hosting", **fields):
    response = api.post("/products", json={"name": name, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_plan(api, product_id, **fields):
    response = api.post(f"/products/{product_id}/plans", json=fields)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def create_tax_rate(api, name="VAT", percentage="20", **fields):
    response = api.post("/tax-rates", json={"name": name, "percentage": percentage, **fields})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_refused(response, status, code, field=None):
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        assert field in error["fields"], error
    return error


# Products ------------------------------------------------------------------


def test_product_is_created_fetched_and_renamed_but_its_description_is_fixed(api, db):
    product = create_product(api, name="  Managed hosting ", description="Backups included")
    assert product["name"] == "Managed hosting"
    assert product["description"] == "Backups included"
    assert product["status"] == "active"
    assert product["plan_count"] == 0
    assert product["plans"] == []
    assert product["image"] is None
    assert product["archived_at"] is None
    assert api.get(f"/products/{product['id']}").get_json() == product

    response = api.patch(f"/products/{product['id']}", json={"name": "Premium hosting"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Premium hosting"
    # Sending the description unchanged is harmless.
    response = api.patch(f"/products/{product['id']}", json={"description": "Backups included"})
    assert response.status_code == 200, response.get_json()

    before = snapshot(db)
    response = api.patch(
        f"/products/{product['id']}", json={"name": "Other", "description": "Now with SEO"}
    )
    assert_refused(response, 409, "product_terms_immutable")
    assert snapshot(db) == before
    assert api.get(f"/products/{product['id']}").get_json()["name"] == "Premium hosting"


def test_products_are_paged_and_filtered_by_status_and_can_be_archived_and_restored(api):
    ids = [create_product(api, name=f"Product {n}")["id"] for n in range(5)]
    for product_id in ids[3:]:
        response = api.post(f"/products/{product_id}/archive")
        assert response.status_code == 200
        assert response.get_json()["status"] == "archived"
        assert response.get_json()["archived_at"] is not None
    # Archiving twice keeps the first archiving date.
    first = api.get(f"/products/{ids[4]}").get_json()["archived_at"]
    assert api.post(f"/products/{ids[4]}/archive").get_json()["archived_at"] == first

    page = api.get("/products?per_page=2").get_json()
    assert (page["page"], page["per_page"], page["total"], page["pages"]) == (1, 2, 5, 3)
    assert [p["id"] for p in page["data"]] == ids[:2]
    page = api.get("/products?per_page=2&page=3").get_json()
    assert [p["id"] for p in page["data"]] == ids[4:]
    assert api.get("/products?per_page=2&page=4").get_json()["data"] == []

    active = api.get("/products?status=active").get_json()
    assert (active["total"], active["pages"]) == (3, 1)
    assert [p["id"] for p in active["data"]] == ids[:3]
    archived = api.get("/products?status=archived").get_json()
    assert [p["id"] for p in archived["data"]] == ids[3:]

    restored = api.post(f"/products/{ids[3]}/restore").get_json()
    assert (restored["status"], restored["archived_at"]) == ("active", None)
    assert api.get("/products?status=active").get_json()["total"] == 4

    for query in ("status=deleted", "per_page=0", "per_page=101", "page=0", "page=abc"):
        assert_refused(api.get(f"/products?{query}"), 422, "validation_error")


def test_invalid_products_and_plans_before_the_currency_are_refused_unchanged(api, db):
    product = create_product(api)
    before = snapshot(db)
    cases = [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "A" * 201}, "name"),
        ({"name": 12}, "name"),
        ({"name": "Hosting\x00"}, "name"),
        ({"name": "Hosting", "description": "D" * 5001}, "description"),
        ({"name": "Hosting", "price": 100}, "price"),
        ({"name": "Hosting", "status": "archived"}, "status"),
        ({"name": "Hosting", "image": "not base64!"}, "image"),
        ({"name": "Hosting", "image": "JVBERi0xLjQ="}, "image"),  # %PDF-1.4
    ]
    for body, field in cases:
        assert_refused(api.post("/products", json=body), 422, "validation_error", field)
    for body, field in [({"name": "A" * 201}, "name"), ({"plans": []}, "plans")]:
        response = api.patch(f"/products/{product['id']}", json=body)
        assert_refused(response, 422, "validation_error", field)
    response = api.post("/products", data="{", headers={"Content-Type": "application/json"})
    assert_refused(response, 400, "invalid_json")
    # Plans are priced in the business currency: none can exist before it is chosen.
    error = assert_refused(
        api.post(f"/products/{product['id']}/plans", json=SETUP_FEE), 409, "currency_not_set"
    )
    assert "/settings/currency" in error["message"]
    assert snapshot(db) == before


def test_product_can_be_deleted_only_while_it_has_no_plans(api_eur, db):
    api = api_eur
    empty = create_product(api, name="Empty")
    response = api.delete(f"/products/{empty['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert_refused(api.get(f"/products/{empty['id']}"), 404, "not_found")
    assert_refused(api.delete(f"/products/{empty['id']}"), 404, "not_found")

    product = create_product(api)
    create_plan(api, product["id"], **SETUP_FEE)
    before = snapshot(db)
    assert_refused(api.delete(f"/products/{product['id']}"), 409, "product_has_plans")
    assert snapshot(db) == before


# Plans ---------------------------------------------------------------------


def test_one_time_plan_has_no_period_and_a_whole_non_negative_amount(api_eur, db):
    api = api_eur
    product = create_product(api)
    plan = create_plan(api, product["id"], **SETUP_FEE)
    assert plan["product_id"] == product["id"]
    assert (plan["kind"], plan["amount"], plan["currency"]) == ("one_time", 150000, "EUR")
    assert plan["amount_display"] == "€1,500.00"
    assert plan["interval_unit"] is plan["interval_count"] is plan["billing_cycles"] is None
    assert (plan["status"], plan["duplicated_from_id"]) == ("active", None)
    assert api.get(f"/plans/{plan['id']}").get_json() == plan
    assert api.get(f"/products/{product['id']}/plans").get_json() == {"data": [plan]}
    listed = api.get(f"/products/{product['id']}").get_json()
    assert listed["plan_count"] == 1
    assert listed["plans"] == [plan]

    before = snapshot(db)
    for extra in ({"interval_unit": "month"}, {"interval_count": 1}, {"billing_cycles": 3}):
        response = api.post(f"/products/{product['id']}/plans", json={**SETUP_FEE, **extra})
        assert_refused(response, 422, "validation_error", next(iter(extra)))
    assert snapshot(db) == before

    assert create_plan(api, product["id"], **{**SETUP_FEE, "amount": 0})["amount"] == 0
    biggest = create_plan(api, product["id"], **{**SETUP_FEE, "amount": MAX_AMOUNT})
    assert biggest["amount"] == MAX_AMOUNT
    assert biggest["amount_display"] == "€9,999,999,999.99"

    before = snapshot(db)
    for amount in (-1, 12.5, 12.0, "12", "12.50", True, None, MAX_AMOUNT + 1, 10**30):
        response = api.post(
            f"/products/{product['id']}/plans", json={**SETUP_FEE, "amount": amount}
        )
        assert_refused(response, 422, "validation_error", "amount")
    body = {k: v for k, v in SETUP_FEE.items() if k != "amount"}
    response = api.post(f"/products/{product['id']}/plans", json=body)
    assert_refused(response, 422, "validation_error", "amount")
    assert snapshot(db) == before


def test_recurring_plan_needs_a_unit_and_keeps_its_period_within_bounds(api_eur, db):
    api = api_eur
    product = create_product(api)
    monthly = create_plan(api, product["id"], **MONTHLY)
    assert (monthly["kind"], monthly["interval_unit"], monthly["interval_count"]) == (
        "recurring",
        "month",
        1,
    )
    assert monthly["billing_cycles"] is None
    for unit, count, cycles in (("day", 1095, None), ("week", 2, 1), ("year", 3, 1000)):
        plan = create_plan(
            api,
            product["id"],
            **{**MONTHLY, "interval_unit": unit, "interval_count": count, "billing_cycles": cycles},
        )
        assert (plan["interval_unit"], plan["interval_count"]) == (unit, count)
        assert plan["billing_cycles"] == cycles

    before = snapshot(db)
    cases = [
        ({"interval_unit": None}, "interval_unit"),
        ({"interval_unit": "fortnight"}, "interval_unit"),
        ({"interval_count": 0}, "interval_count"),
        ({"interval_count": 37}, "interval_count"),  # three years at most
        ({"interval_unit": "year", "interval_count": 4}, "interval_count"),
        ({"interval_unit": "week", "interval_count": 157}, "interval_count"),
        ({"interval_unit": "day", "interval_count": 1096}, "interval_count"),
        ({"interval_count": "2"}, "interval_count"),
        ({"billing_cycles": 0}, "billing_cycles"),
        ({"billing_cycles": 1001}, "billing_cycles"),
        ({"billing_cycles": 2.5}, "billing_cycles"),
        ({"kind": "monthly"}, "kind"),
        ({"name": ""}, "name"),
        ({"name": "N" * 201}, "name"),
        ({"currency": "USD"}, "currency"),
    ]
    for override, field in cases:
        body = {**MONTHLY, **override}
        response = api.post(f"/products/{product['id']}/plans", json=body)
        assert_refused(response, 422, "validation_error", field)
    body = {k: v for k, v in MONTHLY.items() if k != "interval_unit"}
    response = api.post(f"/products/{product['id']}/plans", json=body)
    assert_refused(response, 422, "validation_error", "interval_unit")
    assert snapshot(db) == before


def test_plan_can_be_renamed_archived_and_restored_but_its_terms_are_fixed(api_eur, db):
    api = api_eur
    product = create_product(api)
    plan = create_plan(api, product["id"], **{**MONTHLY, "billing_cycles": 12})

    response = api.patch(f"/plans/{plan['id']}", json={"name": "Monthly care"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Monthly care"
    # The terms may be sent back unchanged (a client resending the whole plan).
    unchanged = {k: plan[k] for k in ("kind", "amount", "interval_unit", "interval_count")}
    response = api.patch(f"/plans/{plan['id']}", json={**unchanged, "billing_cycles": 12})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["amount"] == 4900

    before = snapshot(db)
    for change in (
        {"amount": 5900},
        {"amount": 5900, "name": "Sneaky rename"},
        {"kind": "one_time"},
        {"interval_unit": "year"},
        {"interval_count": 2},
        {"billing_cycles": None},
    ):
        error = assert_refused(
            api.patch(f"/plans/{plan['id']}", json=change), 409, "plan_terms_immutable"
        )
        assert "duplicate" in error["message"]
    for change, field in (({"currency": "USD"}, "currency"), ({"amount": -1}, "amount")):
        response = api.patch(f"/plans/{plan['id']}", json=change)
        assert_refused(response, 422, "validation_error", field)
    assert snapshot(db) == before

    archived = api.post(f"/plans/{plan['id']}/archive").get_json()
    assert (archived["status"], archived["amount"]) == ("archived", 4900)
    assert archived["archived_at"] is not None
    restored = api.post(f"/plans/{plan['id']}/restore").get_json()
    assert (restored["status"], restored["archived_at"]) == ("active", None)


def test_duplicate_plan_copies_the_terms_with_overrides_and_leaves_the_original(api_eur, db):
    api = api_eur
    product = create_product(api)
    original = create_plan(api, product["id"], **{**MONTHLY, "billing_cycles": 12})

    response = api.post(
        f"/plans/{original['id']}/duplicate", json={"name": "Monthly 2027", "amount": 5900}
    )
    assert response.status_code == 201, response.get_json()
    copy = response.get_json()
    assert copy["id"] != original["id"]
    assert copy["duplicated_from_id"] == original["id"]
    assert copy["product_id"] == product["id"]
    assert (copy["name"], copy["amount"], copy["status"]) == ("Monthly 2027", 5900, "active")
    for key in ("kind", "currency", "interval_unit", "interval_count", "billing_cycles"):
        assert copy[key] == original[key], key
    assert api.get(f"/plans/{original['id']}").get_json() == original

    plain = api.post(f"/plans/{original['id']}/duplicate", json={}).get_json()
    assert plain["name"] == "Monthly (copy)"
    assert plain["amount"] == original["amount"]
    one_time = api.post(f"/plans/{original['id']}/duplicate", json={"kind": "one_time"})
    assert one_time.status_code == 201, one_time.get_json()
    assert one_time.get_json()["interval_unit"] is None
    assert one_time.get_json()["billing_cycles"] is None
    assert api.get(f"/products/{product['id']}").get_json()["plan_count"] == 4

    before = snapshot(db)
    for overrides, field in (
        ({"amount": -5}, "amount"),
        ({"amount": 1.5}, "amount"),
        ({"interval_count": 40}, "interval_count"),
        ({"name": ""}, "name"),
        ({"product_id": product["id"]}, "product_id"),
    ):
        response = api.post(f"/plans/{original['id']}/duplicate", json=overrides)
        assert_refused(response, 422, "validation_error", field)
    assert snapshot(db) == before


def test_archived_products_take_no_plans_and_unknown_ids_are_404(api_eur, db):
    api = api_eur
    product = create_product(api)
    other = create_product(api, name="SEO")
    plan = create_plan(api, product["id"], **MONTHLY)
    assert api.get(f"/products/{other['id']}/plans").get_json() == {"data": []}

    api.post(f"/products/{product['id']}/archive")
    before = snapshot(db)
    response = api.post(f"/products/{product['id']}/plans", json=SETUP_FEE)
    assert_refused(response, 409, "product_archived")
    assert_refused(api.post(f"/plans/{plan['id']}/duplicate", json={}), 409, "product_archived")

    for method, path, body in (
        ("GET", "/plans/999999", None),
        ("PATCH", "/plans/999999", {"name": "X"}),
        ("POST", "/plans/999999/duplicate", {}),
        ("POST", "/plans/999999/archive", None),
        ("POST", "/plans/999999/restore", None),
        ("GET", "/products/999999", None),
        ("PATCH", "/products/999999", {"name": "X"}),
        ("POST", "/products/999999/archive", None),
        ("GET", "/products/999999/plans", None),
        ("POST", "/products/999999/plans", SETUP_FEE),
        ("GET", f"/products/{other['id']}/plans/{plan['id']}", None),
        ("GET", "/plans/0", None),
        ("GET", "/plans/-1", None),
        ("GET", "/plans/abc", None),
    ):
        assert_refused(api.request(method, path, json=body), 404, "not_found")
    assert snapshot(db) == before


# Tax rates -----------------------------------------------------------------


def test_tax_rates_keep_their_exact_percentage_change_only_their_name_and_archive(api, db):
    vat = create_tax_rate(api, "VAT", "20")
    assert (vat["percentage"], vat["inclusive"], vat["status"]) == ("20", False, "active")
    precise = create_tax_rate(api, "Odd rate", "7.6543", inclusive=True)
    assert (precise["percentage"], precise["inclusive"]) == ("7.6543", True)
    assert create_tax_rate(api, "Reduced", "5.50")["percentage"] == "5.5"
    assert create_tax_rate(api, "Zero", "0")["percentage"] == "0"
    assert create_tax_rate(api, "All", "100.0000")["percentage"] == "100"
    with db.engine.connect() as conn:
        stored = conn.execute(
            text("SELECT percentage_e4 FROM tax_rates WHERE id = :id"), {"id": precise["id"]}
        ).scalar_one()
    assert stored == 76543
    assert api.get(f"/tax-rates/{precise['id']}").get_json() == precise

    response = api.patch(f"/tax-rates/{vat['id']}", json={"name": "TVA"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "TVA"
    response = api.patch(
        f"/tax-rates/{vat['id']}", json={"percentage": "20.00", "inclusive": False}
    )
    assert response.status_code == 200, response.get_json()

    before = snapshot(db)
    for change in ({"percentage": "19.6"}, {"percentage": "20.0001"}, {"inclusive": True}):
        response = api.patch(f"/tax-rates/{vat['id']}", json={"name": "Sneaky", **change})
        assert_refused(response, 409, "tax_rate_immutable")
    for change, field in (({"percentage": "abc"}, "percentage"), ({"rate": 1}, "rate")):
        response = api.patch(f"/tax-rates/{vat['id']}", json=change)
        assert_refused(response, 422, "validation_error", field)
    assert_refused(api.patch("/tax-rates/999999", json={"name": "X"}), 404, "not_found")
    assert snapshot(db) == before

    old = create_tax_rate(api, "Old VAT", "19.6")
    archived = api.post(f"/tax-rates/{old['id']}/archive").get_json()
    assert archived["status"] == "archived"
    assert archived["archived_at"] is not None

    def names(query=""):
        response = api.get(f"/tax-rates{query}")
        assert response.status_code == 200, response.get_json()
        return [rate["name"] for rate in response.get_json()["data"]]

    everything = ["All", "Odd rate", "Old VAT", "Reduced", "TVA", "Zero"]
    assert names() == everything
    assert names("?status=active") == [n for n in everything if n != "Old VAT"]
    assert names("?status=archived") == ["Old VAT"]
    assert_refused(api.get("/tax-rates?status=gone"), 422, "validation_error", "status")

    restored = api.post(f"/tax-rates/{old['id']}/restore").get_json()
    assert (restored["status"], restored["archived_at"]) == ("active", None)
    assert names("?status=active") == everything
    assert names("?status=archived") == []
    assert api.post(f"/tax-rates/{vat['id']}/restore").get_json()["status"] == "active"


def test_invalid_tax_rates_are_refused_naming_the_field_and_nothing_changes(api, db):
    before = snapshot(db)
    cases = [
        ({"percentage": "7.65431"}, "percentage"),
        ({"percentage": "101"}, "percentage"),
        ({"percentage": "100.0001"}, "percentage"),
        ({"percentage": "-1"}, "percentage"),
        ({"percentage": "1e2"}, "percentage"),
        ({"percentage": "20%"}, "percentage"),
        ({"percentage": ""}, "percentage"),
        ({"percentage": "NaN"}, "percentage"),
        ({"percentage": 20}, "percentage"),
        ({"percentage": None}, "percentage"),
        ({"name": ""}, "name"),
        ({"name": "T" * 101}, "name"),
        ({"inclusive": "yes"}, "inclusive"),
        ({"status": "archived"}, "status"),
    ]
    for override, field in cases:
        body = {"name": "VAT", "percentage": "20", **override}
        assert_refused(api.post("/tax-rates", json=body), 422, "validation_error", field)
    assert_refused(api.post("/tax-rates", json={"name": "VAT"}), 422, "validation_error")
    assert snapshot(db) == before


def test_tax_rate_percentage_is_plain_ascii_decimal_text(api, db):
    statuses = [
        api.post("/tax-rates", json={"name": "VAT", "percentage": value}).status_code
        for value in ("\u0662\u0660", "20\n", "\uff12\uff10")
    ]
    assert statuses == [422, 422, 422]


# Permissions -----------------------------------------------------------------


def test_read_only_token_reads_the_catalog_but_every_write_is_forbidden(api_eur, api_read_only, db):
    api = api_eur
    product = create_product(api)
    plan = create_plan(api, product["id"], **MONTHLY)
    rate = create_tax_rate(api)
    for path in (
        "/products",
        f"/products/{product['id']}",
        f"/products/{product['id']}/plans",
        f"/plans/{plan['id']}",
        "/tax-rates",
        f"/tax-rates/{rate['id']}",
    ):
        assert api_read_only.get(path).status_code == 200, path

    before = snapshot(db)
    for method, path, body in (
        ("POST", "/products", {"name": "New"}),
        ("PATCH", f"/products/{product['id']}", {"name": "Renamed"}),
        ("DELETE", f"/products/{product['id']}", None),
        ("POST", f"/products/{product['id']}/archive", None),
        ("POST", f"/products/{product['id']}/restore", None),
        ("POST", f"/products/{product['id']}/plans", SETUP_FEE),
        ("PATCH", f"/plans/{plan['id']}", {"name": "Renamed"}),
        ("POST", f"/plans/{plan['id']}/duplicate", {}),
        ("POST", f"/plans/{plan['id']}/archive", None),
        ("POST", f"/plans/{plan['id']}/restore", None),
        ("POST", "/tax-rates", {"name": "GST", "percentage": "10"}),
        ("PATCH", f"/tax-rates/{rate['id']}", {"name": "Renamed"}),
        ("POST", f"/tax-rates/{rate['id']}/archive", None),
        ("POST", f"/tax-rates/{rate['id']}/restore", None),
    ):
        response = api_read_only.request(method, path, json=body)
        assert_refused(response, 403, "forbidden")
    assert snapshot(db) == before
