"""The Hub's forms (Flask-WTF: each carries its CSRF token). Labels and
messages are written by the templates, in the request's language."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.validators import Length, Optional


class LoginForm(FlaskForm):
    email = EmailField()
    password = PasswordField()
    next = HiddenField()


class LogoutForm(FlaskForm):
    """Logging out is a POST with the token: a link on another site cannot
    log a user out."""


class PasswordResetRequestForm(FlaskForm):
    email = EmailField()


class NewPasswordForm(FlaskForm):
    password = PasswordField()
    confirm = PasswordField()


class ActionForm(FlaskForm):
    """A button that changes an invoice (send, delete, void...): only the token."""


class OfflinePaymentForm(FlaskForm):
    """A payment received outside Stripe; ``key`` makes a double submit record once."""

    key = HiddenField()
    amount = StringField()
    method = SelectField(choices=[])
    received_on = DateField(validators=[Optional()])
    reference = StringField(validators=[Length(max=200)])


class RefundForm(FlaskForm):
    """A refund (a credit note), to the card or recorded as made another way."""

    key = HiddenField()
    amount = StringField()
    reason = StringField(validators=[Length(max=500)])
    refund_to_card = BooleanField()
