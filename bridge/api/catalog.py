"""The catalog: products and services, pricing plans, tax rates."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import PageArgs, list_schema, page_schema, paging
from bridge.api.fields import Base64Bytes, Boolean, Integer, Text
from bridge.api.parsing import Blueprint
from bridge.billing import catalog, legal
from bridge.core import money
from bridge.db import get_session
from bridge.models import CatalogStatus, IntervalUnit, PlanKind, ProductCategory

blp = Blueprint("catalog", __name__, url_prefix="/api/v1", description="Products, plans, taxes")
blp.before_request(require_token)

MAX_AMOUNT = money.MAX_AMOUNT


def image_limit() -> int:
    return catalog.image_limit(current_app.config["MAX_IMAGE_BYTES"])


class ImageInfoSchema(Schema):
    id = fields.Integer()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()


class PlanSchema(Schema):
    id = fields.Integer()
    product_id = fields.Integer()
    name = fields.String()
    kind = fields.Enum(PlanKind, by_value=True)
    amount = fields.Integer(metadata={"description": "Minor units of the currency"})
    currency = fields.String()
    amount_display = fields.Function(
        lambda plan: money.format_amount(plan.amount, plan.currency, "en")
    )
    interval_unit = fields.Enum(IntervalUnit, by_value=True, allow_none=True)
    interval_count = fields.Integer(allow_none=True)
    billing_cycles = fields.Integer(allow_none=True)
    image = fields.Nested(ImageInfoSchema, allow_none=True)
    status = fields.Enum(CatalogStatus, by_value=True)
    duplicated_from_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    archived_at = fields.DateTime(allow_none=True)


class ProductSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    image = fields.Nested(ImageInfoSchema, allow_none=True)
    category = fields.Enum(ProductCategory, by_value=True)
    status = fields.Enum(CatalogStatus, by_value=True)
    plan_count = fields.Function(lambda product: len(product.plans))
    plans = fields.List(fields.Nested(PlanSchema))
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)
    archived_at = fields.DateTime(allow_none=True)


class ProductWriteSchema(Schema):
    name = Text(max_length=200, required=True)
    description = Text(max_length=5000, multiline=True)
    image = Base64Bytes(max_bytes=catalog.PRODUCT_IMAGE_MAX, allow_none=True)
    category = fields.Enum(
        ProductCategory,
        by_value=True,
        metadata={"description": "hosting, maintenance, seo or other (the default)"},
    )


class ProductPatchSchema(Schema):
    name = Text(max_length=200)
    description = Text(max_length=5000, multiline=True)
    image = Base64Bytes(max_bytes=catalog.PRODUCT_IMAGE_MAX, allow_none=True)
    category = fields.Enum(
        ProductCategory,
        by_value=True,
        metadata={"description": "hosting, maintenance, seo or other (the default)"},
    )


class ProductQuerySchema(PageArgs):
    status = fields.Enum(CatalogStatus, by_value=True)


class PlanTermsSchema(Schema):
    kind = fields.Enum(PlanKind, by_value=True)
    amount = Integer(
        minimum=0,
        maximum=MAX_AMOUNT,
        metadata={"description": "Minor units of the business currency (cents, yen...)"},
    )
    interval_unit = fields.Enum(IntervalUnit, by_value=True, allow_none=True)
    interval_count = Integer(minimum=1, maximum=1095, allow_none=True)
    billing_cycles = Integer(
        minimum=1,
        maximum=catalog.MAX_BILLING_CYCLES,
        allow_none=True,
        metadata={
            "description": "Cycles before the subscription expires; null renews until cancelled"
        },
    )


class PlanWriteSchema(PlanTermsSchema):
    name = Text(max_length=200, required=True)
    kind = fields.Enum(PlanKind, by_value=True, required=True)
    amount = Integer(minimum=0, maximum=MAX_AMOUNT, required=True)
    image = Base64Bytes(max_bytes=catalog.PRODUCT_IMAGE_MAX, allow_none=True)


class PlanPatchSchema(PlanTermsSchema):
    """Name and image change; the terms are accepted only unchanged (else 409)."""

    name = Text(max_length=200)
    image = Base64Bytes(max_bytes=catalog.PRODUCT_IMAGE_MAX, allow_none=True)


class PlanDuplicateSchema(PlanTermsSchema):
    name = Text(max_length=200)


EXEMPTION_DOC = (
    "A 0 % rate may stand for a VAT exemption, whose wording invoices print: franchise "
    "(TVA non applicable, art. 293 B du CGI), reverse_charge (Autoliquidation); empty: none. "
    "Fixed once created"
)


class TaxRateSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    percentage = fields.Function(lambda rate: catalog.format_percentage(rate.percentage_e4))
    inclusive = fields.Boolean()
    exemption = fields.String(metadata={"description": EXEMPTION_DOC})
    status = fields.Enum(CatalogStatus, by_value=True)
    created_at = fields.DateTime()
    archived_at = fields.DateTime(allow_none=True)


PERCENT_PATTERN = r"^[0-9]{1,3}(\.[0-9]{1,4})?\Z"


class TaxRateWriteSchema(Schema):
    name = Text(max_length=100, required=True)
    percentage = fields.String(
        required=True,
        validate=validate.Regexp(PERCENT_PATTERN, error="A percentage such as 20 or 7.7."),
        metadata={"description": "Decimal text, 0 to 100, at most four decimals"},
    )
    inclusive = Boolean(load_default=False)
    exemption = fields.String(
        load_default="",
        validate=validate.OneOf(("", *legal.EXEMPTIONS)),
        metadata={"description": EXEMPTION_DOC},
    )


class TaxRatePatchSchema(Schema):
    name = Text(max_length=100)
    percentage = fields.String(validate=validate.Regexp(PERCENT_PATTERN))
    inclusive = Boolean()


class TaxRateQuerySchema(Schema):
    status = fields.Enum(CatalogStatus, by_value=True)


def _switch(resource: str, get, object_id: int, action):
    """Archive or restore one catalog object (the six such endpoints)."""
    authorize(f"{resource}.write")
    session = get_session()
    item = action(get(session, object_id))
    session.commit()
    return item


# Products ------------------------------------------------------------------


@blp.route("/products")
class Products(MethodView):
    @blp.arguments(ProductQuerySchema, location="query")
    @blp.response(200, page_schema(ProductSchema, "ProductPage"))
    def get(self, args):
        """Products and services with their plans; filter by status."""
        authorize("catalog.read")
        return catalog.list_products(get_session(), status=args.get("status"), **paging(args))

    @blp.arguments(ProductWriteSchema)
    @blp.response(201, ProductSchema)
    def post(self, data):
        """Create a product or service (it may have no plan yet)."""
        authorize("catalog.write")
        session = get_session()
        product = catalog.create_product(session, **data, max_image_bytes=image_limit())
        session.commit()
        return product


@blp.route("/products/<id:product_id>")
class ProductResource(MethodView):
    @blp.response(200, ProductSchema)
    def get(self, product_id):
        """One product with its plans."""
        authorize("catalog.read")
        return catalog.get_product(get_session(), product_id)

    @blp.arguments(ProductPatchSchema)
    @blp.response(200, ProductSchema)
    def patch(self, changes, product_id):
        """Rename the product, change its image or its category (nothing else changes)."""
        authorize("catalog.write")
        session = get_session()
        product = catalog.get_product(session, product_id)
        catalog.update_product(session, product, changes, image_limit())
        session.commit()
        return product

    @blp.response(204)
    def delete(self, product_id):
        """Delete a product that has no plan (others are archived)."""
        authorize("catalog.write")
        session = get_session()
        catalog.delete_product(session, catalog.get_product(session, product_id))
        session.commit()


@blp.route("/products/<id:product_id>/archive")
class ProductArchive(MethodView):
    @blp.response(200, ProductSchema)
    def post(self, product_id):
        """Archive: no longer billable; subscriptions go on."""
        return _switch("catalog", catalog.get_product, product_id, catalog.archive)


@blp.route("/products/<id:product_id>/restore")
class ProductRestore(MethodView):
    @blp.response(200, ProductSchema)
    def post(self, product_id):
        """Make an archived product billable again."""
        return _switch("catalog", catalog.get_product, product_id, catalog.restore)


# Plans ---------------------------------------------------------------------


@blp.route("/products/<id:product_id>/plans")
class Plans(MethodView):
    @blp.response(200, list_schema(PlanSchema, "PlanList"))
    def get(self, product_id):
        """The product's plans."""
        authorize("catalog.read")
        return {"data": catalog.get_product(get_session(), product_id).plans}

    @blp.arguments(PlanWriteSchema)
    @blp.response(201, PlanSchema)
    def post(self, data, product_id):
        """Add a one-time or recurring plan, priced in the business currency."""
        authorize("catalog.write")
        session = get_session()
        product = catalog.get_product(session, product_id)
        plan = catalog.create_plan(session, product, **data, max_image_bytes=image_limit())
        session.commit()
        return plan


