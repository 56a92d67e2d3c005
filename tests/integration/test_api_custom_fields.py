"""Custom fields through the API: definitions for the business and client
profiles, and the values stored under them (clients, PATCH /settings)."""

from tests.conftest import snapshot

CLIENT_FIELDS = [
    {"entity": "client", "label": "Favourite colour", "field_type": "text"},
    {"entity": "client", "label": "Employees", "field_type": "number", "key": "staff"},
    {"entity": "client", "label": "Customer since", "field_type": "date"},
    {
        "entity": "client",
        "label": "Support tier",
        "field_type": "choice",
        "options": ["Silver", "Gold"],
        "show_on_invoice": True,
        "position": 2,
    },
]
BUSINESS_FIELDS = [
    {"entity": "business", "label": "SIRET", "field_type": "text"},
    {"entity": "business", "label": "Share capital", "field_type": "number"},
    {"entity": "business", "label": "Founded", "field_type": "date"},
    {
        "entity": "business",
        "label": "Legal form",
        "field_type": "choice",
        "options": ["SARL", "SAS"],
    },
]


def create_field(api, **definition):
    response = api.post("/custom-fields", json=definition)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def assert_refused(response, status, code, field=None):
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        # Nested problems are named with dots: custom_fields.<key>, options.0.
        assert any(k == field or k.startswith(f"{field}.") for k in error["fields"]), error
    return error


def assert_bad_value(response, key):
    """A 422 naming ``custom_fields.<key>``."""
    error = assert_refused(response, 422, "validation_error", f"custom_fields.{key}")
    return error


def new_client(api, n, custom_fields):
    return api.post(
        "/clients",
        json={"name": f"Client {n}", "email": f"c{n}@example.com", "custom_fields": custom_fields},
    )


# Definitions ---------------------------------------------------------------


def test_fields_of_every_type_are_defined_for_clients_and_the_business(api):
    created = [create_field(api, **definition) for definition in CLIENT_FIELDS + BUSINESS_FIELDS]
    text, number, day, choice = created[:4]
    assert (text["key"], text["field_type"], text["entity"]) == (
        "favourite_colour",
        "text",
        "client",
    )
    assert text["options"] == []
    assert (text["required"], text["show_on_invoice"], text["position"]) == (False, False, 0)
    assert (number["key"], number["field_type"]) == ("staff", "number")
    assert (day["key"], day["field_type"]) == ("customer_since", "date")
    assert (choice["key"], choice["options"]) == ("support_tier", ["Silver", "Gold"])
    assert (choice["show_on_invoice"], choice["position"]) == (True, 2)
    assert [f["key"] for f in created[4:]] == ["siret", "share_capital", "founded", "legal_form"]

    # A key is unique per entity only: the business may reuse a client key.
    same_key = create_field(api, entity="business", label="Favourite colour", field_type="text")
    assert same_key["key"] == "favourite_colour"
    assert create_field(api, entity="client", label="123 go!", field_type="text")["key"] == (
        "field_123_go"
    )

    clients = api.get("/custom-fields?entity=client").get_json()["data"]
    assert {f["entity"] for f in clients} == {"client"}
    assert len(clients) == 5
    assert clients[-1]["key"] == "support_tier"  # ordered by position
    business = api.get("/custom-fields?entity=business").get_json()["data"]
    assert {f["entity"] for f in business} == {"business"}
    assert len(business) == 5
    assert len(api.get("/custom-fields").get_json()["data"]) == 10
    assert api.get(f"/custom-fields/{choice['id']}").get_json() == choice


def test_invalid_field_definitions_are_refused_and_nothing_changes(api, db):
    create_field(api, entity="client", label="Tier", field_type="choice", options=["A"])
    before = snapshot(db)
    base = {"entity": "client", "label": "Size", "field_type": "text"}
    cases = [
        ({"field_type": "choice"}, "options"),
        ({"field_type": "choice", "options": []}, "options"),
        ({"field_type": "choice", "options": ["A", "  "]}, "options"),
        ({"field_type": "choice", "options": ["A", "A"]}, "options"),
        ({"field_type": "choice", "options": [f"o{n}" for n in range(51)]}, "options"),
        ({"field_type": "choice", "options": ["O" * 101]}, "options"),
        ({"field_type": "choice", "options": "A,B"}, "options"),
        ({"options": ["A"]}, "options"),
        ({"field_type": "email"}, "field_type"),
        ({"field_type": None}, "field_type"),
        ({"entity": "site"}, "entity"),
        ({"label": ""}, "label"),
        ({"label": "   "}, "label"),
        ({"label": "L" * 101}, "label"),
        ({"label": "Size\x00"}, "label"),
        ({"key": "1size"}, "key"),
        ({"key": "Size"}, "key"),
        ({"key": "size-x"}, "key"),
        ({"key": "k" * 65}, "key"),
        ({"required": "yes"}, "required"),
        ({"position": -1}, "position"),
        ({"default": "x"}, "default"),
    ]
    for override, field in cases:
        response = api.post("/custom-fields", json={**base, **override})
        assert_refused(response, 422, "validation_error", field)
    for body in ({"entity": "client"}, {"label": "X", "field_type": "text"}):
        assert_refused(api.post("/custom-fields", json=body), 422, "validation_error")
    response = api.post("/custom-fields", json={**base, "label": "Tier!", "key": "tier"})
    assert "tier" in assert_refused(response, 409, "duplicate_key")["message"]
    response = api.post("/custom-fields", data="[", headers={"Content-Type": "application/json"})
    assert_refused(response, 400, "invalid_json")
    assert snapshot(db) == before


