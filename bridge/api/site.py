"""The WordPress site API (``docs/site-api.md``).

- ``blp``: ``/api/v1/site/...``, what a site's plugin calls. Every request
  is signed with the site's secret (``bridge.auth.signatures``) and checked
  before its body or query is even parsed; the answer is only ever about
  the signing site. ``POST /site/connect`` is the one unsigned call: it
  trades a one-time connect code for the site's credentials.
- ``staff_blp``: what staff do for it with an API token: connect codes, the
  people of a client (whom the plugin recognises by email), SEO scans.

The work is ``bridge.billing.sites``; every permission is the policy's.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, g, request
from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate

from bridge.api import idempotency
from bridge.api.auth import authorize, require_token
from bridge.api.clients import RoleRefSchema
from bridge.api.common import carries_secret, list_schema, page_schema
from bridge.api.errors import error_response
from bridge.api.fields import Boolean, Integer, QueryInteger, Text
from bridge.api.parsing import Blueprint
from bridge.auth import signatures
from bridge.auth.permissions import AREAS
from bridge.auth.secrets import SecretBox
from bridge.billing import audit, clients, overdue, roles, site_account, sites
from bridge.billing.business import reader_localiser
from bridge.db import get_session, read_without_transaction

blp = Blueprint(
    "site",
    __name__,
    url_prefix="/api/v1/site",
    description="The WordPress plugin's API: requests signed with the site's secret "
    "(X-Bridge-Site, X-Bridge-Timestamp, X-Bridge-Signature; see docs/site-api.md)",
)
staff_blp = Blueprint(
    "site_staff",
    __name__,
    url_prefix="/api/v1",
    description="Connecting sites' plugins, the people of a client, SEO scans",
)
staff_blp.before_request(require_token)

SIGNED = [{"siteId": [], "siteTimestamp": [], "siteSignature": []}]
"""The OpenAPI security requirement of the signed operations (all three headers)."""
UNSIGNED_ENDPOINTS = {"site.Connect"}
SIGNATURE_CHALLENGE = 'Bridge-Signature realm="billing-bridge"'


def secret_box() -> SecretBox:
    return current_app.extensions["bridge.secret_box"]


@blp.before_request
def require_signature():
    """Every site operation but ``connect``: a request signed by an enabled
    site, or a 401/403 before anything else is read."""
    if request.endpoint in UNSIGNED_ENDPOINTS:
        return None
    # A signed read writes nothing (its request id is not even remembered):
    # on PostgreSQL it runs without a transaction. A write keeps its own.
    reading = request.method in signatures.SAFE_METHODS
    session = read_without_transaction() if reading else get_session()
    try:
        signed = signatures.authenticate_request(session, secret_box(), request)
    except signatures.SignatureError as exc:
        response = error_response(exc.status, exc.code, exc.message)
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = SIGNATURE_CHALLENGE
        return response
    g.principal = signed.principal
    g.site = signed.site
    audit.set_actor(session, sites.plugin_actor(signed.site))
    return idempotency.begin()


def signed_site(action: str):
    """The signing site, once the policy allows ``action`` on it."""
    authorize(action, g.site)
    return g.site


# Schemas -----------------------------------------------------------------------


class ConnectSchema(Schema):
    code = Text(
        max_length=40,
        required=True,
        metadata={"description": "The one-time code, BBC-XXXX-XXXX-XXXX-XXXX"},
    )


def day_display() -> fields.String:
    return fields.String(
        allow_none=True,
        metadata={
            "description": "The same day as the reader's language writes it (the locale asked, "
            "else the business's language), in the business time zone"
        },
    )


class NamedSchema(Schema):
    name = fields.String()


class SiteRefSchema(Schema):
    name = fields.String()
    url = fields.String()


class ConnectedSchema(Schema):
    site_id = fields.String(metadata={"description": "The site id to send in X-Bridge-Site"})
    secret = fields.String(metadata={"description": "The site secret that signs requests"})
    site = fields.Nested(SiteRefSchema)
    client = fields.Nested(NamedSchema)


class HostingPlanSchema(Schema):
    subscription_id = fields.Integer()
    product = fields.String()
    plan = fields.String()
    status = fields.String()
    amount = fields.Integer(metadata={"description": "Minor units of the currency"})
    currency = fields.String()
    amount_display = fields.String()
    interval = fields.String(allow_none=True, metadata={"description": "e.g. 1 month"})
    current_period_end = fields.String(allow_none=True)
    current_period_end_display = day_display()
    cancel_at_period_end = fields.Boolean(
        metadata={"description": "The plan ends at current_period_end instead of renewing"}
    )


class SiteSubscriptionSchema(Schema):
    id = fields.Integer()
    product = fields.String()
    plan = fields.String()
    category = fields.String()
    status = fields.String()
    amount = fields.Integer()
    currency = fields.String()
    amount_display = fields.String()
    interval = fields.String(allow_none=True)
    next_renewal_at = fields.String(allow_none=True)
    next_renewal_at_display = day_display()
    current_period_end = fields.String(
        allow_none=True,
        metadata={"description": "End of the current period (the end date when cancelled at it)"},
    )
    current_period_end_display = day_display()
    cancel_at_period_end = fields.Boolean()


class SiteInvoiceSchema(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    status = fields.String()
    issued_at = fields.String(allow_none=True)
    issue_date = fields.String(
        allow_none=True,
        metadata={"description": "The invoice's date as printed (YYYY-MM-DD, business's local)"},
    )
    issue_date_display = day_display()
    due_at = fields.String(allow_none=True)
    due_at_display = day_display()
    total = fields.Integer()
    amount_due = fields.Integer()
    currency = fields.String()
    total_display = fields.String()
    amount_due_display = fields.String()
    pay_url = fields.String(
        allow_none=True,
        metadata={
            "description": "The hosted invoice page while the invoice is open with an amount due, "
            "else null"
        },
    )
    pdf_url = fields.String()


class OverdueInvoiceSchema(Schema):
    id = fields.Integer()
    number = fields.String(allow_none=True)
    due_at = fields.String()
    due_at_display = day_display()
    amount_due = fields.Integer()
    currency = fields.String()
    amount_due_display = fields.String()
    state = fields.String(metadata={"description": "overdue, grace or restricted"})
    category = fields.String(
        allow_none=True, metadata={"description": "The category whose rule decides, or null"}
    )
    after_grace = fields.String(metadata={"description": "nothing, banner or restricted"})
    grace_until = fields.String(allow_none=True)
    grace_until_display = day_display()
    pay_url = fields.String()


class StandingSchema(Schema):
    state = fields.String(metadata={"description": "ok, overdue, grace or restricted"})
    grace_until = fields.String(allow_none=True)
    grace_until_display = day_display()
    restricted_since = fields.String(allow_none=True)
    restricted_since_display = day_display()
    banner = fields.Boolean(metadata={"description": "Show the notice to every logged-in user"})
    restricted_areas = fields.List(fields.String())
    amount_due = fields.Integer()
    amount_due_display = fields.String(allow_none=True)
    invoices = fields.List(fields.Nested(OverdueInvoiceSchema))


class SiteInfoSchema(Schema):
    id = fields.String()
    name = fields.String()
    url = fields.String()


class ClientInfoSchema(Schema):
    name = fields.String()
    email = fields.String()


class AgencySchema(Schema):
    name = fields.String(metadata={"description": "The business's company name ('' when unset)"})
    brand_color = fields.String(metadata={"description": "#rrggbb"})
    logo_url = fields.String(
        allow_none=True,
        metadata={"description": "The agency's logo (public), or null when none is shown"},
    )


class SummarySchema(Schema):
    site = fields.Nested(SiteInfoSchema)
    client = fields.Nested(ClientInfoSchema)
    agency = fields.Nested(AgencySchema)
    seo_configure_delegated = fields.Boolean(
        metadata={
            "description": "A role's SEO configure alone may apply the configuration (search-"
            "engine visibility, permalinks); false: it also needs a site administrator"
        }
    )
    hosting_plan = fields.Nested(HostingPlanSchema, allow_none=True)
    subscriptions = fields.List(fields.Nested(SiteSubscriptionSchema))
    invoices = fields.List(fields.Nested(SiteInvoiceSchema))
    unpaid_count = fields.Integer()
    amount_due = fields.Integer(metadata={"description": "Due on the site's open invoices"})
    amount_due_display = fields.String(allow_none=True)
    auto_pay = fields.Boolean(
        metadata={"description": "Renewals are charged to the client's saved card"}
    )
    standing = fields.Nested(StandingSchema)
    generated_at = fields.String()


class HostingPlanAnswerSchema(Schema):
    hosting_plan = fields.Nested(HostingPlanSchema, allow_none=True)


class AccessQuerySchema(Schema):
    email = Text(max_length=254, required=True, metadata={"description": "The WordPress user's"})


AreasSchema = Schema.from_dict(
    {key: fields.List(fields.String()) for key in AREAS}, name="SiteAccessAreas"
)


class AccessSchema(Schema):
    email = fields.String()
    client_user = fields.Boolean()
    role = fields.Nested(
        RoleRefSchema,
        allow_none=True,
        metadata={
            "description": "The role that decides on this site: the person's own role here, "
            "else their client's"
        },
    )
    areas = fields.Nested(AreasSchema)


LOCALE = r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8}){0,3}$"


def locale_field() -> Text:
    return Text(
        max_length=35,
        load_default=None,
        validate=[validate.Regexp(LOCALE)],
        metadata={
            "description": "The WordPress user's locale (get_user_locale(), e.g. de_DE): the "
            "*_display strings are written for it when the bridge has its language (en, fr, "
            "de), else in the business's invoice language"
        },
    )


class LocaleQuerySchema(Schema):
    locale = locale_field()


class AccountQuerySchema(Schema):
    email = Text(
        max_length=254,
        required=True,
        metadata={"description": "The WordPress user's, whose role must grant billing"},
    )
    page = QueryInteger(minimum=1, maximum=1_000_000, load_default=1)
    per_page = QueryInteger(
        minimum=1,
        maximum=site_account.MAX_PER_PAGE,
        load_default=site_account.DEFAULT_PER_PAGE,
    )
    locale = locale_field()


class AccountSiteSchema(SiteInfoSchema):
    this_site = fields.Boolean(metadata={"description": "The signing site"})
    disabled = fields.Boolean()


class AccountInvoiceSchema(SiteInvoiceSchema):
    site = fields.Nested(
        SiteRefSchema,
        allow_none=True,
        metadata={"description": "The site it was billed on; null for none (a site build)"},
    )
    this_site = fields.Boolean()


class CardSchema(Schema):
    brand = fields.String()
    last4 = fields.String()
    exp_month = fields.Integer(allow_none=True)
    exp_year = fields.Integer(allow_none=True)
    expiry = fields.String(
        allow_none=True, metadata={"description": "expired, expires_soon or null"}
    )


class AccountSchema(Schema):
    client = fields.Nested(ClientInfoSchema)
    sites = fields.List(fields.Nested(AccountSiteSchema))
    invoices = fields.Nested(page_schema(AccountInvoiceSchema, "AccountInvoicePage"))
    unpaid_count = fields.Integer()
    amount_due = fields.Integer(metadata={"description": "Due on the client's open invoices"})
    amount_due_display = fields.String(allow_none=True)
    auto_pay = fields.Boolean()
    card = fields.Nested(CardSchema, allow_none=True)
    portal_url = fields.String()
    update_card_url = fields.String(
        allow_none=True,
        metadata={"description": "The portal's Payment method page; null without Stripe"},
    )
    generated_at = fields.String()


def _scanned_at_in_range(value: datetime) -> None:
    try:
        year = value.astimezone(UTC).year
    except OverflowError:  # year 1 at +14:00 is before year 1 in UTC
        year = 0
    if not 2000 <= year <= 2999:
        raise ValidationError("Not a plausible date.")


class SeoSiteFactsSchema(Schema):
    blog_public = Boolean(metadata={"description": "Search engines may index the site"})
    sitemap = Boolean(metadata={"description": "The site serves a sitemap"})
    permalink_structure = Text(max_length=200)


class SeoPageSchema(Schema):
    url = Text(max_length=2000, required=True)
    title = Text(max_length=500)
    title_length = Integer(maximum=100_000)
    meta_description = Text(max_length=1000)
    h1_count = Integer(maximum=10_000)
    images_without_alt = Integer(maximum=100_000)


class SeoScanWriteSchema(Schema):
    scanned_at = fields.AwareDateTime(
        required=True, default_timezone=UTC, validate=_scanned_at_in_range
    )
    site = fields.Nested(SeoSiteFactsSchema, load_default=dict)
    pages = fields.List(
        fields.Nested(SeoPageSchema),
        required=True,
        validate=validate.Length(max=sites.MAX_SEO_PAGES),
        metadata={"description": f"At most {sites.MAX_SEO_PAGES} pages"},
    )


class SeoScanReceivedSchema(Schema):
    id = fields.Integer()
    received_at = fields.String()


class SeoScanAnswerSchema(Schema):
    scan = fields.Dict(
        allow_none=True,
        metadata={"description": "id, received_at and the scan as sent; null before any scan"},
    )


class ConnectCodeSchema(Schema):
    code = fields.String(metadata={"description": "Shown this once; only its hash is stored"})
    expires_at = fields.String()


class ClientUserSchema(Schema):
    id = fields.Integer()
    client_id = fields.Integer()
    email = fields.String()
    name = fields.String()
    is_active = fields.Boolean()
    created_at = fields.DateTime()


class ClientUserWriteSchema(Schema):
    email = Text(max_length=254, required=True)
    name = Text(max_length=200, load_default="")


class PersonSiteSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    url = fields.String()


class SiteRoleSchema(Schema):
    site = fields.Nested(PersonSiteSchema)
    role = fields.Nested(
        RoleRefSchema,
        allow_none=True,
        metadata={"description": "The person's own role on this site; null: the client's role"},
    )
    effective_role = fields.Nested(
        RoleRefSchema,
        attribute="effective",
        metadata={"description": "The role that decides on this site (what /site/access answers)"},
    )


class SiteRoleWriteSchema(Schema):
    role_id = Integer(minimum=1, required=True)


# The plugin's operations ---------------------------------------------------------


@blp.route("/connect")
class Connect(MethodView):
    @blp.doc(security=[])
    @blp.arguments(ConnectSchema)
    @blp.response(200, ConnectedSchema)
    def post(self, data):
        """Trade a one-time connect code for the site's id and a fresh secret (unsigned).

        A used, expired or unknown code is a 400 ``invalid_connect_code``."""
        session = get_session()
        try:
            site, secret = sites.exchange_connect_code(session, secret_box(), data["code"])
        except sites.InvalidConnectCode as exc:
            session.rollback()
            return error_response(400, exc.code, exc.message)
        except sites.SiteDisabled as exc:
            session.rollback()
            return error_response(403, exc.code, exc.message)
        carries_secret()
        answer = {
            "site_id": site.public_id,
            "secret": secret,
            "site": {"name": site.name, "url": site.url},
            "client": {"name": site.client.name},
        }
        session.commit()
        return answer


@blp.route("/summary")
class Summary(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(LocaleQuerySchema, location="query")
    @blp.response(200, SummarySchema)
    def get(self, args):
        """The signing site's billing: hosting plan, subscriptions, invoices."""
        session = get_session()
        site = signed_site("site.read")
        return sites.summary(session, site, reader_localiser(session, args["locale"]))


