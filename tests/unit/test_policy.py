"""The permission policy for staff, the three system roles, custom roles and sites."""

import pytest

from bridge.auth.permissions import (
    AREAS,
    SYSTEM_ROLES,
    InvalidPermissions,
    granted_actions,
    normalize,
)
from bridge.auth.policy import (
    Anonymous,
    ClientUser,
    PermissionDenied,
    SitePlugin,
    Staff,
    listed,
    may,
    may_somewhere,
    require,
    visible_areas,
)
from bridge.models import Client, Site

OWN = Client(id=1, name="Own", email="own@x.example", email_key="own@x.example")
OTHER = Client(id=2, name="Other", email="other@x.example", email_key="other@x.example")
OWN_SITE = Site(id=10, client_id=1, name="own", url="https://own.example")
OTHER_SITE = Site(id=20, client_id=2, name="other", url="https://other.example")


def client_user(role_key: str | None = None, permissions: dict | None = None) -> ClientUser:
    if role_key is not None:
        permissions = SYSTEM_ROLES[role_key]["permissions"]
    return ClientUser(user_id=5, client_id=1, permissions=normalize(permissions))


def test_staff_may_read_and_write_every_resource():
    staff = Staff(user_id=1)
    for resource in ("settings", "clients", "sites", "roles", "catalog", "tax_rates"):
        assert may(staff, f"{resource}.read")
        assert may(staff, f"{resource}.write")


def test_read_only_token_may_only_read():
    staff = Staff(user_id=1, read_only=True)
    assert may(staff, "clients.read")
    assert not may(staff, "clients.write")
    with pytest.raises(PermissionDenied, match="read-only"):
        require(staff, "catalog.write")


def test_unknown_actions_are_refused_to_everyone():
    assert not may(Staff(user_id=1), "nuclear.launch")
    assert not may(Staff(user_id=1), "clients.delete_everything")
    assert not may(client_user("edit_all"), "hosting.format_disk", OWN_SITE)
    assert not may(client_user("edit_all"), "nonsense", OWN_SITE)


def test_view_all_role_sees_everything_and_manages_own_billing_but_changes_nothing():
    user = client_user("view_all")
    for action in ("sites.view", "hosting.view", "hosting.logs", "hosting.analytics", "seo.view"):
        assert may(user, action, OWN_SITE), action
    for action in ("hosting.staging", "hosting.backups", "seo.scan", "seo.configure"):
        assert not may(user, action, OWN_SITE), action
    assert may(user, "billing.view", OWN)
    assert may(user, "billing.pay", OWN)
    assert may(user, "site_billing.pay", OWN_SITE)


def test_edit_all_role_may_act_on_everything_of_its_own_sites():
    user = client_user("edit_all")
    for key, area in AREAS.items():
        for action in area.actions:
            assert may(user, f"{key}.{action}", OWN_SITE), f"{key}.{action}"


def test_billing_only_role_sees_billing_and_nothing_of_hosting_or_seo():
    user = client_user("billing_only")
    assert may(user, "billing.view", OWN)
    assert may(user, "billing.pay", OWN)
    assert may(user, "site_billing.view", OWN_SITE)
    for action in ("sites.view", "hosting.view", "seo.view", "seo.scan"):
        assert not may(user, action, OWN_SITE), action


@pytest.mark.parametrize("role_key", list(SYSTEM_ROLES))
def test_no_role_reaches_another_clients_objects(role_key):
    user = client_user(role_key)
    for key, area in AREAS.items():
        for action in area.actions:
            assert not may(user, f"{key}.{action}", OTHER_SITE)
            assert not may(user, f"{key}.{action}", OTHER)


def test_client_actions_need_an_object():
    assert not may(client_user("edit_all"), "billing.view")


def test_client_users_have_no_staff_actions():
    user = client_user("edit_all")
    assert not may(user, "clients.read")
    assert not may(user, "settings.write")


