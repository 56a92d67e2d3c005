"""The Hub's client screens through the test client: the add and edit
forms (custom fields, role, errors next to the field), and the client page's
tabs with their actions (subscriptions, sites and their secrets shown once)."""

from __future__ import annotations

import re

import pytest

from bridge.billing import clients, custom_fields, invoices, subscriptions
from bridge.models import Client, CustomFieldEntity, CustomFieldType, SubscriptionStatus
from tests import shop as shops
from tests.e2e.conftest import make_invoice, make_shop


def text_of(response) -> str:
    return response.data.decode()


def error_of(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page)
    assert match, f"no error next to {field}"
    return match.group(1)


def client_count(db) -> int:
    with db.session() as s:
        return len(s.query(Client).all())


VALID = {
    "name": "Nadia Noor",
    "email": "nadia@noor.example",
    "company": "Noor Design",
    "country": "DE",
}


def test_the_client_list_offers_a_new_client_and_links_each_row(hub, db):
    with db.session() as s:
        shops.open_business(s)
        client_id = shops.add_client(s, name="Bob Builder", email="bob@builder.example")
    page = text_of(hub.client.get("/clients"))
    assert 'href="/clients/new"' in page
    assert f'href="/clients/{client_id}"' in page


def test_adding_a_client_saves_it_and_opens_its_page(hub, db):
    form = text_of(hub.client.get("/clients/new"))
    assert '<option value="FR">France (FR)</option>' in form
    response = hub.post(
        "/clients/new", {**VALID, "address_line1": "1 Main St"}, page="/clients/new"
    )
    assert response.status_code == 302
    with db.session() as s:
        client = s.query(Client).one()
        assert (client.name, client.company, client.country) == ("Nadia Noor", "Noor Design", "DE")
    assert response.headers["Location"] == f"/clients/{client.id}"
    page = text_of(hub.client.get(response.headers["Location"]))
    assert "Nadia Noor" in page and "1 Main St" in page


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"country": "XX"}, "country"),
        ({"email": "taken@example.com"}, "email"),  # another client has it
    ],
)
def test_a_bad_client_form_comes_back_with_the_message_and_adds_nothing(hub, db, change, field):
    with db.session() as s:
        shops.add_client(s, name="Taken", email="taken@example.com")
    before = client_count(db)
    response = hub.post("/clients/new", {**VALID, **change}, page="/clients/new")
    assert response.status_code in (409, 422)
    page = text_of(response)
    assert error_of(page, field)
    assert 'value="Noor Design"' in page  # what was typed stays
    assert client_count(db) == before


def test_custom_fields_are_asked_checked_and_saved(hub, db):
    with db.session() as s:
        custom_fields.create_field(
            s,
            entity=CustomFieldEntity.CLIENT,
            label="VAT number",
            field_type=CustomFieldType.TEXT,
            required=True,
        )
        custom_fields.create_field(
            s,
            entity=CustomFieldEntity.CLIENT,
            label="Plan tier",
            field_type=CustomFieldType.CHOICE,
            options=["Gold", "Silver"],
        )
    form = text_of(hub.client.get("/clients/new"))
    assert 'name="custom-vat_number"' in form and "<option>Gold</option>" in form
    missing = hub.post("/clients/new", VALID, page="/clients/new")
    assert missing.status_code == 422
    assert error_of(text_of(missing), "custom-vat_number") == "Required."
    bad = hub.post(
        "/clients/new",
        {**VALID, "custom-vat_number": "DE1", "custom-plan_tier": "Bronze"},
        page="/clients/new",
    )
    assert "Must be one of" in error_of(text_of(bad), "custom-plan_tier")
    assert client_count(db) == 0
    done = hub.post(
        "/clients/new",
        {**VALID, "custom-vat_number": "DE123", "custom-plan_tier": "Gold"},
        page="/clients/new",
    )
    assert done.status_code == 302
    with db.session() as s:
        assert s.query(Client).one().custom_fields == {"vat_number": "DE123", "plan_tier": "Gold"}


def test_editing_a_client_changes_only_what_the_form_says(hub, db):
    with db.session() as s:
        client_id = shops.add_client(s, name="Old Name", email="old@example.com", company="Old Co")
    path = f"/clients/{client_id}/edit"
    form = text_of(hub.client.get(path))
    assert 'value="Old Name"' in form
    response = hub.post(
        path, {"name": "New Name", "email": "new@example.com", "company": "Old Co"}, page=path
    )
    assert response.status_code == 302
    with db.session() as s:
        client = clients.get_client(s, client_id)
        assert (client.name, client.email) == ("New Name", "new@example.com")
    bad = hub.post(path, {"name": "", "email": "new@example.com"}, page=path)
    assert bad.status_code == 422 and error_of(text_of(bad), "name")
    with db.session() as s:
        assert clients.get_client(s, client_id).name == "New Name"


