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
from wtforms.validators import (
    InputRequired,
    Length,
    NoneOf,
    NumberRange,
    Optional,
    ValidationError,
)

from bridge.billing.invoices import MAX_LINES


def _(message: str) -> str:
    """Marks a word for the catalogue; the template translates it."""
    return message


_required = _("Required.")
_quantity = _("More than 0 and at most 10,000, with up to 3 decimals.")
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
    """One line of *Bill client*: a plan and its quantity, or a one-off line
    (``one_off`` "1": description and unit price typed in), with its own tax
    choice (``tax``: 0 the invoice's rates, -1 none, or one rate's id). The
    quantity and the price are read by ``bridge.hub.bill`` in the reader's
    locale (1,5 in French)."""

    class Meta:
        csrf = False

    one_off = HiddenField(default="")
    plan_id = SelectField(coerce=int, default=0)
    description = StringField(validators=[Length(max=500, message=_too_long)])
    unit_amount = StringField(validators=[Length(max=40, message=_too_long)])
    save_as_plan = BooleanField()
    quantity = StringField(
        default="1",
        validators=[InputRequired(message=_required), Length(max=40, message=_quantity)],
    )
    tax = SelectField(coerce=int, default=0, validate_choice=False)

    def validate_plan_id(self, field):
        if self.one_off.data != "1" and not field.data:
            raise ValidationError(_required)

    def validate_description(self, field):
        if self.one_off.data == "1" and not (field.data or "").strip():
            raise ValidationError(_required)

    def validate_unit_amount(self, field):
        if self.one_off.data == "1" and not (field.data or "").strip():
            raise ValidationError(_required)


class BillForm(FlaskForm):
    """*Bill client* (SPEC 6). ``key`` makes saving and sending happen once."""

    client_id = SelectField(coerce=int, validators=[NoneOf([0], message=_required)])
    # With more clients than the picker lists: the words that find one.
    client_q = StringField(validators=[Length(max=200, message=_too_long)])
    site_id = SelectField(coerce=int, default=0)
    items = FieldList(FormField(BillItemForm), min_entries=1, max_entries=MAX_LINES)
    tax_rate_ids = SelectMultipleField(coerce=int, validate_choice=True)
    note = TextAreaField(validators=[Length(max=2000, message=_too_long)])
    # A coupon for this invoice alone (a new bill only; its code, any case).
    coupon_code = StringField(validators=[Length(max=60, message=_too_long)])
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


class StripeImportApplyForm(FlaskForm):
    """Apply a dry run of the import from Stripe: which customers (all, or
    the ticked Stripe ids), and what becomes of Stripe's subscriptions."""

    which = SelectField(choices=["all", "some"], default="all")
    customers = SelectMultipleField(choices=[], validate_choice=False)
    subscriptions = SelectField(choices=["list", "import", "cancel-at-stripe"], default="import")


class TaxRateForm(FlaskForm):
    """A new tax rate: its percentage and inclusiveness are fixed once made."""

    name = StringField()
    percentage = StringField()
    inclusive = BooleanField()
    # A 0 % rate may stand for a VAT exemption (bridge.billing.legal).
    exemption = SelectField(validate_choice=False, default="")


class CouponForm(FlaskForm):
    """A new coupon. The view reads the numbers (in the reader's locale) and
    puts each refusal next to its field; the domain checks the rest."""

    name = StringField()
    code = StringField()
    kind = SelectField(choices=["percent", "amount"], validate_choice=False)
    percent_off = StringField()
    amount_off = StringField()
    applies_to = SelectField(choices=["invoice", "products"], validate_choice=False)
    product_ids = SelectMultipleField(coerce=int, validate_choice=False)
    duration = SelectField(choices=["once", "repeating", "forever"], validate_choice=False)
    duration_cycles = StringField()
    expires_on = StringField()
    max_redemptions = StringField()


class ApplyCouponForm(FlaskForm):
    """A coupon for a client or a subscription, by its code."""

    coupon_code = StringField()


