"""Signed requests of the site API: the shared test vectors, tampering with
each part of a request, and the edges of the 300-second window."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from bridge.auth import signatures
from bridge.auth.signatures import SignatureError, sign, verify

VECTORS_FILE = Path(__file__).parents[1] / "fixtures" / "site-signature-vectors.json"
VECTORS = json.loads(VECTORS_FILE.read_text(encoding="utf-8"))["vectors"]


def at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["description"][:40])
def test_vector(vector):
    body = vector["body"].encode()
    assert signatures.body_sha256(body) == vector["body_sha256"]
    assert hashlib.sha256(body).hexdigest() == vector["body_sha256"]
    nonce = vector.get("nonce")
    message = signatures.message(vector["timestamp"], vector["method"], vector["path"], body, nonce)
    assert message == vector["message"]
    assert message.count("\n") == (3 if nonce is None else 4) and not message.endswith("\n")
    expected = hmac.new(vector["secret"].encode(), message.encode(), hashlib.sha256).hexdigest()
    assert expected == vector["signature"]
    signature = sign(
        vector["secret"], vector["timestamp"], vector["method"], vector["path"], body, nonce
    )
    assert signature == vector["signature"]
    verify(
        vector["secret"],
        str(vector["timestamp"]),
        vector["method"],
        vector["path"],
        body,
        vector["signature"],
        now=at(vector["timestamp"]),
        nonce=nonce,
    )


def test_the_vectors_cover_what_the_plugin_sends():
    assert len(VECTORS) >= 8
    assert any(v["body"] == "" and v["method"] == "GET" for v in VECTORS)
    assert any("%40" in v["path"] for v in VECTORS)
    assert any(v["method"] == "POST" and v["body"].startswith("{") for v in VECTORS)
    assert any(not v["body"].isascii() for v in VECTORS)
    assert any(not v["secret"].isascii() for v in VECTORS)
    assert all(v["secret"] for v in VECTORS)
    assert all(v["signature"] == v["signature"].lower() for v in VECTORS)
    assert any(v.get("nonce") and v["method"] == "POST" for v in VECTORS)


def test_an_empty_secret_never_signs_nor_verifies():
    with pytest.raises(ValueError):
        sign("", 1, "GET", "/", b"")
    # Whatever the signature, an empty secret (no such site) is refused.
    signature = hmac.new(b"", b"1\nGET\n/\n" + b"x", hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError) as refused:
        verify("", "1", "GET", "/", b"", signature, now=at(1))
    assert refused.value.code == "bad_signature"


BASE = VECTORS[3]  # a POST with a JSON body


def base_request() -> dict:
    return {
        "secret": BASE["secret"],
        "timestamp": str(BASE["timestamp"]),
        "method": BASE["method"],
        "paths": BASE["path"],
        "body": BASE["body"].encode(),
        "signature": BASE["signature"],
        "now": at(BASE["timestamp"]),
    }


def test_the_untouched_request_is_accepted():
    verify(**base_request())


@pytest.mark.parametrize(
    "field, value",
    [
        ("secret", BASE["secret"] + "x"),
        ("secret", BASE["secret"][:-1]),
        ("timestamp", str(BASE["timestamp"] + 1)),
        ("timestamp", str(BASE["timestamp"]) + ".0"),
        ("timestamp", " " + str(BASE["timestamp"])),
        ("timestamp", ""),
        ("timestamp", None),
        ("method", "PUT"),
        ("paths", BASE["path"] + "?x=1"),
        ("paths", BASE["path"].upper()),
        ("paths", BASE["path"] + "/"),
        ("body", BASE["body"].encode() + b" "),
        ("body", b""),
        ("signature", BASE["signature"][:-1] + ("0" if BASE["signature"][-1] != "0" else "1")),
        ("signature", BASE["signature"].upper()),
        ("signature", BASE["signature"][:32]),
        ("signature", ""),
        ("signature", None),
    ],
)
def test_tampering_with_any_part_is_refused(field, value):
    request = {**base_request(), field: value}
    with pytest.raises(SignatureError) as refused:
        verify(**request)
    assert (refused.value.status, refused.value.code) == (401, "bad_signature")


def test_a_lower_case_method_is_signed_as_upper_case():
    request = base_request()
    verify(**{**request, "method": "post"})


@pytest.mark.parametrize(
    "offset, accepted",
    [
        (0, True),
        (300, True),
        (-30, True),
        (301, False),
        (-31, False),
        (-299, False),
        (86400, False),
    ],
)
def test_window_edges(offset, accepted):
    """The request's timestamp may be up to 300 seconds behind the bridge's
    clock, and only 30 seconds ahead of it (``offset`` is how far the
    bridge's clock is past the timestamp)."""
    timestamp = BASE["timestamp"]
    request = {**base_request(), "now": at(timestamp + offset)}
    if accepted:
        verify(**request)
        return
    with pytest.raises(SignatureError) as refused:
        verify(**request)
    assert (refused.value.status, refused.value.code) == (401, "stale_request")


def test_the_window_follows_the_bridge_clock():
    request = base_request()
    del request["now"]
    with time_machine.travel(at(BASE["timestamp"] + 300), tick=False):
        verify(**request)
    with (
        time_machine.travel(at(BASE["timestamp"] + 301), tick=False),
        pytest.raises(SignatureError) as refused,
    ):
        verify(**request)
    assert refused.value.code == "stale_request"


def test_a_stale_request_with_a_wrong_signature_is_a_bad_signature():
    """Only an authentic request learns that its clock is off."""
    request = {**base_request(), "signature": "0" * 64, "now": at(BASE["timestamp"] + 3600)}
    with pytest.raises(SignatureError) as refused:
        verify(**request)
    assert refused.value.code == "bad_signature"


def test_any_of_the_candidate_paths_may_carry_the_signature():
    request = base_request()
    verify(**{**request, "paths": ["/prefix" + BASE["path"], BASE["path"]]})
    with pytest.raises(SignatureError):
        verify(**{**request, "paths": ["/prefix" + BASE["path"]]})


def test_signed_headers_are_what_the_plugin_sends():
    with time_machine.travel(at(1764064800), tick=False):
        headers = signatures.signed_headers(
            "site_abc", VECTORS[0]["secret"], "GET", VECTORS[0]["path"], nonce=False
        )
    assert headers == {
        "X-Bridge-Site": "site_abc",
        "X-Bridge-Timestamp": "1764064800",
        "X-Bridge-Signature": VECTORS[0]["signature"],
    }
    with_nonce = next(v for v in VECTORS if v.get("nonce"))
    headers = signatures.signed_headers(
        "site_abc",
        with_nonce["secret"],
        with_nonce["method"],
        with_nonce["path"],
        with_nonce["body"].encode(),
        timestamp=with_nonce["timestamp"],
        nonce=with_nonce["nonce"],
    )
    assert headers == {
        "X-Bridge-Site": "site_abc",
        "X-Bridge-Timestamp": str(with_nonce["timestamp"]),
        "X-Bridge-Nonce": with_nonce["nonce"],
        "X-Bridge-Signature": with_nonce["signature"],
    }


def test_a_fresh_nonce_is_sent_and_signed_by_default():
    first = signatures.signed_headers("s", "secret", "POST", "/api/v1/site/seo-scans", b"{}")
    second = signatures.signed_headers("s", "secret", "POST", "/api/v1/site/seo-scans", b"{}")
    assert first["X-Bridge-Nonce"] != second["X-Bridge-Nonce"]
    request = {
        "secret": "secret",
        "timestamp": first["X-Bridge-Timestamp"],
        "method": "POST",
        "paths": "/api/v1/site/seo-scans",
        "body": b"{}",
        "signature": first["X-Bridge-Signature"],
    }
    verify(**request, nonce=first["X-Bridge-Nonce"])
    # The nonce is signed: another one, or none, breaks the signature.
    for nonce in (second["X-Bridge-Nonce"], None, first["X-Bridge-Nonce"] + "x", "short"):
        with pytest.raises(SignatureError) as refused:
            verify(**request, nonce=nonce)
        assert refused.value.code == "bad_signature"
