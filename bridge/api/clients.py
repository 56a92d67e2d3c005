"""Clients and their sites."""

from __future__ import annotations

import functools
import hashlib

from flask import current_app, jsonify
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, principal, require_token
from bridge.api.common import (
    PageArgs,
    carries_secret,
    fast_dumper,
    list_schema,
    page_schema,
    paging,
)
from bridge.api.fields import Boolean, Integer, Text
from bridge.api.parsing import Blueprint
from bridge.auth.policy import Staff
from bridge.auth.secrets import SecretBox
from bridge.billing import balances, clients, invitations, invoices
from bridge.core import money
from bridge.db import get_session
from bridge.models import BalanceEntryKind, ClientStatus

blp = Blueprint("clients", __name__, url_prefix="/api/v1", description="Clients and their sites")
blp.before_request(require_token)


def secret_box() -> SecretBox:
    return current_app.extensions["bridge.secret_box"]


class RoleRefSchema(Schema):
    id = fields.Integer()
    name = fields.String()


class SiteSchema(Schema):
    id = fields.Integer()
    public_id = fields.String(metadata={"description": "The id the site's plugin sends"})
    client_id = fields.Integer()
    name = fields.String()
    url = fields.String()
    disabled = fields.Boolean()
    secret_rotated_at = fields.DateTime()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class SiteWithSecretSchema(SiteSchema):
    secret = fields.String(
        metadata={"description": "Shown this once; only its encrypted form is stored."}
    )