# The coupon form's messages (the view sets them; the template translates).
COUPON_MESSAGES = (
    _("Required."),
    _("At most 200 characters."),
    _("1 to 60 letters, digits, - or _."),
    _("Another coupon has this code."),
    _("A percentage more than 0 and at most 100, such as 20 or 12.5."),
    _("Write an amount such as 49 or 49.50, more than 0."),
    _("Choose the business currency first (Setup)."),
    _("Choose at least one product."),
    _("A whole number from 1 to 1,000."),
    _("A whole number from 1 to 1,000,000, or empty."),
    _("A date such as 2026-12-31, or empty."),
    _("Already past."),
    _("No coupon has this code."),
    _("This coupon is archived."),
    _("This coupon has expired."),
    _("This coupon has been used up."),
)


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


# Setup: billing account, payment preferences, company & branding, invoices ----------

_descriptor = _("5 to 22 characters.")
_days = _("A whole number of days from 0 to 365.")


class StripeKeysForm(FlaskForm):
    """Connect Stripe: the keys are verified with Stripe before being stored."""

    secret_key = PasswordField(
        validators=[InputRequired(message=_required), Length(max=255, message=_too_long)]
    )
    publishable_key = StringField(
        validators=[InputRequired(message=_required), Length(max=255, message=_too_long)]
    )
    webhook_secret = PasswordField(
        validators=[InputRequired(message=_required), Length(max=200, message=_too_long)]
    )


class DisconnectForm(FlaskForm):
    """Back to offline payments only, once the box is ticked."""

    confirm = BooleanField(validators=[InputRequired(message=_("Tick the box to confirm."))])


class CurrencyForm(FlaskForm):
    """The business currency, chosen once."""

    currency = StringField(validators=[InputRequired(message=_required), Length(max=3)])
    confirm = BooleanField(validators=[InputRequired(message=_("Tick the box to confirm."))])


class PaymentPreferencesForm(FlaskForm):
    statement_descriptor = StringField(validators=[Length(max=22, message=_descriptor)])
    offline_payment_instructions = TextAreaField(validators=[Length(max=2000, message=_too_long)])
    invoice_net_terms_days = IntegerField(
        validators=[InputRequired(message=_days), NumberRange(min=0, max=365, message=_days)]
    )


class CompanyForm(FlaskForm):
    """The company profile and the brand colour (as #rrggbb text, or from
    the colour picker when the text was left as it was)."""

    company_name = StringField(validators=[Length(max=200, message=_too_long)])
    address_line1 = StringField(validators=[Length(max=200, message=_too_long)])
    address_line2 = StringField(validators=[Length(max=200, message=_too_long)])
    postal_code = StringField(validators=[Length(max=20, message=_too_long)])
    city = StringField(validators=[Length(max=100, message=_too_long)])
    state = StringField(validators=[Length(max=100, message=_too_long)])
    country = StringField(validators=[Length(max=2, message=_too_long)])
    email = StringField(validators=[Length(max=254, message=_too_long)])
    phone = StringField(validators=[Length(max=40, message=_too_long)])
    website = StringField(validators=[Length(max=300, message=_too_long)])
    tax_id = StringField(validators=[Length(max=50, message=_too_long)])
    brand_color = StringField(validators=[Length(max=7, message=_("Write #rrggbb."))])
    brand_color_picker = StringField()


class LogoForm(FlaskForm):
    logo = FileField()
    remove = BooleanField()


class InvoiceSettingsForm(FlaskForm):
    invoice_number_format = StringField(
        validators=[InputRequired(message=_required), Length(max=60, message=_too_long)]
    )
    credit_note_number_format = StringField(
        validators=[InputRequired(message=_required), Length(max=60, message=_too_long)]
    )
    invoice_language = SelectField(validate_choice=False)
    invoice_footer = TextAreaField(validators=[Length(max=2000, message=_too_long)])
    invoice_show_logo = BooleanField()
    invoice_show_brand_color = BooleanField()
    invoice_show_company_name = BooleanField()
    invoice_show_client_info = BooleanField()
    invoice_show_custom_fields = BooleanField()
