"""Staff sessions in the Hub: logging in and out, CSRF on every POST, the
login limits, the cookie, a read-only user, and the headers of every page."""

from __future__ import annotations

import pytest
from flask import Flask

from bridge.hub import views
from tests.conftest import STAFF_PASSWORD
from tests.hub.conftest import STAFF_EMAIL, Hub, add_staff, csrf_token

# Every page of the Hub (GET); each needs a session.
HUB_PAGES = [
    "/",
    "/clients",
    "/products",
    "/invoices",
    "/subscriptions",
    "/roles",
    "/setup/billing-account",
    "/setup/team",
    "/setup/custom-fields",
    "/setup/email-templates",
    "/setup/schedule",
    "/setup/api-tokens",
]


@pytest.mark.parametrize("path", [*HUB_PAGES, "/setup", "/roles/new"])
def test_every_hub_page_without_a_session_redirects_to_login(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_a_post_without_a_session_redirects_to_login_and_does_nothing(client):
    response = client.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_staff_log_in_with_email_and_password_and_land_on_the_page_they_asked_for(client, staff):
    first = client.get("/clients")
    assert first.status_code == 302
    page = client.get(first.headers["Location"])
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={
            "email": STAFF_EMAIL.upper(),
            "password": STAFF_PASSWORD,
            "next": "/clients",
            "csrf_token": csrf_token(page.data),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/clients"
    assert client.get("/clients").status_code == 200


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example"])
def test_login_never_sends_the_user_to_another_site(client, staff, target):
    response = Hub(client).login(next=target)
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "email, password",
    [
        (STAFF_EMAIL, "wrong password!"),
        ("nobody@agency.example", STAFF_PASSWORD),
        ("", ""),
    ],
)
def test_a_bad_login_says_wrong_email_or_password_and_opens_nothing(client, staff, email, password):
    response = Hub(client).login(email=email, password=password)
    assert response.status_code == 200
    assert b"Wrong email or password." in response.data
    assert client.get("/").status_code == 302


def test_an_inactive_user_or_a_client_user_cannot_log_into_the_hub(client, db):
    add_staff(db, "gone@agency.example", is_active=False)
    add_staff(db, "former@agency.example", kind="client")
    for email in ("gone@agency.example", "former@agency.example"):
        response = Hub(client).login(email=email)
        assert response.status_code == 200


def test_logout_ends_the_session(hub):
    response = hub.post("/logout")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert hub.client.get("/").status_code == 302


def test_logout_ends_a_copy_of_the_cookie_kept_from_before(app, hub):
    copy = app.test_client()
    copy.set_cookie("session", hub.client.get_cookie("session").value)
    assert copy.get("/").status_code == 200
    assert hub.post("/logout").status_code == 302
    assert copy.get("/").status_code == 302


def test_a_new_password_ends_the_other_sessions(hub, db, staff):
    from bridge.auth.passwords import hash_password
    from bridge.models import User

    assert hub.client.get("/").status_code == 200
    with db.session() as session:
        session.get(User, staff).password_hash = hash_password("another long password")
    assert hub.client.get("/").status_code == 302


def test_a_post_without_the_csrf_token_is_refused(hub):
    response = hub.client.post("/logout")
    assert response.status_code == 400
    assert b"This form has expired" in response.data
    assert hub.client.get("/").status_code == 200  # still logged in


def test_a_login_without_the_csrf_token_is_refused(client, staff):
    response = client.post("/login", data={"email": STAFF_EMAIL, "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_login_attempts_are_limited_per_account(app, client, staff):
    app.config["HUB_LOGIN_LIMIT_PER_ACCOUNT"] = "3 per minute"
    hub = Hub(client)
    for _ in range(3):
        assert hub.login(password="wrong password!").status_code == 200
    # Even the right password waits: the account's attempts are used up.
    refused = hub.login()
    assert refused.status_code == 429
    assert b"Too many attempts" in refused.data
    assert "Retry-After" in refused.headers
    # Another account from the same address is not held back by this one.
    add_staff(app.extensions["bridge.db"], "second@agency.example")
    assert hub.login(email="second@agency.example").status_code == 302


def test_login_attempts_are_limited_per_address(app, client, db):
    app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"] = "4 per minute"
    hub = Hub(client)
    for k in range(4):
        assert hub.login(email=f"guess{k}@agency.example").status_code == 200
    assert hub.login(email="guess9@agency.example").status_code == 429


def test_showing_the_login_page_is_not_an_attempt(app, client, staff):
    app.config["HUB_LOGIN_LIMIT_PER_ADDRESS"] = "2 per minute"
    for _ in range(5):
        assert client.get("/login").status_code == 200
    assert Hub(client).login().status_code == 302


def test_the_session_cookie_is_http_only_and_same_site_lax(client, staff):
    response = Hub(client).login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development serves plain http


def test_the_session_cookie_is_secure_in_production(monkeypatch, database_url, tmp_path):
    from bridge import create_app

    app = create_app(
        {
            "DATABASE_URL": database_url,
            "SECRET_KEY": "test-secret-key",
            "ENV": "production",
            "TESTING": True,
        }
    )
    try:
        assert app.config["SESSION_COOKIE_SECURE"] is True
    finally:
        app.extensions["bridge.db"].dispose()


def _add_probe(app: Flask) -> None:
    """A Hub write for the test (the Hub's own writes arrive with its next
    screens): an endpoint of the hub blueprint, so the Hub's guard runs."""
    app.add_url_rule("/probe-write", "hub.probe_write", lambda: "written", methods=["POST"])


def test_a_read_only_staff_user_sees_the_hub_but_cannot_post(app, client, staff, monkeypatch):
    _add_probe(app)
    hub = Hub(client)
    hub.login()
    assert hub.post("/probe-write").data == b"written"
    # Read on every request: it applies to the session already open.
    monkeypatch.setattr("bridge.auth.logins.read_only", lambda user: True)
    assert hub.client.get("/").status_code == 200
    assert hub.client.get("/clients").status_code == 200
    refused = hub.post("/probe-write")
    assert refused.status_code == 403
    assert b"Not allowed" in refused.data
    # Logging out stays possible.
    assert hub.post("/logout").status_code == 302


@pytest.mark.parametrize("path", ["/login", *HUB_PAGES])
def test_every_hub_page_has_the_hosted_pages_security_headers(app, client, staff, path):
    if path != "/login":
        Hub(client).login()
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self';" in csp
    assert "style-src 'self';" in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"
    page = response.data.decode()
    # No inline script or style: every script and sheet is a file of ours.
    assert "<script>" not in page and "<style" not in page and " style=" not in page
    assert "https://" not in page.split("</head>")[0]


def test_htmx_is_served_from_the_hub_with_its_licence(client):
    script = client.get("/hub/static/vendor/htmx-2.0.11.min.js")
    assert script.status_code == 200
    assert b"htmx" in script.data[:200]
    assert client.get("/hub/static/vendor/htmx-LICENSE.txt").status_code == 200


def test_the_navigation_names_every_section(hub):
    page = hub.client.get("/").data.decode()
    for title, _path in [("Overview", None), ("Clients", None), *views.COMING.values()]:
        assert title.replace("&", "&amp;") in page
