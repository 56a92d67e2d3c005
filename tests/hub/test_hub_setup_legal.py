"""Setup's Legal mentions section: the seller's legal identity, payment-terms
wording, Factur-X as the business clients' PDF and the sales journal's
account codes, saved as ``PATCH /api/v1/settings`` saves them (the same
checks, the same refusals next to their fields); CSRF-protected; French
words in a French Hub. And the client form's SIREN and VAT number."""

from __future__ import annotations

import re

import facturx

from bridge.billing import clients, invoices
from bridge.billing.business import get_settings
from bridge.models import Client
from tests import shop as shops
from tests.hub.test_hub_setup_portal import text_of
from tests.integration.test_legal_mentions_api import FRENCH_SELLER

PAGE = "/setup/legal"
FILLED = {
    "legal_form": "SAS",
    "share_capital": "10000",
    "siren": "123 456 782",
    "siret": "12345678200010",
    "rcs_city": "Lyon",
    "late_payment_penalty_text": "",
    "early_payment_discount_text": "Escompte de 2 % sous 8 jours.",
    "facturx_default": "y",
    "accounting_journal_code": "VT",
    "accounting_client_account": "411000",
    "accounting_sales_account": "706100",
    "accounting_vat_account": "445711",
}


def test_the_section_is_in_setup_with_the_saved_values(hub, db):
    with db.session() as s:
        s.merge(get_settings(s)).siren = "552012346"
        s.commit()
    body = text_of(hub.client.get(PAGE))
    assert 'href="/setup/legal" aria-current="page">Legal mentions</a>' in body
    assert re.search(r'<input [^>]*id="siren"[^>]* value="552012346"', body)
    assert re.search(r'<input id="accounting_sales_account"[^>]* value="706000"', body)


def test_saving_stores_the_details_normalised(hub, db):
    answer = hub.post(PAGE, FILLED, page=PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    assert "Legal mentions saved." in text_of(hub.client.get(PAGE))
    with db.session() as s:
        settings = get_settings(s)
        assert (settings.siren, settings.share_capital, settings.facturx_default) == (
            "123456782",
            1_000_000,
            True,
        )
        assert settings.individual_entrepreneur is False
        assert settings.accounting_sales_account == "706100"
        assert settings.early_payment_discount_text == "Escompte de 2 % sous 8 jours."


def test_a_wrong_number_is_refused_next_to_its_field_and_nothing_changes(hub, db):
    answer = hub.post(PAGE, {**FILLED, "siren": "123456789", "share_capital": "12,5,0"}, page=PAGE)
    assert answer.status_code == 422
    body = text_of(answer)
    assert 'id="share_capital-error">An amount such as 10000 or 1500.50.' in body
    answer = hub.post(PAGE, {**FILLED, "siren": "123456789"}, page=PAGE)
    assert answer.status_code == 422
    assert 'id="siren-error">Not a valid SIREN.' in text_of(answer)
    with db.session() as s:
        assert get_settings(s).siren == ""


def test_a_post_without_the_csrf_token_changes_nothing(hub, db):
    answer = hub.client.post(PAGE, data=FILLED)
    assert answer.status_code == 400
    with db.session() as s:
        assert get_settings(s).siren == ""


def test_read_only_staff_see_it_disabled_and_cannot_change_it(hub, db, monkeypatch):
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    body = text_of(hub.client.get(PAGE))
    assert "<fieldset disabled>" in body and ">Save</button>" not in body
    assert hub.post(PAGE, FILLED, page=PAGE).status_code == 403


def test_the_client_form_takes_a_siren_and_a_vat_number(hub, db):
    answer = hub.post(
        "/clients/new",
        {
            "name": "Martin Bakery",
            "email": "compta@martin.example",
            "country": "FR",
            "siren": "552012346",
            "tax_id": "FR 11 123456782",
        },
        page="/clients/new",
    )
    assert answer.status_code in (302, 303), text_of(answer)
    with db.session() as s:
        client = s.query(Client).one()
        assert (client.siren, client.tax_id) == ("552012346", "FR11123456782")


def test_sending_an_invoice_to_a_french_business_without_the_details_shows_the_apis_message(
    hub, db
):
    with db.session() as s:
        shops.open_business(s, **FRENCH_SELLER)
        plan = shops.add_product(s, "Web", {"setup": shops.SETUP})["setup"]
        client = clients.get_client(s, shops.add_client(s, company="Martin Bakery", country="FR"))
        draft = invoices.bill_client(s, client, [invoices.Item(plan_id=plan)])
        s.commit()
        invoice_id = draft.id
    page = f"/invoices/{invoice_id}"
    answer = hub.post(f"{page}/finalize", page=page)
    assert answer.status_code == 422
    assert (
        "An invoice to a business in France must print the seller&#39;s legal details: fill in "
        "SIREN, legal form, share capital, RCS city, VAT number in the company settings first."
    ) in text_of(answer)
    with db.session() as s:
        assert invoices.get_invoice(s, invoice_id).status.value == "draft"


def test_staff_download_an_issued_invoice_as_factur_x_from_its_page(hub, db):
    with db.session() as s:
        shops.open_business(
            s, **FRENCH_SELLER, tax_id="FR11123456782", **shops.FRENCH_LEGAL_DETAILS
        )
        plan = shops.add_product(s, "Web", {"setup": shops.SETUP})["setup"]
        client = clients.get_client(s, shops.add_client(s, company="Martin Bakery", country="FR"))
        draft = invoices.bill_client(s, client, [invoices.Item(plan_id=plan)])
        s.commit()
        draft_id = draft.id
    assert 'id="download-facturx"' not in text_of(hub.client.get(f"/invoices/{draft_id}"))
    assert hub.client.get(f"/invoices/{draft_id}/facturx.pdf").status_code == 409
    with db.session() as s:
        invoices.finalize(s, invoices.get_invoice(s, draft_id))
        s.commit()
    page = text_of(hub.client.get(f"/invoices/{draft_id}"))
    assert f'id="download-facturx" href="/invoices/{draft_id}/facturx.pdf"' in page
    download = hub.client.get(f"/invoices/{draft_id}/facturx.pdf")
    assert download.status_code == 200
    assert facturx.get_xml_from_pdf(download.data)[0] == "factur-x.xml"
