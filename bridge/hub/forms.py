"""The Hub's forms (Flask-WTF: each carries its CSRF token). Labels and
messages are written by the templates, in the request's language."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NoneOf, NumberRange, Optional

from bridge.billing.invoices import MAX_LINES, MAX_QUANTITY


def _(message: str) -> str:
    """Marks a word for the catalogue; the template translates it."""
    return message


_required = _("Required.")
_quantity = _("Between 1 and 10,000.")
_too_long = _("Too long.")


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


class BillItemForm(Form):
    """One line of *Bill client*: a plan and its quantity."""

    class Meta:
        csrf = False

    plan_id = SelectField(coerce=int, validators=[NoneOf([0], message=_required)])
    quantity = IntegerField(
        default=1,
        validators=[
            InputRequired(message=_required),
            NumberRange(min=1, max=MAX_QUANTITY, message=_quantity),
        ],
    )


class BillForm(FlaskForm):
    """*Bill client* (SPEC 6). ``key`` makes saving and sending happen once."""

    client_id = SelectField(coerce=int, validators=[NoneOf([0], message=_required)])
    # With more clients than the picker lists: the words that find one.
    client_q = StringField(validators=[Length(max=200, message=_too_long)])
    site_id = SelectField(coerce=int, default=0)
    items = FieldList(FormField(BillItemForm), min_entries=1, max_entries=MAX_LINES)
    tax_rate_ids = SelectMultipleField(coerce=int, validate_choice=True)
    note = TextAreaField(validators=[Length(max=2000, message=_too_long)])
    language = SelectField()
    key = HiddenField(validators=[InputRequired(message=_required), Length(max=64)])


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


class ActionForm(FlaskForm):
    """A button that changes an invoice (send, delete, void...): only the token."""


class RemindForm(FlaskForm):
    """Send a payment reminder; ``key`` makes a double submit send one email."""

    key = HiddenField()


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
