"""The Hub's roles (SPEC 4): what a client's people may see and do on their
sites. The three system roles are shown as they are; custom roles are
created, edited and deleted here, and any role can become the default for
new clients.

The views call ``bridge.billing.roles`` as ``bridge/api/roles.py`` does; the
permission vocabulary (areas, levels, actions) is
``bridge.auth.permissions``'s.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField

from bridge.auth import policy
from bridge.auth.permissions import AREAS, LEVELS
from bridge.billing import roles
from bridge.core.errors import Conflict, Invalid
from bridge.db import get_session
from bridge.hub.forms import SwitchForm
from bridge.hub.views import _, allowed, bp, render
from bridge.models import Role

MAX_NAME = 100
MAX_DESCRIPTION = 300

# The words of the vocabulary, for the catalogue (the template translates).
AREA_WORDS = {
    "sites": _("Sites"),
    "hosting": _("Hosting"),
    "seo": _("SEO"),
    "site_billing": _("Site billing"),
    "billing": _("Billing"),
}
AREA_HELP = {
    "sites": _("The list of the client's sites."),
    "hosting": _("Hosting tools in the site's dashboard."),
    "seo": _("SEO reports, scans and configuration."),
    "site_billing": _("Billing shown at site level, in WordPress."),
    "billing": _("The billing tab: view and pay invoices."),
}
LEVEL_WORDS = {
    "off": _("Off"),
    "view": _("View only"),
    "edit": _("View and edit"),
    "custom": _("Custom"),
}
ACTION_WORDS = {
    "view": _("See the area (comes with any action)"),
    "manage": _("Edit site names and addresses"),
    "analytics": _("Analytics"),
    "logs": _("Logs"),
    "emails": _("Emails"),
    "backups": _("Backups"),
    "staging": _("Staging"),
    "scan": _("Run a new scan"),
    "configure": _("Apply configuration"),
    "pay": _("Pay"),
}
# The domain's refusals the list explains (in templates/hub/roles.html).
REFUSALS = ("role_in_use", "default_role", "system_role_immutable")


class RoleForm(FlaskForm):
    """A custom role's name and description; each area's level and actions
    are read from the request (``level-<area>``, ``actions-<area>``)."""

    name = StringField()
    description = TextAreaField()


def _may_write() -> bool:
    return policy.may(current_user.principal, "roles.write")


def _permissions_sent() -> tuple[dict, dict[str, list[str]]]:
    """Each area's level and actions as the form sent them, or what is wrong
    with them. Actions count only with the level *custom* (the checkboxes of
    the other levels are sent, unused, when the page has no stylesheet)."""
    permissions: dict = {}
    errors: dict[str, list[str]] = {}
    for key, area in AREAS.items():
        level = request.form.get(f"level-{key}", "off")
        actions = request.form.getlist(f"actions-{key}")
        if level not in LEVELS:
            errors[f"area-{key}"] = ["level"]
        elif level == "custom" and not set(actions) <= set(area.actions):
            errors[f"area-{key}"] = ["action"]
        elif level == "custom" and not actions:
            errors[f"area-{key}"] = ["pick_action"]
        permissions[key] = {"level": level, "actions": actions if level == "custom" else []}
    return permissions, errors


def _text_errors(name: str, description: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["required"]
    elif len(name) > MAX_NAME:
        errors["name"] = ["too_long"]
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = ["too_long"]
    return errors


def _list(status: int = 200, refused: tuple[str, Role] | None = None):
    session = get_session()
    return render(
        "hub/roles.html",
        status=status,
        roles=roles.list_roles(session),
        clients=roles.clients_per_role(session),
        switch_form=SwitchForm(),
        may_write=_may_write(),
        words=_words(),
        areas=AREAS,
        refused=refused,
        active="hub.roles",
    )


@bp.get("/roles", endpoint="roles")
@allowed("roles.read")
def roles_page():
    """Every role (system ones first), its clients and which is the default."""
    return _list()


def _words() -> dict:
    return {
        "areas": AREA_WORDS,
        "help": AREA_HELP,
        "levels": LEVEL_WORDS,
        "actions": ACTION_WORDS,
    }


def _editor(role: Role | None):
    """The form for a new custom role (``role`` None) or a custom one."""
    session = get_session()
    if role is not None and role.is_system:
        abort(404)
    if request.method == "GET" and role is not None:
        form = RoleForm(data={"name": role.name, "description": role.description})
    else:
        form = RoleForm()
    permissions = role.permissions if role is not None else {}
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        form.validate_on_submit()  # the token was checked by the guard
        name = (form.name.data or "").strip()
        description = (form.description.data or "").strip()
        permissions, errors = _permissions_sent()
        errors |= _text_errors(name, description)
        if not errors:
            values = {"name": name, "description": description, "permissions": permissions}
            try:
                if role is None:
                    role = roles.create_role(session, **values)
                else:
                    roles.update_role(session, role, values)
                session.flush()
            except Conflict as error:
                session.rollback()
                errors = {"name": ["taken"]} if error.code == "duplicate_name" else {"form": []}
            except Invalid:  # what the checks above let through (never, in practice)
                session.rollback()
                errors = {"form": []}
            else:
                session.commit()
                flash(_("The role was saved."))
                return redirect(url_for("hub.roles") + f"#role-{role.id}", 303)
    return render(
        "hub/roles_form.html",
        status=422 if errors else 200,
        form=form,
        role=role,
        permissions=permissions,
        errors=errors,
        areas=list(AREAS.values()),
        levels=LEVELS,
        words=_words(),
        active="hub.roles",
    )


@bp.route("/roles/new", methods=["GET", "POST"])
@allowed("roles.write")
def new_role():
    return _editor(None)


@bp.route("/roles/<int:role_id>/edit", methods=["GET", "POST"])
@allowed("roles.write")
def edit_role(role_id: int):
    return _editor(roles.get_role(get_session(), role_id))


def _act(role_id: int, action, done: str):
    """Delete or make default: one button with its token; a refusal is the
    list again, saying why."""
    SwitchForm().validate_on_submit()
    session = get_session()
    role = roles.get_role(session, role_id)
    try:
        action(session, role)
        session.flush()
    except Conflict as error:
        session.rollback()
        code = error.code if error.code in REFUSALS else "system_role_immutable"
        return _list(409, (code, roles.get_role(session, role_id)))
    session.commit()
    flash(done)
    return redirect(url_for("hub.roles"), 303)


@bp.post("/roles/<int:role_id>/delete")
@allowed("roles.write")
def delete_role(role_id: int):
    return _act(role_id, roles.delete_role, _("The role was deleted."))


@bp.post("/roles/<int:role_id>/default")
@allowed("roles.write")
def default_role(role_id: int):
    return _act(role_id, roles.set_default, _("The default role for new clients was changed."))
