"""Coupons: create, list, archive, and apply one to a client or a
subscription (a coupon for one invoice is given when billing:
``coupon_id`` or ``coupon_code`` on ``POST /invoices``)."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.api.auth import authorize, require_token
from bridge.api.common import list_schema
from bridge.api.fields import Integer, Text
from bridge.api.parsing import Blueprint
from bridge.billing import clients, coupons, subscriptions
from bridge.core import money
from bridge.core.errors import Invalid, NotFound
from bridge.db import get_session
from bridge.models import CatalogStatus, Coupon, CouponDuration

blp = Blueprint("coupons", __name__, url_prefix="/api/v1", description="Coupons and discounts")
blp.before_request(require_token)

PERCENT = r"^[0-9]{1,3}(\.[0-9]{1,2})?\Z"


class CouponSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    code = fields.String(allow_none=True)
    percent_off = fields.Function(
        lambda c: coupons.format_percent(c.percent_off_e2) if c.percent_off_e2 else None,
        metadata={"description": 'Decimal text ("12.5"), or null for an amount off'},
    )
    percent_off_e2 = fields.Integer(
        allow_none=True, metadata={"description": "Hundredths of a percent (12.5 % -> 1250)"}
    )
    amount_off = fields.Integer(allow_none=True, metadata={"description": "Minor units"})
    currency = fields.String(allow_none=True)
    product_ids = fields.List(
        fields.Integer(),
        allow_none=True,
        metadata={"description": "Only lines of these products; null: the whole invoice"},
    )
    duration = fields.Enum(CouponDuration, by_value=True)
    duration_cycles = fields.Integer(allow_none=True)
    expires_on = fields.Date(allow_none=True)
    max_redemptions = fields.Integer(allow_none=True)
    times_redeemed = fields.Integer()
    status = fields.Enum(CatalogStatus, by_value=True)
    created_at = fields.DateTime()
    archived_at = fields.DateTime(allow_none=True)


class CouponWriteSchema(Schema):
    name = Text(max_length=200, required=True)
    code = Text(
        max_length=60,
        allow_none=True,
        metadata={"description": "Unique whatever its case; letters, digits, - and _"},
    )
    percent_off = fields.String(
        validate=validate.Regexp(PERCENT, error="A percentage such as 20 or 12.5."),
        metadata={"description": "More than 0, at most 100, at most two decimals"},
    )
    amount_off = Integer(
        minimum=1,
        maximum=money.MAX_AMOUNT,
        metadata={"description": "Minor units of the business currency"},
    )
    product_ids = fields.List(
        Integer(minimum=1), allow_none=True, validate=validate.Length(min=1, max=100)
    )
    duration = fields.Enum(
        CouponDuration,
        by_value=True,
        required=True,
        metadata={"description": "once, repeating (duration_cycles invoices) or forever"},
    )
    duration_cycles = Integer(minimum=1, maximum=coupons.MAX_CYCLES, allow_none=True)
    expires_on = fields.Date(allow_none=True, metadata={"description": "Last day it applies"})
    max_redemptions = Integer(minimum=1, maximum=coupons.MAX_REDEMPTIONS, allow_none=True)

    @validates_schema
    def _one_kind(self, data, **_kwargs):
        if ("percent_off" in data) == ("amount_off" in data):
            raise ValidationError("Give either percent_off or amount_off.", "percent_off")


class CouponQuerySchema(Schema):
    status = fields.Enum(CatalogStatus, by_value=True)


class ApplyCouponSchema(Schema):
    coupon_id = Integer(minimum=1)
    coupon_code = Text(max_length=60)

    @validates_schema
    def _one(self, data, **_kwargs):
        if ("coupon_id" in data) == ("coupon_code" in data):
            raise ValidationError("Give either coupon_id or coupon_code.", "coupon_id")


class DiscountSchema(Schema):
    id = fields.Integer()
    coupon = fields.Nested(CouponSchema)
    client_id = fields.Integer(allow_none=True)
    subscription_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)


def chosen_coupon(session, data: dict) -> Coupon | None:
    """The coupon named by ``coupon_id`` or ``coupon_code`` (422 naming the
    field when there is none such), or None when neither is given."""
    try:
        if data.get("coupon_id") is not None:
            return coupons.get_coupon(session, data["coupon_id"])
        if data.get("coupon_code") is not None:
            return coupons.by_code(session, data["coupon_code"])
    except NotFound as exc:
        field = "coupon_id" if data.get("coupon_id") is not None else "coupon_code"
        raise Invalid(exc.message, fields={field: ["Unknown."]}) from exc
    return None


@blp.route("/coupons")
class Coupons(MethodView):
    @blp.arguments(CouponQuerySchema, location="query")
    @blp.response(200, list_schema(CouponSchema, "CouponList"))
    def get(self, args):
        """Coupons, optionally by status."""
        authorize("catalog.read")
        return {"data": coupons.list_coupons(get_session(), args.get("status"))}

    @blp.arguments(CouponWriteSchema)
    @blp.response(201, CouponSchema)
    def post(self, data):
        """Create a coupon: percent or amount off, on the whole invoice or
        chosen products, once / N cycles / forever."""
        authorize("catalog.write")
        session = get_session()
        coupon = coupons.create_coupon(session, **data)
        session.commit()
        return coupon


@blp.route("/coupons/<id:coupon_id>")
class CouponResource(MethodView):
    @blp.response(200, CouponSchema)
    def get(self, coupon_id):
        """One coupon."""
        authorize("catalog.read")
        return coupons.get_coupon(get_session(), coupon_id)

    @blp.response(200, CouponSchema)
    def delete(self, coupon_id):
        """Archive a coupon: it can no longer be applied; discounts already
        given go on."""
        authorize("catalog.write")
        session = get_session()
        coupon = coupons.archive_coupon(session, coupons.get_coupon(session, coupon_id))
        session.commit()
        return coupon


@blp.route("/clients/<id:client_id>/coupon")
class ClientCoupon(MethodView):
    @blp.arguments(ApplyCouponSchema)
    @blp.response(201, DiscountSchema)
    def post(self, data, client_id):
        """Apply a coupon to a client's next invoices and renewals (replaces
        the client's coupon). 409 ``coupon_expired``, ``coupon_exhausted``,
        ``coupon_archived``."""
        authorize("clients.write")
        session = get_session()
        client = clients.get_client(session, client_id)
        discount = coupons.apply_to_client(session, client, chosen_coupon(session, data))
        session.commit()
        return discount


@blp.route("/subscriptions/<id:subscription_id>/coupon")
class SubscriptionCoupon(MethodView):
    @blp.arguments(ApplyCouponSchema)
    @blp.response(201, DiscountSchema)
    def post(self, data, subscription_id):
        """Apply a coupon to a subscription's renewals (replaces its coupon).
        409 ``coupon_expired``, ``coupon_exhausted``, ``coupon_archived``."""
        authorize("subscriptions.write")
        session = get_session()
        subscription = subscriptions.get_subscription(session, subscription_id)
        discount = coupons.apply_to_subscription(
            session, subscription, chosen_coupon(session, data)
        )
        session.commit()
        return discount
