"""Business settings through the API: profile, statement descriptor, currency
(chosen once), logo, and the authentication every staff endpoint requires."""

import base64
import hashlib
import struct
import zlib

import pytest

from tests import shop as shops
from tests.conftest import snapshot, table_counts


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def png(extra_text: bytes = b"") -> bytes:
    """A real 1x1 RGBA PNG; ``extra_text`` goes in a tEXt chunk (to make it big)."""
    header = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
    text = _png_chunk(b"tEXt", b"Comment\x00" + extra_text) if extra_text else b""
    pixels = _png_chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00\xff"))
    return b"\x89PNG\r\n\x1a\n" + header + text + pixels + _png_chunk(b"IEND", b"")


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8"/></svg>'
SVG_WITH_PROLOG = b'<?xml version="1.0" encoding="UTF-8"?>\n' + SVG


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def assert_refused(response, status: int, code: str, field: str | None = None) -> dict:
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert error["message"]
    if field is not None:
        assert field in error["fields"], error
    return error


def test_settings_start_with_defaults_and_patch_changes_only_the_given_fields(api):
    response = api.get("/settings")
    assert response.status_code == 200
    settings = response.get_json()
    assert settings["currency"] is None
    assert settings["currency_set_at"] is None
    assert settings["statement_descriptor"] is None
    assert settings["logo"] is None
    assert settings["custom_fields"] == {}
    assert settings["brand_color"] == "#2563eb"
    assert settings["company_name"] == settings["website"] == settings["email"] == ""
    assert settings["invoice_language"] == "en"
    assert settings["invoice_net_terms_days"] == 14
    assert settings["invoice_number_format"] == "INV-{year}-{seq:05}"

    profile = {
        "company_name": "PixelPress Studio",
        "address_line1": "12 rue des Lilas",
        "city": "Lyon",
        "postal_code": "69001",
        "country": "FR",
        "email": "billing@pixelpress.example",
        "phone": "+33 4 00 00 00 00",
        "website": "https://pixelpress.example/about",
        "tax_id": "FR12345678901",
        "brand_color": "#1A2B3C",
        "statement_descriptor": "PIXELPRESS WEB",
    }
    response = api.patch("/settings", json=profile)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    # Colours are stored in lower case; everything else as given.
    assert body["brand_color"] == "#1a2b3c"
    assert {k: body[k] for k in profile if k != "brand_color"} == {
        k: v for k, v in profile.items() if k != "brand_color"
    }
    assert body["updated_at"] is not None

    response = api.patch("/settings", json={"city": "Paris", "statement_descriptor": None})
    assert response.status_code == 200, response.get_json()
    after = api.get("/settings").get_json()
    assert after["city"] == "Paris"
    assert after["statement_descriptor"] is None
    assert after["company_name"] == "PixelPress Studio"
    assert after["brand_color"] == "#1a2b3c"
    assert after["website"] == "https://pixelpress.example/about"

    # Descriptors at the limits of Stripe's rules.
    for descriptor in ("ACME1", "A" * 22, "Pixel-Press & Co. #1"):
        response = api.patch("/settings", json={"statement_descriptor": descriptor})
        assert response.status_code == 200, (descriptor, response.get_json())
        assert response.get_json()["statement_descriptor"] == descriptor


INVALID_SETTINGS = [
    ({"brand_color": "#12345"}, "brand_color"),
    ({"brand_color": "123456"}, "brand_color"),
    ({"brand_color": "#GG0000"}, "brand_color"),
    ({"brand_color": "red"}, "brand_color"),
    ({"brand_color": "#1234567"}, "brand_color"),
    ({"brand_color": None}, "brand_color"),
    ({"statement_descriptor": "Acme"}, "statement_descriptor"),
    ({"statement_descriptor": "A" * 23}, "statement_descriptor"),
    ({"statement_descriptor": "12345 678"}, "statement_descriptor"),
    ({"statement_descriptor": "     "}, "statement_descriptor"),
    ({"statement_descriptor": "Acme <Web>"}, "statement_descriptor"),
    ({"statement_descriptor": "Acme*Web"}, "statement_descriptor"),
    ({"statement_descriptor": "Acme\\Web"}, "statement_descriptor"),
    ({"statement_descriptor": "Acme's Web"}, "statement_descriptor"),
    ({"statement_descriptor": 'Acme "Web"'}, "statement_descriptor"),
    ({"statement_descriptor": "Café Web"}, "statement_descriptor"),
    ({"statement_descriptor": "Acme\u00a0Web"}, "statement_descriptor"),
    ({"website": "pixelpress.example"}, "website"),
    ({"website": "ftp://pixelpress.example"}, "website"),
    ({"website": "https://"}, "website"),
    ({"website": "javascript:alert(1)"}, "website"),
    ({"website": "https://pixel press.example"}, "website"),
    ({"website": "https://pixelpress.example:99999"}, "website"),
    ({"email": "not-an-email"}, "email"),
    ({"company_name": "A" * 201}, "company_name"),
    ({"company_name": "Acme\x00"}, "company_name"),
    ({"company_name": "Acme\nInc"}, "company_name"),
    ({"country": "FRA"}, "country"),
    ({"invoice_language": "it"}, "invoice_language"),  # no Italian catalogue
    ({"invoice_net_terms_days": 366}, "invoice_net_terms_days"),
    ({"invoice_net_terms_days": "14"}, "invoice_net_terms_days"),
    ({"invoice_show_logo": 1}, "invoice_show_logo"),
    ({"currency": "EUR"}, "currency"),
    ({"logo": None}, "logo"),
    ({"colour": "#000000"}, "colour"),
]


