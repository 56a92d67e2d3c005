"""The Hub's forms (Flask-WTF: each carries its CSRF token). Labels and
messages are written by the templates, in the request's language."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)


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


class PlanForm(FlaskForm):
    """A plan's terms; the amount is typed in the business currency."""

    plan_name = StringField()
    kind = SelectField(choices=["one_time", "recurring"], validate_choice=False)
    amount = StringField()
    interval_unit = SelectField(choices=["day", "week", "month", "year"], validate_choice=False)
    interval_count = StringField(default="1")
    billing_cycles = StringField()


class ProductForm(PlanForm):
    """A new product, with its first plan when the plan has a name."""

    name = StringField()
    description = TextAreaField()
    image = FileField()


class ProductEditForm(FlaskForm):
    """Only a product's name and image change after creation."""

    name = StringField()
    image = FileField()
    remove_image = BooleanField()


class SwitchForm(FlaskForm):
    """Archive or restore: a POST with the token."""


class TaxRateForm(FlaskForm):
    """A new tax rate: its percentage and inclusiveness are fixed once made."""

    name = StringField()
    percentage = StringField()
    inclusive = BooleanField()
