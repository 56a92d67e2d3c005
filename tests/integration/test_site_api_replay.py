"""A signed write of the site API is applied once: the same request sent
again within the window (a replay by whoever saw it pass, or a copy sent
twice at the same instant) is a 401 ``replayed_request``, and a timestamp
may be only 30 seconds ahead of the bridge's clock."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest
import requests
import time_machine
from sqlalchemy import func, select

from bridge.auth.signatures import FUTURE_SKEW_SECONDS, WINDOW_SECONDS, signed_headers
from bridge.core import clock
from bridge.models import SeoScan, SiteRequestNonce
from tests import shop as shops
from tests.e2e.conftest import LiveServer

SCANS = "/api/v1/site/seo-scans"


@pytest.fixture
def site(api_eur):
    customer = shops.api_client(api_eur, name="Acme", email="acme@x.example")
    return shops.api_site(api_eur, customer["id"], "Acme shop", "https://acme.example")


def scan_body() -> bytes:
    scanned_at = clock.now().replace(microsecond=0).isoformat()
    return json.dumps({"scanned_at": scanned_at, "pages": []}).encode()


def send(client, headers: dict, body: bytes, path: str = SCANS):
    return client.post(path, data=body, headers=headers, content_type="application/json")


def scans(db) -> int:
    with db.session() as session:
        return session.scalar(select(func.count()).select_from(SeoScan))


def refused(response, code: str) -> None:
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bridge-Signature")


@pytest.mark.parametrize("with_nonce", [True, False], ids=["nonce", "no-nonce"])
def test_a_replayed_write_is_refused_within_the_window(site, client, db, with_nonce):
    """With a nonce (today's plugin) or without one (older plugins: the
    signature is the request id), the exact same request is applied once."""
    body = scan_body()
    headers = signed_headers(
        site["public_id"], site["secret"], "POST", SCANS, body, nonce=with_nonce
    )
    assert send(client, headers, body).status_code == 201
    for _ in range(3):
        refused(send(client, headers, body), "replayed_request")
    assert scans(db) == 1
    # A new request (new nonce, or a new second) with the same body is accepted.
    fresh = signed_headers(site["public_id"], site["secret"], "POST", SCANS, body)
    assert send(client, fresh, body).status_code == 201
    assert scans(db) == 2


def test_a_replay_is_refused_until_the_window_closes_and_then_as_stale(site, client, db):
    body = scan_body()
    headers = signed_headers(site["public_id"], site["secret"], "POST", SCANS, body)
    sent_at = clock.now()
    assert send(client, headers, body).status_code == 201
    with time_machine.travel(sent_at + timedelta(seconds=WINDOW_SECONDS - 1), tick=False):
        refused(send(client, headers, body), "replayed_request")
    with time_machine.travel(sent_at + timedelta(seconds=WINDOW_SECONDS + 2), tick=False):
        refused(send(client, headers, body), "stale_request")
        # Ids whose window has closed are deleted by the site's next write.
        fresh_body = scan_body()
        fresh = signed_headers(site["public_id"], site["secret"], "POST", SCANS, fresh_body)
        assert send(client, fresh, fresh_body).status_code == 201
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SiteRequestNonce)) == 1
    assert scans(db) == 2


def test_a_failed_write_may_be_sent_again(site, client, db):
    """The request id is stored with the write: a request refused for its
    content (422) stored nothing, so sending it again is no replay."""
    body = json.dumps({"scanned_at": "not a date", "pages": []}).encode()
    headers = signed_headers(site["public_id"], site["secret"], "POST", SCANS, body)
    assert send(client, headers, body).status_code == 422
    assert send(client, headers, body).status_code == 422
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(SiteRequestNonce)) == 0


def test_reads_may_be_repeated(site, client):
    path = "/api/v1/site/summary"
    headers = signed_headers(site["public_id"], site["secret"], "GET", path)
    for _ in range(3):
        assert client.get(path, headers=headers).status_code == 200


def test_the_same_nonce_on_another_site_is_not_a_replay(api_eur, site, client, db):
    other = shops.api_site(api_eur, site["client_id"], "Acme blog", "https://blog.acme.example")
    body = scan_body()
    for each in (site, other):
        headers = signed_headers(
            each["public_id"], each["secret"], "POST", SCANS, body, nonce="n" * 32
        )
        assert send(client, headers, body).status_code == 201
    assert scans(db) == 2


@pytest.mark.parametrize(
    ("ahead", "accepted"),
    [(FUTURE_SKEW_SECONDS, True), (FUTURE_SKEW_SECONDS + 1, False), (299, False)],
)
def test_a_timestamp_may_be_only_a_little_ahead(site, client, ahead, accepted):
    now = clock.now()
    with time_machine.travel(now, tick=False):
        body = scan_body()
        timestamp = int(now.timestamp()) + ahead
        headers = signed_headers(
            site["public_id"], site["secret"], "POST", SCANS, body, timestamp=timestamp
        )
        response = send(client, headers, body)
    if accepted:
        assert response.status_code == 201, response.get_json()
    else:
        refused(response, "stale_request")


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_copies_sent_at_the_same_instant_are_applied_once(app, site, db):
    """Eight copies of one signed write at once, through a threaded HTTP
    server on PostgreSQL: one 201, seven 401 ``replayed_request``."""
    copies = 8
    body = scan_body()
    headers = signed_headers(site["public_id"], site["secret"], "POST", SCANS, body)
    statuses: list[tuple[int, str | None]] = []
    barrier = threading.Barrier(copies)
    with LiveServer(app) as server:

        def post():
            barrier.wait()
            answer = requests.post(
                server.url + SCANS,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                timeout=30,
            )
            code = None if answer.status_code == 201 else answer.json()["error"]["code"]
            statuses.append((answer.status_code, code))

        threads = [threading.Thread(target=post) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert sorted(statuses, key=str) == sorted(
        [(201, None)] + [(401, "replayed_request")] * (copies - 1), key=str
    )
    assert scans(db) == 1
