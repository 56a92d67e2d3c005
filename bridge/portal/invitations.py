"""The invitation page, ``/invitations/<token>``: an invited client's
person sets their name and password (SPEC 3). No staff login: the token in
the URL is the credential, and a link that cannot be used (unknown,
altered, used, replaced by a newer one, expired) gets one neutral page
that tells nothing about who was invited.

The form is Flask-WTF's (CSRF token), its POSTs are rate limited per
address, and every answer has the hosted page's headers (no referrer, no
cache, strict CSP). Accepted, the person is logged in to the portal."""

from __future__ import annotations

from flask import Response, abort, current_app, redirect, render_template, request, url_for
from flask_limiter.util import get_remote_address
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField

from bridge.auth import logins
from bridge.auth.passwords import MIN_LENGTH
from bridge.billing import invitations
from bridge.billing.business import get_settings, invoice_brand_color, localiser, text_color_on
from bridge.core.errors import Invalid
from bridge.db import get_session
from bridge.portal import security
from bridge.portal.limits import limiter
from bridge.portal.views import bp


class AcceptForm(FlaskForm):
    name = StringField()
    password = PasswordField()


def _per_address() -> str:
    return current_app.config["INVITATION_LIMIT_PER_ADDRESS"]


def _page(template: str, status: int = 200, **context) -> Response:
    session = get_session()
    settings = get_settings(session)
    brand_color = invoice_brand_color(settings)
    page = render_template(
        template,
        **localiser(session).template_context(),
        settings=settings,
        brand_color=brand_color,
        brand_text_color=text_color_on(brand_color),
        csp_nonce=security.csp_nonce(),
        min_length=MIN_LENGTH,
        **context,
    )
    return security.protect(Response(page, status=status, mimetype="text/html"))


def _no_longer_valid() -> Response:
    # 410 Gone for every reason: unknown and used links look the same.
    return _page("portal/invitation_invalid.html", status=410)


def _messages(l10n, error: Invalid) -> dict[str, str]:
    """The domain's reasons, for people, next to their field."""
    words = {
        "required": l10n.gettext("Please enter your name."),
        "too_long": l10n.gettext("The name is too long."),
        "too_short": l10n.gettext("Use at least %(count)d characters.") % {"count": MIN_LENGTH},
        "too_guessable": l10n.gettext(
            "This password is too easy to guess: add a few uncommon words, "
            "and avoid your name and common phrases."
        ),
    }
    return {
        field: words.get(reasons[0], reasons[0])
        for field, reasons in (error.fields or {}).items()
        if reasons
    }


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@limiter.limit(_per_address, key_func=get_remote_address, methods=["POST"])
def invitation(token: str):
    """The form to accept the invitation; accepted, the portal's home."""
    session = get_session()
    invitation = invitations.live_invitation(session, token)
    if invitation is None:
        return _no_longer_valid()
    form = AcceptForm()
    show_logo = _show_logo()
    context = {"invitation": invitation, "token": token, "show_logo": show_logo}
    if request.method == "GET":
        form.name.data = invitation.user.name or ""
        return _page("portal/invitation.html", form=form, errors={}, **context)
    if not form.validate():  # only the CSRF token is checked by the form itself
        return _page(
            "portal/invitation.html",
            status=400,
            form=form,
            errors={},
            csrf_expired=True,
            **context,
        )
    try:
        invitations.accept(
            session, invitation, name=form.name.data or "", password=form.password.data or ""
        )
    except Invalid as error:
        session.rollback()
        invitation = invitations.live_invitation(session, token)
        errors = _messages(localiser(session), error)
        return _page(
            "portal/invitation.html",
            status=422,
            form=form,
            errors=errors,
            **{**context, "invitation": invitation},
        )
    except invitations.Expired:
        session.rollback()
        return _no_longer_valid()
    session.commit()
    # Accepted: logged in, on a fresh session, to their portal.
    logins.start_session(logins.client_login(session, invitation.user))
    return redirect(url_for("client.home"))


def _show_logo() -> bool:
    settings = get_settings(get_session())
    return bool(settings.invoice_show_logo and settings.logo_id)


@bp.get("/invitations/<token>/logo")
def invitation_logo(token: str):
    """The agency's logo, for the invitation page's ``<img>``."""
    if invitations.live_invitation(get_session(), token) is None:
        abort(404)
    settings = get_settings(get_session())
    stored = settings.logo if settings.invoice_show_logo else None
    if stored is None:
        abort(404)
    return security.image_response(stored.data, stored.content_type)