@functools.lru_cache(maxsize=4096)
def gravatar_url(email: str) -> str:
    """The avatar of an email address (kept per process for the emails
    last listed: the busiest list hashes the same page's emails again and
    again)."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"https://www.gravatar.com/avatar/{digest}?d=identicon"


SIREN_DOC = (
    "The French company registration number (9 digits, checked; blanks are dropped); "
    "printed on invoices to a business"
)
VAT_DOC = "The VAT number (a French one, FR..., is checked against its key)"


class ClientSummarySchema(Schema):
    """A client in the client list; also dumps a ``ClientRow`` (fast_dumper)."""

    id = fields.Integer()
    name = fields.String()
    email = fields.String()
    company = fields.String()
    status = fields.Enum(ClientStatus, by_value=True)
    role = fields.Nested(RoleRefSchema)
    site_count = fields.Integer()
    avatar_url = fields.Function(lambda obj: gravatar_url(obj.email))
    mrr = fields.Integer(
        metadata={"description": "Monthly recurring revenue, tax excluded (minor units)"}
    )
    net_billing = fields.Integer(
        metadata={
            "description": "Finalized invoices minus credit notes, tax included (minor units)"
        }
    )
    created_at = fields.DateTime()


class ClientSchema(ClientSummarySchema):
    address_line1 = fields.String()
    address_line2 = fields.String()
    city = fields.String()
    postal_code = fields.String()
    state = fields.String()
    country = fields.String()
    siren = fields.String(metadata={"description": SIREN_DOC})
    tax_id = fields.String(metadata={"description": VAT_DOC})
    custom_fields = fields.Dict()
    sites = fields.List(fields.Nested(SiteSchema))
    site_count = fields.Function(lambda obj: len(obj.sites))
    unpaid_invoices = fields.Function(
        lambda obj: invoices.unpaid_count(get_session(), obj.id),
        metadata={"description": "Issued invoices not paid yet (the badge on the client page)"},
    )
    card = fields.Function(
        lambda obj: (
            {
                "brand": obj.card_brand,
                "last4": obj.card_last4,
                "exp_month": obj.card_exp_month,
                "exp_year": obj.card_exp_year,
            }
            if obj.default_payment_method_id
            else None
        ),
        metadata={"description": "The card saved for renewals (display facts only)"},
    )
    balance = fields.Function(
        lambda obj: balances.balance(get_session(), obj.id).amounts,
        metadata={
            "description": "Account credit per currency (minor units; currencies with "
            "none are left out): it pays the client's next invoices first"
        },
    )
    updated_at = fields.DateTime(allow_none=True)


class ClientWriteSchema(Schema):
    name = Text(max_length=200, required=True)
    email = Text(max_length=254, required=True)
    company = Text(max_length=200)
    address_line1 = Text(max_length=200)
    address_line2 = Text(max_length=200)
    city = Text(max_length=100)
    postal_code = Text(max_length=20)
    state = Text(max_length=100)
    country = Text(max_length=2)
    siren = Text(max_length=20, metadata={"description": SIREN_DOC})
    tax_id = Text(max_length=50, metadata={"description": VAT_DOC})
    role_id = Integer(minimum=1, allow_none=True)
    custom_fields = fields.Dict(keys=Text(max_length=64))


class ClientPatchSchema(ClientWriteSchema):
    name = Text(max_length=200)
    email = Text(max_length=254)
    role_id = Integer(minimum=1)


class ClientQuerySchema(PageArgs):
    status = fields.Enum(ClientStatus, by_value=True)
    q = Text(max_length=100, metadata={"description": "Text in the name, email or company"})
    sort = fields.String(validate=validate.OneOf(list(clients.SORTS)), load_default="name")


class SiteWriteSchema(Schema):
    name = Text(max_length=200, required=True)
    url = Text(max_length=500, required=True)


class SitePatchSchema(Schema):
    name = Text(max_length=200)
    url = Text(max_length=500)
    disabled = Boolean()


ClientPageSchema = page_schema(ClientSummarySchema, "ClientPage")


# The busiest screen: rows are plain ClientRow tuples dumped without
# marshmallow, by a function built from ClientSummarySchema, which stays the
# one definition of the shape and documents it.
dump_summary = fast_dumper(ClientSummarySchema)


@blp.route("/clients")
class Clients(MethodView):
    @blp.arguments(ClientQuerySchema, location="query")
    @blp.response(200, ClientPageSchema)
    def get(self, args):
        """Clients, a page at a time; filter by status and by text, sort."""
        authorize("clients.read")
        page = clients.list_clients(
            get_session(),
            status=args.get("status"),
            text=args.get("q"),
            sort=args["sort"],
            **paging(args),
        )
        return jsonify(
            {
                "data": [dump_summary(row) for row in page.items],
                "page": page.page,
                "per_page": page.per_page,
                "total": page.total,
                "pages": page.pages,
            }
        )

    @blp.arguments(ClientWriteSchema)
    @blp.response(201, ClientSchema)
    def post(self, data):
        """Add a client (status inactive until invited); the role defaults to the default role."""
        authorize("clients.write")
        session = get_session()
        client = clients.create_client(session, **data)
        session.commit()
        return client


@blp.route("/clients/<id:client_id>")
class ClientResource(MethodView):
    @blp.response(200, ClientSchema)
    def get(self, client_id):
        """One client with its sites."""
        authorize("clients.read")
        return clients.get_client(get_session(), client_id)

    @blp.arguments(ClientPatchSchema)
    @blp.response(200, ClientSchema)
    def patch(self, changes, client_id):
        """Change a client's details (only the fields given)."""
        authorize("clients.write")
        session = get_session()
        client = clients.update_client(session, clients.get_client(session, client_id), changes)
        session.commit()
        return client

    @blp.response(204)
    def delete(self, client_id):
        """Delete a client and its sites."""
        authorize("clients.write")
        session = get_session()
        clients.delete_client(session, clients.get_client(session, client_id))
        session.commit()