def test_label_options_and_flags_change_but_not_the_key_type_or_entity(api, db):
    choice = create_field(api, entity="client", label="Tier", field_type="choice", options=["A"])
    text = create_field(api, entity="client", label="Note", field_type="text")

    response = api.patch(
        f"/custom-fields/{choice['id']}",
        json={
            "label": " Support tier ",
            "options": ["Bronze", "Silver", "Gold"],
            "required": True,
            "show_on_invoice": True,
            "position": 5,
        },
    )
    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    assert changed["label"] == "Support tier"
    assert changed["options"] == ["Bronze", "Silver", "Gold"]
    assert (changed["required"], changed["show_on_invoice"], changed["position"]) == (True, True, 5)
    assert (changed["key"], changed["field_type"]) == ("tier", "choice")
    assert api.get(f"/custom-fields/{choice['id']}").get_json() == changed

    before = snapshot(db)
    for field_id, body, field in (
        (choice["id"], {"field_type": "text"}, "field_type"),
        (choice["id"], {"key": "level"}, "key"),
        (choice["id"], {"entity": "business"}, "entity"),
        (choice["id"], {"options": []}, "options"),
        (choice["id"], {"options": ["A", "A"]}, "options"),
        (choice["id"], {"label": ""}, "label"),
        (choice["id"], {"label": "L" * 101}, "label"),
        (text["id"], {"options": ["A"]}, "options"),
    ):
        response = api.patch(f"/custom-fields/{field_id}", json=body)
        assert_refused(response, 422, "validation_error", field)
    assert_refused(api.patch("/custom-fields/999999", json={"label": "X"}), 404, "not_found")
    assert snapshot(db) == before


def test_deleted_field_is_gone_and_its_key_can_be_reused(api):
    field = create_field(api, entity="client", label="Note", field_type="text")
    response = api.delete(f"/custom-fields/{field['id']}")
    assert response.status_code == 204
    assert response.data == b""
    assert_refused(api.get(f"/custom-fields/{field['id']}"), 404, "not_found")
    assert_refused(api.delete(f"/custom-fields/{field['id']}"), 404, "not_found")
    assert api.get("/custom-fields").get_json() == {"data": []}
    again = create_field(api, entity="client", label="Note", field_type="number")
    assert (again["key"], again["field_type"]) == ("note", "number")
    # Values under a deleted key are no longer accepted.
    api.delete(f"/custom-fields/{again['id']}")
    assert_bad_value(new_client(api, 1, {"note": "x"}), "note")


# Values --------------------------------------------------------------------