@pytest.mark.parametrize("language", ["en", "fr", "de"])
def test_every_language_with_a_catalogue_is_an_invoice_language(api, language):
    response = api.patch("/settings", json={"invoice_language": language})
    assert response.status_code == 200, response.get_json()
    assert api.get("/settings").get_json()["invoice_language"] == language


def test_invalid_settings_are_refused_naming_the_field_and_nothing_changes(api, db):
    api.patch("/settings", json={"company_name": "PixelPress", "brand_color": "#000000"})
    before = snapshot(db)
    for body, field in INVALID_SETTINGS:
        response = api.patch("/settings", json=body)
        assert response.status_code == 422, (body, response.get_json())
        error = response.get_json()["error"]
        assert error["code"] == "validation_error", (body, error)
        assert field in error["fields"], (body, error)
        assert error["message"]
    for path, method in (("/settings", "PATCH"), ("/settings/currency", "PUT")):
        response = api.request(
            method, path, data='{"city": ', headers={"Content-Type": "application/json"}
        )
        assert_refused(response, 400, "invalid_json")
        error = assert_refused(api.request(method, path, json=["EUR"]), 422, "validation_error")
        assert "_schema" in error["fields"]
    assert snapshot(db) == before


def test_empty_statement_descriptor_is_refused_or_clears_it(api):
    response = api.patch("/settings", json={"statement_descriptor": ""})
    assert response.status_code == 422 or response.get_json()["statement_descriptor"] is None


# Currency ------------------------------------------------------------------


def test_currency_must_be_confirmed_and_known_and_is_then_chosen_once(api, db):
    before = snapshot(db)
    cases = [
        ({"currency": "EUR", "confirm": False}, "validation_error", "confirm"),
        ({"currency": "EUR"}, "validation_error", "confirm"),
        ({"currency": "EUR", "confirm": "true"}, "validation_error", "confirm"),
        ({"currency": "EUR", "confirm": 1}, "validation_error", "confirm"),
        ({"currency": "ABC", "confirm": True}, "unknown_currency", "currency"),
        ({"currency": "XTS", "confirm": True}, "unknown_currency", "currency"),
        ({"currency": "eur", "confirm": True}, "validation_error", "currency"),
        ({"currency": "EURO", "confirm": True}, "validation_error", "currency"),
        ({"currency": None, "confirm": True}, "validation_error", "currency"),
        ({"confirm": True}, "validation_error", "currency"),
        ({"currency": "EUR", "confirm": True, "force": True}, "validation_error", "force"),
    ]
    for body, code, field in cases:
        assert_refused(api.put("/settings/currency", json=body), 422, code, field)
    assert snapshot(db) == before
    assert api.get("/settings").get_json()["currency"] is None

    response = api.put("/settings/currency", json={"currency": "EUR", "confirm": True})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["currency"] == "EUR"
    assert body["currency_set_at"] is not None

    before = snapshot(db)
    for currency in ("EUR", "USD"):
        response = api.put("/settings/currency", json={"currency": currency, "confirm": True})
        error = assert_refused(response, 409, "currency_already_set")
        assert "EUR" in error["message"]
        assert "cannot be changed" in error["message"]
    assert snapshot(db) == before
    assert api.get("/settings").get_json()["currency"] == "EUR"


