"""The Hub's pages. Each view reads the request, calls one domain function
(``bridge.billing``) and renders; nothing here computes a figure.

Every page but the login and password reset pages needs a staff session
(``_guard``); every POST carries the form's CSRF token; a user the policy
allows only to read gets a 403 for any write, before the view runs; each
screen asks the policy for the action it shows (``allowed``).
"""

from __future__ import annotations

from functools import wraps
from typing import NamedTuple
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
from flask_login import current_user, logout_user
from flask_wtf.csrf import CSRFError

from bridge.auth import accounts, logins, policy
from bridge.auth.passwords import MIN_LENGTH
from bridge.billing import audit, business, metrics
from bridge.billing import clients as client_book
from bridge.billing.business import get_settings
from bridge.core.errors import Invalid, NotFound
from bridge.core.l10n import COUNTRIES, LANGUAGES, Localiser, language_of
from bridge.db import get_session
from bridge.hub import auth, chart
from bridge.hub.forms import LoginForm, LogoutForm, NewPasswordForm, PasswordResetRequestForm
from bridge.models import ClientStatus, UserKind
from bridge.portal import security

bp = Blueprint(
    "hub",
    __name__,
    static_folder="static",
    static_url_path="/hub/static",
)

csrf = logins.csrf

PUBLIC_ENDPOINTS = {"hub.login", "hub.static", "hub.password_reset", "hub.new_password"}
# A user who may only read may still end their own session, or change a
# forgotten password.
# Staff who may only read may still change their own name, email and
# password (My account).
ALWAYS_ALLOWED_WRITES = {"hub.logout", "hub.account", "hub.account_password", *PUBLIC_ENDPOINTS}
CLIENTS_PER_PAGE = 25
MAX_SEARCH = 200


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


# The sections of the SPEC the Hub will have; those without a screen yet say
# so on a page of their own (and what to use meanwhile).
COMING: dict[str, tuple[str, str]] = {}

NAV = [
    ("hub.overview", {}, _("Overview")),
    ("hub.clients", {}, _("Clients")),
    ("hub.products", {}, _("Products & services")),
    ("hub.coupon_list", {}, _("Coupons")),
    ("hub.invoice_list", {}, _("Invoices")),
    ("hub.subscription_list", {}, _("Subscriptions")),
    ("hub.roles", {}, _("Roles")),
    *(("hub.coming", {"section": key}, title) for key, (title, _api) in COMING.items()),
    ("hub.setup", {}, _("Setup")),
]


# Every request ----------------------------------------------------------------


@bp.before_request
def _guard():
    """Log in first; then CSRF on every POST; then the policy on writes,
    which the audit log records as the staff user's."""
    if request.endpoint == "hub.static":
        return None
    if request.endpoint not in PUBLIC_ENDPOINTS and not current_user.is_authenticated:
        return auth.login_manager.unauthorized()
    if current_user.is_authenticated and not current_user.is_staff:
        return _client_session()
    if request.method not in policy.SAFE_METHODS:
        csrf.protect()
        if (
            current_user.is_authenticated
            and request.endpoint not in ALWAYS_ALLOWED_WRITES
            and not policy.may_send(current_user.principal, request.method)
        ):
            abort(403)
        if current_user.is_authenticated:
            act_as_staff(get_session())
    return None


def _client_session():
    """A client's person is logged in: the Hub is staff only. Their own
    pages are the portal's; a write gets the 403 page, nothing done."""
    if request.endpoint == "hub.logout" and request.method == "POST":
        csrf.protect()
        return None
    if request.method in policy.SAFE_METHODS:
        return redirect(url_for("client.home"))
    abort(403)


def allowed(action: str):
    """The view runs only when ``bridge.auth.policy`` lets the user do
    ``action`` (``"clients.read"``...); else the 403 page."""

    def decorate(view):
        @wraps(view)
        def checked(*args, **kwargs):
            if not policy.may(current_user.principal, action):
                abort(403)
            return view(*args, **kwargs)

        return checked

    return decorate


def act_as_staff(session) -> None:
    """Name the logged-in staff user in the audit log of what follows."""
    audit.set_actor(session, audit.Actor("staff", current_user.user_id, current_user.email or ""))


