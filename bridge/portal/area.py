"""The client portal behind a login, ``/portal/`` (SPEC 11): a client's
people see and manage their own invoices, subscriptions, card and sites.

What every page shares is here: the guard (a client's session, else the
login page; staff are sent to the Hub), CSRF on every POST, the audit actor,
the hosted page's headers and CSP, the agency's branding, the reader's
language, and ``own`` / ``require``, the two ways a page reaches an object:

- ``own(Model, id)``: the object when it belongs to the logged-in person's
  client, else 404, the same answer as for an id that does not exist (a
  client never learns what another client has);
- ``require(action, obj)``: the policy's answer (``bridge.auth.policy``,
  with the client's role) or the 403 page naming what the role lacks.

Each screen's routes live in their own module, on ``bp``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import NamedTuple, TypeVar
from urllib.parse import urlsplit

from babel import Locale
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask import (
    session as cookie,
)
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFError
from sqlalchemy import select

from bridge.api import errors
from bridge.auth import logins, policy
from bridge.billing import audit
from bridge.billing import sites as site_book
from bridge.billing.business import get_settings, invoice_brand_color, text_color_on
from bridge.core.l10n import LANGUAGES, Localiser, language_of
from bridge.db import get_session
from bridge.models import Client, Invoice, Site
from bridge.portal import security

bp = Blueprint("client", __name__, url_prefix="/portal")
T = TypeVar("T")

PUBLIC_ENDPOINTS = {
    "client.login",
    "client.password_reset",
    "client.new_password",
    "client.logo",
    "client.language",
}
LANGUAGE_KEY = "portal_language"
# Each language named in itself, as a language menu shows it.
LANGUAGE_NAMES = {
    code: Locale.parse(code).get_display_name(code).capitalize() for code in LANGUAGES
}


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


class NavItem(NamedTuple):
    endpoint: str
    label: str
    # The policy action that shows the item (None: every client person).
    action: str | None
    # Also shown when a role of the person's own on one of the client's
    # sites grants the action (policy.may_somewhere), though the client's
    # does not.
    per_site: bool = False


NAV = (
    NavItem("client.home", _("Home"), None),
    NavItem("client.invoices", _("Invoices"), "billing.view"),
    NavItem("client.subscriptions", _("Subscriptions"), "billing.view"),
    NavItem("client.payment_method", _("Payment method"), "billing.view"),
    NavItem("client.sites", _("Sites"), "sites.view", per_site=True),
    NavItem("client.activity", _("Activity"), None),
)


class LogoutForm(FlaskForm):
    """Logging out is a POST with the token: a link on another site cannot
    log a client out."""


class LanguageForm(FlaskForm):
    """The language switch (its field is read from the request)."""


# Every request ----------------------------------------------------------------


def is_client() -> bool:
    return current_user.is_authenticated and not current_user.is_staff


@bp.before_request
def _guard():
    """A client's session first (staff go to the Hub); then CSRF on every
    POST, which the audit log records as the person's."""
    if request.endpoint not in PUBLIC_ENDPOINTS:
        if not current_user.is_authenticated:
            if request.method in policy.SAFE_METHODS:
                return redirect(url_for("client.login", next=request.full_path.rstrip("?")))
            abort(401)
        if current_user.is_staff:
            if request.method in policy.SAFE_METHODS:
                return redirect(url_for("hub.overview"))
            abort(403)
    if request.method not in policy.SAFE_METHODS:
        logins.csrf.protect()
        if is_client():
            audit.set_actor(
                get_session(),
                audit.Actor("client", current_user.user_id, current_user.email or ""),
            )
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    """The hosted page's headers; Stripe.js allowed only on the pages that
    take a card (``g.portal_with_stripe``)."""
    own_policy = response.headers.get("Content-Security-Policy")
    security.protect(response, with_stripe=bool(g.get("portal_with_stripe")))
    if own_policy and "sandbox" in own_policy:  # an uploaded image keeps its own
        response.headers["Content-Security-Policy"] = own_policy
    return response


# The logged-in client ----------------------------------------------------------


def client() -> Client:
    """The client of the logged-in person."""
    if "portal_client" not in g:
        found = get_session().get(Client, current_user.client_id)
        if found is None:  # deleted meanwhile: the session is over
            abort(404)
        g.portal_client = found
    return g.portal_client


def may(action: str, obj: object | None = None) -> bool:
    """Whether the person's role allows ``action`` on ``obj`` (their client
    when not given)."""
    if not is_client():
        return False
    return policy.may(current_user.principal, action, client() if obj is None else obj)


def require(action: str, obj: object | None = None) -> None:
    """The 403 page unless the role allows ``action``."""
    if not may(action, obj):
        abort(403)


def listed(action: str, objs: Iterable[T]) -> list[T]:
    """Those of ``objs`` (the client's sites) that a list for ``action``
    shows this person (``policy.listed``)."""
    if not is_client():
        return []
    return policy.listed(current_user.principal, action, client(), objs)


def may_somewhere(action: str, objs: Iterable) -> bool:
    """Whether the person's roles open the section for ``action`` at all:
    the client's role, or their own on one of ``objs``
    (``policy.may_somewhere``)."""
    if not is_client():
        return False
    return policy.may_somewhere(current_user.principal, action, client(), objs)