def test_custom_role_grants_exactly_the_listed_actions_plus_seeing_the_area():
    user = client_user(
        permissions={
            "hosting": {"level": "custom", "actions": ["staging", "logs"]},
            "seo": {"level": "view"},
        }
    )
    assert may(user, "hosting.view", OWN_SITE)  # implied by any action
    assert may(user, "hosting.staging", OWN_SITE)
    assert may(user, "hosting.logs", OWN_SITE)
    assert not may(user, "hosting.backups", OWN_SITE)
    assert not may(user, "hosting.analytics", OWN_SITE)
    assert may(user, "seo.view", OWN_SITE)
    assert not may(user, "seo.scan", OWN_SITE)
    assert not may(user, "billing.view", OWN)  # left out: off


SECOND_SITE = Site(id=11, client_id=1, name="shop", url="https://shop.example")


def with_site_role(client_wide: str, site: Site, on_site: str) -> ClientUser:
    """A person of client 1 with the system role ``client_wide``, and
    ``on_site`` on ``site``."""
    return ClientUser(
        user_id=5,
        client_id=1,
        permissions=normalize(SYSTEM_ROLES[client_wide]["permissions"]),
        site_permissions={site.id: normalize(SYSTEM_ROLES[on_site]["permissions"])},
    )


def test_a_role_on_one_site_decides_on_that_site_only():
    """Billing only client-wide, Edit all on the shop: the shop's hosting is
    theirs to act on, the other site's is not, and billing stays the
    client's role's everywhere else (client record)."""
    user = with_site_role("billing_only", SECOND_SITE, "edit_all")
    assert may(user, "hosting.staging", SECOND_SITE)
    assert may(user, "seo.configure", SECOND_SITE)
    assert not may(user, "hosting.view", OWN_SITE)
    assert not may(user, "seo.view", OWN_SITE)
    assert may(user, "billing.pay", OWN)
    assert not may(user, "hosting.view", OWN)


def test_a_narrower_role_on_one_site_takes_away_there_only():
    user = with_site_role("edit_all", SECOND_SITE, "billing_only")
    assert not may(user, "hosting.view", SECOND_SITE)
    assert may(user, "site_billing.pay", SECOND_SITE)
    assert may(user, "hosting.staging", OWN_SITE)


def test_a_role_on_a_site_never_reaches_another_clients_site():
    """An override keyed by another client's site id grants nothing there."""
    user = with_site_role("billing_only", OTHER_SITE, "edit_all")
    assert not may(user, "hosting.view", OTHER_SITE)
    assert not may(user, "site_billing.view", OTHER_SITE)


def test_a_list_shows_the_sites_a_role_of_their_own_shows_when_the_clients_does_not():
    user = with_site_role("billing_only", SECOND_SITE, "view_all")
    sites = [OWN_SITE, SECOND_SITE, OTHER_SITE]
    assert listed(user, "sites.view", OWN, sites) == [SECOND_SITE]
    assert may_somewhere(user, "sites.view", OWN, sites)
    assert not may_somewhere(user, "sites.view", OWN, [OWN_SITE])


def test_a_list_shows_every_own_site_when_the_clients_role_shows_the_sites():
    """The first pass's rule, kept: the client-wide role lists them all, a
    narrower role on one site changes what it grants there, not the list."""
    user = with_site_role("view_all", SECOND_SITE, "billing_only")
    sites = [OWN_SITE, SECOND_SITE, OTHER_SITE]
    assert listed(user, "sites.view", OWN, sites) == [OWN_SITE, SECOND_SITE]
    assert may_somewhere(user, "sites.view", OWN, [])


def test_a_role_on_another_clients_site_lists_nothing():
    user = with_site_role("billing_only", OTHER_SITE, "edit_all")
    assert listed(user, "sites.view", OWN, [OWN_SITE, OTHER_SITE]) == []
    assert not may_somewhere(user, "sites.view", OWN, [OWN_SITE, OTHER_SITE])
    assert listed(user, "sites.view", OTHER, [OTHER_SITE]) == []