@bp.after_request
def _headers(response: Response) -> Response:
    """The hosted page's headers and CSP: scripts and styles from us only
    (an uploaded image keeps the stricter sandbox policy it was given)."""
    own_policy = response.headers.get("Content-Security-Policy")
    security.protect(response, cache=request.endpoint == "hub.static")
    if own_policy and "sandbox" in own_policy:
        response.headers["Content-Security-Policy"] = own_policy
    return response


def l10n() -> Localiser:
    """The Hub speaks the browser's language (of those with a catalogue),
    with dates in the business time zone."""
    if "hub_l10n" not in g:
        best = request.accept_languages.best_match(LANGUAGES)
        g.hub_l10n = Localiser(language_of(best), get_settings(get_session()).timezone)
    return g.hub_l10n


def country_choices() -> list[tuple[str, str]]:
    """Every country for a select, named in the reader's language, by name."""
    names = Locale.parse(l10n().locale).territories
    return [
        ("", "—"),
        *sorted(
            ((code, f"{names.get(code, code)} ({code})") for code in COUNTRIES),
            key=lambda choice: choice[1],
        ),
    ]


def render(template: str, status: int = 200, **context) -> tuple[str, int]:
    """A Hub page: the language's words, the navigation and the logout form."""
    page = render_template(
        template,
        **l10n().template_context(),
        nav=NAV,
        logout_form=LogoutForm() if current_user.is_authenticated else None,
        **context,
    )
    return page, status


class Sentence(NamedTuple):
    """A row of the audit log as the page prints it."""

    entry: object
    text: str
    who: str


def readable_log(entries) -> list[Sentence]:
    """Audit rows as sentences in the reader's language, with amounts
    written as the language writes them (the words:
    ``bridge.billing.audit.LABELS``)."""
    words = l10n()
    sentences = []
    for line in audit.readable(get_session(), list(entries)):
        text = words.gettext(line.sentence)
        if line.amount is not None:
            text = text % {"amount": words.money(*line.amount)}
        who = words.gettext(line.actor) if line.actor_is_word else line.actor
        sentences.append(Sentence(line.entry, text, who))
    return sentences


# Logging in and out ---------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a path of this site only."""
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("hub.overview")


@bp.route("/login", methods=["GET", "POST"])
@auth.login_limits
def login():
    """The login form; a wrong email and a wrong password get one answer."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(_safe_next(form.next.data))
        return render("hub/login.html", form=form, changed=bool(request.args.get("changed")))
    if form.validate_on_submit():
        session = get_session()
        user = accounts.authenticate(session, form.email.data or "", form.password.data or "")
        if user is not None:
            who = logins.login_for(session, user)
            session.commit()
            logins.start_session(who)
            if not who.is_staff:  # one login: a client's person lands on the portal
                return redirect(url_for("client.home"))
            return redirect(_safe_next(form.next.data))
    return render("hub/login.html", form=form, error="bad_login")


@bp.post("/logout")
def logout():
    logins.end_session()
    return redirect(url_for("hub.login"))


@bp.route("/password-reset", methods=["GET", "POST"])
@auth.reset_limits
def password_reset():
    """Ask for a link to choose a new password. The answer is the same
    whether or not the email has a login (it tells nobody who does)."""
    form = PasswordResetRequestForm()
    if not form.validate_on_submit():
        return render("hub/password_reset.html", form=form, sent=False)
    session = get_session()
    try:
        user = accounts.find_user(session, form.email.data or "")
    except NotFound:
        user = None
    if user is not None and accounts.active_staff(session, user.id) is not None:
        auth.send_password_link(session, user)
        session.commit()
    return render("hub/password_reset.html", form=form, sent=True)


@bp.route("/password-reset/<token>", methods=["GET", "POST"])
def new_password(token: str):
    """Choose a new password with the emailed link (once, within the hour);
    every session of the user ends with the old password."""
    session = get_session()
    user = accounts.user_for_reset_token(session, current_app.config["SECRET_KEY"], token)
    if user is None or user.kind != UserKind.STAFF:
        return render("hub/new_password.html", form=None, error="expired")
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return render("hub/new_password.html", form=form)
    password = form.password.data or ""
    if password != (form.confirm.data or ""):
        return render("hub/new_password.html", form=form, error="differ")
    try:
        accounts.set_password(user, password)
    except Invalid:
        return render("hub/new_password.html", form=form, error="short", min_length=MIN_LENGTH)
    session.commit()
    logout_user()
    return redirect(url_for("hub.login", changed=1))


# Screens --------------------------------------------------------------------------


@bp.get("/")
@allowed("metrics.read")
def overview():
    """SPEC 10: the business's figures and the last 12 months."""
    session = get_session()
    # An empty business starts with Getting started (staff who may set it up).
    if (
        policy.may(current_user.principal, "settings.write")
        and business.getting_started(session).needed
    ):
        return redirect(url_for("hub.getting_started"))
    figures = metrics.overview(session)
    months = metrics.history(session)
    drawing = chart.layout([m.mrr for m in months], [m.billing for m in months])
    empty = figures["clients"]["total"] == 0 and figures["products"]["total"] == 0
    return render(
        "hub/overview.html",
        figures=figures,
        currency=figures["currency"],
        months=months,
        chart=drawing,
        empty=empty,
        active="hub.overview",
    )


