"""Clients and sites through the API."""

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from marshmallow import Schema, fields
from sqlalchemy import select, update

from bridge.api.clients import ClientSummarySchema, dump_summary
from bridge.api.common import fast_dumper
from bridge.auth.accounts import revoke_token
from bridge.billing import clients
from bridge.models import ApiToken, User
from tests.conftest import snapshot

ALICE = {"name": "Alice Martin", "email": "Alice@Example.com", "company": "Martin & Co"}


def create_client(api, **overrides):
    response = api.post("/clients", json={**ALICE, **overrides})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_new_client_is_inactive_with_the_default_role(api):
    client = create_client(api)
    assert client["status"] == "inactive"
    assert client["role"]["name"] == "Billing only"
    assert client["sites"] == []
    assert client["site_count"] == 0
    assert client["avatar_url"].startswith("https://www.gravatar.com/avatar/")


def test_client_email_is_unique_whatever_its_case(api, db):
    create_client(api)
    before = snapshot(db)
    response = api.post("/clients", json={**ALICE, "email": "alice@EXAMPLE.com"})
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "duplicate_email"
    assert snapshot(db) == before


def test_client_gets_the_role_it_is_given(api):
    roles = api.get("/roles").get_json()["data"]
    edit_all = next(r for r in roles if r["system_key"] == "edit_all")
    client = create_client(api, role_id=edit_all["id"])
    assert client["role"] == {"id": edit_all["id"], "name": edit_all["name"]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a@b.example"}, "name"),
        ({"name": "A"}, "email"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "", "email": "a@b.example"}, "name"),
        ({"name": "A" * 201, "email": "a@b.example"}, "name"),
        ({"name": 12, "email": "a@b.example"}, "name"),
        ({"name": "A", "email": "a@b.example", "role_id": 9999}, "role_id"),
        ({"name": "A", "email": "a@b.example", "role_id": "1"}, "role_id"),
        ({"name": "A", "email": "a@b.example", "country": "France"}, "country"),
        ({"name": "A", "email": "a@b.example", "colour": "red"}, "colour"),
        ({"name": "A\u0000", "email": "a@b.example"}, "name"),
        ({"name": "A", "email": "a@b.example", "custom_fields": {"nope": 1}}, "custom_fields"),
    ],
)
def test_invalid_client_is_refused_naming_the_field_and_nothing_changes(api, db, body, field):
    before = snapshot(db)
    response = api.post("/clients", json=body)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] in ("validation_error",)
    assert any(k == field or k.startswith(f"{field}.") for k in error["fields"]), error
    assert error["message"]
    assert snapshot(db) == before


