"""The plugin in a real WordPress talking to a real bridge.

Package fixtures (one set for this folder): ``wordpress`` (Debian's WordPress on PHP's built-in
server with 4 workers, its own MariaDB database, the plugin activated; see
harness.py), ``bridge`` (the Flask app on a loopback WSGI server over a
migrated SQLite copy, PUBLIC_URL set to its own URL, with a shop, a site, an
open and a paid invoice, a hosting subscription and two client users) and
``connected`` (the plugin connected to that site through the settings page
with a one-time code).

Without the packages and not root, the tests skip with the reason; in CI
(``CI=true``) they fail instead.
"""

from __future__ import annotations

import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from sqlalchemy import select
from werkzeug.serving import make_server

from bridge.app import create_app
from bridge.billing import catalog, clients, invoices
from bridge.billing.invoices import Item
from bridge.models import (
    IntervalUnit,
    Invoice,
    InvoiceStatus,
    PaymentMethod,
    PlanKind,
    Subscription,
)
from tests.conftest import make_token
from tests.e2e.conftest import MadeInvoice, make_shop
from tests.wordpress import harness

JANE = ("jane", "jane-pass-7731", "jane@acme-shop.example")  # a person of the client
SAM = ("sam", "sam-pass-1184", "sam@acme-shop.example")  # another person of the client
NOBODY = ("nobody", "nobody-pass-5512", "nobody@elsewhere.example")  # not in the bridge
ADMIN = harness.ADMIN


def pytest_collection_modifyitems(items):
    # The WordPress modules share one site and one bridge: the browser after
    # the others, uninstalling last (it wipes the connected site's settings).
    # Only this folder's tests are reordered, within the places they hold.
    here = Path(__file__).parent
    slots = [i for i, item in enumerate(items) if here in Path(item.path).parents]
    order = {"test_plugin_browser": 1, "test_plugin_uninstall": 2}
    mine = sorted(
        (items[i] for i in slots),
        key=lambda item: order.get(Path(item.path).stem, 0),
    )
    for slot, item in zip(slots, mine, strict=True):
        items[slot] = item


@pytest.fixture(scope="session")
def wp_available():
    reason = harness.ready()
    if reason:
        if harness.in_ci():
            pytest.fail(f"the WordPress tests must run in CI: {reason}", pytrace=False)
        pytest.skip(reason)


