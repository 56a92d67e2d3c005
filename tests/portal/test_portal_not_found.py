"""An address under /portal/ that matches no page (or not with this
method) gets the portal's own *Page not found* (branded, with the way
home), not the server's bare one; elsewhere the answers stay the same."""

from __future__ import annotations


def test_an_unknown_portal_address_gets_the_portals_404_page(portal):
    response = portal.get("/portal/no-such-page")
    assert response.status_code == 404
    page = response.data.decode()
    assert "Page not found" in page
    assert "Pixel &amp; Pine Studio" in page
    assert 'href="/portal/"' in page  # the way home
    assert "Log out" in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_logged_out_the_404_page_offers_the_login(client, shop):
    response = client.get("/portal/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in response.data.decode()
    assert 'href="/portal/login"' in response.data.decode()


def test_opening_the_logouts_address_gets_the_same_page(portal):
    response = portal.get("/portal/logout")
    assert response.status_code == 405
    assert "POST" in response.headers["Allow"]
    assert "Page not found" in response.data.decode()
    assert portal.get("/portal/").status_code == 200  # still logged in


def test_other_404s_keep_their_answers(client, api, shop):
    assert api.get("/no-such-thing").status_code == 404
    assert api.get("/no-such-thing").get_json()["error"]["code"] == "not_found"
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert b"Page not found" not in page.data
    not_allowed = api.request("DELETE", "/clients")
    assert not_allowed.status_code == 405 and not_allowed.is_json