@blp.route("/plans/<id:plan_id>")
class PlanResource(MethodView):
    @blp.response(200, PlanSchema)
    def get(self, plan_id):
        """One plan."""
        authorize("catalog.read")
        return catalog.get_plan(get_session(), plan_id)

    @blp.arguments(PlanPatchSchema)
    @blp.response(200, PlanSchema)
    def patch(self, changes, plan_id):
        """Rename the plan or change its image; other terms are fixed (409)."""
        authorize("catalog.write")
        session = get_session()
        plan = catalog.update_plan(
            session, catalog.get_plan(session, plan_id), changes, image_limit()
        )
        session.commit()
        return plan


@blp.route("/plans/<id:plan_id>/duplicate")
class PlanDuplicate(MethodView):
    @blp.arguments(PlanDuplicateSchema)
    @blp.response(201, PlanSchema)
    def post(self, overrides, plan_id):
        """A new plan with this plan's terms, except those given."""
        authorize("catalog.write")
        session = get_session()
        plan = catalog.duplicate_plan(session, catalog.get_plan(session, plan_id), overrides)
        session.commit()
        return plan


@blp.route("/plans/<id:plan_id>/archive")
class PlanArchive(MethodView):
    @blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Archive: no longer billable; subscriptions on it go on."""
        return _switch("catalog", catalog.get_plan, plan_id, catalog.archive)


@blp.route("/plans/<id:plan_id>/restore")
class PlanRestore(MethodView):
    @blp.response(200, PlanSchema)
    def post(self, plan_id):
        """Make an archived plan billable again."""
        return _switch("catalog", catalog.get_plan, plan_id, catalog.restore)


# Tax rates -----------------------------------------------------------------


@blp.route("/tax-rates")
class TaxRates(MethodView):
    @blp.arguments(TaxRateQuerySchema, location="query")
    @blp.response(200, list_schema(TaxRateSchema, "TaxRateList"))
    def get(self, args):
        """Tax rates, optionally by status."""
        authorize("tax_rates.read")
        return {"data": catalog.list_tax_rates(get_session(), args.get("status"))}

    @blp.arguments(TaxRateWriteSchema)
    @blp.response(201, TaxRateSchema)
    def post(self, data):
        """Create a tax rate (inclusive or exclusive)."""
        authorize("tax_rates.write")
        session = get_session()
        rate = catalog.create_tax_rate(session, **data)
        session.commit()
        return rate


@blp.route("/tax-rates/<id:tax_rate_id>")
class TaxRateResource(MethodView):
    @blp.response(200, TaxRateSchema)
    def get(self, tax_rate_id):
        """One tax rate."""
        authorize("tax_rates.read")
        return catalog.get_tax_rate(get_session(), tax_rate_id)

    @blp.arguments(TaxRatePatchSchema)
    @blp.response(200, TaxRateSchema)
    def patch(self, changes, tax_rate_id):
        """Rename a tax rate (percentage and inclusiveness are fixed: 409)."""
        authorize("tax_rates.write")
        session = get_session()
        rate = catalog.update_tax_rate(session, catalog.get_tax_rate(session, tax_rate_id), changes)
        session.commit()
        return rate


@blp.route("/tax-rates/<id:tax_rate_id>/archive")
class TaxRateArchive(MethodView):
    @blp.response(200, TaxRateSchema)
    def post(self, tax_rate_id):
        """Archive a tax rate: it can no longer be added to invoices."""
        return _switch("tax_rates", catalog.get_tax_rate, tax_rate_id, catalog.archive)


@blp.route("/tax-rates/<id:tax_rate_id>/restore")
class TaxRateRestore(MethodView):
    @blp.response(200, TaxRateSchema)
    def post(self, tax_rate_id):
        """Make an archived tax rate usable again."""
        return _switch("tax_rates", catalog.get_tax_rate, tax_rate_id, catalog.restore)