def test_without_a_role_of_their_own_the_sites_are_not_even_read():
    def unread():
        raise AssertionError("the sites were read")
        yield  # pragma: no cover

    assert not may_somewhere(client_user("billing_only"), "sites.view", OWN, unread())
    assert may_somewhere(client_user("view_all"), "sites.view", OWN, unread())


def test_site_plugin_reads_only_its_own_site():
    plugin = SitePlugin(site_id=10, client_id=1)
    assert may(plugin, "site.read", OWN_SITE)
    assert not may(plugin, "site.read", OTHER_SITE)
    assert not may(plugin, "clients.read")
    assert not may(plugin, "billing.view", OWN)
    assert may(plugin, "site.seo_write", OWN_SITE)
    assert not may(plugin, "site.seo_write", OTHER_SITE)
    assert not may(plugin, "site.write", OWN_SITE)
    assert not may(plugin, "site.read", OWN)  # its client is not its site
    assert not may(plugin, "site.read")


def test_site_plugin_reads_the_account_of_its_own_client_only():
    plugin = SitePlugin(site_id=10, client_id=1)
    assert may(plugin, "site.account", OWN)
    assert not may(plugin, "site.account", OTHER)
    assert not may(plugin, "site.account", OWN_SITE)  # the client's, not the site's
    assert not may(plugin, "site.account")
    assert not may(client_user("edit_all"), "site.account", OWN)
    assert not may(Staff(user_id=1), "site.account", OWN)


def test_anonymous_may_do_nothing():
    assert not may(Anonymous(), "clients.read")
    assert not may(Anonymous(), "billing.view", OWN)
    with pytest.raises(PermissionDenied):
        require(Anonymous(), "site.read", OWN_SITE)


def test_visible_areas_lists_what_a_role_holds():
    areas = visible_areas(client_user("billing_only"))
    assert set(areas) == {"site_billing", "billing"}
    assert areas["billing"] == ["pay", "view"]


def test_normalize_fills_missing_areas_as_off_and_sorts_actions():
    result = normalize({"seo": {"level": "custom", "actions": ["scan", "view", "scan"]}})
    assert set(result) == set(AREAS)
    assert result["sites"] == {"level": "off", "actions": []}
    assert result["seo"] == {"level": "custom", "actions": ["scan", "view"]}


@pytest.mark.parametrize(
    "permissions, area",
    [
        ({"billing": {"level": "admin"}}, "billing"),
        ({"hosting": {"level": "custom", "actions": ["rm_rf"]}}, "hosting"),
        ({"hosting": {"level": "custom", "actions": []}}, "hosting"),
        ({"seo": {"level": "view", "actions": ["scan"]}}, "seo"),
        ({"email": {"level": "view"}}, "email"),
    ],
)
def test_normalize_rejects_what_does_not_fit_the_vocabulary(permissions, area):
    with pytest.raises(InvalidPermissions) as info:
        normalize(permissions)
    assert area in info.value.fields


def test_granted_actions_by_level():
    assert granted_actions({"seo": {"level": "off"}}, "seo") == frozenset()
    assert granted_actions({"seo": {"level": "view"}}, "seo") == {"view"}
    assert granted_actions({"seo": {"level": "edit"}}, "seo") == {"view", "scan", "configure"}
    assert granted_actions({}, "seo") == frozenset()


def test_the_reconciliation_with_stripe_is_for_staff_only():
    assert may(Staff(user_id=1), "reconciliation.read")
    assert may(Staff(user_id=1, read_only=True), "reconciliation.read")
    assert not may(Staff(user_id=1, read_only=True), "reconciliation.write")
    assert not may(client_user("edit_all"), "reconciliation.read", OWN)
    assert not may(SitePlugin(site_id=10, client_id=1), "reconciliation.read", OWN_SITE)
    assert not may(Anonymous(), "reconciliation.read")