class Bridge:
    """The bridge on loopback; ``stop()``/``start()`` take it down and bring
    it back on the same port. Counts the signed site API requests it gets."""

    def __init__(self, folder, sqlite_template):
        shutil.copy(sqlite_template, folder / "bridge.sqlite3")
        self.site_api_requests: list[str] = []
        self.idempotency_keys: list[str] = []
        # Paths whose next answer is lost after the work is done (a 503 in
        # its place), as when the database's acknowledgement never came.
        self.lose_next_answer: set[str] = set()
        self._app = None
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{folder / 'bridge.sqlite3'}",
                "SECRET_KEY": "wordpress-e2e-secret",
                "PUBLIC_URL": self.url,
            }
        )
        self._app.instance_path = str(folder / "instance")
        self.db = self._app.extensions["bridge.db"]
        self._thread = None
        self.start()

    def _wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/v1/site/"):
            self.site_api_requests.append(f"{environ['REQUEST_METHOD']} {path}")
            if "HTTP_IDEMPOTENCY_KEY" in environ:
                self.idempotency_keys.append(environ["HTTP_IDEMPOTENCY_KEY"])
        if path in self.lose_next_answer:
            self.lose_next_answer.discard(path)
            answer = self._app(environ, lambda *_args, **_kw: None)
            b"".join(answer)  # the work is done and committed; its answer is lost
            start_response("503 Service Unavailable", [("Content-Type", "application/json")])
            return [b'{"error": {"code": "database_unavailable", "message": "Lost."}}']
        return self._app(environ, start_response)

    def start(self) -> None:
        if self._server is None:
            self._server = make_server("127.0.0.1", self.port, self._wsgi, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)
        self._server.server_close()
        self._server = None

    def close(self) -> None:
        if self._server is not None:
            self.stop()
        self.db.dispose()

    def open_invoice(self) -> MadeInvoice:
        """A new open invoice of the shop's client on the site (the site build)."""
        with self.db.session() as s:
            client = clients.get_client(s, self.shop.client_id)
            invoice = invoices.bill_client(
                s,
                client,
                [Item(self.e2e_shop.build_plan_id)],
                tax_rate_ids=[self.e2e_shop.vat_id],
                site_id=self.shop.site_id,
            )
            invoices.finalize(s, invoice)
            return MadeInvoice(invoice.id, invoice.hosted_token, invoice.number)

    def unpaid_count(self) -> int:
        """Open invoices of the site: the plugin's menu badge."""
        with self.db.session() as s:
            return len(
                s.scalars(
                    select(Invoice.id).where(
                        Invoice.site_id == self.shop.site_id,
                        Invoice.status == InvoiceStatus.OPEN,
                    )
                ).all()
            )

    # Staff API ------------------------------------------------------------------------

    def api(self, method: str, path: str, json=None) -> dict | None:
        response = requests.request(
            method,
            f"{self.url}/api/v1{path}",
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None


@dataclass
class Shop:
    client_id: int
    site_id: int
    site_public_id: str
    open_invoice_id: int
    open_invoice_number: str
    paid_invoice_number: str
    hosting_plan: str


def _setup_shop(bridge: Bridge) -> Shop:
    db = bridge.db
    shop = bridge.e2e_shop = make_shop(db)
    box = bridge._app.extensions["bridge.secret_box"]
    with db.session() as s:
        product = catalog.create_product(s, name="Managed hosting", category="hosting")
        plan = catalog.create_plan(
            s,
            product,
            name="Pro monthly",
            kind=PlanKind.RECURRING,
            amount=4900,
            interval_unit=IntervalUnit.MONTH,
            interval_count=1,
        )
        client = clients.get_client(s, shop.client_id)
        site, _secret = clients.create_site(
            s, box, client, name="Acme shop", url="https://acme-shop.example"
        )
        s.flush()
        site_id, public_id, plan_id = site.id, site.public_id, plan.id
    with db.session() as s:
        client = clients.get_client(s, shop.client_id)
        # The hosting plan: billed on the site and paid, so its subscription is active.
        hosting = invoices.bill_client(
            s, client, [Item(plan_id)], tax_rate_ids=[shop.vat_id], site_id=site_id
        )
        invoices.finalize(s, hosting)
        invoices.record_offline_payment(
            s, hosting, amount=hosting.amount_due, method=PaymentMethod.BANK_TRANSFER
        )
        due = invoices.bill_client(
            s, client, [Item(shop.build_plan_id)], tax_rate_ids=[shop.vat_id], site_id=site_id
        )
        invoices.finalize(s, due)
        s.flush()
        numbers = (due.id, due.number, hosting.number)
    with db.session() as s:
        subscription = s.scalar(select(Subscription).where(Subscription.site_id == site_id))
        assert subscription is not None and subscription.status.value == "active"
    bridge.token = make_token(db)
    for _login, _password, email in (JANE, SAM):
        bridge.api(
            "POST", f"/clients/{shop.client_id}/users", {"email": email, "name": _login.title()}
        )
    return Shop(shop.client_id, site_id, public_id, *numbers, "Pro monthly")


@pytest.fixture(scope="package")
def bridge(wp_available, sqlite_template, tmp_path_factory):
    bridge = Bridge(tmp_path_factory.mktemp("bridge"), sqlite_template)
    bridge.shop = _setup_shop(bridge)
    yield bridge
    bridge.close()


@pytest.fixture(scope="package")
def wordpress(wp_available, tmp_path_factory):
    with harness.WordPress(tmp_path_factory.mktemp("wordpress")) as wp:
        for login, password, email in (JANE, SAM, NOBODY):
            wp.add_user(login, email, password)
        yield wp


@dataclass
class Connection:
    admin: requests.Session
    settings_html: str
    test_html: str


@pytest.fixture(scope="package")
def connected(wordpress, bridge) -> Connection:
    """The administrator connects the site with a one-time code, then tests the connection."""
    code = bridge.api(
        "POST", f"/clients/{bridge.shop.client_id}/sites/{bridge.shop.site_id}/connect-codes"
    )["code"]
    admin = wordpress.login(ADMIN[0], ADMIN[1])
    page = admin.get(wordpress.admin_page("billing-bridge-settings"), timeout=20)
    assert page.status_code == 200
    form = harness.nonce_form(page.text, "billing_bridge_settings")
    saved = admin.post(
        f"{wordpress.url}/wp-admin/admin-post.php",
        data={
            **form,
            "bridge_url": bridge.url,
            "connect_code": code,
            "site_id": "",
            "secret": "",
            "cache_ttl": "60",
        },
        timeout=20,
    )
    assert saved.status_code == 200, saved.text[:2000]
    form = harness.nonce_form(saved.text, "billing_bridge_test")
    tested = admin.post(f"{wordpress.url}/wp-admin/admin-post.php", data=form, timeout=20)
    assert tested.status_code == 200
    return Connection(admin, saved.text, tested.text)


def use_role(bridge: Bridge, wordpress: harness.WordPress, role_id: int) -> None:
    """Give the client another role and drop the plugin's cached answers."""
    bridge.api("PATCH", f"/clients/{bridge.shop.client_id}", {"role_id": role_id})
    wordpress.flush_plugin_cache()


def system_role(bridge: Bridge, key: str) -> int:
    roles = bridge.api("GET", "/roles")
    roles = roles["data"] if isinstance(roles, dict) else roles
    return next(r["id"] for r in roles if r.get("system_key") == key)


def text_of(html: str) -> str:
    """The visible text of the page's main content, tags dropped."""
    start = html.find('id="wpbody-content"')
    body = html[start:] if start >= 0 else html
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", body, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body))


def invoice_row(db, invoice_id: int) -> Invoice:
    with db.session() as s:
        invoice = s.get(Invoice, invoice_id)
        s.expunge(invoice)
        return invoice
