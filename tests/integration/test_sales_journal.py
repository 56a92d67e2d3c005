"""The sales journal export (``GET /exports/sales_journal.csv``): one row per
issued invoice and VAT rate with the stored net and VAT, then credit notes
negative, with the journal and account codes of the settings."""

import csv
import io

from tests import shop as shops
from tests.integration.test_legal_mentions_api import _invoice, shop  # noqa: F401


def _journal(api) -> list[dict]:
    response = api.get("/exports/sales_journal.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.data.decode())))


def test_one_row_per_invoice_and_rate_and_credit_notes_negative(api_eur, shop):  # noqa: F811
    shops.api_profile(
        api_eur, accounting_journal_code="VT", accounting_sales_account="706100", country="DE"
    )
    reduced = shops.api_vat(api_eur, "5.5", name="Reduced VAT")
    customer = shops.api_client(api_eur, company="Bäckerei", country="DE")
    body = {
        "client_id": customer["id"],
        "items": [
            {"plan_id": shop["setup"]["id"], "quantity": 2},
            {"plan_id": shop["setup"]["id"], "tax_rate_ids": [reduced["id"]]},
        ],
        "tax_rate_ids": [shop["vat"]["id"]],
    }
    invoice = api_eur.post("/invoices", json=body).get_json()
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    draft = _invoice(api_eur, customer["id"], shop["setup"]["id"], shop["vat"]["id"])
    api_eur.post(
        f"/invoices/{invoice['id']}/payments", json={"amount": sent["total"], "method": "cash"}
    )
    note = api_eur.post(
        f"/invoices/{invoice['id']}/credit-notes", json={"amount": sent["total"]}
    ).get_json()

    rows = _journal(api_eur)
    assert list(rows[0]) == [
        "journal", "date", "document", "kind", "client_id", "client", "client_account",
        "sales_account", "vat_account", "vat_rate", "currency", "net", "vat", "total",
    ]  # fmt: skip
    assert [
        (r["document"], r["kind"], r["vat_rate"], r["net"], r["vat"], r["total"]) for r in rows
    ] == [
        (sent["number"], "invoice", "20%", "300.00", "60.00", "360.00"),
        (sent["number"], "invoice", "5.5%", "150.00", "8.25", "158.25"),
        (note["number"], "credit_note", "20%", "-300.00", "-60.00", "-360.00"),
        (note["number"], "credit_note", "5.5%", "-150.00", "-8.25", "-158.25"),
    ]
    assert {
        (r["journal"], r["client_account"], r["sales_account"], r["vat_account"]) for r in rows
    } == {("VT", "411000", "706100", "445710")}
    assert draft["number"] is None  # drafts are not in the journal
