"""The permission policy: may this principal do this action on this object?

Every layer (REST API, Hub, portal, plugin endpoints, scheduler) asks here and
nowhere else, so a rule changes in one place. Actions are strings:

- staff actions are ``"<resource>.read"`` or ``"<resource>.write"``
  (resources: settings, clients, sites, roles, custom_fields, catalog,
  tax_rates, tokens, invoices, subscriptions, audit, email, metrics:
  the revenue figures and CSV exports, imports: from Stripe,
  reconciliation: the comparison with Stripe). Staff may do
  everything; a read-only API token may only read.
- client actions are ``"<area>.<action>"`` from ``bridge.auth.permissions``
  (``"hosting.staging"``, ``"billing.pay"``...), always about an object of
  the client's own (their client record, or one of their sites), granted by
  their role. On a site, the role is the person's role on that site when
  they have one (``bridge.models.SiteRole``), else the client's; anything
  else (the client record, invoices, subscriptions) follows the client's.
  A list of sites shows every one of the client's when the client's role
  allows the action on the client, else the sites where the person's own
  role does (``listed``); its section opens when either holds
  (``may_somewhere``).
- site actions (``SITE_ACTIONS``) are a site's plugin acting on its own
  site only: ``"site.read"`` (its billing summary, hosting plan, the access of
  its users, its SEO scans) and ``"site.seo_write"`` (sending an SEO scan);
  ``"site.account"`` reaches beyond the site, to its client's whole account
  (every site's invoices, the other sites), on ``obj`` the site's own
  client only, and only for a person whose role grants ``billing.view``
  (the plugin's *My account*, which asks both).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from bridge.auth.permissions import AREAS, granted_actions

T = TypeVar("T")


class PermissionDenied(Exception):
    """The principal may not do the action; the message is safe to show."""

    def __init__(self, message: str = "You are not allowed to do this."):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Staff:
    """Agency staff, through the Hub or an API token."""

    user_id: int
    read_only: bool = False


@dataclass(frozen=True)
class ClientUser:
    """A person of a client, with the permission set of the client's role
    and, per site id, that of their role on the site where it differs."""

    user_id: int
    client_id: int
    permissions: dict = field(hash=False, compare=False)
    site_permissions: dict[int, dict] = field(default_factory=dict, hash=False, compare=False)

    def permissions_on(self, obj: object | None) -> dict:
        """The permission set that decides about ``obj``: the person's role
        on that site when ``obj`` is a site they have one on, else the
        client-wide role."""
        if _is_site(obj, None) and obj.id in self.site_permissions:
            return self.site_permissions[obj.id]
        return self.permissions


@dataclass(frozen=True)
class SitePlugin:
    """A site's WordPress plugin, authenticated by its signature."""

    site_id: int
    client_id: int


SITE_ACTIONS = frozenset({"site.read", "site.seo_write"})
CLIENT_SITE_ACTIONS = frozenset({"site.account"})


class Anonymous:
    """Nobody: may do nothing."""


Principal = Staff | ClientUser | SitePlugin | Anonymous

STAFF_RESOURCES = frozenset(
    {
        "settings",
        "clients",
        "sites",
        "roles",
        "custom_fields",
        "catalog",
        "tax_rates",
        "tokens",
        "invoices",
        "subscriptions",
        "audit",
        "email",
        "metrics",
        "imports",
        "reconciliation",
        "jobs",
    }
)


def may(principal: Principal, action: str, obj: object | None = None) -> bool:
    """True when ``principal`` may do ``action`` (on ``obj``, when the action
    is about one object). Unknown actions are refused, never allowed."""
    resource, _, verb = action.partition(".")
    if isinstance(principal, Staff):
        if resource not in STAFF_RESOURCES or verb not in ("read", "write"):
            return False
        return verb == "read" or not principal.read_only
    if isinstance(principal, ClientUser):
        if resource not in AREAS or verb not in AREAS[resource].actions:
            return False
        if not _owned_by(obj, principal.client_id):
            return False
        return verb in granted_actions(principal.permissions_on(obj), resource)
    if isinstance(principal, SitePlugin):
        if action in CLIENT_SITE_ACTIONS:
            return _is_client(obj, principal.client_id)
        return action in SITE_ACTIONS and _is_site(obj, principal.site_id)
    return False


def listed(principal: Principal, action: str, client: object, objs: Iterable[T]) -> list[T]:
    """The objects of ``objs`` (things of ``client``, e.g. its sites) that a
    list for ``action`` shows: every one of the client's when the principal
    may do ``action`` on the client itself (the client-wide role), else
    those on which it may (a person's own role on that site)."""
    if may(principal, action, client):
        client_id = getattr(client, "id", None)
        return [obj for obj in objs if getattr(obj, "client_id", None) == client_id]
    return [obj for obj in objs if may(principal, action, obj)]


def may_somewhere(principal: Principal, action: str, client: object, objs: Iterable) -> bool:
    """Whether a section for ``action`` opens at all (a menu entry): the
    principal may do it on ``client``, or on one of ``objs`` (the client's
    sites). ``objs`` is read only when the client-wide answer is no and the
    person has a role of their own on some site, so a lazy iterable spares
    everybody else the look-up."""
    if may(principal, action, client):
        return True
    if not (isinstance(principal, ClientUser) and principal.site_permissions):
        return False
    return any(may(principal, action, obj) for obj in objs)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def may_send(principal: Principal, method: str) -> bool:
    """Whether a request with this HTTP method may proceed at all: a read-only
    token is refused any write before its body is even read."""
    return not (isinstance(principal, Staff) and principal.read_only and method not in SAFE_METHODS)


def require(principal: Principal, action: str, obj: object | None = None) -> None:
    """Raise ``PermissionDenied`` unless ``may(principal, action, obj)``."""
    if not may(principal, action, obj):
        if isinstance(principal, Staff) and principal.read_only:
            raise PermissionDenied("This API token is read-only.")
        raise PermissionDenied()


def visible_areas(principal: Principal) -> dict[str, list[str]]:
    """For each area, the actions the principal holds (for menus and the plugin)."""
    if isinstance(principal, Staff):
        return {key: list(area.actions) for key, area in AREAS.items()}
    if isinstance(principal, ClientUser):
        return {
            key: sorted(granted_actions(principal.permissions, key))
            for key in AREAS
            if granted_actions(principal.permissions, key)
        }
    return {}


def _owned_by(obj: object | None, client_id: int) -> bool:
    """A client principal acts only on its own things. A client record is its
    own; anything else must carry the client's id."""
    if obj is None:
        return False
    from bridge.models import Client

    if isinstance(obj, Client):
        return obj.id == client_id
    return getattr(obj, "client_id", None) == client_id


def _is_client(obj: object | None, client_id: int) -> bool:
    from bridge.models import Client

    return isinstance(obj, Client) and obj.id == client_id


def _is_site(obj: object | None, site_id: int | None) -> bool:
    """``obj`` is the site ``site_id`` (any site when None)."""
    from bridge.models import Site

    return isinstance(obj, Site) and (site_id is None or obj.id == site_id)
