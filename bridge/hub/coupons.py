"""The Hub's coupons: the list (name, code, what it takes off, how long,
redemptions, expiry, status), a new coupon, archive; and a coupon applied
to a client or to one subscription, or removed.

The views call ``bridge.billing.coupons`` as ``bridge/api/coupons.py``
does; a refusal comes back next to its field (the form) or as a notice
(the client page), and nothing is saved.
"""

from __future__ import annotations

import re
from datetime import date

from flask import abort, redirect, url_for
from flask_login import current_user

from bridge.auth import policy
from bridge.billing import catalog, coupons
from bridge.billing.business import get_settings
from bridge.core import money
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.db import get_session
from bridge.hub.bill import _number
from bridge.hub.client_page import _client_or_404, _page, _subscription_of
from bridge.hub.forms import ApplyCouponForm, CouponForm, SwitchForm
from bridge.hub.views import allowed, bp, l10n, render
from bridge.models import CatalogStatus, CouponDuration

_WHOLE = re.compile(r"[0-9]{1,7}")


def _whole(text: str | None, low: int, high: int) -> int | None:
    """A whole number typed in ``low..high``; None if empty; ValueError else."""
    text = (text or "").strip()
    if not text:
        return None
    if not _WHOLE.fullmatch(text) or not low <= int(text) <= high:
        raise ValueError(text)
    return int(text)


def _terms(form: CouponForm, currency: str | None) -> tuple[dict, dict[str, list[str]]]:
    """The coupon's terms from the form, or the fields that are wrong."""
    errors: dict[str, list[str]] = {}
    terms: dict = {"name": (form.name.data or "").strip()}
    if not terms["name"]:
        errors["name"] = ["Required."]
    elif len(terms["name"]) > 200:
        errors["name"] = ["At most 200 characters."]
    code = (form.code.data or "").strip()
    if code and not coupons.CODE_PATTERN.fullmatch(code):
        errors["code"] = ["1 to 60 letters, digits, - or _."]
    terms["code"] = code or None
    if form.kind.data == "amount":
        if currency is None:
            errors["amount_off"] = ["Choose the business currency first (Setup)."]
        else:
            try:
                terms["amount_off"] = money.parse_amount(_number(form.amount_off.data), currency)
                if terms["amount_off"] <= 0:
                    raise money.InvalidAmount("zero")
            except money.InvalidAmount:
                errors["amount_off"] = ["Write an amount such as 49 or 49.50, more than 0."]
    else:
        try:
            terms["percent_off"] = coupons.format_percent(
                coupons.parse_percent(_number(form.percent_off.data))
            )
        except Invalid:
            errors["percent_off"] = [
                "A percentage more than 0 and at most 100, such as 20 or 12.5."
            ]
    if form.applies_to.data == "products":
        terms["product_ids"] = list(form.product_ids.data or [])
        if not terms["product_ids"]:
            errors["product_ids"] = ["Choose at least one product."]
    duration = form.duration.data
    terms["duration"] = duration if duration in set(CouponDuration) else CouponDuration.ONCE
    if terms["duration"] == CouponDuration.REPEATING:
        try:
            terms["duration_cycles"] = _whole(form.duration_cycles.data, 1, coupons.MAX_CYCLES)
            if terms["duration_cycles"] is None:
                raise ValueError("empty")
        except ValueError:
            errors["duration_cycles"] = ["A whole number from 1 to 1,000."]
    try:
        terms["max_redemptions"] = _whole(form.max_redemptions.data, 1, coupons.MAX_REDEMPTIONS)
    except ValueError:
        errors["max_redemptions"] = ["A whole number from 1 to 1,000,000, or empty."]
    expires = (form.expires_on.data or "").strip()
    try:
        terms["expires_on"] = date.fromisoformat(expires) if expires else None
    except ValueError:
        errors["expires_on"] = ["A date such as 2026-12-31, or empty."]
    return terms, errors


def _product_choices(session) -> list[tuple[int, str]]:
    page = catalog.list_products(session, status=CatalogStatus.ACTIVE, page=1, per_page=500)
    return [(product.id, product.name) for product in page.items]


@bp.get("/coupons")
@allowed("catalog.read")
def coupon_list():
    """Every coupon, active ones first, with what it takes off and how
    often it was redeemed."""
    session = get_session()
    listed = coupons.list_coupons(session)
    listed.sort(key=lambda c: c.status != CatalogStatus.ACTIVE)
    return render(
        "hub/coupons.html",
        coupons=listed,
        off=lambda coupon: coupons.off_text(coupon, l10n()),
        switch_form=SwitchForm(),
        may_write=policy.may(current_user.principal, "catalog.write"),
        active="hub.coupon_list",
    )