def test_patch_changes_only_the_given_fields(api):
    client = create_client(api, city="Lyon")
    response = api.patch(f"/clients/{client['id']}", json={"company": "Martin SA"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["company"] == "Martin SA"
    assert body["city"] == "Lyon"
    assert body["name"] == ALICE["name"]


def test_patch_to_an_email_taken_by_another_client_is_a_conflict(api, db):
    create_client(api)
    other = create_client(api, email="bob@example.com", name="Bob")
    before = snapshot(db)
    response = api.patch(f"/clients/{other['id']}", json={"email": "ALICE@example.com"})
    assert response.status_code == 409
    assert snapshot(db) == before


def test_unknown_client_is_404(api):
    for method in ("get", "patch", "delete"):
        response = getattr(api, method)("/clients/424242")
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"


def test_list_filters_by_status_and_text_and_pages(api, db):
    from bridge.models import Client, ClientStatus

    for index in range(7):
        create_client(api, name=f"Client {index}", email=f"c{index}@example.com")
    create_client(api, name="Zoé Lefèvre", email="zoe@studio.example", company="Studio Bleu")
    with db.session() as session:
        for client in session.query(Client).filter(Client.name.in_(["Client 1", "Client 2"])):
            client.status = ClientStatus.ACTIVE

    page = api.get("/clients?per_page=3&page=2").get_json()
    assert (page["total"], page["pages"], page["page"], page["per_page"]) == (8, 3, 2, 3)
    assert [c["name"] for c in page["data"]] == ["Client 3", "Client 4", "Client 5"]

    active = api.get("/clients?status=active").get_json()
    assert [c["name"] for c in active["data"]] == ["Client 1", "Client 2"]

    for text in ("studio", "ZOÉ", "bleu"):
        found = api.get(f"/clients?q={text}").get_json()
        assert [c["name"] for c in found["data"]] == ["Zoé Lefèvre"], text

    newest_first = api.get("/clients?sort=-created_at&per_page=1").get_json()
    assert newest_first["data"][0]["name"] == "Zoé Lefèvre"


def test_a_page_past_the_end_is_empty_and_still_counts_the_clients(api):
    for index in range(3):
        create_client(api, name=f"Client {index}", email=f"c{index}@example.com")
    page = api.get("/clients?per_page=2&page=5").get_json()
    assert (page["data"], page["total"], page["pages"], page["page"]) == ([], 3, 2, 5)
    assert api.get("/clients?q=nobody").get_json()["total"] == 0


def test_list_text_search_treats_wildcards_literally(api):
    create_client(api, name="100% Organic", email="o@example.com")
    create_client(api, name="Plain", email="p@example.com")
    assert [c["name"] for c in api.get("/clients?q=%25").get_json()["data"]] == ["100% Organic"]
    assert api.get("/clients?q=_").get_json()["total"] == 0


@pytest.mark.parametrize(
    "query",
    ["status=gone", "per_page=0", "per_page=101", "page=0", "page=abc", "sort=password"],
)
def test_list_rejects_bad_query_arguments(api, query):
    response = api.get(f"/clients?{query}")
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"]


def test_delete_client_removes_its_sites(api, db):
    client = create_client(api)
    api.post(f"/clients/{client['id']}/sites", json={"name": "Shop", "url": "https://shop.example"})
    assert api.delete(f"/clients/{client['id']}").status_code == 204
    assert api.get(f"/clients/{client['id']}").status_code == 404
    from bridge.models import Site

    with db.session() as session:
        assert session.query(Site).count() == 0


# Sites ----------------------------------------------------------------------


def test_site_secret_is_shown_once_and_stored_encrypted(api, db, app):
    client = create_client(api)
    response = api.post(
        f"/clients/{client['id']}/sites", json={"name": "Blog", "url": "https://blog.example/"}
    )
    assert response.status_code == 201
    site = response.get_json()
    secret = site["secret"]
    assert secret.startswith("bbs_") and len(secret) > 40
    assert site["public_id"].startswith("site_")

    shown_again = api.get(f"/clients/{client['id']}/sites/{site['id']}").get_json()
    assert "secret" not in shown_again
    assert secret not in str(api.get(f"/clients/{client['id']}").get_json())

    from bridge.models import Site

    with db.session() as session:
        stored = session.get(Site, site["id"])
        assert secret not in stored.secret_encrypted
        assert app.extensions["bridge.secret_box"].decrypt(stored.secret_encrypted) == secret


def test_rotating_a_site_secret_replaces_it(api, db, app):
    client = create_client(api)
    site = api.post(
        f"/clients/{client['id']}/sites", json={"name": "Blog", "url": "https://blog.example"}
    ).get_json()
    rotated = api.post(f"/clients/{client['id']}/sites/{site['id']}/rotate-secret").get_json()
    assert rotated["secret"] != site["secret"]
    from bridge.models import Site

    with db.session() as session:
        stored = session.get(Site, site["id"])
        assert (
            app.extensions["bridge.secret_box"].decrypt(stored.secret_encrypted)
            == (rotated["secret"])
        )


@pytest.mark.parametrize(
    "url",
    [
        "blog.example",
        "ftp://blog.example",
        "https://",
        "javascript:alert(1)",
        "https://a b.example",
        "http://blog.example:99999",
    ],
)
def test_site_url_must_be_an_absolute_http_url(api, db, url):
    client = create_client(api)
    before = snapshot(db)
    response = api.post(f"/clients/{client['id']}/sites", json={"name": "Blog", "url": url})
    assert response.status_code == 422
    assert "url" in response.get_json()["error"]["fields"]
    assert snapshot(db) == before


def test_a_site_is_only_reachable_through_its_own_client(api):
    alice = create_client(api)
    bob = create_client(api, name="Bob", email="bob@example.com")
    site = api.post(
        f"/clients/{alice['id']}/sites", json={"name": "Blog", "url": "https://blog.example"}
    ).get_json()
    path = f"/clients/{bob['id']}/sites/{site['id']}"
    assert api.get(path).status_code == 404
    assert api.patch(path, json={"name": "Stolen"}).status_code == 404
    assert api.post(path + "/rotate-secret").status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get(f"/clients/{alice['id']}/sites/{site['id']}").get_json()["name"] == "Blog"


def test_site_can_be_renamed_disabled_and_deleted(api):
    client = create_client(api)
    site = api.post(
        f"/clients/{client['id']}/sites", json={"name": "Blog", "url": "https://blog.example"}
    ).get_json()
    path = f"/clients/{client['id']}/sites/{site['id']}"
    changed = api.patch(path, json={"name": "News", "disabled": True}).get_json()
    assert (changed["name"], changed["disabled"]) == ("News", True)
    listed = api.get(f"/clients/{client['id']}/sites").get_json()["data"]
    assert [s["name"] for s in listed] == ["News"]
    assert api.get("/clients").get_json()["data"][0]["site_count"] == 1
    assert api.delete(path).status_code == 204
    assert api.get(path).status_code == 404


def test_read_only_token_cannot_create_or_rotate(api, api_read_only, db):
    client = create_client(api)
    before = snapshot(db)
    assert api_read_only.get("/clients").status_code == 200
    denied = api_read_only.post("/clients", json={"name": "X", "email": "x@example.com"})
    assert denied.status_code == 403
    assert denied.get_json()["error"]["code"] == "forbidden"
    assert (
        api_read_only.post(
            f"/clients/{client['id']}/sites", json={"name": "B", "url": "https://b.example"}
        ).status_code
        == 403
    )
    assert api_read_only.delete(f"/clients/{client['id']}").status_code == 403
    assert snapshot(db) == before


def test_a_revoked_token_is_refused_on_the_next_request(api, db):
    assert api.get("/clients").status_code == 200
    with db.session() as session:
        revoke_token(session, session.scalars(select(ApiToken)).one())
    refused = api.get("/clients")
    assert refused.status_code == 401
    assert refused.get_json()["error"]["code"] == "invalid_token"


def test_a_deactivated_users_token_is_refused_on_the_next_request(api, db):
    assert api.get("/clients").status_code == 200
    with db.session() as session:
        session.execute(update(User).values(is_active=False))
    assert api.get("/clients").status_code == 401


def test_query_arguments_are_read_afresh_on_each_request(api):
    """The query schema is made once per process: one request's arguments
    never leak into the next one's."""
    create_client(api)
    create_client(api, name="Bob", email="bob@example.com", company="")
    assert api.get("/clients?q=bob&per_page=1").get_json()["total"] == 1
    assert api.get("/clients?per_page=0").status_code == 422
    listed = api.get("/clients").get_json()
    assert (listed["total"], listed["per_page"]) == (2, 50)


# The client list's fast path and its schema ------------------------------------


def test_the_list_is_what_its_schema_dumps(api, db):
    first = create_client(api)
    create_client(api, name="Bob", email="bob@example.com", company="")
    api.post(f"/clients/{first['id']}/sites", json={"name": "Shop", "url": "https://a.example"})
    listed = api.get("/clients?sort=created_at").get_json()["data"]
    with db.session() as session:
        rows = clients.list_clients(session, sort="created_at").items
        by_schema = ClientSummarySchema(many=True).dump(rows)
        by_hand = [dump_summary(row) for row in rows]
    assert listed == by_hand == by_schema
    assert [row["site_count"] for row in listed] == [1, 0]


def test_the_openapi_document_describes_the_list(api, client):
    document = client.get("/api/v1/openapi.json").get_json()
    schemas = document["components"]["schemas"]
    page = schemas["ClientPage"]["properties"]["data"]["items"]["$ref"].rsplit("/", 1)[1]
    create_client(api)
    row = api.get("/clients").get_json()["data"][0]
    assert set(schemas[page]["properties"]) == set(row)


def test_the_fast_dump_refuses_a_field_it_cannot_write():
    class Priced(Schema):
        amount = fields.Decimal()

    with pytest.raises(TypeError, match="amount"):
        fast_dumper(Priced)


def test_the_fast_dump_writes_null_where_the_schema_allows_it():
    class Ref(Schema):
        id = fields.Integer()

    class Row(Schema):
        seen_at = fields.DateTime(allow_none=True)
        ref = fields.Nested(Ref, allow_none=True)

    empty = SimpleNamespace(seen_at=None, ref=None)
    seen = datetime(2026, 1, 2, 3, 4, tzinfo=UTC)
    full = SimpleNamespace(seen_at=seen, ref=SimpleNamespace(id=7))
    dump = fast_dumper(Row)
    for obj in (empty, full):
        assert dump(obj) == Row().dump(obj)
