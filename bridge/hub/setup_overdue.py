"""Setup: overdue invoices on a client's site (``bridge.billing.overdue``):
per product category, the grace period after an invoice's due date and
what follows it (nothing, a banner in the site's wp-admin, or the plugin's
Hosting and SEO actions off).

The view changes the settings as ``PATCH /api/v1/settings/overdue`` does;
the audit log names the staff user.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import SelectField, StringField

from bridge.auth import policy
from bridge.billing import business, overdue
from bridge.core.errors import Invalid
from bridge.db import get_session
from bridge.hub.setup import render_section, section
from bridge.hub.views import act_as_staff, allowed, bp


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(75, "hub.setup_overdue", _("Overdue and grace"))

CATEGORY_LABELS = {
    "hosting": _("Hosting"),
    "maintenance": _("Maintenance"),
    "seo": _("SEO"),
}
ACTION_LABELS = {
    "nothing": _("Nothing more"),
    "banner": _("A banner for every user"),
    "restricted": _("Restricted: Hosting and SEO off"),
}


class OverdueForm(FlaskForm):
    hosting_grace_days = StringField()
    hosting_after_grace = SelectField(choices=list(ACTION_LABELS), validate_choice=False)
    maintenance_grace_days = StringField()
    maintenance_after_grace = SelectField(choices=list(ACTION_LABELS), validate_choice=False)
    seo_grace_days = StringField()
    seo_after_grace = SelectField(choices=list(ACTION_LABELS), validate_choice=False)


def _page(form: OverdueForm, errors: dict | None = None, status: int = 200):
    for category in CATEGORY_LABELS:
        form[f"{category}_after_grace"].choices = list(ACTION_LABELS.items())
    return render_section(
        "hub/setup_overdue.html",
        "hub.setup_overdue",
        status,
        form=form,
        errors=errors or {},
        categories=CATEGORY_LABELS,
        max_days=overdue.MAX_GRACE_DAYS,
        may_write=policy.may(current_user.principal, "settings.write"),
    )


def _days(text: str | None) -> int | None:
    """Whole days from 0 to ``MAX_GRACE_DAYS``, or None."""
    text = (text or "").strip()
    if not text.isdigit() or len(text) > 6 or int(text) > overdue.MAX_GRACE_DAYS:
        return None
    return int(text)


@bp.route("/setup/overdue", methods=["GET", "POST"])
@allowed("settings.read")
def setup_overdue():
    """Grace days and the action after them, per product category."""
    form = OverdueForm()
    if request.method == "GET":
        current = overdue.policies_view(business.get_settings(get_session()))
        data = {}
        for category, policy_ in current.items():
            data[f"{category}_grace_days"] = str(policy_["grace_days"])
            data[f"{category}_after_grace"] = policy_["after_grace"]
        form.process(data=data)
        return _page(form)
    if not policy.may(current_user.principal, "settings.write"):
        abort(403)
    if not form.validate():
        abort(400)
    errors: dict[str, list[str]] = {}
    changes: dict = {}
    for category in CATEGORY_LABELS:
        days = _days(form[f"{category}_grace_days"].data)
        if days is None:
            errors[f"{category}_grace_days"] = [_("A whole number of days from 0 to 365.")]
        changes[category] = {
            "grace_days": days,
            "after_grace": form[f"{category}_after_grace"].data,
        }
    if errors:
        return _page(form, errors, 422)
    session = get_session()
    act_as_staff(session)
    try:
        overdue.update_policies(session, changes)
    except Invalid as error:
        session.rollback()
        fields = {k.replace(".", "_"): v for k, v in (error.fields or {}).items()}
        return _page(form, fields, 422)
    session.commit()
    flash(_("Overdue settings saved."))
    return redirect(url_for("hub.setup_overdue"), 303)
