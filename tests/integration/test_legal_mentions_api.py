"""The seller's and clients' legal details through the API, VAT exemptions on
tax rates, and the guard rails of French invoicing law: no invoice to a
French business while the seller's mandatory details are missing, no net
terms over 60 days."""

import facturx
import pytest

from tests import shop as shops
from tests.integration.test_api_settings import assert_refused

FRENCH_SELLER = {
    "company_name": "Pixel & Pine Studio",
    "address_line1": "12 rue des Lilas",
    "postal_code": "75011",
    "city": "Paris",
    "country": "FR",
}
BUSINESS = {"company": "Martin Bakery", "country": "FR", "siren": "552 012 346"}


@pytest.fixture
def shop(api_eur):
    shops.api_profile(api_eur, **FRENCH_SELLER)
    plans = shops.api_product(api_eur, "Web", {"setup": shops.SETUP})
    return {**plans, "vat": shops.api_vat(api_eur)}


def _invoice(api, client_id: int, plan_id: int, rate_id: int) -> dict:
    response = api.post(
        "/invoices",
        json={"client_id": client_id, "items": [{"plan_id": plan_id}], "tax_rate_ids": [rate_id]},
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_the_legal_details_are_stored_normalised_and_read_back(api_eur):
    body = shops.api_profile(
        api_eur,
        legal_form="SAS",
        share_capital=1_000_000,
        siren="123 456 782",
        siret="123 456 782 00010",
        rcs_city="Paris",
        tax_id="fr 11 123456782",
        late_payment_penalty_text="Pénalités : 10 % par an.",
    )
    assert (body["siren"], body["siret"], body["tax_id"]) == (
        "123456782",
        "12345678200010",
        "FR11123456782",
    )
    assert (body["legal_form"], body["share_capital"], body["rcs_city"]) == (
        "SAS",
        1_000_000,
        "Paris",
    )
    assert body["individual_entrepreneur"] is False and body["facturx_default"] is False
    assert api_eur.get("/settings").get_json()["late_payment_penalty_text"] == (
        "Pénalités : 10 % par an."
    )


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"siren": "123456789"}, "invalid_siren", "siren"),
        ({"siret": "1234567820001"}, "invalid_siret", "siret"),
        ({"siren": "552012346", "siret": "12345678200010"}, "siret_siren_mismatch", "siret"),
        ({"tax_id": "FR1234"}, "invalid_vat_number", "tax_id"),
    ],
)
def test_wrong_registration_numbers_are_refused_and_nothing_changes(api, changes, code, field):
    assert_refused(api.patch("/settings", json=changes), 422, code, field)
    assert api.get("/settings").get_json()["siren"] == ""


def test_net_terms_over_sixty_days_are_refused_in_france_only(api):
    shops.api_profile(api, country="DE", invoice_net_terms_days=90)
    error = assert_refused(
        api.patch("/settings", json={"country": "FR"}), 422, "net_terms_too_long"
    )
    assert "60 days" in error["message"]
    assert_refused(
        api.patch("/settings", json={"country": "FR", "invoice_net_terms_days": 61}),
        422,
        "net_terms_too_long",
        "invoice_net_terms_days",
    )
    assert shops.api_profile(api, country="FR", invoice_net_terms_days=60)["country"] == "FR"


def test_a_client_has_a_siren_and_a_vat_number(api):
    client = shops.api_client(api, tax_id="FR 11 123456782", **BUSINESS)
    assert (client["siren"], client["tax_id"]) == ("552012346", "FR11123456782")
    assert_refused(
        api.patch(f"/clients/{client['id']}", json={"siren": "552012345"}), 422, "invalid_siren"
    )
    patched = api.patch(f"/clients/{client['id']}", json={"siren": ""}).get_json()
    assert patched["siren"] == ""


def test_only_a_zero_rate_stands_for_a_vat_exemption(api):
    franchise = api.post(
        "/tax-rates", json={"name": "Franchise", "percentage": "0", "exemption": "franchise"}
    )
    assert franchise.status_code == 201 and franchise.get_json()["exemption"] == "franchise"
    assert_refused(
        api.post(
            "/tax-rates",
            json={"name": "Odd", "percentage": "20", "exemption": "reverse_charge"},
        ),
        422,
        "exemption_needs_zero_rate",
        "exemption",
    )


def test_an_invoice_to_a_french_business_waits_for_the_sellers_legal_details(api_eur, shop):
    client = shops.api_client(api_eur, **BUSINESS)
    invoice = _invoice(api_eur, client["id"], shop["setup"]["id"], shop["vat"]["id"])
    error = assert_refused(
        api_eur.post(f"/invoices/{invoice['id']}/finalize"), 422, "legal_mentions_missing"
    )
    assert set(error["fields"]) == {"legal_form", "share_capital", "siren", "rcs_city", "tax_id"}
    assert "SIREN, legal form, share capital, RCS city, VAT number" in error["message"]
    assert api_eur.get(f"/invoices/{invoice['id']}").get_json()["status"] == "draft"

    shops.api_profile(api_eur, tax_id="FR11123456782", **shops.FRENCH_LEGAL_DETAILS)
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize")
    assert sent.status_code == 200 and sent.get_json()["status"] == "open"