def test_an_unknown_client_is_a_404(hub):
    assert hub.client.get("/clients/999").status_code == 404
    assert hub.client.get("/clients/999/edit").status_code == 404


@pytest.fixture
def shop(db):
    """EUR; Alice with a paid invoice (a site build and 2 x hosting) and an open one."""
    shop = make_shop(db)
    make_invoice(db, shop, "paid")
    return shop, make_invoice(db, shop, "open")


def test_every_tab_of_the_client_page_shows_the_clients_facts(hub, shop):
    shop, open_invoice = shop
    base = f"/clients/{shop.client_id}"
    overview = text_of(hub.client.get(base))
    assert "Alice Martin" in overview
    assert re.search(r'id="figure-mrr"><dt>MRR</dt><dd>€98.00</dd>', overview)
    assert re.search(r'id="figure-unpaid"><dt>[^<]*</dt><dd>1</dd>', overview)
    assert '<span class="badge"' in overview  # the invoices tab counts the unpaid one
    products = text_of(hub.client.get(base + "?tab=products"))
    assert "Managed hosting" in products and "Cancel at period end" in products
    listed = text_of(hub.client.get(base + "?tab=invoices"))
    assert f'href="/invoices/{open_invoice.id}"' in listed
    assert open_invoice.number in listed
    for tab in ("sites", "people", "activity", "nonsense"):
        assert hub.client.get(f"{base}?tab={tab}").status_code == 200
    assert "invoice" in text_of(hub.client.get(base + "?tab=activity")).lower()


def hosting(db, client_id):
    with db.session() as s:
        page = subscriptions.list_subscriptions(
            s, client_id=client_id, statuses=(SubscriptionStatus.ACTIVE,)
        )
        return page.items[0].id


def test_a_subscription_is_cancelled_at_period_end_resumed_cancelled_and_reactivated(hub, db, shop):
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    act = f"{base}/subscriptions/{sid}/"
    assert hub.post(act + "cancel-at-period-end", page=base).status_code == 302
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).cancel_at_period_end
    assert "Resume" in text_of(hub.client.get(base + "?tab=products"))
    hub.post(act + "resume", page=base)
    with db.session() as s:
        assert not subscriptions.get_subscription(s, sid).cancel_at_period_end
    hub.post(act + "cancel", page=base)
    with db.session() as s:
        assert subscriptions.get_subscription(s, sid).status == SubscriptionStatus.CANCELLED
    # Resuming a cancelled subscription is refused as a notice, not a 500.
    refused = hub.post(act + "resume", page=base)
    assert refused.status_code == 409 and 'role="alert"' in text_of(refused)
    page = text_of(hub.client.get(base + "?tab=products"))
    reactivated = hub.post(
        act + "reactivate", {"key": form_key(page, act + "reactivate")}, page=base
    )
    assert reactivated.status_code == 302
    assert reactivated.headers["Location"].startswith("/invoices/")
    with db.session() as s:
        assert invoices.unpaid_count(s, shop.client_id) == 2


def test_another_clients_subscription_is_not_found_here(hub, db, shop):
    shop = shop[0]
    with db.session() as s:
        other = shops.add_client(s, name="Other", email="other@example.com")
    sid = hosting(db, shop.client_id)
    assert hub.post(f"/clients/{other}/subscriptions/{sid}/cancel", page="/").status_code == 404


def secret_on(page: str) -> str | None:
    match = re.search(r'<code class="secret-value">(.*?)</code>', page)
    return match.group(1) if match else None


def test_a_sites_secret_is_shown_once_on_creation_and_on_rotation(hub, db, shop):
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    empty = hub.post(f"{base}/sites", {"name": "", "url": "https://x.example"}, page=base)
    assert empty.status_code == 422 and error_of(text_of(empty), "name")
    added = hub.post(
        f"{base}/sites", {"name": "Bakery", "url": "https://bakery.example"}, page=base
    )
    first = secret_on(text_of(added))
    assert first
    again = text_of(hub.client.get(base + "?tab=sites"))
    assert "Bakery" in again and first not in again and secret_on(again) is None
    with db.session() as s:
        site_id = clients.get_client(s, shop.client_id).sites[0].id
    rotated = secret_on(text_of(hub.post(f"{base}/sites/{site_id}/rotate", page=base)))
    assert rotated and rotated != first
    code = secret_on(text_of(hub.post(f"{base}/sites/{site_id}/connect-code", page=base)))
    assert code and code.count("-") >= 1


