"""Setup: the email templates (SPEC 9): every email the bridge sends, its
subject and body with the placeholders it offers, a preview filled with
sample values, a test sent through the outbox, and back to the default.

The views call ``bridge.mail.templates`` as ``bridge/api/email_templates.py``
does. The preview is the message as it would be sent, rebuilt from an
allow-list (``bridge.mail.sanitize``) so it can sit inside the page.
"""

from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, StringField, TextAreaField

from bridge.billing.business import get_settings
from bridge.billing.custom_fields import FORBIDDEN_CHARACTERS
from bridge.core.errors import Invalid, NotFound
from bridge.core.l10n import LANGUAGES
from bridge.db import get_session
from bridge.hub.setup import render_section, section
from bridge.hub.setup_more import ConfirmForm, confirm_page, may_write, staff_actor
from bridge.hub.views import allowed, bp, l10n
from bridge.mail import templates
from bridge.mail.catalog import KINDS, PLACEHOLDERS
from bridge.mail.render import get_template
from bridge.mail.sanitize import safe_html


def _(message: str) -> str:
    """Marks a word for the catalogue; it is translated when rendered."""
    return message


section(60, "hub.email_templates", _("Email templates"), "email.read")

SUBJECT_MAX = 300
HTML_MAX = 100_000
TEXT_MAX = 50_000
FOOTER_MAX = 2000
FROM_NAME_MAX = 200


class TemplateForm(FlaskForm):
    subject = StringField()
    body_html = TextAreaField()
    body_text = TextAreaField()


class TestForm(FlaskForm):
    to = EmailField()


class EmailSettingsForm(FlaskForm):
    """What every client email carries: branding, a footer note, the sender's name."""

    email_branding = BooleanField()
    email_footer = TextAreaField()
    email_from_name = StringField()


def _kind_or_404(key: str):
    if key not in KINDS:
        abort(404)
    return KINDS[key]


def _list_page(form: EmailSettingsForm, errors=None, status=200):
    return render_section(
        "hub/setup_email_templates.html",
        "hub.email_templates",
        status,
        templates=templates.list_templates(get_session()),
        form=form,
        errors=errors or {},
        saved=request.args.get("saved"),
        may_write=may_write("settings"),
        from_address=str(current_app.config.get("MAIL_FROM") or ""),
    )


@bp.get("/setup/email-templates")
@allowed("email.read")
def email_templates():
    """Every email, who receives it, and whether the agency edited it; the
    settings every client email shares."""
    settings = get_settings(get_session())
    form = EmailSettingsForm(formdata=None)
    form.process(
        data={
            "email_branding": settings.email_branding,
            "email_footer": settings.email_footer,
            "email_from_name": settings.email_from_name,
        }
    )
    return _list_page(form)


@bp.post("/setup/email-settings")
@allowed("settings.write")
def email_settings():
    form = EmailSettingsForm()
    if not form.validate():
        abort(400)
    footer = (form.email_footer.data or "").strip()
    name = (form.email_from_name.data or "").strip()
    errors = {}
    if len(footer) > FOOTER_MAX:
        errors["email_footer"] = [_("At most 2,000 characters.")]
    if len(name) > FROM_NAME_MAX:
        errors["email_from_name"] = [_("At most 200 characters.")]
    elif "\n" in name or "\r" in name or FORBIDDEN_CHARACTERS.search(name):
        errors["email_from_name"] = [_("A name on one line.")]
    if FORBIDDEN_CHARACTERS.search(footer):
        errors["email_footer"] = [_("Contains control characters.")]
    if errors:
        return _list_page(form, errors, 422)
    session = get_session()
    staff_actor(session)
    templates.update_email_settings(
        session,
        {
            "email_branding": bool(form.email_branding.data),
            "email_footer": footer,
            "email_from_name": name,
        },
    )
    session.commit()
    return redirect(url_for("hub.email_templates", saved=1) + "#email-settings", 303)


def _editor(key, form, *, errors=None, status=200, preview=None, test_form=None, notice=None):
    session = get_session()
    kind = _kind_or_404(key)
    template = get_template(session, key)
    return render_section(
        "hub/setup_email_template.html",
        "hub.email_templates",
        status,
        kind=kind,
        current=template,
        form=form,
        test_form=test_form or TestForm(formdata=None),
        reset_form=ConfirmForm(),
        errors=errors or {},
        preview=preview,
        notice=notice,
        placeholders=[(name, PLACEHOLDERS[name][0]) for name in kind.placeholders],
        languages=LANGUAGES,
        language=request.args.get("language") or get_settings(session).invoice_language or "en",
        may_write=may_write("email"),
        max_lengths={"subject": SUBJECT_MAX, "body_html": HTML_MAX, "body_text": TEXT_MAX},
    )