@bp.route("/coupons/new", methods=["GET", "POST"])
@allowed("catalog.write")
def coupon_new():
    """A new coupon; every field is checked and a refusal saves nothing."""
    session = get_session()
    form = CouponForm()
    form.product_ids.choices = _product_choices(session)
    currency = get_settings(session).currency
    errors: dict[str, list[str]] = {}
    if form.is_submitted() and not form.validate() and form.csrf_token.errors:
        errors = {"csrf": ["expired"]}
    elif form.is_submitted():
        terms, errors = _terms(form, currency)
        if form.product_ids.errors:  # not a number: no such product
            errors["product_ids"] = ["Choose at least one product."]
        if not errors:
            try:
                coupons.create_coupon(session, **terms)
            except Invalid as error:
                session.rollback()
                # The domain's words are the catalogue's (forms.COUPON_MESSAGES).
                errors = dict(error.fields or {})
            else:
                session.commit()
                return redirect(url_for("hub.coupon_list"))
    return render(
        "hub/coupon_form.html",
        status=422 if errors else 200,
        form=form,
        errors=errors,
        currency=currency,
        active="hub.coupon_list",
    )


@bp.post("/coupons/<int:coupon_id>/archive")
@allowed("catalog.write")
def coupon_archive(coupon_id: int):
    """No longer redeemable; the discounts it gave go on."""
    SwitchForm().validate_on_submit()
    session = get_session()
    try:
        coupon = coupons.get_coupon(session, coupon_id)
    except NotFound:
        abort(404)
    coupons.archive_coupon(session, coupon)
    session.commit()
    return redirect(url_for("hub.coupon_list"))


# Applied to a client or a subscription -------------------------------------------


def _coupon_by_code(session):
    """The coupon of the code typed, or Invalid naming the field."""
    form = ApplyCouponForm()
    form.validate_on_submit()
    code = (form.coupon_code.data or "").strip()
    if not code:
        raise Invalid("Required.", fields={"coupon_code": ["Required."]})
    try:
        return coupons.by_code(session, code[:60])
    except NotFound:
        raise Invalid(
            "No coupon has this code.", fields={"coupon_code": ["No coupon has this code."]}
        ) from None


def _apply(client_id: int, tab: str, apply):
    """Run ``apply`` (which applies or removes); a refusal is a notice on
    the client page, nothing saved."""
    session = get_session()
    try:
        apply(session)
    except (Invalid, Conflict) as error:
        session.rollback()
        status = 422 if isinstance(error, Invalid) else 409
        return _page(client_id, tab, status=status, notice=l10n().gettext(error.message))
    session.commit()
    return redirect(url_for("hub.client_page", client_id=client_id, tab=tab))


@bp.post("/clients/<int:client_id>/coupon")
@allowed("clients.write")
def client_coupon(client_id: int):
    """Apply a coupon (by code) to the client's next invoices and renewals;
    it replaces the client's coupon."""
    return _apply(
        client_id,
        "overview",
        lambda s: coupons.apply_to_client(s, _client_or_404(s, client_id), _coupon_by_code(s)),
    )


@bp.post("/clients/<int:client_id>/coupon/remove")
@allowed("clients.write")
def client_coupon_remove(client_id: int):
    """The client's next invoices at full price."""
    SwitchForm().validate_on_submit()
    return _apply(
        client_id, "overview", lambda s: coupons.remove_from_client(s, _client_or_404(s, client_id))
    )


@bp.post("/clients/<int:client_id>/subscriptions/<int:subscription_id>/coupon")
@allowed("subscriptions.write")
def subscription_coupon(client_id: int, subscription_id: int):
    """Apply a coupon (by code) to the subscription's renewals."""
    return _apply(
        client_id,
        "products",
        lambda s: coupons.apply_to_subscription(
            s, _subscription_of(s, client_id, subscription_id), _coupon_by_code(s)
        ),
    )


@bp.post("/clients/<int:client_id>/subscriptions/<int:subscription_id>/coupon/remove")
@allowed("subscriptions.write")
def subscription_coupon_remove(client_id: int, subscription_id: int):
    """The subscription's renewals at full price (or the client's coupon)."""
    SwitchForm().validate_on_submit()
    return _apply(
        client_id,
        "products",
        lambda s: coupons.remove_from_subscription(
            s, _subscription_of(s, client_id, subscription_id)
        ),
    )
