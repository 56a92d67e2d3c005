"""*My account* in the real WordPress: a person whose role grants billing
sees the client's whole account (every site's invoices and those billed on
no site, the other sites, auto-pay, the portal), paged beyond 50; Pay
reaches an invoice of another site; an administrator of the site without
that role, and a role without billing, see only the site."""

from __future__ import annotations

import re
from html import unescape

import pytest
import requests

from bridge.billing import business, clients, invoices
from bridge.billing.invoices import Item
from bridge.models import PaymentMethod
from tests.integration.test_site_account import PNG
from tests.wordpress.conftest import ADMIN, JANE, system_role, text_of, use_role
from tests.wordpress.harness import nonce_form

pytestmark = pytest.mark.slow  # WordPress on PHP with MariaDB

ACCOUNT = "billing-bridge-account"


@pytest.fixture(scope="module")
def account_shop(connected, wordpress, bridge):
    """52 paid invoices billed on no site (a site build each), then a
    sister site with an open invoice (the newest), Jane's role Billing only;
    the role the client had is given back at the end."""
    shop = bridge.shop
    before = bridge.api("GET", f"/clients/{shop.client_id}")["role"]["id"]
    box = bridge._app.extensions["bridge.secret_box"]
    with bridge.db.session() as s:
        client = clients.get_client(s, shop.client_id)
        sister, _secret = clients.create_site(
            s, box, client, name="Bakery blog", url="https://blog.martin-bakery.example"
        )
        s.flush()
        for _ in range(52):
            build = invoices.bill_client(s, client, [Item(bridge.e2e_shop.build_plan_id)])
            invoices.finalize(s, build)
            invoices.record_offline_payment(
                s, build, amount=build.amount_due, method=PaymentMethod.BANK_TRANSFER
            )
        on_sister = invoices.bill_client(
            s, client, [Item(bridge.e2e_shop.hosting_plan_id)], site_id=sister.id
        )
        invoices.finalize(s, on_sister)
        s.flush()
        sister_invoice = (on_sister.id, on_sister.number)
    use_role(bridge, wordpress, system_role(bridge, "billing_only"))
    yield sister_invoice
    use_role(bridge, wordpress, before)


def account_page(session: requests.Session, wordpress, paged: int = 1) -> requests.Response:
    return session.get(f"{wordpress.admin_page(ACCOUNT)}&paged={paged}", timeout=20)


def test_a_billing_person_sees_the_whole_account(account_shop, wordpress, bridge):
    sister_id, sister_number = account_shop
    jane = wordpress.login(*JANE[:2])
    billing = jane.get(wordpress.admin_page("billing-bridge"), timeout=20)
    assert f'page={ACCOUNT}"' in billing.text  # the menu entry
    assert 'id="billing-bridge-account-link"' in billing.text
    page = account_page(jane, wordpress)
    assert page.status_code == 200
    text = text_of(page.text)
    assert "My account" in text and "Alice Martin" in text
    # The sister site's invoice (the newest) and those billed on no site.
    assert sister_number in text
    row = page.text.split(f'id="bb-invoice-{sister_id}"')[1].split("</tr>")[0]
    assert "Bakery blog" in row and "bb-pay" in row
    assert "No site (one-off work)" in text
    sites = page.text.split('id="billing-bridge-sites"')[1].split("</ul>")[0]
    assert "Acme shop" in sites and "this site" in sites and "Bakery blog" in sites
    assert 'id="billing-bridge-auto-pay" data-auto-pay="0"' in page.text
    assert "Invoices are sent to be paid." in text
    assert f'href="{bridge.url}/portal/"' in page.text
    # 50 invoices on the first page, the rest on the second.
    first = re.findall(r'<tr id="bb-invoice-(\d+)"', page.text)
    assert len(first) == 50
    assert re.search(r"Page 1 of 2 \(5\d invoices\)", text), text[-800:]
    second = account_page(jane, wordpress, 2)
    later = re.findall(r'<tr id="bb-invoice-(\d+)"', second.text)
    assert 1 <= len(later) <= 10 and not set(later) & set(first)
    assert "Page 2 of 2" in text_of(second.text)
    # This site's own invoices, the oldest, are there too.
    assert bridge.shop.open_invoice_number in text_of(second.text)
    assert 'class="bb-site bb-this-site"' in second.text


