"""Client roles and the permission vocabulary."""

from __future__ import annotations

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import list_schema
from bridge.api.fields import Text
from bridge.api.parsing import Blueprint
from bridge.auth.permissions import AREAS, LEVELS
from bridge.billing import roles
from bridge.db import get_session

blp = Blueprint("roles", __name__, url_prefix="/api/v1", description="Client roles")
blp.before_request(require_token)


class AreaGrantSchema(Schema):
    level = fields.String(required=True, validate=validate.OneOf(LEVELS))
    actions = fields.List(Text(max_length=32), validate=validate.Length(max=20))


class PermissionsSchema(Schema):
    """The level of each area; areas left out are off."""

    sites = fields.Nested(AreaGrantSchema)
    hosting = fields.Nested(AreaGrantSchema)
    seo = fields.Nested(AreaGrantSchema)
    site_billing = fields.Nested(AreaGrantSchema)
    billing = fields.Nested(AreaGrantSchema)


class RoleSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    description = fields.String()
    system = fields.Boolean(attribute="is_system")
    system_key = fields.String(allow_none=True)
    is_default = fields.Boolean()
    permissions = fields.Nested(PermissionsSchema)
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class RoleWriteSchema(Schema):
    name = Text(max_length=100, required=True)
    description = Text(max_length=300)
    permissions = fields.Nested(PermissionsSchema, required=True)


class RolePatchSchema(RoleWriteSchema):
    name = Text(max_length=100)
    permissions = fields.Nested(PermissionsSchema)


class AreaSchema(Schema):
    key = fields.String()
    label = fields.String()
    read_actions = fields.List(fields.String())
    write_actions = fields.List(fields.String())


class VocabularySchema(Schema):
    levels = fields.List(fields.String())
    areas = fields.List(fields.Nested(AreaSchema))


@blp.route("/permissions")
class Vocabulary(MethodView):
    @blp.response(200, VocabularySchema)
    def get(self):
        """The areas, their actions, and the levels a role can give them."""
        authorize("roles.read")
        return {"levels": list(LEVELS), "areas": list(AREAS.values())}


@blp.route("/roles")
class Roles(MethodView):
    @blp.response(200, list_schema(RoleSchema, "RoleList"))
    def get(self):
        """All roles: the three system roles first, then custom roles."""
        authorize("roles.read")
        return {"data": roles.list_roles(get_session())}

    @blp.arguments(RoleWriteSchema)
    @blp.response(201, RoleSchema)
    def post(self, data):
        """Create a custom role."""
        authorize("roles.write")
        session = get_session()
        role = roles.create_role(session, **data)
        session.commit()
        return role


@blp.route("/roles/<id:role_id>")
class RoleResource(MethodView):
    @blp.response(200, RoleSchema)
    def get(self, role_id):
        """One role."""
        authorize("roles.read")
        return roles.get_role(get_session(), role_id)

    @blp.arguments(RolePatchSchema)
    @blp.response(200, RoleSchema)
    def patch(self, changes, role_id):
        """Change a custom role (system roles answer 409)."""
        authorize("roles.write")
        session = get_session()
        role = roles.update_role(session, roles.get_role(session, role_id), changes)
        session.commit()
        return role

    @blp.response(204)
    def delete(self, role_id):
        """Delete a custom role that no client has and that is not the default."""
        authorize("roles.write")
        session = get_session()
        roles.delete_role(session, roles.get_role(session, role_id))
        session.commit()


@blp.route("/roles/<id:role_id>/default")
class DefaultRole(MethodView):
    @blp.response(200, RoleSchema)
    def post(self, role_id):
        """Make this role the default for new clients."""
        authorize("roles.write")
        session = get_session()
        role = roles.set_default(session, roles.get_role(session, role_id))
        session.commit()
        return role
