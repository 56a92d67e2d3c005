"""Email: the templates (read, edit, back to default, preview, send a test),
the outbox, and the email settings."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView
from marshmallow import Schema, fields, validate

from bridge.api.auth import authorize, require_token
from bridge.api.common import PageArgs, list_schema, page_schema, paging
from bridge.api.fields import Boolean, Text
from bridge.api.parsing import Blueprint
from bridge.billing.business import get_settings
from bridge.db import get_session
from bridge.mail import outbox, templates
from bridge.mail.catalog import PLACEHOLDERS
from bridge.models import OutboxStatus

blp = Blueprint(
    "email", __name__, url_prefix="/api/v1", description="Email templates, outbox and settings"
)
blp.before_request(require_token)

SUBJECT_MAX = 300
HTML_MAX = 100_000
TEXT_MAX = 50_000


class PlaceholderSchema(Schema):
    name = fields.String()
    description = fields.String()


class TemplateSchema(Schema):
    key = fields.String(attribute="kind.key")
    audience = fields.String(
        attribute="kind.audience",
        metadata={"description": "client (branded) or agency (plain, to the business email)"},
    )
    title = fields.String(attribute="kind.title", metadata={"description": "When it is sent"})
    subject = fields.String(attribute="content.subject")
    body_html = fields.String(attribute="content.body_html")
    body_text = fields.String(
        attribute="content.body_text",
        metadata={"description": "The text alternative; empty: derived from the HTML"},
    )
    placeholders = fields.Function(
        lambda template: [
            {"name": name, "description": PLACEHOLDERS[name][0]}
            for name in template.kind.placeholders
        ],
        metadata={"description": "The [[placeholders]] this template may use"},
    )
    customized = fields.Boolean(metadata={"description": "False: the default is in use"})
    updated_at = fields.DateTime(allow_none=True)


class TemplatePutSchema(Schema):
    subject = Text(max_length=SUBJECT_MAX, required=True)
    body_html = Text(
        max_length=HTML_MAX,
        multiline=True,
        required=True,
        metadata={
            "description": "HTML placed in the layout; values of [[placeholders]] are escaped"
        },
    )
    body_text = Text(
        max_length=TEXT_MAX,
        multiline=True,
        load_default="",
        metadata={"description": "The text alternative; empty or absent: derived from the HTML"},
    )


class PreviewSchema(Schema):
    subject = Text(max_length=SUBJECT_MAX)
    body_html = Text(max_length=HTML_MAX, multiline=True)
    body_text = Text(max_length=TEXT_MAX, multiline=True)


class RenderedSchema(Schema):
    subject = fields.String()
    html = fields.String(metadata={"description": "The whole HTML part, in the layout"})
    text = fields.String(metadata={"description": "The text alternative"})


class TestSendSchema(Schema):
    to = Text(max_length=254, required=True, metadata={"description": "An email address"})


class OutboxMessageSchema(Schema):
    id = fields.Integer()
    trigger = fields.String()
    to = fields.String(attribute="to_address")
    subject = fields.String()
    status = fields.Enum(OutboxStatus, by_value=True)
    attempts = fields.Integer()
    next_attempt_at = fields.DateTime()
    last_error = fields.String(allow_none=True)
    client_id = fields.Integer(allow_none=True)
    invoice_id = fields.Integer(allow_none=True)
    subscription_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class OutboxQuerySchema(PageArgs):
    status = fields.String(validate=validate.OneOf([s.value for s in OutboxStatus]))
    trigger = Text(max_length=50)


class EmailSettingsSchema(Schema):
    email_branding = fields.Boolean(
        metadata={"description": "Client emails show the logo and brand colour"}
    )
    email_footer = fields.String(metadata={"description": "A note under every client email"})
    email_from_name = fields.String(
        metadata={"description": "The sender's name (empty: the company name)"}
    )
    from_address = fields.String(metadata={"description": "BRIDGE_MAIL_FROM (read only)"})
    transport = fields.String(metadata={"description": "BRIDGE_MAIL_TRANSPORT (read only)"})


class EmailSettingsPatchSchema(Schema):
    email_branding = Boolean()
    email_footer = Text(max_length=2000, multiline=True)
    email_from_name = Text(max_length=200)


def _email_settings(session) -> dict:
    settings = get_settings(session)
    return {
        "email_branding": settings.email_branding,
        "email_footer": settings.email_footer,
        "email_from_name": settings.email_from_name,
        "from_address": str(current_app.config.get("MAIL_FROM") or ""),
        "transport": str(current_app.config.get("MAIL_TRANSPORT") or "folder"),
    }


@blp.route("/email-templates")
class EmailTemplates(MethodView):
    @blp.response(200, list_schema(TemplateSchema, "EmailTemplateList"))
    def get(self):
        """Every email template: who receives it, its subject and body, its placeholders."""
        authorize("email.read")
        return {"data": templates.list_templates(get_session())}


@blp.route("/email-templates/<key>")
class EmailTemplate(MethodView):
    @blp.response(200, TemplateSchema)
    def get(self, key):
        """One template (the agency's version, or the default)."""
        authorize("email.read")
        return templates.get_template(get_session(), key)

    @blp.arguments(TemplatePutSchema)
    @blp.response(200, TemplateSchema)
    def put(self, data, key):
        """Edit the subject and body; an unknown [[placeholder]] is a 422 naming it."""
        authorize("email.write")
        session = get_session()
        template = templates.save_template(session, key, **data)
        session.commit()
        return template

    @blp.response(200, TemplateSchema)
    def delete(self, key):
        """Back to the default template."""
        authorize("email.write")
        session = get_session()
        template = templates.reset_template(session, key)
        session.commit()
        return template


@blp.route("/email-templates/<key>/preview")
class EmailTemplatePreview(MethodView):
    @blp.arguments(PreviewSchema)
    @blp.response(200, RenderedSchema)
    def post(self, data, key):
        """The template, or the unsaved edit sent, filled with sample values (nothing saved)."""
        authorize("email.read")
        return templates.preview(get_session(), key, **data)


@blp.route("/email-templates/<key>/test")
class EmailTemplateTest(MethodView):
    @blp.arguments(TestSendSchema)
    @blp.response(202, OutboxMessageSchema)
    def post(self, data, key):
        """Queue the template with sample values to an address; the scheduler sends it."""
        authorize("email.write")
        session = get_session()
        message = templates.send_test(session, key, data["to"])
        session.commit()
        return message


@blp.route("/outbox")
class Outbox(MethodView):
    @blp.arguments(OutboxQuerySchema, location="query")
    @blp.response(200, page_schema(OutboxMessageSchema, "OutboxPage"))
    def get(self, args):
        """Queued, sent and failed emails, newest first (``?status=``, ``?trigger=``)."""
        authorize("email.read")
        status = OutboxStatus(args.pop("status")) if "status" in args else None
        return outbox.messages_page(
            get_session(), status=status, trigger=args.pop("trigger", None), **paging(args)
        )


@blp.route("/settings/email")
class EmailSettings(MethodView):
    @blp.response(200, EmailSettingsSchema)
    def get(self):
        """Email branding, footer note and sender."""
        authorize("settings.read")
        return _email_settings(get_session())

    @blp.arguments(EmailSettingsPatchSchema)
    @blp.response(200, EmailSettingsSchema)
    def patch(self, changes):
        """Change the email branding toggle, footer note or sender name (only the fields given)."""
        authorize("settings.write")
        session = get_session()
        templates.update_email_settings(session, changes)
        session.commit()
        return _email_settings(session)