def test_pay_reaches_an_invoice_of_another_site(account_shop, wordpress, bridge):
    sister_id, sister_number = account_shop
    jane = wordpress.login(*JANE[:2])
    page = account_page(jane, wordpress)
    row = page.text.split(f'id="bb-invoice-{sister_id}"')[1].split("</tr>")[0]
    pay = unescape(row.split('bb-pay" target="_blank" rel="noopener" href="')[1].split('"')[0])
    answer = jane.get(pay, allow_redirects=False, timeout=20)
    assert answer.status_code == 303, answer.text[:500]
    hosted = requests.get(answer.headers["Location"], timeout=20)
    assert hosted.status_code == 200 and sister_number in hosted.text


def test_an_administrator_without_the_role_sees_only_the_site(account_shop, wordpress, bridge):
    admin = wordpress.login(ADMIN[0], ADMIN[1])  # owner@..., not a person of the client
    billing = admin.get(wordpress.admin_page("billing-bridge"), timeout=20)
    assert billing.status_code == 200 and f"page={ACCOUNT}" not in billing.text
    assert account_page(admin, wordpress).status_code == 403


def test_a_role_without_billing_sees_only_the_site(account_shop, wordpress, bridge):
    role = bridge.api(
        "POST", "/roles", {"name": "Site bills", "permissions": {"site_billing": {"level": "view"}}}
    )
    use_role(bridge, wordpress, role["id"])
    try:
        jane = wordpress.login(*JANE[:2])
        billing = jane.get(wordpress.admin_page("billing-bridge"), timeout=20)
        assert billing.status_code == 200 and f"page={ACCOUNT}" not in billing.text
        assert account_page(jane, wordpress).status_code == 403
    finally:
        use_role(bridge, wordpress, system_role(bridge, "billing_only"))


def test_amounts_and_dates_follow_the_users_language(account_shop, wordpress, bridge):
    """Jane reads wp-admin in German: the bridge writes her amounts and dates
    in German (the site's other users keep the site's English)."""
    sister_id, _number = account_shop
    jane_id = wordpress.php("echo get_user_by('login', 'jane')->ID;").strip()
    wordpress.php(f"update_user_meta({jane_id}, 'locale', 'de_DE');")
    try:
        jane = wordpress.login(*JANE[:2])
        page = account_page(jane, wordpress)
        row = page.text.split(f'id="bb-invoice-{sister_id}"')[1].split("</tr>")[0]
        assert "49,00\u00a0€" in row
        assert re.search(r">\d{1,2}\. \w+ 20\d\d<", row), row  # "3. Dezember 2026"
        billing = jane.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        assert "1.440,00\u00a0€" in billing  # the site's own page too
        admin = wordpress.login(ADMIN[0], ADMIN[1])
        assert "€1,440.00" in text_of(
            admin.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        )
    finally:
        wordpress.php(f"delete_user_meta({jane_id}, 'locale');")


def test_the_menu_and_pages_carry_the_agencys_name_and_logo(connected, wordpress, bridge):
    """The agency's name (escaped: it is the bridge's text, not markup) in
    the menu and above each page's title, with its logo from the bridge."""
    before = bridge.api("GET", "/settings")["company_name"]
    bridge.api("PATCH", "/settings", {"company_name": "Pixel & <b>Pine</b>"})
    with bridge.db.session() as s:
        business.set_logo(s, PNG, 100_000)
    wordpress.flush_plugin_cache()
    try:
        admin = connected.admin
        first = admin.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        assert 'id="billing-bridge-brand"' in first  # this view fetched the summary
        page = admin.get(wordpress.admin_page("billing-bridge-hosting"), timeout=20).text
        menu = page.split('id="toplevel_page_billing-bridge"')[1].split("</a>")[1]
        assert "Pixel &amp; &lt;b&gt;Pine&lt;/b&gt;" in menu and "<b>Pine" not in page
        brand = page.split('id="billing-bridge-brand"')[1].split("</div>")[0]
        assert "Pixel &amp; &lt;b&gt;Pine&lt;/b&gt;" in brand
        logo = unescape(brand.split('src="')[1].split('"')[0])
        assert logo.startswith(f"{bridge.url}/portal/logo?v=")
        assert requests.get(logo, timeout=20).content == PNG
        assert "<title>Hosting ‹ Pixel &amp; &lt;b&gt;Pine&lt;/b&gt;" in page
    finally:
        bridge.api("PATCH", "/settings", {"company_name": before})
        with bridge.db.session() as s:
            business.remove_logo(s)
        wordpress.flush_plugin_cache()