@blp.route("/hosting-plan")
class HostingPlan(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(LocaleQuerySchema, location="query")
    @blp.response(200, HostingPlanAnswerSchema)
    def get(self, args):
        """The signing site's current hosting subscription, or null."""
        session = get_session()
        site = signed_site("site.read")
        l10n = reader_localiser(session, args["locale"])
        return {"hosting_plan": sites.hosting_plan(session, site, l10n)}


@blp.route("/standing")
class SiteStanding(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(LocaleQuerySchema, location="query")
    @blp.response(200, StandingSchema)
    def get(self, args):
        """The signing site's overdue state: ok, overdue, in grace until D, restricted since D."""
        session = get_session()
        site = signed_site("site.read")
        return overdue.standing_view(session, site, reader_localiser(session, args["locale"]))


@blp.route("/access")
class Access(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(AccessQuerySchema, location="query")
    @blp.response(200, AccessSchema)
    def get(self, args):
        """What the WordPress user with this email may see and do on the signing site."""
        session = get_session()
        return sites.access(session, signed_site("site.read"), args["email"])


@blp.route("/account")
class Account(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(AccountQuerySchema, location="query")
    @blp.response(200, AccountSchema)
    def get(self, args):
        """The whole account of the signing site's client, for a user whose role grants billing:
        every invoice (paged), the client's sites, auto-pay.

        A person whose role does not grant ``billing`` (view) on the site, or who is not a
        user of the site's client, gets a 403 ``billing_not_granted``."""
        session = get_session()
        site = signed_site("site.read")
        authorize("site.account", site.client)
        # The person's role on this site, exactly as the site's access answer says it.
        reader = sites.access(session, site, args["email"])
        if "view" not in reader["areas"]["billing"]:
            return error_response(
                403,
                "billing_not_granted",
                "This person's role does not give access to the client's billing.",
            )
        return site_account.account(
            session,
            site,
            reader_localiser(session, args["locale"]),
            page=args["page"],
            per_page=args["per_page"],
        )


@blp.route("/seo-scans")
class SeoScans(MethodView):
    @blp.doc(security=SIGNED)
    @blp.arguments(SeoScanWriteSchema)
    @blp.response(201, SeoScanReceivedSchema)
    def post(self, data):
        """Store an SEO scan of the signing site (the latest 20 are kept)."""
        session = get_session()
        site = signed_site("site.seo_write")
        overdue.require_unrestricted(session, site)
        stored = {**data, "scanned_at": sites.iso(data["scanned_at"])}
        scan = sites.store_seo_scan(session, site, stored)
        session.commit()
        return {"id": scan.id, "received_at": sites.iso(scan.received_at)}


@blp.route("/seo-scans/latest")
class LatestSeoScan(MethodView):
    @blp.doc(security=SIGNED)
    @blp.response(200, SeoScanAnswerSchema)
    def get(self):
        """The signing site's latest SEO scan, or null."""
        session = get_session()
        site = signed_site("site.read")
        return {"scan": sites.seo_scan_view(sites.latest_seo_scan(session, site))}


# Staff ----------------------------------------------------------------------------


@staff_blp.route("/clients/<id:client_id>/sites/<id:site_id>/connect-codes")
class ConnectCodes(MethodView):
    @staff_blp.response(201, ConnectCodeSchema)
    def post(self, client_id, site_id):
        """A one-time code (15 minutes) with which the site's plugin connects itself."""
        authorize("sites.write")
        session = get_session()
        site = clients.get_site(session, site_id, client_id=client_id)
        row, code = sites.create_connect_code(session, site)
        session.commit()
        carries_secret()
        return {"code": code, "expires_at": sites.iso(row.expires_at)}


@staff_blp.route("/clients/<id:client_id>/sites/<id:site_id>/seo-scans/latest")
class StaffLatestSeoScan(MethodView):
    @staff_blp.response(200, SeoScanAnswerSchema)
    def get(self, client_id, site_id):
        """The site's latest SEO scan, as its plugin sent it, or null."""
        authorize("sites.read")
        session = get_session()
        site = clients.get_site(session, site_id, client_id=client_id)
        return {"scan": sites.seo_scan_view(sites.latest_seo_scan(session, site))}


@staff_blp.route("/clients/<id:client_id>/users")
class ClientUsers(MethodView):
    @staff_blp.response(200, list_schema(ClientUserSchema, "ClientUserList"))
    def get(self, client_id):
        """The people of the client (the plugin matches WordPress users by their email)."""
        authorize("clients.read")
        session = get_session()
        return {"data": sites.list_client_users(session, clients.get_client(session, client_id))}

    @staff_blp.arguments(ClientUserWriteSchema)
    @staff_blp.response(201, ClientUserSchema)
    def post(self, data, client_id):
        """Add a person to the client: they get the client's role on its sites."""
        authorize("clients.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        user = sites.add_client_user(session, client, **data)
        session.commit()
        return user


@staff_blp.route("/clients/<id:client_id>/users/<id:user_id>")
class ClientUserResource(MethodView):
    @staff_blp.response(204)
    def delete(self, client_id, user_id):
        """Remove a person from the client."""
        authorize("clients.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        sites.remove_client_user(session, sites.get_client_user(session, client, user_id))
        session.commit()


@staff_blp.route("/clients/<id:client_id>/users/<id:user_id>/site-roles")
class PersonSiteRoles(MethodView):
    @staff_blp.response(200, list_schema(SiteRoleSchema, "SiteRoleList"))
    def get(self, client_id, user_id):
        """Every site of the client with the person's role there: their own on
        that site, or (``role`` null) the client's."""
        authorize("clients.read")
        session = get_session()
        user = sites.get_client_user(session, clients.get_client(session, client_id), user_id)
        return {"data": roles.site_roles(session, user)}


@staff_blp.route("/clients/<id:client_id>/users/<id:user_id>/site-roles/<id:site_id>")
class PersonSiteRole(MethodView):
    @staff_blp.arguments(SiteRoleWriteSchema)
    @staff_blp.response(200, SiteRoleSchema)
    def put(self, data, client_id, user_id, site_id):
        """Give the person a role of their own on one site of their client: it
        decides there instead of the client's role. 422 ``unknown_role`` for
        no such role, 422 ``site_of_another_client`` for another client's site."""
        authorize("clients.write")
        session = get_session()
        user = sites.get_client_user(session, clients.get_client(session, client_id), user_id)
        view = roles.set_site_role(
            session, user, clients.get_site(session, site_id), data["role_id"]
        )
        session.commit()
        return view

    @staff_blp.response(204)
    def delete(self, client_id, user_id, site_id):
        """Back to the client's role on this site (nothing to do when the
        person has no role of their own there)."""
        authorize("clients.write")
        session = get_session()
        user = sites.get_client_user(session, clients.get_client(session, client_id), user_id)
        roles.remove_site_role(session, user, clients.get_site(session, site_id))
        session.commit()
