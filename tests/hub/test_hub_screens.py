"""The Hub's first screens through the test client: the overview's figures
and chart, the client list's search, filter, sort and pages, and their
empty states."""

from __future__ import annotations

import re

import pytest

from bridge.hub import chart, views
from tests import shop as shops
from tests.e2e.conftest import make_invoice, make_shop
from tests.integration.test_query_counts import count_statements


def text_of(response) -> str:
    return response.data.decode()


def figure(page: str, name: str) -> str:
    """The value shown for one overview figure, tags removed."""
    match = re.search(rf'id="figure-{name}">.*?<dd>(.*?)</dd>', page, re.S)
    assert match, name
    return re.sub(r"<[^>]+>", "", match.group(1)).strip()


def test_a_new_business_gets_a_welcome_and_empty_figures(hub):
    page = text_of(hub.client.get("/"))
    assert 'id="welcome"' in page
    assert figure(page, "mrr") == "—"  # no currency chosen yet
    assert figure(page, "clients") == "0"
    assert "Not connected" in page and "Offline payments only" in page
    assert 'id="chart-empty"' in page


def test_the_overview_shows_every_figure_of_the_metrics_and_links_the_clients(hub, db):
    shop = make_shop(db)
    make_invoice(db, shop, "paid")  # a site build and 2 x hosting at 49.00 a month
    page = text_of(hub.client.get("/"))
    assert 'id="welcome"' not in page
    assert figure(page, "mrr") == "€98.00"
    assert figure(page, "active-subscriptions") == "1"
    assert figure(page, "net-billing") == "€1,298.00"
    assert figure(page, "clients") == "1"
    assert figure(page, "average-billing") == "€1,298.00"
    assert figure(page, "clients-active") == "1"
    assert figure(page, "products") == "1"
    assert figure(page, "one-time-plans") == "1"
    assert figure(page, "recurring-plans") == "1"
    assert '<a href="/clients">1</a>' in page
    # The chart: a bar per month, the MRR line, and the figures as a table.
    assert page.count('class="bar"') == 12
    assert 'class="line"' in page
    assert "€1,298.00" in page.split('class="figures-table"')[1]


def test_the_chart_scale_rounds_up_to_a_readable_top():
    assert chart.nice_ceiling(0) == 0
    assert chart.nice_ceiling(129800) == 200000
    assert chart.nice_ceiling(9800) == 10000
    assert chart.nice_ceiling(2400) == 2500
    drawing = chart.layout([0, 50, 100], [100, 0, 0])
    assert drawing.top_value == 100
    assert drawing.bars[0].y == chart.TOP
    assert drawing.points[2].y == chart.TOP
    assert drawing.bars[1].height == 0


def test_an_empty_client_list_says_how_to_add_clients(hub):
    page = text_of(hub.client.get("/clients"))
    assert 'id="no-clients"' in page
    assert 'role="search"' not in page  # nothing to search yet


@pytest.fixture
def agency(db):
    """EUR; Alice with a paid invoice (MRR 98.00), and three more clients."""
    shop = make_shop(db)
    make_invoice(db, shop, "paid")
    with db.session() as s:
        for name, email, company in [
            ("Bob Builder", "bob@builder.example", "Builder & Sons"),
            ("Chloé Dubois", "chloe@atelier.example", "Atelier Dubois"),
            ("Dan Very-Long-Name " * 6, "dan@example.com", "A company with a long name " * 4),
        ]:
            shops.add_client(s, name=name.strip(), email=email, company=company)
    return shop


def rows(page: str) -> list[str]:
    return re.findall(r'<strong class="client-name">(.*?)</strong>', page)


def test_the_client_list_shows_status_sites_mrr_and_net_billing(hub, agency):
    page = text_of(hub.client.get("/clients"))
    assert "4 clients" in page
    assert rows(page)[:3] == ["Alice Martin", "Bob Builder", "Chloé Dubois"]
    alice = page.split("Alice Martin")[1].split("</tr>")[0]
    assert "€98.00" in alice  # MRR, tax excluded
    assert "€1,557.60" in alice  # net billing, tax included
    assert 'class="avatar' in page and ">AM<" in page


def test_the_client_list_searches_filters_and_sorts(hub, agency):
    assert rows(text_of(hub.client.get("/clients?q=ATELIER"))) == ["Chloé Dubois"]
    assert rows(text_of(hub.client.get("/clients?q=nobody"))) == []
    assert 'id="no-match"' in text_of(hub.client.get("/clients?q=nobody"))
    assert rows(text_of(hub.client.get("/clients?sort=-mrr")))[0] == "Alice Martin"
    assert rows(text_of(hub.client.get("/clients?sort=-name")))[-1] == "Alice Martin"
    inactive = rows(text_of(hub.client.get("/clients?status=inactive")))
    assert len(inactive) == 4
    assert rows(text_of(hub.client.get("/clients?status=active"))) == []
    # Nonsense in the query string is ignored, not an error.
    page = hub.client.get("/clients?sort=drop&status=zzz&page=-3")
    assert page.status_code == 200 and len(rows(text_of(page))) == 4


def test_the_client_list_pages_and_keeps_the_search_in_the_links(hub, db, monkeypatch):
    monkeypatch.setattr(views, "CLIENTS_PER_PAGE", 2)
    with db.session() as s:
        shops.open_business(s)
        for k in range(5):
            shops.add_client(s, name=f"Client {k}", email=f"c{k}@x.example")
    first = text_of(hub.client.get("/clients?q=client&sort=-name"))
    assert rows(first) == ["Client 4", "Client 3"]
    assert "Page 1 of 3" in first
    assert 'href="/clients?q=client&amp;sort=-name&amp;page=2"' in first
    last = text_of(hub.client.get("/clients?q=client&sort=-name&page=3"))
    assert rows(last) == ["Client 0"]


def test_the_client_list_reads_the_same_number_of_statements_for_any_page_size(hub, db):
    with db.session() as s:
        shops.open_business(s)
        for k in range(30):
            shops.add_client(s, name=f"Client {k:02}", email=f"c{k}@x.example")
    with count_statements(db) as few:
        hub.client.get("/clients?q=client%2029")
    with count_statements(db) as many:
        hub.client.get("/clients")
    assert len(few) == len(many) <= 5


def test_every_section_has_its_screen_and_unknown_paths_are_404(hub):
    page = text_of(hub.client.get("/roles"))
    assert "This screen is coming." not in page
    assert '<a href="/roles" aria-current="page">' in page
    assert hub.client.get("/nothing-here").status_code == 404


def test_the_hub_speaks_the_browsers_language(hub, db):
    shop = make_shop(db)
    make_invoice(db, shop, "paid")
    page = hub.client.get("/", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).data.decode()
    assert '<html lang="fr">' in page
    assert "Vue d’ensemble" in page and "Se déconnecter" in page
    assert figure(page, "mrr") == "98,00\u00a0€"
    clients = hub.client.get("/clients", headers={"Accept-Language": "de"}).data.decode()
    assert "1 Kunde" in clients and "Nettoumsatz" in clients