def test_a_read_only_user_sees_no_write_buttons_and_cannot_write(hub, db, shop, monkeypatch):
    shop = shop[0]
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    base = f"/clients/{shop.client_id}"
    for tab in ("overview", "products", "sites"):
        page = text_of(hub.client.get(f"{base}?tab={tab}"))
        assert "Edit client" not in page and "Cancel now" not in page and "Add site" not in page
    assert 'href="/clients/new"' not in text_of(hub.client.get("/clients"))
    assert hub.client.get("/clients/new").status_code == 403
    assert hub.post("/clients/new", VALID, page="/clients").status_code == 403
    assert (
        hub.post(
            f"{base}/sites", {"name": "X", "url": "https://x.example"}, page="/clients"
        ).status_code
        == 403
    )


def form_key(page: str, action: str) -> str:
    match = re.search(
        rf'action="{re.escape(action)}" class="inline-form">.*?name="key" value="([0-9a-f]+)"',
        page,
        re.S,
    )
    assert match, f"no keyed form for {action}"
    return match.group(1)


def test_a_one_time_item_is_billed_again_once_per_form_as_a_draft(hub, db, shop):
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    page = text_of(hub.client.get(base + "?tab=products"))
    assert "Site build" in page
    with db.session() as s:
        line_id = invoices.one_time_items(s, shop.client_id)[0].id
    action = f"{base}/items/{line_id}/bill-again"
    key = form_key(page, action)
    first = hub.post(action, {"key": key}, page=base)
    assert first.status_code == 302 and first.headers["Location"].startswith("/invoices/")
    # The same form sent again opens the same draft; nothing is billed twice.
    again = hub.post(action, {"key": key}, page=base)
    assert again.headers["Location"] == first.headers["Location"]
    with db.session() as s:
        draft_id = int(first.headers["Location"].rsplit("/", 1)[1])
        draft = invoices.get_invoice(s, draft_id)
        assert draft.status.value == "draft"
        drafts = invoices.list_invoices(s, client_id=shop.client_id, status=draft.status)
        assert drafts.total == 1
    # A new form is a new draft; a form without its key is refused.
    assert (
        hub.post(action, {"key": "another"}, page=base).headers["Location"]
        != first.headers["Location"]
    )
    assert hub.post(action, page=base).status_code == 400


def test_reactivating_twice_with_the_same_form_issues_one_invoice(hub, db, shop):
    shop = shop[0]
    base = f"/clients/{shop.client_id}"
    sid = hosting(db, shop.client_id)
    hub.post(f"{base}/subscriptions/{sid}/cancel", page=base)
    page = text_of(hub.client.get(base + "?tab=products"))
    action = f"{base}/subscriptions/{sid}/reactivate"
    key = form_key(page, action)
    first = hub.post(action, {"key": key}, page=base)
    again = hub.post(action, {"key": key}, page=base)
    assert first.headers["Location"] == again.headers["Location"]
    with db.session() as s:
        assert invoices.unpaid_count(s, shop.client_id) == 2  # the open one and one new


def test_a_one_time_item_of_another_client_is_not_found_here(hub, db, shop):
    shop = shop[0]
    with db.session() as s:
        other = shops.add_client(s, name="Other", email="other@example.com")
        line_id = invoices.one_time_items(s, shop.client_id)[0].id
    response = hub.post(f"/clients/{other}/items/{line_id}/bill-again", {"key": "k"}, page="/")
    assert response.status_code == 404


def test_the_people_tab_lists_the_clients_users_with_its_role(hub, db, shop):
    shop = shop[0]
    from bridge.billing import sites

    with db.session() as s:
        client = clients.get_client(s, shop.client_id)
        sites.add_client_user(s, client, email="baker@martin.example", name="Bea Baker")
        role = client.role.name
    page = text_of(hub.client.get(f"/clients/{shop.client_id}?tab=people"))
    row = page.split("Bea Baker")[1].split("</tr>")[0]
    assert "baker@martin.example" in row and role in row
