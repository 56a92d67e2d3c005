"""Setup's billing sections through the test client: the billing account
(Stripe keys verified against Stripe's HTTP API mocked with ``responses``,
disconnecting with a confirmation, offline payments only), payment
preferences (the currency once, then read-only), company & branding (profile,
brand colour, logo upload and preview) and invoice customization (numbering
checked against issued numbers, the sample PDF). Every form refuses bad
input next to its field and changes nothing; a read-only user sees no write
buttons and gets a 403 on every write; changes are audited as the staff user."""

from __future__ import annotations

import io
import re
import shutil

import pytest
import requests
import responses
from sqlalchemy import select

from bridge.app import create_app
from bridge.billing.business import get_settings
from bridge.models import AuditEntry, BusinessSettings
from tests import shop as shops
from tests.conftest import snapshot
from tests.e2e.conftest import make_invoice, make_shop
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff, csrf_token
from tests.integration.test_api_settings import JPEG, png
from tests.payments.conftest import PUBLISHABLE_KEY, SECRET_KEY, WEBHOOK_SECRET
from tests.payments.test_stripe_unit import ACCOUNT

STRIPE = "https://api.stripe.com/v1"
# What the database does not change: SQLite alone is enough.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
KEYS = {
    "secret_key": SECRET_KEY,
    "publishable_key": PUBLISHABLE_KEY,
    "webhook_secret": WEBHOOK_SECRET,
}
PAGES = {
    "billing": "/setup/billing-account",
    "payments": "/setup/payments",
    "company": "/setup/company",
    "invoices": "/setup/invoices",
}


def text_of(response) -> str:
    return response.data.decode()


def post(hub, path: str, data: dict, page: str, **kwargs):
    """A POST with the CSRF token of ``page``."""
    token = csrf_token(hub.client.get(page).data)
    return hub.client.post(path, data={"csrf_token": token, **data}, **kwargs)


def settings_of(db) -> BusinessSettings:
    with db.session() as s:
        settings = get_settings(s)
        s.expunge(settings)
        return settings