def _too_long(form: TemplateForm) -> dict[str, list[str]]:
    limits = {"subject": SUBJECT_MAX, "body_html": HTML_MAX, "body_text": TEXT_MAX}
    return {
        name: [_("Too long.")]
        for name, limit in limits.items()
        if len(getattr(form, name).data or "") > limit
    }


@bp.route("/setup/email-templates/<key>", methods=["GET", "POST"])
@allowed("email.read")
def email_template(key: str):
    """The editor. *Preview* shows the edit filled with sample values
    (nothing saved); *Save* stores it, or says which placeholder is wrong."""
    session = get_session()
    kind = _kind_or_404(key)
    form = TemplateForm()
    if request.method == "GET":
        language = request.args.get("language")
        if language not in LANGUAGES:
            language = None
        content = get_template(session, key, language).content
        form.process(
            data={
                "subject": content.subject,
                "body_html": content.body_html,
                "body_text": content.body_text,
            }
        )
        notice = "saved" if request.args.get("saved") else None
        notice = "reset" if request.args.get("reset") else notice
        notice = "sent" if request.args.get("sent") else notice
        return _editor(key, form, notice=notice)
    if not form.validate():
        abort(400)
    errors = _too_long(form)
    if errors:
        return _editor(key, form, errors=errors, status=422)
    edit = {
        "subject": form.subject.data or "",
        "body_html": form.body_html.data or "",
        "body_text": form.body_text.data or "",
    }
    if request.form.get("action") == "preview":
        try:
            rendered = templates.preview(session, key, **edit)
        except Invalid as error:
            return _editor(key, form, errors=dict(error.fields or {}), status=422)
        preview = {
            "subject": rendered.subject,
            "html": safe_html(rendered.html),
            "text": rendered.text,
        }
        return _editor(key, form, preview=preview)
    if not may_write("email"):
        abort(403)
    staff_actor(session)
    try:
        templates.save_template(session, kind.key, **edit)
    except Invalid as error:
        session.rollback()
        return _editor(key, form, errors=dict(error.fields or {}), status=422)
    session.commit()
    return redirect(url_for("hub.email_template", key=key, saved=1), 303)


@bp.post("/setup/email-templates/<key>/test")
@allowed("email.write")
def email_template_test(key: str):
    """Queue the saved template, with sample values, to an address."""
    session = get_session()
    _kind_or_404(key)
    test_form = TestForm()
    if not test_form.validate():
        abort(400)
    to = (test_form.to.data or "").strip()
    errors = {}
    if not to or len(to) > 254:
        errors["to"] = [_("An email address, such as you@agency.example.")]
    else:
        try:
            templates.send_test(session, key, to)
        except Invalid:
            session.rollback()
            errors["to"] = [_("An email address, such as you@agency.example.")]
    if errors:
        form = TemplateForm(formdata=None)
        content = get_template(session, key).content
        form.process(
            data={
                "subject": content.subject,
                "body_html": content.body_html,
                "body_text": content.body_text,
            }
        )
        return _editor(key, form, errors=errors, status=422, test_form=test_form)
    session.commit()
    return redirect(url_for("hub.email_template", key=key, sent=1) + "#test", 303)


@bp.route("/setup/email-templates/<key>/reset", methods=["GET", "POST"])
@allowed("email.write")
def email_template_reset(key: str):
    """Ask, then drop the agency's version: the default is used again."""
    kind = _kind_or_404(key)
    if request.method == "GET":
        return confirm_page(
            endpoint="hub.email_templates",
            title=_("Back to the default template"),
            question=l10n().gettext(kind.title),
            action=url_for("hub.email_template_reset", key=key),
            button=_("Use the default"),
            back=url_for("hub.email_template", key=key),
        )
    if not ConfirmForm().validate():
        abort(400)
    session = get_session()
    staff_actor(session)
    try:
        templates.reset_template(session, key)
    except NotFound:
        abort(404)
    session.commit()
    return redirect(url_for("hub.email_template", key=key, reset=1), 303)