def test_apply_configuration_needs_an_administrator_unless_delegated(connected, wordpress, bridge):
    """A role with SEO configure applies the configuration only when the
    agency delegates it (``seo_configure_delegated``); administrators always."""
    role = bridge.api(
        "POST", "/roles", {"name": "SEO editor", "permissions": {"seo": {"level": "edit"}}}
    )
    before = bridge.api("GET", f"/clients/{bridge.shop.client_id}")["role"]["id"]
    use_role(bridge, wordpress, role["id"])

    def delegate(on: bool) -> None:
        bridge.api("PATCH", "/settings", {"seo_configure_delegated": on})
        wordpress.flush_plugin_cache()
        wordpress.php(r"\BillingBridge\Overdue::refresh(true);")  # the background refresh

    try:
        delegate(False)
        jane = wordpress.login(*JANE[:2])
        seo = jane.get(wordpress.admin_page("billing-bridge-seo"), timeout=20).text
        assert 'id="billing-bridge-configure"' not in seo
        assert 'id="billing-bridge-configure-admin"' in seo  # who can, instead
        assert 'id="billing-bridge-run-scan"' in seo  # scanning is the role's

        delegate(True)
        seo = jane.get(wordpress.admin_page("billing-bridge-seo"), timeout=20).text
        form = nonce_form(seo, "billing_bridge_seo_configure")
        delegate(False)  # taken back meanwhile: the form no longer works
        refused = jane.post(f"{wordpress.url}/wp-admin/admin-post.php", data=form, timeout=20)
        assert refused.status_code == 403 and "needs an administrator" in refused.text
        assert wordpress.get_option("blog_public") == '"0"'

        delegate(True)
        applied = jane.post(f"{wordpress.url}/wp-admin/admin-post.php", data=form, timeout=20)
        assert "Configuration applied" in text_of(applied.text)
        assert wordpress.get_option("blog_public") == '"1"'
        assert wordpress.get_option("permalink_structure") == '"\\/%postname%\\/"'
        # The rewrite rules were written again, for the new structure.
        rules = "$r = get_option('rewrite_rules'); echo is_array($r) ? count($r) : 0;"
        assert int(wordpress.php(rules)) > 10
    finally:
        bridge.api("PATCH", "/settings", {"seo_configure_delegated": False})
        use_role(bridge, wordpress, before)
        wordpress.php(
            "update_option('blog_public', '0');"
            " $GLOBALS['wp_rewrite']->set_permalink_structure(''); flush_rewrite_rules(false);"
        )
        wordpress.flush_plugin_cache()


def test_a_role_that_only_views_billing_gets_no_pay_on_the_account(account_shop, wordpress, bridge):
    """Paying from My account is the client-wide billing's pay, not the site's."""
    sister_id, _number = account_shop
    role = bridge.api(
        "POST",
        "/roles",
        {
            "name": "Reads the account",
            "permissions": {"billing": {"level": "view"}, "site_billing": {"level": "edit"}},
        },
    )
    use_role(bridge, wordpress, role["id"])
    try:
        jane = wordpress.login(*JANE[:2])
        page = account_page(jane, wordpress)
        assert page.status_code == 200
        row = page.text.split(f'id="bb-invoice-{sister_id}"')[1].split("</tr>")[0]
        assert "bb-pdf" in row and "bb-pay" not in row
        assert "bb-pay" not in page.text
        # The site's own Billing page still offers Pay: site billing grants it.
        billing = jane.get(wordpress.admin_page("billing-bridge"), timeout=20).text
        assert "bb-pay" in billing
    finally:
        use_role(bridge, wordpress, system_role(bridge, "billing_only"))
