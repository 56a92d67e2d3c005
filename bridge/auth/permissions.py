"""The vocabulary of client roles: areas, levels and actions.

A role gives each *area* a *level*:

- ``off``: nothing in the area;
- ``view``: the area's read actions;
- ``edit``: every action of the area;
- ``custom``: exactly the actions listed (seeing the area, ``view``, comes
  with any of them: one cannot act on a page one cannot open).

This module is data and pure functions; ``bridge.auth.policy`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

LEVELS = ("off", "view", "edit", "custom")


@dataclass(frozen=True)
class Area:
    key: str
    label: str
    read_actions: tuple[str, ...]
    write_actions: tuple[str, ...]

    @property
    def actions(self) -> tuple[str, ...]:
        return self.read_actions + self.write_actions


AREAS: dict[str, Area] = {
    area.key: area
    for area in (
        # The list of the client's sites; "manage" edits a site's name and URL.
        Area("sites", "Sites", ("view",), ("manage",)),
        Area(
            "hosting",
            "Hosting",
            ("view", "analytics", "logs"),
            ("emails", "backups", "staging"),
        ),
        Area("seo", "SEO", ("view",), ("scan", "configure")),
        # Billing shown at site level (the plugin's Site billing page).
        Area("site_billing", "Site billing", ("view",), ("pay",)),
        # The billing tab: view and pay invoices, manage the payment method.
        Area("billing", "Billing", ("view",), ("pay",)),
    )
}


def _level(level: str) -> dict:
    return {area: {"level": level, "actions": []} for area in AREAS}


# The three system roles of the product: seeded by the first migration (which
# keeps its own frozen copy of this table) and never editable.
SYSTEM_ROLES: dict[str, dict] = {
    "view_all": {
        "name": "View all & access billing",
        "description": "View all site data, manage own billing.",
        "permissions": {
            **_level("view"),
            "site_billing": {"level": "edit", "actions": []},
            "billing": {"level": "edit", "actions": []},
        },
    },
    "edit_all": {
        "name": "Edit all & access billing",
        "description": "View, change and act on everything on their sites, and manage own billing.",
        "permissions": _level("edit"),
    },
    "billing_only": {
        "name": "Billing only",
        "description": "View and pay own billing.",
        "permissions": {
            **_level("off"),
            "site_billing": {"level": "edit", "actions": []},
            "billing": {"level": "edit", "actions": []},
        },
    },
}
DEFAULT_SYSTEM_ROLE = "billing_only"


class InvalidPermissions(ValueError):
    """A permission set that does not fit the vocabulary; ``fields`` maps each
    offending area to its messages."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("invalid permissions")
        self.fields = fields


def normalize(permissions: dict) -> dict:
    """A complete, canonical permission set from what a client of the API sent.

    Areas left out are ``off``; ``actions`` are kept (sorted, deduplicated)
    only for ``custom``. Raises ``InvalidPermissions`` naming every problem.
    """
    errors: dict[str, list[str]] = {}
    result = {}
    for key in permissions:
        if key not in AREAS:
            errors[key] = [f"Unknown area. Areas are: {', '.join(AREAS)}."]
    for key, area in AREAS.items():
        entry = permissions.get(key, {"level": "off"})
        level = entry.get("level", "off")
        actions = entry.get("actions") or []
        if level not in LEVELS:
            errors[key] = [f"Unknown level {level!r}. Levels are: {', '.join(LEVELS)}."]
            continue
        unknown = sorted(set(actions) - set(area.actions))
        if unknown:
            errors[key] = [
                f"Unknown action(s) {', '.join(unknown)}. "
                f"{area.label} actions are: {', '.join(area.actions)}."
            ]
            continue
        if level != "custom" and actions:
            errors[key] = ["Actions are only given with the level 'custom'."]
            continue
        if level == "custom" and not actions:
            errors[key] = ["The level 'custom' needs at least one action."]
            continue
        result[key] = {"level": level, "actions": sorted(set(actions))}
    if errors:
        raise InvalidPermissions(errors)
    return result


def granted_actions(permissions: dict, area_key: str) -> frozenset[str]:
    """The actions of ``area_key`` that a (normalized) permission set grants."""
    area = AREAS[area_key]
    entry = permissions.get(area_key) or {"level": "off"}
    level = entry.get("level", "off")
    if level == "view":
        return frozenset(area.read_actions)
    if level == "edit":
        return frozenset(area.actions)
    if level == "custom":
        actions = frozenset(entry.get("actions") or ()) & frozenset(area.actions)
        return actions | {"view"} if actions else frozenset()
    return frozenset()