def require_somewhere(action: str, objs: Iterable) -> None:
    """The 403 page unless ``may_somewhere(action, objs)``."""
    if not may_somewhere(action, objs):
        abort(403)


def require_listed(action: str, obj: object) -> None:
    """The 403 page unless a list for ``action`` would show ``obj``."""
    if not listed(action, [obj]):
        abort(403)


def _client_sites() -> Iterator[Site]:
    """The client's sites, read only when iterated (what a menu entry shown
    per site asks about, only for the people it concerns)."""
    yield from site_book.client_sites(get_session(), client().id)


def own(model: type, object_id: int):
    """The ``model`` row ``object_id`` when it is the client's own, else 404
    (the same for someone else's and for nothing at all)."""
    found = get_session().get(model, object_id)
    if found is None or getattr(found, "client_id", None) != current_user.client_id:
        abort(404)
    return found


def mark_takes_cards() -> None:
    """This response loads Stripe.js: its origin joins the CSP."""
    g.portal_with_stripe = True


# Language and branding ---------------------------------------------------------


def language() -> str:
    """The reader's language: the one they chose here, else the language of
    their latest invoice (the one the agency writes to them in), else their
    browser's, else the business's invoice language."""
    chosen = cookie.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return chosen
    session = get_session()
    if is_client():
        latest = session.scalar(
            select(Invoice.language)
            .where(Invoice.client_id == current_user.client_id)
            .order_by(Invoice.id.desc())
            .limit(1)
        )
        if latest in LANGUAGES:
            return latest
    best = request.accept_languages.best_match(LANGUAGES)
    if best:
        return language_of(best)
    return language_of(get_settings(session).invoice_language)


def l10n() -> Localiser:
    if "portal_l10n" not in g:
        g.portal_l10n = Localiser(language(), get_settings(get_session()).timezone)
    return g.portal_l10n


def show_logo() -> bool:
    settings = get_settings(get_session())
    return bool(settings.invoice_show_logo and settings.logo_id)


def nav() -> list[NavItem]:
    """The sections this person's role opens (built ones only), worked out
    once a request (the home page lists them too)."""
    if "portal_nav" not in g:
        g.portal_nav = [
            item for item in NAV if item.endpoint in current_app.view_functions and _shows(item)
        ]
    return g.portal_nav


def _shows(item: NavItem) -> bool:
    if item.action is None:
        return True
    if item.per_site:
        return may_somewhere(item.action, _client_sites())
    return may(item.action)


def render(template: str, status: int = 200, **context) -> tuple[str, int]:
    """A portal page: the agency's brand, the reader's words, the sections
    of their role and the logout form."""
    session = get_session()
    settings = get_settings(session)
    brand_color = invoice_brand_color(settings)
    logged_in = is_client()
    page = render_template(
        template,
        **l10n().template_context(),
        settings=settings,
        brand_color=brand_color,
        brand_text_color=text_color_on(brand_color),
        show_logo=show_logo(),
        csp_nonce=security.csp_nonce(),
        nav=nav() if logged_in else [],
        client=client() if logged_in else None,
        logout_form=LogoutForm() if logged_in else None,
        language_form=LanguageForm(),
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        **context,
    )
    return page, status


def safe_next(target: str | None, default: str = "client.home") -> str:
    """A path of this site's portal only (never another host)."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/portal")
            and "\\" not in target
        ):
            return target
    return url_for(default)


# Shared routes ---------------------------------------------------------------


@bp.get("/logo")
def logo():
    """The agency's logo, for the pages' ``<img>`` (the login page too)."""
    settings = get_settings(get_session())
    stored = settings.logo if settings.invoice_show_logo else None
    if stored is None:
        abort(404)
    return security.image_response(stored.data, stored.content_type)


def language_switch():
    """Read the portal in another language (kept in the session)."""
    chosen = request.form.get("language", "")
    if chosen in LANGUAGES:
        cookie[LANGUAGE_KEY] = chosen
    return redirect(safe_next(request.form.get("next"), "client.login"))


# ``language`` is the switch's endpoint name in PUBLIC_ENDPOINTS.
bp.add_url_rule("/language", endpoint="language", view_func=language_switch, methods=["POST"])


# Errors ---------------------------------------------------------------------------


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    return render("portal/area_error.html", status=400, error="csrf")


@bp.errorhandler(401)
def _unauthorised(error):
    return render("portal/area_error.html", status=401, error="login")


@bp.errorhandler(403)
def _forbidden(error):
    return render("portal/area_error.html", status=403, error="forbidden")


@bp.errorhandler(404)
def _not_found(error):
    return render("portal/area_error.html", status=404, error="not_found")


@bp.app_errorhandler(404)
@bp.app_errorhandler(405)
def _no_such_portal_page(error):
    """An address under /portal/ that no route matches (or not with this
    method, e.g. opening the logout's address) gets the portal's *Page not
    found* too: Flask gives routing errors to the app, not to the
    blueprint. Every other one keeps the app's answer."""
    if request.blueprint is None and request.path.startswith(f"{bp.url_prefix}/"):
        page, status = render("portal/area_error.html", status=error.code, error="not_found")
        response = Response(page, status=status, mimetype="text/html")
        if error.code == 405:
            response.headers["Allow"] = ", ".join(error.valid_methods or ())
        return security.protect(response)
    return errors.handle_unexpected(error)
