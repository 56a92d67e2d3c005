"""*Bill client*'s client picker never puts more than 1,000 clients into the
page: with more, it finds them by search words (htmx as they are typed, or
the *Find* button without JavaScript), and a client found is billed as
usual."""

from __future__ import annotations

import re

from sqlalchemy import insert, select

from bridge.core import clock
from bridge.hub.bill import MAX_CLIENTS, SEARCH_RESULTS
from bridge.models import Client, Invoice, Role
from tests.hub.test_hub_bill import form_data, shop  # noqa: F401 (the fixture)


def add_clients(db, count: int) -> None:
    """``count`` clients in one bulk insert ("Zed 0001"... sort after the shop's)."""
    now = clock.now()
    with db.session() as s:
        role = s.scalar(select(Role.id).where(Role.is_default.is_(True)))
        s.execute(
            insert(Client),
            [
                {
                    "name": f"Zed {n:04d}",
                    "email": f"zed{n}@example.org",
                    "email_key": f"zed{n}@example.org",
                    "company": "",
                    "search_text": f"zed {n:04d} zed{n}@example.org",
                    "status": "active",
                    "role_id": role,
                    "custom_fields": {},
                    "created_at": now,
                }
                for n in range(count)
            ],
        )


def client_options(page: str) -> list[str]:
    select_html = re.search(r'<select id="client_id".*?</select>', page, re.S).group(0)
    return re.findall(r'<option value="(\d+)"', select_html)


def test_up_to_a_thousand_clients_are_all_listed(hub, db, shop):  # noqa: F811
    add_clients(db, MAX_CLIENTS - 1)
    page = hub.client.get("/bill").data.decode()
    assert len(client_options(page)) == MAX_CLIENTS + 1  # and "—"
    assert 'id="client_q"' not in page


def test_more_clients_make_the_picker_a_search(hub, db, shop):  # noqa: F811
    add_clients(db, MAX_CLIENTS)
    page = hub.client.get("/bill").data.decode()
    assert 'id="client_q"' in page and 'for="client_q"' in page
    assert client_options(page) == ["0"]
    assert "Type a name, company or email" in page
    # As typed (htmx asks for the page with the words; it keeps #client-field).
    found = hub.client.get("/bill?client_q=zed 012").data.decode()
    assert len(client_options(found)) == 1 + 10  # Zed 0120-0129
    assert "10 clients match." in found
    broad = hub.client.get("/bill?client_q=zed").data.decode()
    assert len(client_options(broad)) == 1 + SEARCH_RESULTS
    assert f"{SEARCH_RESULTS} of {MAX_CLIENTS} matching clients" in broad
    assert "No client matches." in hub.client.get("/bill?client_q=nobody").data.decode()
    # Preselected (?client_id=) or chosen, the client stays listed.
    chosen = hub.client.get(f"/bill?client_id={shop['client']}").data.decode()
    assert f'<option value="{shop["client"]}" selected>' in chosen


def test_without_javascript_find_searches_and_the_found_client_is_billed(
    hub,
    db,
    shop,  # noqa: F811
):
    add_clients(db, MAX_CLIENTS)
    page = hub.client.get("/bill").data
    with db.session() as s:
        zed = s.scalar(select(Client.id).where(Client.name == "Zed 0500"))
    found = hub.client.post(
        "/bill", data=form_data(page, shop, action="find", client_q="Zed 0500", site_id="0")
    )
    assert found.status_code == 200
    text = found.data.decode()
    assert str(zed) in client_options(text) and 'value="Zed 0500"' in text
    assert 'name="items-1-plan_id"' in text  # the rest of the form is kept
    saved = hub.client.post(
        "/bill", data=form_data(page, shop, action="save", client_id=str(zed), site_id="0")
    )
    assert saved.status_code == 303
    with db.session() as s:
        assert s.scalar(select(Invoice.client_id)) == zed