@pytest.mark.parametrize(
    "currency, amount, display",
    [("JPY", 1500, "¥1,500"), ("KWD", 1234, "KWD1.234")],
    ids=["zero-decimal", "three-decimal"],
)
def test_plan_amounts_follow_the_currency_exponent(api, currency, amount, display):
    response = api.put("/settings/currency", json={"currency": currency, "confirm": True})
    assert response.status_code == 200, response.get_json()
    product = api.post("/products", json={"name": "Site build"}).get_json()
    response = api.post(
        f"/products/{product['id']}/plans",
        json={"name": "Build", "kind": "one_time", "amount": amount},
    )
    assert response.status_code == 201, response.get_json()
    plan = response.get_json()
    assert plan["currency"] == currency
    assert plan["amount"] == amount
    assert plan["amount_display"] == display


# Logo ----------------------------------------------------------------------


def test_png_jpeg_and_svg_logos_are_uploaded_read_back_and_removed(api):
    data = png()
    response = api.put("/settings/logo", json={"data": b64(data)})
    assert response.status_code == 200, response.get_json()
    sha = hashlib.sha256(data).hexdigest()
    assert response.get_json()["logo"] == {
        "content_type": "image/png",
        "size": len(data),
        "sha256": sha,
    }

    response = api.get("/settings/logo")
    assert response.status_code == 200
    logo = response.get_json()
    assert base64.b64decode(logo["data"]) == data
    assert logo["content_type"] == "image/png"
    assert logo["sha256"] == sha

    response = api.delete("/settings/logo")
    assert response.status_code == 200
    assert response.get_json()["logo"] is None
    assert api.get("/settings").get_json()["logo"] is None
    assert_refused(api.get("/settings/logo"), 404, "not_found")

    # The type comes from the bytes themselves.
    for data, content_type in (
        (JPEG, "image/jpeg"),
        (SVG, "image/svg+xml"),
        (SVG_WITH_PROLOG, "image/svg+xml"),
    ):
        response = api.put("/settings/logo", json={"data": b64(data)})
        assert response.status_code == 200, (data, response.get_json())
        assert response.get_json()["logo"]["content_type"] == content_type
        assert base64.b64decode(api.get("/settings/logo").get_json()["data"]) == data