@bp.get("/clients")
@allowed("clients.read")
def clients():
    """SPEC 3: search, filter by status, sort and page through the clients."""
    text = (request.args.get("q") or "").strip()[:MAX_SEARCH]
    status_arg = request.args.get("status") or ""
    status = ClientStatus(status_arg) if status_arg in set(ClientStatus) else None
    sort = request.args.get("sort") or "name"
    if sort not in client_book.SORTS:
        sort = "name"
    page_number = request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and int(page_number) > 0 else 1
    session = get_session()
    page = client_book.list_clients(
        session,
        status=status,
        text=text or None,
        sort=sort,
        page=page_number,
        per_page=CLIENTS_PER_PAGE,
    )
    query = {"q": text or None, "status": status.value if status else None, "sort": sort}
    return render(
        "hub/clients.html",
        page=page,
        text=text,
        status_filter=status.value if status else "",
        sort=sort,
        query=query,
        statuses=[s.value for s in ClientStatus],
        currency=get_settings(session).currency,
        filtered=bool(text or status),
        may_write=policy.may(current_user.principal, "clients.write"),
        active="hub.clients",
    )


def coming(section: str):
    """A section of the Hub whose screen is not built yet: says so, and
    names the API that does the job meanwhile."""
    title, api_path = COMING[section]
    return render(
        "hub/coming.html",
        title=title,
        api_path=api_path,
        active=f"hub.coming:{section}",
    )


if COMING:  # werkzeug's any() needs at least one section
    bp.add_url_rule("/<any(" + ", ".join(COMING) + "):section>", view_func=coming)


# Errors ---------------------------------------------------------------------------


@bp.errorhandler(CSRFError)
def _csrf_error(error: CSRFError):
    return render("hub/error.html", status=400, error="csrf")


@bp.errorhandler(403)
def _forbidden(error):
    return render("hub/error.html", status=403, error="forbidden")


@bp.errorhandler(429)
def _too_many(error):
    """Too many login attempts (or reset requests): the form again, saying
    to wait."""
    if request.endpoint == "hub.password_reset":
        form = PasswordResetRequestForm()
        return render("hub/password_reset.html", status=429, form=form, error="too_many")
    form = LoginForm()
    form.next.data = request.form.get("next", "")
    return render("hub/login.html", status=429, form=form, error="too_many")


def init_app(app) -> None:
    """Session cookies for staff, CSRF on the Hub's forms, then the pages."""
    production = app.config["ENV"] == "production"
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config["SESSION_COOKIE_SECURE"] = production
    # The token is checked by the Hub's own guard (the API and the hosted
    # page's JSON endpoints have protections of their own), and lives as long
    # as the session: a form left open for an hour still submits.
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    app.config["WTF_CSRF_TIME_LIMIT"] = None
    csrf.init_app(app)
    auth.login_manager.init_app(app)
    app.register_blueprint(bp)
