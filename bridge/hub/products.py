"""The Hub's products & services (SPEC 5): the catalogue's products with
their plans, a new product with its first plan, a new plan (or a copy of
one, prefilled), a product's new name or image, archive and restore.

The views call ``bridge.billing.catalog`` as ``bridge/api/catalog.py`` does;
a plan's terms never change (duplicate it instead).
"""

from __future__ import annotations

from flask import abort, current_app, redirect, request, url_for
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from bridge.auth import policy
from bridge.billing import catalog, legal
from bridge.billing.business import get_settings
from bridge.core import money
from bridge.core.errors import Conflict, Invalid
from bridge.db import get_session
from bridge.hub.forms import PlanForm, ProductEditForm, ProductForm, SwitchForm, TaxRateForm
from bridge.hub.views import allowed, bp, render
from bridge.models import CatalogStatus, IntervalUnit, PlanKind


def _image_limit() -> int:
    return catalog.image_limit(current_app.config["MAX_IMAGE_BYTES"])


def _image(field) -> bytes | None:
    data = field.data
    if isinstance(data, FileStorage) and data.filename:
        return data.read()
    return None


def _plan_terms(form: PlanForm, currency: str | None) -> tuple[dict, dict[str, list[str]]]:
    """The plan's terms from the form, or the fields that are wrong (the
    domain checks the rest)."""
    errors: dict[str, list[str]] = {}
    terms: dict = {"name": form.plan_name.data or ""}
    kind = form.kind.data
    terms["kind"] = PlanKind(kind) if kind in set(PlanKind) else PlanKind.ONE_TIME
    text = (form.amount.data or "").strip()
    if currency is None:
        errors["amount"] = ["no_currency"]
    else:
        try:
            terms["amount"] = money.parse_amount(text, currency)
        except money.InvalidAmount:
            errors["amount"] = ["amount"]
    if terms["kind"] == PlanKind.RECURRING:
        unit = form.interval_unit.data
        terms["interval_unit"] = IntervalUnit(unit) if unit in set(IntervalUnit) else None
        for key in ("interval_count", "billing_cycles"):
            value = (getattr(form, key).data or "").strip()
            if not value:
                terms[key] = None
            elif value.isascii() and value.isdigit() and len(value) < 7:
                terms[key] = int(value)
            else:
                errors[key] = ["whole"]
    return terms, errors


def _back_to(product_id: int):
    """The list, with the product open."""
    return redirect(url_for("hub.products", product=product_id) + f"#product-{product_id}")


def _domain_errors(error: Invalid) -> dict[str, list[str]]:
    fields = dict(error.fields or {})
    if "name" in fields:
        fields["plan_name"] = fields.pop("name")
    return fields


def add_product_and_plan(session, form, terms: dict | None, product=None, **product_fields):
    """Create the product of ``form`` (unless ``product`` is given) and, with
    ``terms``, its plan. Returns ``(product, errors, notice)``: on a refusal
    the work is rolled back, the product is None and the domain's messages
    are sorted to the form's fields (``errors``) or said once (``notice``)."""
    try:
        if product is None:
            product = catalog.create_product(
                session,
                name=form.name.data or "",
                description=form.description.data or "",
                **product_fields,
            )
        if terms is not None:
            try:
                catalog.create_plan(session, product, **terms)
            except Invalid as error:
                raise Invalid(error.message, fields=_domain_errors(error)) from error
    except Invalid as error:
        session.rollback()
        return None, dict(error.fields or {}), None
    except Conflict as error:
        session.rollback()
        return None, {}, error.message
    return product, {}, None


@bp.get("/products")
@allowed("catalog.read")
def products():
    """SPEC 5: products with their status and plans; filter by status."""
    status_arg = request.args.get("status") or ""
    status = CatalogStatus(status_arg) if status_arg in set(CatalogStatus) else None
    page_number = request.args.get("page", "1")
    page_number = int(page_number) if page_number.isdigit() and 0 < int(page_number) < 10**6 else 1
    session = get_session()
    page = catalog.list_products(session, status=status, page=page_number, per_page=50)
    return render(
        "hub/products.html",
        page=page,
        status_filter=status.value if status else "",
        switch_form=SwitchForm(),
        may_write=policy.may(current_user.principal, "catalog.write"),
        opened=request.args.get("product", type=int),
        currency=get_settings(session).currency,
        active="hub.products",
    )


@bp.route("/products/new", methods=["GET", "POST"])
@allowed("catalog.write")
def new_product():
    """A product, with its first plan unless the plan's name is left empty."""
    form = ProductForm()
    session = get_session()
    currency = get_settings(session).currency
    errors: dict[str, list[str]] = {}
    notice = None
    if form.validate_on_submit():
        with_plan = bool((form.plan_name.data or "").strip())
        terms, errors = _plan_terms(form, currency) if with_plan else ({}, {})
        if not errors:
            product, errors, notice = add_product_and_plan(
                session,
                form,
                terms if with_plan else None,
                image=_image(form.image),
                max_image_bytes=_image_limit(),
            )
            if product is not None:
                session.commit()
                return _back_to(product.id)
    elif form.errors:
        errors = {"csrf": ["expired"]}
    status = 422 if errors or notice else 200
    return render(
        "hub/product_form.html",
        status=status,
        form=form,
        errors=errors,
        notice=notice,
        currency=currency,
        product=None,
        active="hub.products",
    )