def test_unacceptable_logos_are_refused_and_the_current_logo_stays(api, app, db):
    app.config["MAX_IMAGE_BYTES"] = 1024
    assert api.put("/settings/logo", json={"data": b64(png())}).status_code == 200
    before = snapshot(db)
    cases = [
        (b64(b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>"), "logo"),
        (b64(b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>"), "logo"),
        (b64(b"<svg xmlns='http://www.w3.org/2000/svg'><a href='javascript:x()'/></svg>"), "logo"),
        (b64(b"%PDF-1.4 not an image"), "logo"),
        (b64(b"GIF89a\x01\x00\x01\x00"), "logo"),
        (b64(b"<html><body>hello</body></html>"), "logo"),
        (b64(b""), "logo"),
        (b64(png(extra_text=b"x" * 2000)), "logo"),  # over MAX_IMAGE_BYTES
        ("not base64!", "data"),
        ("aGVsbG8", "data"),  # missing padding
        ("A" * (700 * 1024), "data"),  # beyond the absolute 512 KiB ceiling
        (12, "data"),
        (None, "data"),
    ]
    for data, field in cases:
        response = api.put("/settings/logo", json={"data": data})
        assert response.status_code == 422, (str(data)[:40], response.get_json())
        assert field in response.get_json()["error"]["fields"], response.get_json()
    assert_refused(api.put("/settings/logo", json={}), 422, "validation_error", "data")
    assert snapshot(db) == before
    assert api.get("/settings/logo").get_json()["data"] == b64(png())


def test_svg_logos_carrying_script_in_disguise_are_refused(api, db):
    disguised = [
        b'<svg xmlns="http://www.w3.org/2000/svg"><s:script '
        b'xmlns:s="http://www.w3.org/2000/svg">alert(1)</s:script></svg>',
        b'<svg xmlns="http://www.w3.org/2000/svg"><a href="javascript&#58;alert(1)">'
        b"<text>x</text></a></svg>",
        b"<svg/onload=alert(1)>",
    ]
    before = table_counts(db)
    statuses = [api.put("/settings/logo", json={"data": b64(svg)}).status_code for svg in disguised]
    assert statuses == [422, 422, 422]
    assert table_counts(db) == before


def test_replacing_or_removing_the_logo_leaves_no_stored_file_behind(api, db):
    api.put("/settings/logo", json={"data": b64(png())})
    api.put("/settings/logo", json={"data": b64(JPEG)})
    assert table_counts(db)["stored_files"] == 1
    api.delete("/settings/logo")
    assert table_counts(db)["stored_files"] == 0


# Permissions, authentication, malformed bodies ---------------------------------


def test_read_only_token_reads_settings_but_every_write_is_forbidden(api, api_read_only, db):
    api.put("/settings/logo", json={"data": b64(png())})
    assert api_read_only.get("/settings").status_code == 200
    assert api_read_only.get("/settings/logo").status_code == 200
    before = snapshot(db)
    writes = [
        ("PATCH", "/settings", {"company_name": "Hijacked"}),
        ("PUT", "/settings/currency", {"currency": "EUR", "confirm": True}),
        ("PUT", "/settings/logo", {"data": b64(JPEG)}),
        ("DELETE", "/settings/logo", None),
    ]
    for method, path, body in writes:
        response = api_read_only.request(method, path, json=body)
        assert_refused(response, 403, "forbidden")
    assert snapshot(db) == before


def test_settings_need_a_valid_bearer_token(client, api, db):
    before = snapshot(db)
    for headers in ({}, {"Authorization": "Basic c3RhZmY6cHc="}, {"Authorization": "Bearer "}):
        for method in ("GET", "PATCH"):
            response = client.open(
                "/api/v1/settings", method=method, json={"city": "X"}, headers=headers
            )
            assert_refused(response, 401, "unauthorized")
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    for token in ("not-a-token", api.token + "x"):
        response = client.patch(
            "/api/v1/settings",
            json={"city": "X"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert_refused(response, 401, "invalid_token")
    assert snapshot(db) == before


def _issue_invoice_and_credit_note(api) -> dict:
    """An invoice paid and credited: INV-<year>-00001 and CN-<year>-00001."""
    api.put("/settings/currency", json={"currency": "EUR", "confirm": True})
    plans = shops.api_product(api, "Build", {"setup": shops.SETUP})
    client = shops.api_client(api)
    body = {"client_id": client["id"], "items": [{"plan_id": plans["setup"]["id"]}]}
    invoice = api.post("/invoices", json=body).get_json()
    invoice = api.post(f"/invoices/{invoice['id']}/finalize").get_json()
    paid = {"amount": invoice["total"], "method": "cash"}
    assert api.post(f"/invoices/{invoice['id']}/payments", json=paid).status_code == 201
    credit = {"amount": 100, "refund_to_card": False}
    note = api.post(f"/invoices/{invoice['id']}/credit-notes", json=credit).get_json()
    return {"invoice": invoice, "note": note, "bill": body}


def test_a_number_format_that_would_reissue_a_number_is_refused(api, db):
    """``INV-2026-{seq:05}`` starts a series of its own at 1: its first
    number is the INV-2026-00001 issued under ``INV-{year}-{seq:05}``, and
    every finalization would then fail on the unique number."""
    issued = _issue_invoice_and_credit_note(api)
    year = issued["invoice"]["number"][4:8]
    assert (issued["invoice"]["number"], issued["note"]["number"]) == (
        f"INV-{year}-00001",
        f"CN-{year}-00001",
    )
    before = snapshot(db)
    for field, fmt, taken in (
        ("invoice_number_format", f"INV-{year}-{{seq:05}}", f"INV-{year}-00001"),
        ("credit_note_number_format", f"CN-{year}-{{seq:05}}", f"CN-{year}-00001"),
    ):
        response = api.patch("/settings", json={field: fmt})
        error = assert_refused(response, 422, "validation_error", field)
        assert error["fields"][field] == [f"Gives a number already issued: {taken}."]
    assert snapshot(db) == before
    # The current formats again, or formats that give other numbers, are
    # fine; and billing goes on.
    for body in (
        {"invoice_number_format": "INV-{year}-{seq:05}"},
        {"invoice_number_format": "INV-{year}-{seq:05}-B"},
        {"invoice_number_format": "F{year}/{seq}"},
        {"credit_note_number_format": "AV{seq}"},
    ):
        assert api.patch("/settings", json=body).status_code == 200, body
    again = api.post("/invoices", json=issued["bill"]).get_json()
    sent = api.post(f"/invoices/{again['id']}/finalize")
    assert sent.status_code == 200 and sent.get_json()["number"] == f"F{year}/2"