def test_client_values_are_checked_by_type_and_required_fields_enforced(api, db):
    for definition in CLIENT_FIELDS:
        create_field(api, **definition)
    create_field(api, entity="business", label="SIRET", field_type="text")

    response = new_client(
        api,
        1,
        {"favourite_colour": "Blue", "staff": "12.50", "customer_since": "2024-02-29"}
        | {"support_tier": "Gold"},
    )
    assert response.status_code == 201, response.get_json()
    client = response.get_json()
    assert client["custom_fields"] == {
        "favourite_colour": "Blue",
        "staff": "12.50",
        "customer_since": "2024-02-29",
        "support_tier": "Gold",
    }
    # Numbers may come as JSON numbers; empty values are simply left out.
    response = new_client(api, 2, {"staff": 12, "favourite_colour": "", "support_tier": None})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["custom_fields"] == {"staff": "12"}

    before = snapshot(db)
    cases = [
        ("staff", "abc"),
        ("staff", "NaN"),
        ("staff", "Infinity"),
        ("staff", True),
        ("staff", [1]),
        ("staff", 10**15),
        ("customer_since", "2026-13-01"),
        ("customer_since", "2026-02-30"),
        ("customer_since", "01/02/2026"),
        ("customer_since", "2026-1-1"),
        ("customer_since", "2026-01-01T00:00"),
        ("customer_since", 20260101),
        ("support_tier", "Platinum"),
        ("support_tier", "gold"),
        ("support_tier", ["Gold"]),
        ("favourite_colour", "x" * 501),
        ("favourite_colour", 12),
        ("nope", "x"),
        ("siret", "123"),  # a business field, not a client one
    ]
    for n, (key, value) in enumerate(cases, start=10):
        assert_bad_value(new_client(api, n, {key: value}), key)
    response = api.patch(f"/clients/{client['id']}", json={"custom_fields": {"staff": "many"}})
    assert_bad_value(response, "staff")
    response = api.post("/clients", json={"name": "X", "email": "x@e.com", "custom_fields": []})
    assert_refused(response, 422, "validation_error", "custom_fields")
    assert snapshot(db) == before

    create_field(api, entity="client", label="Account manager", field_type="text", required=True)
    before = snapshot(db)
    for values in ({}, {"account_manager": ""}, {"account_manager": None}):
        error = assert_bad_value(new_client(api, 3, values), "account_manager")
        assert error["fields"]["custom_fields.account_manager"] == ["Required."]
    response = api.patch(f"/clients/{client['id']}", json={"custom_fields": {"staff": 3}})
    assert_bad_value(response, "account_manager")
    assert snapshot(db) == before
    response = new_client(api, 3, {"account_manager": "Zoé"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["custom_fields"] == {"account_manager": "Zoé"}


def test_business_values_are_checked_through_settings(api, db):
    for definition in BUSINESS_FIELDS:
        create_field(api, **definition)
    create_field(api, entity="client", label="Employees", field_type="number")

    values = {"siret": "123 456 789 00012", "share_capital": 10000, "founded": "2015-06-01"}
    response = api.patch("/settings", json={"custom_fields": {**values, "legal_form": "SAS"}})
    assert response.status_code == 200, response.get_json()
    stored = {**values, "share_capital": "10000", "legal_form": "SAS"}
    assert response.get_json()["custom_fields"] == stored
    assert api.get("/settings").get_json()["custom_fields"] == stored

    before = snapshot(db)
    for key, value in (
        ("share_capital", "abc"),
        ("founded", "2026-13-01"),
        ("legal_form", "SA"),
        ("siret", 123),
        ("nope", "x"),
        ("employees", 3),  # a client field, not a business one
    ):
        response = api.patch("/settings", json={"custom_fields": {key: value}})
        assert_bad_value(response, key)
    response = api.patch("/settings", json={"custom_fields": {"k" * 65: "x"}})
    assert_refused(response, 422, "validation_error", "custom_fields")
    assert snapshot(db) == before

    create_field(api, entity="business", label="VAT number", field_type="text", required=True)
    before = snapshot(db)
    assert_bad_value(api.patch("/settings", json={"custom_fields": values}), "vat_number")
    assert snapshot(db) == before
    # Other settings can still change without touching the custom fields.
    response = api.patch("/settings", json={"city": "Lyon"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["custom_fields"] == stored


def test_text_values_refuse_control_characters_like_every_other_string(api, db):
    create_field(api, entity="client", label="Note", field_type="text")
    statuses = [
        new_client(api, n, {"note": value}).status_code
        for n, value in enumerate(("a\x00b", "a\x1bb", "a\ud800b"))
    ]
    assert statuses == [422, 422, 422]


def test_number_and_date_values_accept_only_plain_notation(api, db):
    create_field(api, entity="client", label="Size", field_type="number")
    create_field(api, entity="client", label="Since", field_type="date")
    statuses = [
        new_client(api, n, values).status_code
        for n, values in enumerate(
            (
                {"size": "1_000"},
                {"size": "\u0663"},
                {"since": "2026-W01-1"},
            )
        )
    ]
    assert statuses == [422, 422, 422]
    response = new_client(api, 9, {"size": "1e5"})
    assert response.status_code == 422 or response.get_json()["custom_fields"]["size"] == "100000"


def test_read_only_token_reads_fields_but_every_write_is_forbidden(api, api_read_only, db):
    field = create_field(api, entity="client", label="Note", field_type="text")
    assert api_read_only.get("/custom-fields").get_json()["data"] == [field]
    assert api_read_only.get("/custom-fields?entity=client").status_code == 200
    assert api_read_only.get(f"/custom-fields/{field['id']}").get_json() == field
    before = snapshot(db)
    for method, path, body in (
        ("POST", "/custom-fields", {"entity": "client", "label": "X", "field_type": "text"}),
        ("PATCH", f"/custom-fields/{field['id']}", {"label": "Renamed"}),
        ("DELETE", f"/custom-fields/{field['id']}", None),
        ("PATCH", "/settings", {"custom_fields": {}}),
    ):
        assert_refused(api_read_only.request(method, path, json=body), 403, "forbidden")
    assert snapshot(db) == before
