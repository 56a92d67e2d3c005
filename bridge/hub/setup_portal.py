"""Setup: the client portal (SPEC 11): where the agency's clients log in,
and what they may do there themselves (``portal_client_can_cancel``), and
in their WordPress sites (``seo_configure_delegated``: the plugin's *Apply
configuration* without being an administrator of the site).

The view changes the settings as ``PATCH /api/v1/settings`` does
(``bridge.billing.business.update_settings``); the audit log names the
staff user.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField

from bridge.auth import policy
from bridge.billing import business
from bridge.db import get_session
from bridge.hub.setup import render_section, section
from bridge.hub.views import act_as_staff, allowed, bp
from bridge.links import portal_login_url


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(45, "hub.setup_portal", _("Client portal"))


class PortalSettingsForm(FlaskForm):
    portal_client_can_cancel = BooleanField()
    seo_configure_delegated = BooleanField()


def _page(form: PortalSettingsForm, status: int = 200):
    session = get_session()
    return render_section(
        "hub/setup_portal.html",
        "hub.setup_portal",
        status,
        form=form,
        errors={},
        login_url=portal_login_url(session),
        may_write=policy.may(current_user.principal, "settings.write"),
    )


@bp.route("/setup/portal", methods=["GET", "POST"])
@allowed("settings.read")
def setup_portal():
    """Whether clients may cancel their own subscriptions from the portal,
    and apply the SEO configuration in their sites with their role alone."""
    if request.method == "GET":
        settings = business.get_settings(get_session())
        return _page(PortalSettingsForm(formdata=None, obj=settings))
    if not policy.may(current_user.principal, "settings.write"):
        abort(403)
    form = PortalSettingsForm()
    if not form.validate():
        abort(400)
    session = get_session()
    act_as_staff(session)
    business.update_settings(
        session,
        {
            "portal_client_can_cancel": bool(form.portal_client_can_cancel.data),
            "seo_configure_delegated": bool(form.seo_configure_delegated.data),
        },
    )
    session.commit()
    flash(_("Client portal settings saved."))
    return redirect(url_for("hub.setup_portal"), 303)
