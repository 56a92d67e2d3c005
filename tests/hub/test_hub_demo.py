"""`make run` prints the Hub's address and a login that works there."""

from __future__ import annotations

import re

from sqlalchemy import select

from bridge.cli import cli
from bridge.models import Client
from tests.hub.conftest import Hub, csrf_token


def test_the_demo_prints_a_hub_login_that_works(app, client):
    result = app.test_cli_runner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    assert re.search(r"Hub: +http://127\.0\.0\.1:5000/\n", result.output)
    email, password = re.search(r"Admin login: +(\S+) / (\S+)", result.output).groups()
    response = Hub(client).login(email=email, password=password)
    assert response.status_code == 302
    overview = client.get("/").data.decode()
    assert "Demo Admin" in overview or email in overview
    clients = client.get("/clients").data.decode()
    assert "8 clients" in clients


def test_the_demo_prints_a_client_login_that_opens_the_portal(app, client):
    result = app.test_cli_runner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    email, password, url = re.search(
        r"Client login: (\S+) / (\S+) at (\S+)\n", result.output
    ).groups()
    assert url == "http://127.0.0.1:5000/portal/login"
    token = csrf_token(client.get("/portal/login").data)
    response = client.post(
        "/portal/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/portal/")
    home = client.get("/portal/").data.decode()
    assert "Hello Maya Green" in home
    # Something to see: the setup fee to pay, the hosting that renews.
    assert re.search(r'id="pay-\d+" href="/i/[\w-]+"', home)
    assert "greenleafyoga.example" in home
    # Her own role on the shop (Edit all) shows the Sites, that site only:
    # the client's role, Billing only, shows none.
    assert 'href="/portal/sites"' in home
    sites = client.get("/portal/sites").data.decode()
    assert "https://shop.greenleafyoga.example/wp-admin/" in sites
    assert "https://greenleafyoga.example/wp-admin/" not in sites
    # A second run adds no second person and keeps the login working.
    again = app.test_cli_runner().invoke(cli, ["demo"])
    assert f"Client login: {email} / {password}" in again.output


def test_the_demo_shows_a_role_on_one_site_in_the_hub(app, db, client):
    result = app.test_cli_runner().invoke(cli, ["demo"])
    assert result.exit_code == 0, result.output
    email, password = re.search(r"Admin login: +(\S+) / (\S+)", result.output).groups()
    Hub(client).login(email=email, password=password)
    with db.session() as session:
        client_id = session.scalar(select(Client.id).where(Client.name == "Green Leaf Yoga"))
    people = client.get(f"/clients/{client_id}?tab=people").data.decode()
    assert "Billing only" in people
    assert "Edit all &amp; access billing on shop.greenleafyoga.example" in people
