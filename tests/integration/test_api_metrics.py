"""The figures over the API: overview, history, forecast, the client's and
site's figures and billing preview, the client list's MRR and net billing
columns (sortable), CSV exports, and who may read them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import time_machine

from bridge.billing import invoices, metrics
from bridge.models import Client, IntervalUnit, PaymentMethod
from tests import shop
from tests.integration.test_metrics import _buy, _client, _plan

NOW = datetime(2027, 3, 15, 10, 0, tzinfo=UTC)
TRICKY = 'Dupont, "Le Petit" Café\nLigne 2'


@pytest.fixture
def billed(db, app):
    """Three clients: a monthly 100.00 + VAT on a site, a yearly 1,200.00,
    and one with nothing; a paid one-time invoice with a tricky name."""
    box = app.extensions["bridge.secret_box"]
    from bridge.billing import clients as client_domain

    with time_machine.travel(NOW, tick=False), db.session() as s:
        shop.open_business(s)
        vat = shop.add_vat(s, "20")
        monthly = _client(s, name="Monthly client")
        site, _secret = client_domain.create_site(
            s, box, monthly, name="Shop", url="https://shop.example"
        )
        _buy(
            s,
            monthly,
            _plan(s, IntervalUnit.MONTH, 1, 10000),
            tax_rate_ids=[vat],
            site_id=site.id,
        )
        yearly = _client(s, name=TRICKY)
        _buy(s, yearly, _plan(s, IntervalUnit.YEAR, 1, 120000))
        idle = _client(s, name="Idle client")
        s.flush()
        return {"monthly": monthly.id, "site": site.id, "yearly": yearly.id, "idle": idle.id}


@pytest.fixture
def at_now():
    with time_machine.travel(NOW, tick=False):
        yield


def test_overview(api, billed, at_now):
    response = api.get("/metrics/overview")
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["currency"] == "EUR"
    assert body["revenue"] == {
        "mrr": 10000 + 10000,
        "active_subscriptions": 2,
        "net_billing": 10000 + 120000,
    }
    assert body["clients"] == {
        "total": 3,
        "average_billing": 43333,
        "with_active_subscriptions": 2,
    }
    assert body["products"]["active_recurring_plans"] == 2
    assert body["stripe"]["connected"] is False


def test_client_list_shows_and_sorts_by_mrr_and_net_billing(api, billed, at_now):
    rows = api.get("/clients?sort=-mrr").get_json()["data"]
    assert [(r["id"], r["mrr"]) for r in rows] == [
        (billed["yearly"], 10000),
        (billed["monthly"], 10000),
        (billed["idle"], 0),
    ]
    rows = api.get("/clients?sort=-net_billing").get_json()["data"]
    assert [(r["id"], r["net_billing"]) for r in rows] == [
        (billed["yearly"], 120000),
        (billed["monthly"], 12000),  # tax included in the list
        (billed["idle"], 0),
    ]
    rows = api.get("/clients?sort=mrr").get_json()["data"]
    assert rows[0]["id"] == billed["idle"]
    one = api.get(f"/clients/{billed['monthly']}").get_json()
    assert (one["mrr"], one["net_billing"]) == (10000, 12000)


def test_client_and_site_figures(api, billed, at_now):
    body = api.get(f"/clients/{billed['monthly']}/metrics").get_json()
    assert body["mrr"] == 10000
    assert body["net_billing"] == 12000
    assert body["net_billing_before_tax"] == 10000
    assert [h["renewals"] for h in body["forecast"]] == [0, 1, 2]
    site = api.get(f"/clients/{billed['monthly']}/sites/{billed['site']}/metrics").get_json()
    assert (site["mrr"], site["net_billing"]) == (10000, 12000)
    wrong = api.get(f"/clients/{billed['yearly']}/sites/{billed['site']}/metrics")
    assert wrong.status_code == 404


def test_history_and_forecast(api, billed, at_now):
    months = api.get("/metrics/history").get_json()["data"]
    assert len(months) == 12
    moved = {"new": 20000, "expansion": 0, "contraction": 0, "churn": 0, "reactivation": 0}
    assert months[-1] == {"month": "2027-03", "mrr": 20000, "billing": 130000, "movements": moved}
    assert months[-2]["mrr"] == 0
    forecast = api.get("/metrics/forecast").get_json()["data"]
    assert forecast == [
        {"days": 30, "renewals": 0, "amount": 0},
        {"days": 60, "renewals": 1, "amount": 10000},
        {"days": 90, "renewals": 2, "amount": 20000},
    ]
    mine = api.get(f"/metrics/forecast?client_id={billed['yearly']}").get_json()["data"]
    assert [h["renewals"] for h in mine] == [0, 0, 0]
    assert api.get("/metrics/forecast?client_id=999999").status_code == 404


def test_billing_preview_of_a_client_and_a_site(api, billed, at_now):
    body = api.get(f"/clients/{billed['monthly']}/billing-preview").get_json()
    months = body["data"]
    assert months[0]["month"] == "2027-03" and months[0]["invoices"] == []
    issued = [i for m in months for i in m["invoices"]]
    assert len(issued) == 12
    assert issued[0]["issue_date"] == "2027-04-15"
    assert (issued[0]["subtotal"], issued[0]["tax"], issued[0]["total"]) == (10000, 2000, 12000)
    assert issued[0]["taxes"] == [
        {"name": "VAT", "percentage_e4": 200000, "inclusive": False, "amount": 2000}
    ]
    site = api.get(f"/clients/{billed['monthly']}/sites/{billed['site']}/billing-preview")
    assert site.get_json() == body
    yearly = api.get(f"/clients/{billed['yearly']}/billing-preview?months=12").get_json()
    assert [m["total"] for m in yearly["data"] if m["total"]] == [120000]
    assert api.get(f"/clients/{billed['yearly']}/billing-preview?months=99").status_code == 422
    whole = api.get("/metrics/billing-preview").get_json()["data"]
    assert sum(m["total"] for m in whole) == 12 * 12000 + 120000
    assert sum(m["count"] for m in whole) == 12 + 1
    assert all(m["invoices"] == [] for m in whole)  # counts and totals only


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_exports_round_trip_through_the_csv_module(api, billed, db, at_now):
    with db.session() as s:
        client = s.get(Client, billed["yearly"])
        invoice = invoices.list_invoices(s, client_id=client.id).items[0]
        invoices.issue_credit_note(s, invoice, amount=1234, reason='Refund, "partial"\nsecond')
    rows = _csv(api.get("/exports/invoices.csv?from=2027-03-01&to=2027-03-31"))
    header, lines = rows[0], rows[1:]
    assert header[:8] == [
        "number",
        "issue_date",
        "due_date",
        "client_id",
        "client",
        "status",
        "currency",
        "net",
    ]
    assert "VAT 20%" in header
    by_client = {line[4]: dict(zip(header, line, strict=True)) for line in lines}
    assert by_client[TRICKY]["net"] == "1200.00"
    assert by_client[TRICKY]["VAT 20%"] == "0.00"
    assert by_client["Monthly client"]["VAT 20%"] == "20.00"
    assert by_client["Monthly client"]["total"] == "120.00"
    assert by_client["Monthly client"]["issue_date"] == "2027-03-15"
    notes = _csv(api.get("/exports/credit_notes.csv"))
    assert notes[1][4] == TRICKY and notes[1][-1] == 'Refund, "partial"\nsecond'
    assert notes[1][8] == "12.34"
    payments = _csv(api.get("/exports/payments.csv?from=2027-03-15&to=2027-03-15"))
    assert len(payments) == 3
    assert _csv(api.get("/exports/payments.csv?from=2027-03-16")) == [payments[0]]
    clients = _csv(api.get("/exports/clients.csv"))
    mine = {line[1]: line for line in clients[1:]}
    assert mine[TRICKY][7:] == ["100.00", "1187.66", "1187.66"]


def test_export_cells_never_start_a_formula(api, db, at_now):
    with db.session() as s:
        shop.open_business(s)
        _client(s, name='=HYPERLINK("http://evil")')
    rows = _csv(api.get("/exports/clients.csv"))
    assert rows[1][1] == '\'=HYPERLINK("http://evil")'


def test_export_refuses_bad_input(api, billed, at_now):
    assert api.get("/exports/nothing.csv").status_code == 404
    bad = api.get("/exports/invoices.csv?from=2027-04-01&to=2027-03-01")
    assert bad.status_code == 422
    assert api.get("/exports/invoices.csv?from=yesterday").status_code == 422


def test_read_only_tokens_read_figures_and_anonymous_callers_do_not(
    api_read_only, client, billed, at_now
):
    for path in (
        "/metrics/overview",
        "/metrics/history",
        "/metrics/forecast",
        f"/clients/{billed['monthly']}/billing-preview",
        "/exports/clients.csv",
    ):
        assert api_read_only.get(path).status_code == 200, path
        assert client.get("/api/v1" + path).status_code == 401, path


def test_openapi_documents_the_metrics_routes(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path in (
        "/api/v1/metrics/overview",
        "/api/v1/metrics/history",
        "/api/v1/metrics/forecast",
        "/api/v1/metrics/billing-preview",
        "/api/v1/clients/{client_id}/billing-preview",
        "/api/v1/clients/{client_id}/sites/{site_id}/billing-preview",
        "/api/v1/clients/{client_id}/metrics",
        "/api/v1/exports/{kind}.csv",
    ):
        assert path in paths, path
    assert "text/csv" in paths["/api/v1/exports/{kind}.csv"]["get"]["responses"]["200"]["content"]


def test_the_figures_follow_payments_by_events(db, billed):
    with time_machine.travel(NOW, tick=False), db.session() as s:
        idle = s.get(Client, billed["idle"])
        sub = _buy(s, idle, _plan(s, IntervalUnit.WEEK, 2, 1000), pay=False)
        s.commit()
        s.refresh(idle)
        assert (idle.mrr, idle.net_billing) == (0, 1000)  # pending, but invoiced
        invoice = invoices.list_invoices(s, client_id=idle.id).items[0]
        invoices.record_offline_payment(s, invoice, amount=invoice.total, method=PaymentMethod.CASH)
        s.commit()
        s.refresh(idle)
        assert idle.mrr == metrics.mrr(s, client_id=idle.id) == 2167
        assert sub.id