@pytest.fixture
def stripe_api():
    """Stripe's HTTP API, mocked (``bridge.payments`` is the only caller)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def eur(db):
    with db.session() as s:
        shops.open_business(s)


@pytest.fixture(scope="module")
def shared(sqlite_template, tmp_path_factory):
    """One logged-in Hub (SQLite, EUR) for the many requests that must
    change nothing: bad input, read-only users, missing tokens."""
    folder = tmp_path_factory.mktemp("setup-billing")
    shutil.copy(sqlite_template, folder / "bridge.sqlite3")
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
            "SECRET_KEY": "test-secret-key",
            "TESTING": True,
        }
    )
    app.instance_path = str(folder / "instance")
    database = app.extensions["bridge.db"]
    add_staff(database)
    with database.session() as s:
        shops.open_business(s)
    hub = Hub(app.test_client())
    assert hub.login().status_code == 302
    hub.db = database
    hub.app = app
    yield hub
    database.dispose()


# The menu and the pages ---------------------------------------------------------------


def test_setup_opens_on_the_billing_account_and_lists_the_four_sections(shared):
    hub = shared
    response = hub.client.get("/setup")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/setup/billing-account")
    page = text_of(hub.client.get("/setup/billing-account"))
    positions = [
        page.index(f'href="{path}"')
        for path in (
            "/setup/billing-account",
            "/setup/payments",
            "/setup/company",
            "/setup/invoices",
        )
    ]
    assert positions == sorted(positions)
    assert '<a href="/setup/billing-account" aria-current="page">' in page


@pytest.mark.parametrize("path", PAGES.values())
def test_every_page_labels_every_input(shared, path):
    hub = shared
    page = text_of(hub.client.get(path))
    fields = re.findall(
        r'<(?:input|select|textarea)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', page
    )
    assert fields
    for input_id in fields:
        assert f'for="{input_id}"' in page, (path, input_id)


# Billing account ------------------------------------------------------------------------


def test_without_keys_the_bridge_takes_offline_payments_only(shared):
    hub = shared
    page = text_of(hub.client.get(PAGES["billing"]))
    assert 'id="offline-only"' in page
    assert 'id="stripe-form"' in page and "Verify and connect" in page
    assert 'id="disconnect-form"' not in page


def test_keys_verified_with_stripe_connect_the_account_and_are_never_shown(hub, db, stripe_api):
    stripe_api.get(f"{STRIPE}/account", json=ACCOUNT)
    response = post(hub, "/setup/billing-account/stripe", KEYS, PAGES["billing"])
    assert response.status_code == 302, text_of(response)
    assert stripe_api.calls[0].request.headers["Authorization"] == f"Bearer {SECRET_KEY}"
    page = text_of(hub.client.get(PAGES["billing"]))
    assert "Stripe is connected" in page
    assert "Pixel &amp; Co" in page and "owner@pixel.example" in page
    assert ACCOUNT["id"] in page
    assert "Test mode" in page and "Live mode" not in page
    assert f"sk_test_…{SECRET_KEY[-4:]}" in page
    assert SECRET_KEY not in page and WEBHOOK_SECRET not in page
    assert 'id="disconnect-form"' in page
    with db.session() as s:
        entry = s.scalars(
            select(AuditEntry).where(AuditEntry.action == "settings.stripe_connected")
        ).one()
        assert (entry.actor_kind, entry.actor_label) == ("staff", STAFF_EMAIL)


@sqlite_only
def test_a_live_account_shows_the_live_badge(hub, stripe_api):
    stripe_api.get(f"{STRIPE}/account", json=ACCOUNT | {"livemode": True})
    live = {
        "secret_key": "sk_live_bridge1234",
        "publishable_key": "pk_live_bridge1234",
        "webhook_secret": WEBHOOK_SECRET,
    }
    assert post(hub, "/setup/billing-account/stripe", live, PAGES["billing"]).status_code == 302
    page = text_of(hub.client.get(PAGES["billing"]))
    assert "Live mode" in page and "Test mode:" not in page
    assert "sk_live_…1234" in page


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"secret_key": ""}, "secret_key"),
        ({"secret_key": PUBLISHABLE_KEY}, "secret_key"),
        ({"publishable_key": "pk_live_bridge0000"}, "publishable_key"),
        ({"webhook_secret": "secret"}, "webhook_secret"),
        ({"publishable_key": "x" * 300}, "publishable_key"),
        ("refused", "secret_key"),
    ],
)
def test_bad_keys_come_back_next_to_their_field_and_change_nothing(shared, stripe_api, keys, field):
    hub, db = shared, shared.db
    stripe_api.get(
        f"{STRIPE}/account",
        status=401,
        json={"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}},
    )
    before = snapshot(db)
    data = KEYS if keys == "refused" else KEYS | keys
    response = post(hub, "/setup/billing-account/stripe", data, PAGES["billing"])
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert f'aria-describedby="{field}-hint {field}-error"' in page
    # Secrets are not written back into the form.
    assert SECRET_KEY not in page and WEBHOOK_SECRET not in page
    assert snapshot(db) == before


def test_stripe_unreachable_says_so_and_changes_nothing(shared, stripe_api):
    hub, db = shared, shared.db
    stripe_api.get(f"{STRIPE}/account", body=requests.exceptions.ConnectionError("down"))
    before = snapshot(db)
    response = post(hub, "/setup/billing-account/stripe", KEYS, PAGES["billing"])
    assert response.status_code == 503
    assert "Stripe could not be reached" in text_of(response)
    assert snapshot(db) == before


def test_disconnecting_asks_for_a_confirmation_then_goes_offline(hub, db, stripe_api):
    stripe_api.get(f"{STRIPE}/account", json=ACCOUNT)
    post(hub, "/setup/billing-account/stripe", KEYS, PAGES["billing"])
    before = snapshot(db)
    unconfirmed = post(hub, "/setup/billing-account/disconnect", {}, PAGES["billing"])
    assert unconfirmed.status_code == 422
    assert 'id="confirm-error"' in text_of(unconfirmed)
    assert snapshot(db) == before
    done = post(hub, "/setup/billing-account/disconnect", {"confirm": "y"}, PAGES["billing"])
    assert done.status_code == 302
    page = text_of(hub.client.get(PAGES["billing"]))
    assert "offline payments only" in page and 'id="offline-only"' in page
    assert settings_of(db).stripe_secret_key_encrypted is None


# Payment preferences ----------------------------------------------------------------------


def test_the_currency_is_chosen_once_then_read_only(hub, db):
    page = text_of(hub.client.get(PAGES["payments"]))
    assert 'id="currency-form"' in page
    before = snapshot(db)
    for data, field in (
        ({"currency": "EUR"}, "confirm"),
        ({"currency": "XYZ", "confirm": "y"}, "currency"),
        ({"currency": "", "confirm": "y"}, "currency"),
    ):
        response = post(hub, "/setup/payments/currency", data, PAGES["payments"])
        assert response.status_code == 422
        assert f'id="{field}-error"' in text_of(response)
    assert snapshot(db) == before
    response = post(
        hub, "/setup/payments/currency", {"currency": "eur", "confirm": "y"}, PAGES["payments"]
    )
    assert response.status_code == 302
    page = text_of(hub.client.get(PAGES["payments"]))
    assert '<strong id="currency">EUR</strong>' in page
    assert "cannot be changed once set" in page
    assert 'id="currency-form"' not in page
    again = post(
        hub, "/setup/payments/currency", {"currency": "USD", "confirm": "y"}, PAGES["payments"]
    )
    assert again.status_code == 422 and settings_of(db).currency == "EUR"


def test_payment_preferences_are_saved(hub, db, eur):
    data = {
        "statement_descriptor": "PIXEL AGENCY",
        "offline_payment_instructions": "IBAN FR76 3000 6000 0112 3456 7890 189",
        "invoice_net_terms_days": "30",
    }
    response = post(hub, PAGES["payments"], data, PAGES["payments"])
    assert response.status_code == 302, text_of(response)
    settings = settings_of(db)
    assert settings.statement_descriptor == "PIXEL AGENCY"
    assert settings.offline_payment_instructions.startswith("IBAN FR76")
    assert settings.invoice_net_terms_days == 30
    page = text_of(hub.client.get(PAGES["payments"]))
    assert 'value="PIXEL AGENCY"' in page and "Payment preferences saved." in page
    # An empty descriptor means the Stripe account's own.
    post(hub, PAGES["payments"], data | {"statement_descriptor": ""}, PAGES["payments"])
    assert settings_of(db).statement_descriptor is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("statement_descriptor", "Pix"),
        ("statement_descriptor", "12345678"),
        ("statement_descriptor", "Pixel <agency>"),
        ("statement_descriptor", "Pixel Agentur München"),
        ("statement_descriptor", "x" * 23),
        ("invoice_net_terms_days", "-1"),
        ("invoice_net_terms_days", "366"),
        ("invoice_net_terms_days", "ten"),
        ("invoice_net_terms_days", ""),
        ("offline_payment_instructions", "x" * 2001),
    ],
)
def test_bad_payment_preferences_come_back_next_to_their_field(shared, field, value):
    hub, db = shared, shared.db
    data = {
        "statement_descriptor": "PIXEL AGENCY",
        "offline_payment_instructions": "Bank transfer",
        "invoice_net_terms_days": "30",
    } | {field: value}
    before = snapshot(db)
    response = post(hub, PAGES["payments"], data, PAGES["payments"])
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page and 'aria-invalid="true"' in page
    assert "Nothing was changed" in page
    assert snapshot(db) == before


# Company & branding -------------------------------------------------------------------------

PROFILE = {
    "company_name": "Pixel & Co",
    "address_line1": "12 rue des Lilas",
    "address_line2": "",
    "postal_code": "69001",
    "city": "Lyon",
    "state": "",
    "country": "fr",
    "email": "billing@pixel.example",
    "phone": "+33 4 00 00 00 00",
    "website": "https://pixel.example",
    "tax_id": "FR12345678901",
    "brand_color": "#2563eb",
    "brand_color_picker": "#2563eb",
}


def test_the_company_profile_and_brand_colour_are_saved_and_previewed(hub, db, eur):
    data = PROFILE | {"brand_color": "#0F766E"}
    response = post(hub, PAGES["company"], data, PAGES["company"])
    assert response.status_code == 302, text_of(response)
    settings = settings_of(db)
    assert (settings.company_name, settings.country, settings.brand_color) == (
        "Pixel & Co",
        "FR",
        "#0f766e",
    )
    page = text_of(hub.client.get(PAGES["company"]))
    # The preview's colour comes in the page's one nonce'd style (strict CSP).
    assert "--preview-brand: #0f766e; --preview-text: #ffffff;" in page
    assert '<style nonce="' in page
    policy = hub.client.get(PAGES["company"]).headers["Content-Security-Policy"]
    assert "'nonce-" in policy and "unsafe-inline" not in policy
    assert "Pixel &amp; Co" in page and "12 rue des Lilas" in page and "France" in page
    with db.session() as s:
        entry = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry.actor_label == STAFF_EMAIL and "brand_color" in entry.summary


@sqlite_only
def test_the_colour_picker_counts_when_the_hex_text_was_left_as_it_was(hub, db, eur):
    data = PROFILE | {"brand_color_picker": "#f59e0b"}
    assert post(hub, PAGES["company"], data, PAGES["company"]).status_code == 302
    assert settings_of(db).brand_color == "#f59e0b"
    page = text_of(hub.client.get(PAGES["company"]))
    # Light colours get dark text in the preview.
    assert "--preview-brand: #f59e0b; --preview-text: #111827;" in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("brand_color", "blue"),
        ("brand_color", "#12345"),
        ("brand_color", "#gggggg"),
        ("brand_color", "#1234567"),
        ("email", "not-an-email"),
        ("website", "javascript:alert(1)"),
        ("country", "France"),
        ("country", "ZZ"),
        ("company_name", "x" * 201),
        ("tax_id", "x" * 51),
    ],
)
def test_bad_company_fields_come_back_next_to_their_field(shared, field, value):
    hub, db = shared, shared.db
    before = snapshot(db)
    response = post(hub, PAGES["company"], PROFILE | {field: value}, PAGES["company"])
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert "Nothing was changed" in page
    assert snapshot(db) == before


def upload(hub, data: bytes, name: str, **extra):
    token = csrf_token(hub.client.get(PAGES["company"]).data)
    return hub.client.post(
        "/setup/company/logo",
        data={"csrf_token": token, "logo": (io.BytesIO(data), name), **extra},
        content_type="multipart/form-data",
    )


def test_a_logo_is_uploaded_shown_served_safely_and_removed(hub, db, eur):
    assert 'id="no-logo"' in text_of(hub.client.get(PAGES["company"]))
    response = upload(hub, png(), "logo.png")
    assert response.status_code == 302, text_of(response)
    page = text_of(hub.client.get(PAGES["company"]))
    assert 'id="logo-preview"' in page and 'class="preview-logo"' in page
    image = hub.client.get("/setup/company/logo")
    assert image.status_code == 200 and image.mimetype == "image/png"
    assert image.data == png()
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert upload(hub, JPEG, "logo.jpg").status_code == 302
    assert hub.client.get("/setup/company/logo").mimetype == "image/jpeg"
    token = csrf_token(hub.client.get(PAGES["company"]).data)
    removed = hub.client.post("/setup/company/logo", data={"csrf_token": token, "remove": "y"})
    assert removed.status_code == 302
    assert settings_of(db).logo_id is None
    assert hub.client.get("/setup/company/logo").status_code == 404


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"GIF89a\x01\x00\x01\x00", "logo.gif"),
        (b"%PDF-1.4 not an image", "logo.png"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "x.svg"),
        (png(b"x" * (600 * 1024)), "big.png"),
        (None, ""),
    ],
)
def test_bad_logos_are_refused_next_to_the_field(shared, data, name):
    hub, db = shared, shared.db
    before = snapshot(db)
    if data is None:
        response = post(hub, "/setup/company/logo", {}, PAGES["company"])
    else:
        response = upload(hub, data, name)
    assert response.status_code == 422
    assert 'id="logo-error"' in text_of(response)
    assert snapshot(db) == before


# Invoice customization ----------------------------------------------------------------------

INVOICE_FORM = {
    "invoice_number_format": "PX-{year}-{seq:04}",
    "credit_note_number_format": "AV-{year}-{seq:04}",
    "invoice_language": "fr",
    "invoice_footer": "Merci ! Pénalités de retard : 3 fois le taux légal.",
    "invoice_show_logo": "y",
    "invoice_show_company_name": "y",
    "invoice_show_client_info": "y",
}


def test_invoice_settings_are_saved(hub, db, eur):
    page = text_of(hub.client.get(PAGES["invoices"]))
    assert "INV-" in page and 'id="preview-sample"' in page
    response = post(hub, PAGES["invoices"], INVOICE_FORM, PAGES["invoices"])
    assert response.status_code == 302, text_of(response)
    settings = settings_of(db)
    assert settings.invoice_number_format == "PX-{year}-{seq:04}"
    assert settings.invoice_language == "fr"
    assert settings.invoice_footer.startswith("Merci")
    assert settings.invoice_show_logo and not settings.invoice_show_brand_color
    assert not settings.invoice_show_custom_fields
    page = text_of(hub.client.get(PAGES["invoices"]))
    assert "PX-" in page and "-0001" in page
    assert '<option selected value="fr">Français</option>' in page


def test_a_numbering_format_that_would_repeat_an_issued_number_is_refused(hub, db):
    shop = make_shop(db)
    issued = make_invoice(db, shop).number
    assert issued.endswith("-00001")
    before = snapshot(db)
    # The year written out: a series of its own, starting at 1 again.
    year = issued.split("-")[1]
    again = INVOICE_FORM | {"invoice_number_format": f"INV-{year}-{{seq:05}}"}
    response = post(hub, PAGES["invoices"], again, PAGES["invoices"])
    assert response.status_code == 422
    page = text_of(response)
    assert 'id="invoice_number_format-error"' in page
    assert f"Gives a number already issued: {issued}." in page
    assert snapshot(db) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("invoice_number_format", "INV-{year}"),
        ("invoice_number_format", "INV-{seq:5}"),
        ("invoice_number_format", "INV-{month}-{seq}"),
        ("invoice_number_format", "INV-{seq"),
        ("invoice_number_format", ""),
        ("credit_note_number_format", "CN"),
        ("invoice_language", "es"),
        ("invoice_footer", "x" * 2001),
    ],
)
def test_bad_invoice_settings_come_back_next_to_their_field(shared, field, value):
    hub, db = shared, shared.db
    before = snapshot(db)
    response = post(hub, PAGES["invoices"], INVOICE_FORM | {field: value}, PAGES["invoices"])
    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert snapshot(db) == before


def test_preview_sample_returns_the_sample_pdf_and_saves_nothing(shared):
    hub, db = shared, shared.db
    before = snapshot(db)
    response = hub.client.get("/setup/invoices/sample.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert 'filename="sample-invoice.pdf"' in response.headers["Content-Disposition"]
    assert snapshot(db) == before


# Permissions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES.values())
def test_a_read_only_user_sees_the_settings_without_write_buttons(shared, monkeypatch, path):
    hub = shared
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    response = hub.client.get(path)
    assert response.status_code == 200
    page = text_of(response)
    assert 'type="submit" class="button' not in page
    assert "Verify and connect" not in page and "Save logo" not in page


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/setup/billing-account/stripe", KEYS),
        ("/setup/billing-account/disconnect", {"confirm": "y"}),
        ("/setup/payments", {"invoice_net_terms_days": "3"}),
        ("/setup/payments/currency", {"currency": "USD", "confirm": "y"}),
        ("/setup/company", PROFILE),
        ("/setup/company/logo", {"remove": "y"}),
        ("/setup/invoices", INVOICE_FORM),
    ],
)
def test_a_read_only_user_cannot_change_settings(shared, monkeypatch, path, data):
    hub, db = shared, shared.db
    token = csrf_token(hub.client.get(PAGES["payments"]).data)
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    before = snapshot(db)
    response = hub.client.post(path, data={"csrf_token": token, **data})
    assert response.status_code == 403
    assert snapshot(db) == before


def test_a_post_without_the_csrf_token_is_refused(shared):
    hub, db = shared, shared.db
    before = snapshot(db)
    response = hub.client.post(PAGES["payments"], data={"invoice_net_terms_days": "3"})
    assert response.status_code == 400
    assert snapshot(db) == before


def test_the_pages_need_a_login(shared):
    client = shared.app.test_client()
    for path in (*PAGES.values(), "/setup/invoices/sample.pdf", "/setup/company/logo"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