@bp.route("/products/<int:product_id>/edit", methods=["GET", "POST"])
@allowed("catalog.write")
def edit_product(product_id: int):
    """Rename a product or change its image: nothing else changes."""
    session = get_session()
    product = catalog.get_product(session, product_id)
    form = ProductEditForm(data={"name": product.name} if request.method == "GET" else None)
    errors: dict[str, list[str]] = {}
    if form.validate_on_submit():
        changes: dict = {"name": form.name.data or ""}
        image = _image(form.image)
        if image is not None:
            changes["image"] = image
        elif form.remove_image.data:
            changes["image"] = None
        try:
            catalog.update_product(session, product, changes, _image_limit())
        except Invalid as error:
            session.rollback()
            errors = dict(error.fields or {})
        else:
            session.commit()
            return _back_to(product.id)
    return render(
        "hub/product_edit.html",
        status=422 if errors else 200,
        form=form,
        errors=errors,
        product=product,
        active="hub.products",
    )


@bp.route("/products/<int:product_id>/plans/new", methods=["GET", "POST"])
@allowed("catalog.write")
def new_plan(product_id: int):
    """A new plan on the product; with ``?from=<plan>`` the form starts as a
    copy of that plan, and saving makes a new plan (the original stays)."""
    session = get_session()
    product = catalog.get_product(session, product_id)
    currency = get_settings(session).currency
    source_id = request.args.get("from", type=int)
    source = catalog.get_plan(session, source_id, product_id) if source_id else None
    if request.method == "GET" and source is not None:
        form = PlanForm(
            data={
                "plan_name": source.name[:193] + " (copy)",
                "kind": source.kind.value,
                "amount": str(money.to_decimal(source.amount, source.currency)),
                "interval_unit": source.interval_unit.value if source.interval_unit else "month",
                "interval_count": str(source.interval_count or ""),
                "billing_cycles": str(source.billing_cycles or ""),
            }
        )
    else:
        form = PlanForm()
    errors: dict[str, list[str]] = {}
    notice = None
    if form.validate_on_submit():
        terms, errors = _plan_terms(form, currency)
        if not errors:
            try:
                if source is not None:
                    catalog.duplicate_plan(session, source, terms)
                else:
                    catalog.create_plan(session, product, **terms)
            except Invalid as error:
                session.rollback()
                errors = _domain_errors(error)
            except Conflict as error:
                session.rollback()
                notice = error.message
            else:
                session.commit()
                return _back_to(product.id)
    elif form.errors:
        errors = {"csrf": ["expired"]}
    return render(
        "hub/plan_form.html",
        status=422 if errors or notice else 200,
        form=form,
        errors=errors,
        notice=notice,
        currency=currency,
        product=product,
        source=source,
        active="hub.products",
    )


def _switch(get, object_id: int, action, product_id):
    form = SwitchForm()
    form.validate_on_submit()
    session = get_session()
    item = get(session, object_id)
    action(item)
    session.commit()
    return _back_to(product_id(item))


@bp.post("/products/<int:product_id>/archive")
@allowed("catalog.write")
def archive_product(product_id: int):
    return _switch(catalog.get_product, product_id, catalog.archive, lambda p: p.id)


@bp.post("/products/<int:product_id>/restore")
@allowed("catalog.write")
def restore_product(product_id: int):
    return _switch(catalog.get_product, product_id, catalog.restore, lambda p: p.id)


@bp.post("/plans/<int:plan_id>/archive")
@allowed("catalog.write")
def archive_plan(plan_id: int):
    return _switch(catalog.get_plan, plan_id, catalog.archive, lambda p: p.product_id)


@bp.post("/plans/<int:plan_id>/restore")
@allowed("catalog.write")
def restore_plan(plan_id: int):
    return _switch(catalog.get_plan, plan_id, catalog.restore, lambda p: p.product_id)


# Tax rates ---------------------------------------------------------------------


@bp.route("/tax-rates", methods=["GET", "POST"])
@allowed("tax_rates.read")
def tax_rates():
    """The tax rates (name, percentage, inclusive or not) and a form for a
    new one; a rate's percentage never changes (a new rate instead)."""
    session = get_session()
    form = TaxRateForm()
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        if not policy.may(current_user.principal, "tax_rates.write"):
            abort(403)
        if form.validate_on_submit():
            try:
                catalog.create_tax_rate(
                    session,
                    name=form.name.data or "",
                    percentage=(form.percentage.data or "").strip(),
                    inclusive=bool(form.inclusive.data),
                    exemption=form.exemption.data or "",
                )
            except Invalid as error:
                session.rollback()
                errors = dict(error.fields or {})
            else:
                session.commit()
                return redirect(url_for("hub.tax_rates"))
    return render(
        "hub/tax_rates.html",
        status=422 if errors else 200,
        rates=catalog.list_tax_rates(session),
        form=form,
        errors=errors,
        switch_form=SwitchForm(),
        percentage=catalog.format_percentage,
        exemptions=legal.EXEMPTION_WORDING,
        may_write=policy.may(current_user.principal, "tax_rates.write"),
        active="hub.products",
    )


def _switch_rate(tax_rate_id: int, action):
    SwitchForm().validate_on_submit()
    session = get_session()
    action(catalog.get_tax_rate(session, tax_rate_id))
    session.commit()
    return redirect(url_for("hub.tax_rates"))


@bp.post("/tax-rates/<int:tax_rate_id>/archive")
@allowed("tax_rates.write")
def archive_tax_rate(tax_rate_id: int):
    return _switch_rate(tax_rate_id, catalog.archive)


@bp.post("/tax-rates/<int:tax_rate_id>/restore")
@allowed("tax_rates.write")
def restore_tax_rate(tax_rate_id: int):
    return _switch_rate(tax_rate_id, catalog.restore)