@blp.route("/clients/<id:client_id>/invite")
class ClientInvite(MethodView):
    @blp.response(200, ClientSchema)
    def post(self, client_id):
        """Invite the client to set a password (status pending).

        A single-use link, valid ``BRIDGE_INVITATION_DAYS`` days (7 unless
        set), is emailed to the client's contact email (the
        ``client_invitation`` email), who becomes a person of the client if
        not one yet. Inviting again makes a new link and the earlier ones stop
        working. 409 ``client_already_active`` once a person accepted; 409
        ``duplicate_email`` when the client's email is another login's.
        """
        authorize("clients.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        invitations.invite(session, client, days=int(current_app.config["INVITATION_DAYS"]))
        session.commit()
        return client


@blp.route("/clients/<id:client_id>/sites")
class Sites(MethodView):
    @blp.response(200, list_schema(SiteSchema, "SiteList"))
    def get(self, client_id):
        """The client's sites."""
        authorize("sites.read")
        return {"data": clients.get_client(get_session(), client_id).sites}

    @blp.arguments(SiteWriteSchema)
    @blp.response(201, SiteWithSecretSchema)
    def post(self, data, client_id):
        """Add a site; the answer carries its secret, shown this once."""
        authorize("sites.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        site, secret = clients.create_site(session, secret_box(), client, **data)
        session.commit()
        carries_secret()
        site.secret = secret
        return site


@blp.route("/clients/<id:client_id>/sites/<id:site_id>")
class SiteResource(MethodView):
    @blp.response(200, SiteSchema)
    def get(self, client_id, site_id):
        """One site of the client."""
        authorize("sites.read")
        return clients.get_site(get_session(), site_id, client_id=client_id)

    @blp.arguments(SitePatchSchema)
    @blp.response(200, SiteSchema)
    def patch(self, changes, client_id, site_id):
        """Rename a site, change its URL, or disable it (its plugin is then refused)."""
        authorize("sites.write")
        session = get_session()
        site = clients.get_site(session, site_id, client_id=client_id)
        clients.update_site(session, site, changes)
        session.commit()
        return site

    @blp.response(204)
    def delete(self, client_id, site_id):
        """Remove a site; its plugin can no longer connect."""
        authorize("sites.write")
        session = get_session()
        clients.delete_site(session, clients.get_site(session, site_id, client_id=client_id))
        session.commit()


@blp.route("/clients/<id:client_id>/sites/<id:site_id>/rotate-secret")
class SiteSecret(MethodView):
    @blp.response(200, SiteWithSecretSchema)
    def post(self, client_id, site_id):
        """Replace the site's secret; the old one stops working at once."""
        authorize("sites.write")
        session = get_session()
        site = clients.get_site(session, site_id, client_id=client_id)
        secret = clients.rotate_site_secret(session, secret_box(), site)
        session.commit()
        carries_secret()
        site.secret = secret
        return site


class BalanceEntrySchema(Schema):
    id = fields.Integer()
    amount = fields.Integer(
        metadata={"description": "Minor units: positive when credit is granted, negative used"}
    )
    currency = fields.String()
    kind = fields.Enum(BalanceEntryKind, by_value=True)
    reason = fields.String()
    invoice_id = fields.Integer(allow_none=True)
    credit_note_id = fields.Integer(allow_none=True)
    payment_id = fields.Integer(allow_none=True)
    created_by = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class BalanceSchema(Schema):
    balance = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Account credit per currency (minor units)"},
    )
    entries = fields.List(
        fields.Nested(BalanceEntrySchema), metadata={"description": "Newest first"}
    )


class BalanceGrantSchema(Schema):
    amount = Integer(
        minimum=-money.MAX_AMOUNT,
        maximum=money.MAX_AMOUNT,
        required=True,
        metadata={"description": "Minor units; negative takes back unused credit"},
    )
    currency = Text(max_length=3, metadata={"description": "Default the business currency"})
    reason = Text(max_length=balances.MAX_REASON, required=True)


def _balance(session, client_id: int) -> dict:
    return {
        "balance": balances.balance(session, client_id).amounts,
        "entries": balances.entries(session, client_id),
    }


@blp.route("/clients/<id:client_id>/balance")
class ClientBalance(MethodView):
    @blp.response(200, BalanceSchema)
    def get(self, client_id):
        """The client's account credit and its ledger (newest first)."""
        authorize("invoices.read")
        session = get_session()
        client = clients.get_client(session, client_id)
        return _balance(session, client.id)

    @blp.arguments(BalanceGrantSchema)
    @blp.response(201, BalanceSchema)
    def post(self, data, client_id):
        """Grant the client account credit by hand (or take unused credit back)."""
        authorize("invoices.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        caller = principal()
        balances.grant(
            session,
            client,
            amount=data["amount"],
            currency=data.get("currency"),
            reason=data["reason"],
            user_id=caller.user_id if isinstance(caller, Staff) else None,
        )
        session.commit()
        return _balance(session, client.id)
