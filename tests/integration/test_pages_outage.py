"""Pages (HTML, and the hosted page's PDF) while the database cannot be
reached: a plain 503 page with Retry-After, in the browser's language,
never a 500 traceback page. JSON routes keep their 503
``database_unavailable``."""

from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import exc as sa_exc

from bridge.app import create_app

# Nothing listens on port 1: every connection is refused at once.
# A well-formed token (the page looks it up).
TOKEN = "A" * 43
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2"


def app_without_database(testing: bool):
    app = create_app(
        {
            "DATABASE_URL": UNREACHABLE,
            "SECRET_KEY": "x",
            "CHECK_SCHEMA": False,
            "TESTING": testing,
        }
    )
    # A page of a blueprint still to come (the Hub's), with no error handler
    # of its own: the app's answer covers it.
    later = Blueprint("later", __name__)

    @later.get("/later/page")
    def page():
        raise sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError("refused"))

    app.register_blueprint(later)
    return app


@pytest.fixture(params=[True, False], ids=["testing", "production"])
def client(request):
    return app_without_database(request.param).test_client()


def unavailable_page(response, language: str = "en") -> str:
    assert response.status_code == 503, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Cache-Control"] == "no-store"
    page = response.get_data(as_text=True)
    assert f'<html lang="{language}">' in page
    assert "Traceback" not in page and "Internal Server Error" not in page
    return page


@pytest.mark.parametrize("path", [f"/i/{TOKEN}", f"/i/{TOKEN}/pdf", "/later/page"])
def test_a_page_answers_a_plain_503_when_the_database_is_unreachable(client, path):
    page = unavailable_page(client.get(path))
    assert "Temporarily unavailable" in page
    assert "try again in a minute" in page


@pytest.mark.parametrize(
    ("accept", "language", "words"),
    [
        ("fr-CH, fr;q=0.9, en;q=0.8", "fr", "Temporairement indisponible"),
        ("de-DE,de;q=0.9", "de", "Vorübergehend nicht verfügbar"),
        ("ja, es;q=0.5", "en", "Temporarily unavailable"),
    ],
)
def test_the_503_page_speaks_the_language_the_browser_asks_for(client, accept, language, words):
    page = unavailable_page(
        client.get(f"/i/{TOKEN}", headers={"Accept-Language": accept}), language
    )
    assert words in page


def test_json_routes_of_the_hosted_page_keep_their_json_503(client):
    response = client.post(f"/i/{TOKEN}/setup-intent", json={})
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
