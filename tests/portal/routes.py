"""The portal's routes, read from the app's URL map rather than listed by
hand, so a screen another branch adds is covered the day it is merged.
``<int:...>`` parameters are filled with the ids of one client's objects
(``tests.portal.objects.Owned``): an invoice for ``invoice_id``, a
subscription for ``subscription_id``, a site for ``site_id``, and every one
of them for a parameter of another name."""

from __future__ import annotations

import itertools

from werkzeug.routing import IntegerConverter

from bridge.portal.area import PUBLIC_ENDPOINTS
from tests.portal.objects import Owned

PORTAL = "client."


def _ids_for(argument: str, owned: Owned) -> list[int]:
    if "invoice" in argument:
        return [owned.invoice, owned.paid_invoice]
    if "subscription" in argument:
        return [owned.subscription]
    if "site" in argument:
        return [owned.site]
    return sorted(owned.ids())


def _values(rule, argument: str, owned: Owned | None) -> list:
    converter = rule._converters[argument]
    if isinstance(converter, IntegerConverter):
        return _ids_for(argument, owned) if owned else [1]
    choices = getattr(converter, "items", None)  # any(...) converters: each
    return sorted(choices) if choices else ["x"]


def urls(app, prefix: str, method: str, owned: Owned | None = None, *, public: bool = False):
    """(endpoint, url, has_ids) for every ``method`` route whose endpoint
    starts with ``prefix`` (public endpoints only when ``public``), one per
    combination of ids."""
    found = []
    adapter = app.url_map.bind("localhost")
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(prefix) or method not in (rule.methods or ()):
            continue
        if rule.endpoint in PUBLIC_ENDPOINTS and not public:
            continue
        arguments = sorted(rule.arguments)
        has_ids = any(isinstance(rule._converters[a], IntegerConverter) for a in arguments)
        for combination in itertools.product(*(_values(rule, a, owned) for a in arguments)):
            values = dict(zip(arguments, combination, strict=True))
            found.append((rule.endpoint, adapter.build(rule.endpoint, values), has_ids))
    return sorted(set(found))
