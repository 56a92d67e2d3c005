"""Custom fields for the business profile and client profiles."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import list_schema
from bridge.api.fields import Boolean, Integer, Text
from bridge.api.parsing import Blueprint
from bridge.billing import custom_fields
from bridge.db import get_session
from bridge.models import CustomFieldEntity, CustomFieldType

blp = Blueprint(
    "custom_fields", __name__, url_prefix="/api/v1", description="Custom profile fields"
)
blp.before_request(require_token)


class CustomFieldSchema(Schema):
    id = fields.Integer()
    entity = fields.Enum(CustomFieldEntity, by_value=True)
    key = fields.String()
    label = fields.String()
    field_type = fields.Enum(CustomFieldType, by_value=True)
    options = fields.List(fields.String())
    required = fields.Boolean()
    show_on_invoice = fields.Boolean()
    position = fields.Integer()
    created_at = fields.DateTime()


class CustomFieldWriteSchema(Schema):
    entity = fields.Enum(CustomFieldEntity, by_value=True, required=True)
    label = Text(max_length=100, required=True)
    key = Text(max_length=64)
    field_type = fields.Enum(CustomFieldType, by_value=True, required=True)
    options = fields.List(Text(max_length=100), validate=validate.Length(max=50))
    required = Boolean()
    show_on_invoice = Boolean()
    position = Integer(minimum=0, maximum=10_000)


class CustomFieldPatchSchema(Schema):
    label = Text(max_length=100)
    options = fields.List(Text(max_length=100), validate=validate.Length(max=50))
    required = Boolean()
    show_on_invoice = Boolean()
    position = Integer(minimum=0, maximum=10_000)


class CustomFieldQuerySchema(Schema):
    entity = fields.Enum(CustomFieldEntity, by_value=True)


@blp.route("/custom-fields")
class CustomFields(MethodView):
    @blp.arguments(CustomFieldQuerySchema, location="query")
    @blp.response(200, list_schema(CustomFieldSchema, "CustomFieldList"))
    def get(self, args):
        """Custom fields, optionally of one entity (business or client)."""
        authorize("custom_fields.read")
        return {"data": custom_fields.list_fields(get_session(), args.get("entity"))}

    @blp.arguments(CustomFieldWriteSchema)
    @blp.response(201, CustomFieldSchema)
    def post(self, data):
        """Define a custom field; the key defaults to a slug of the label."""
        authorize("custom_fields.write")
        session = get_session()
        field = custom_fields.create_field(session, **data)
        session.commit()
        return field


@blp.route("/custom-fields/<id:field_id>")
class CustomFieldResource(MethodView):
    @blp.response(200, CustomFieldSchema)
    def get(self, field_id):
        """One custom field."""
        authorize("custom_fields.read")
        return custom_fields.get_field(get_session(), field_id)

    @blp.arguments(CustomFieldPatchSchema)
    @blp.response(200, CustomFieldSchema)
    def patch(self, changes, field_id):
        """Change label, options, required, invoice flag or position."""
        authorize("custom_fields.write")
        session = get_session()
        field = custom_fields.update_field(
            session, custom_fields.get_field(session, field_id), changes
        )
        session.commit()
        return field

    @blp.response(204)
    def delete(self, field_id):
        """Delete a custom field definition."""
        authorize("custom_fields.write")
        session = get_session()
        custom_fields.delete_field(session, custom_fields.get_field(session, field_id))
        session.commit()