def test_an_individual_entrepreneur_needs_no_legal_form_and_a_franchise_no_vat_number(
    api_eur, shop
):
    shops.api_profile(api_eur, individual_entrepreneur=True, siren="123456782")
    franchise = api_eur.post(
        "/tax-rates", json={"name": "Franchise", "percentage": "0", "exemption": "franchise"}
    ).get_json()
    client = shops.api_client(api_eur, **BUSINESS)
    invoice = _invoice(api_eur, client["id"], shop["setup"]["id"], franchise["id"])
    assert api_eur.post(f"/invoices/{invoice['id']}/finalize").status_code == 200
    taxed = _invoice(api_eur, client["id"], shop["setup"]["id"], shop["vat"]["id"])
    error = assert_refused(
        api_eur.post(f"/invoices/{taxed['id']}/finalize"), 422, "legal_mentions_missing"
    )
    assert set(error["fields"]) == {"tax_id"}


def test_consumers_and_clients_abroad_are_invoiced_without_those_details(api_eur, shop):
    consumer = shops.api_client(api_eur, country="FR")
    abroad = shops.api_client(
        api_eur, name="Hans", email="hans@example.de", company="Bäckerei", country="DE"
    )
    for client in (consumer, abroad):
        invoice = _invoice(api_eur, client["id"], shop["setup"]["id"], shop["vat"]["id"])
        assert api_eur.post(f"/invoices/{invoice['id']}/finalize").status_code == 200


def test_the_hosted_page_prints_the_legal_mentions_in_the_invoices_language(api_eur, shop, client):
    shops.api_profile(api_eur, tax_id="FR11123456782", **shops.FRENCH_LEGAL_DETAILS)
    customer = shops.api_client(api_eur, tax_id="FR11123456782", **BUSINESS)
    invoice = _invoice(api_eur, customer["id"], shop["setup"]["id"], shop["vat"]["id"])
    api_eur.patch(f"/invoices/{invoice['id']}", json={"language": "fr"})
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    page = client.get("/i/" + sent["hosted_url"].rsplit("/i/", 1)[1])
    assert page.status_code == 200
    text = page.data.decode().replace("\u202f", " ").replace("\xa0", " ")
    for mention in (
        "SAS au capital de 10 000,00 €",
        "SIREN : 123456782 — RCS Paris",
        "SIREN : 552012346",
        "N° TVA : FR11123456782",
        "Catégorie de l&#39;opération : prestation de services",
        "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : 40,00 €",
        "Pas d&#39;escompte pour paiement anticipé.",
    ):
        assert mention in text, mention


def test_an_issued_invoice_and_its_credit_note_download_as_e_invoices(api_eur, shop, client):
    shops.api_profile(api_eur, tax_id="FR11123456782", **shops.FRENCH_LEGAL_DETAILS)
    customer = shops.api_client(api_eur, **BUSINESS)
    invoice = _invoice(api_eur, customer["id"], shop["setup"]["id"], shop["vat"]["id"])
    assert_refused(api_eur.get(f"/invoices/{invoice['id']}/cii.xml"), 409, "invoice_not_issued")
    sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
    xml = api_eur.get(f"/invoices/{invoice['id']}/cii.xml")
    assert xml.status_code == 200 and xml.mimetype == "application/xml"
    assert f"<ram:ID>{sent['number']}</ram:ID>".encode() in xml.data
    pdf = api_eur.get(f"/invoices/{invoice['id']}/facturx.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert facturx.get_xml_from_pdf(pdf.data) == ("factur-x.xml", xml.data)
    api_eur.post(f"/invoices/{invoice['id']}/payments", json={"amount": 18000, "method": "cash"})
    note = api_eur.post(f"/invoices/{invoice['id']}/credit-notes", json={"amount": 6000}).get_json()
    credit = api_eur.get(f"/credit-notes/{note['id']}/cii.xml")
    assert credit.status_code == 200 and b"<ram:TypeCode>381</ram:TypeCode>" in credit.data
    printed = api_eur.get(f"/credit-notes/{note['id']}/pdf")
    assert printed.status_code == 200 and printed.data.startswith(b"%PDF-")
    e_credit = api_eur.get(f"/credit-notes/{note['id']}/facturx.pdf")
    assert facturx.get_xml_from_pdf(e_credit.data) == ("factur-x.xml", credit.data)
    assert api_eur.get("/credit-notes/999/cii.xml").status_code == 404
    # Staff only: without a token, nothing.
    assert client.get(f"/api/v1/invoices/{invoice['id']}/cii.xml").status_code == 401


def test_with_facturx_as_default_a_business_downloads_the_e_invoice_a_consumer_the_plain_pdf(
    api_eur, shop, client
):
    shops.api_profile(
        api_eur, tax_id="FR11123456782", facturx_default=True, **shops.FRENCH_LEGAL_DETAILS
    )
    downloads = {}
    for name, details in (("business", BUSINESS), ("consumer", {"country": "FR"})):
        customer = shops.api_client(api_eur, email=f"{name}@example.com", **details)
        invoice = _invoice(api_eur, customer["id"], shop["setup"]["id"], shop["vat"]["id"])
        sent = api_eur.post(f"/invoices/{invoice['id']}/finalize").get_json()
        token = sent["hosted_url"].rsplit("/i/", 1)[1]
        page = client.get(f"/i/{token}").data.decode()
        # The page and the email link the same URL, which serves the default format.
        assert f'href="/i/{token}/pdf"' in page
        downloads[name] = (page, client.get(f"/i/{token}/pdf").data)
    page, pdf = downloads["business"]
    assert "Download PDF (Factur-X e-invoice)" in page
    assert facturx.get_xml_from_pdf(pdf, check_xsd=True)[0] == "factur-x.xml"
    page, pdf = downloads["consumer"]
    assert "Factur-X" not in page
    assert facturx.get_xml_from_pdf(pdf, check_xsd=False) == (False, False)  # none attached
