"""The catalog: products and services, pricing plans, tax rates.

As in Stripe, terms are fixed once created: a product or plan only changes
its name and image. To change a price, duplicate the plan, change the copy,
archive the original; subscriptions on the original are untouched.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from bridge.billing import legal
from bridge.billing.business import require_currency, store_file
from bridge.core import clock, money
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.paging import Page
from bridge.models import (
    CatalogStatus,
    IntervalUnit,
    Plan,
    PlanKind,
    Product,
    ProductCategory,
    TaxRate,
)

# Longest billing period: three years, whatever the unit (Stripe's limit).
MAX_INTERVAL_COUNT = {
    IntervalUnit.DAY: 3 * 365,
    IntervalUnit.WEEK: 3 * 52,
    IntervalUnit.MONTH: 36,
    IntervalUnit.YEAR: 3,
}
MAX_BILLING_CYCLES = 1000
# A product image is at most this large, or the app's own limit if smaller.
PRODUCT_IMAGE_MAX = 512 * 1024


def image_limit(app_limit: int) -> int:
    """The largest product image accepted, in bytes (``app_limit``: the
    app's ``MAX_IMAGE_BYTES``)."""
    return min(PRODUCT_IMAGE_MAX, app_limit)


PLAN_TERMS = ("kind", "amount", "interval_unit", "interval_count", "billing_cycles")


# Products ------------------------------------------------------------------


def list_products(
    session: Session, *, status: CatalogStatus | None = None, page: int = 1, per_page: int = 50
):
    """A page of products with their plans loaded (three queries in all)."""
    filters = [Product.status == status] if status else []
    products = list(
        session.scalars(
            select(Product)
            .where(*filters)
            .options(selectinload(Product.plans))
            .order_by(Product.name, Product.id)
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    total = session.scalar(select(func.count()).select_from(Product).where(*filters))
    return Page(items=products, total=total or 0, page=page, per_page=per_page)


def get_product(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("No such product.")
    return product


def _name(value: str, what: str) -> str:
    value = value.strip()
    if not value:
        raise Invalid(f"A {what} needs a name.", fields={"name": ["Required."]})
    return value


def create_product(
    session: Session,
    *,
    name: str,
    description: str = "",
    image: bytes | None = None,
    category: ProductCategory | str = ProductCategory.OTHER,
    max_image_bytes: int = 512 * 1024,
) -> Product:
    product = Product(
        name=_name(name, "product"),
        description=description.strip(),
        category=_category(category),
        status=CatalogStatus.ACTIVE,
        created_at=clock.now(),
    )
    if image is not None:
        product.image = store_file(session, image, max_image_bytes)
    session.add(product)
    session.flush()
    return product


def _category(value: ProductCategory | str) -> ProductCategory:
    try:
        return ProductCategory(value)
    except ValueError as exc:
        choices = ", ".join(c.value for c in ProductCategory)
        raise Invalid(
            f"A category is one of: {choices}.", fields={"category": ["Unknown category."]}
        ) from exc


def update_product(
    session: Session, product: Product, changes: dict, max_image_bytes: int = 512 * 1024
) -> Product:
    """Rename a product, change its image or its category (which only sorts
    it: the hosting plan the WordPress plugin shows); anything else is
    refused."""
    if "description" in changes and changes["description"] != product.description:
        raise Conflict(
            "Only a product's name and image can change after creation.",
            code="product_terms_immutable",
        )
    if "name" in changes:
        product.name = _name(changes["name"], "product")
    if "category" in changes:
        product.category = _category(changes["category"])
    if "image" in changes:
        image = changes["image"]
        product.image = store_file(session, image, max_image_bytes) if image else None
    product.updated_at = clock.now()
    return product


def delete_product(session: Session, product: Product) -> None:
    """Only a product that never had a plan can be deleted; others are archived."""
    if product.plans:
        raise Conflict(
            "This product has pricing plans: archive it instead of deleting it.",
            code="product_has_plans",
        )
    session.delete(product)


# Plans ---------------------------------------------------------------------


def get_plan(session: Session, plan_id: int, product_id: int | None = None) -> Plan:
    plan = session.get(Plan, plan_id)
    if plan is None or (product_id is not None and plan.product_id != product_id):
        raise NotFound("No such plan.")
    return plan


def check_plan_terms(
    kind: PlanKind,
    amount: int,
    interval_unit: IntervalUnit | None,
    interval_count: int | None,
    billing_cycles: int | None,
) -> tuple[IntervalUnit | None, int | None, int | None]:
    """The canonical (unit, count, cycles) of valid plan terms, or ``Invalid``
    naming every problem."""
    errors: dict[str, list[str]] = {}
    if not 0 <= amount <= money.MAX_AMOUNT:
        errors["amount"] = [f"Must be between 0 and {money.MAX_AMOUNT} (minor units)."]
    if kind == PlanKind.ONE_TIME:
        for key, value in (
            ("interval_unit", interval_unit),
            ("interval_count", interval_count),
            ("billing_cycles", billing_cycles),
        ):
            if value is not None:
                errors[key] = ["One-time plans have no billing period."]
    else:
        if interval_unit is None:
            errors["interval_unit"] = ["Required for a recurring plan (day, week, month, year)."]
        count = 1 if interval_count is None else interval_count
        if interval_unit is not None and not 1 <= count <= MAX_INTERVAL_COUNT[interval_unit]:
            errors["interval_count"] = [
                f"Between 1 and {MAX_INTERVAL_COUNT[interval_unit]} for {interval_unit.value}s "
                "(at most three years)."
            ]
        if billing_cycles is not None and not 1 <= billing_cycles <= MAX_BILLING_CYCLES:
            errors["billing_cycles"] = [
                f"Between 1 and {MAX_BILLING_CYCLES}, or empty to renew until cancelled."
            ]
        interval_count = count
    if errors:
        raise Invalid("The plan's terms are invalid.", fields=errors)
    return interval_unit, interval_count, billing_cycles


def create_plan(
    session: Session,
    product: Product,
    *,
    name: str,
    kind: PlanKind,
    amount: int,
    interval_unit: IntervalUnit | None = None,
    interval_count: int | None = None,
    billing_cycles: int | None = None,
    image: bytes | None = None,
    max_image_bytes: int = 512 * 1024,
    duplicated_from: Plan | None = None,
) -> Plan:
    currency = require_currency(session)
    if product.status == CatalogStatus.ARCHIVED:
        raise Conflict(
            "The product is archived: restore it before adding plans.", code="product_archived"
        )
    interval_unit, interval_count, billing_cycles = check_plan_terms(
        kind, amount, interval_unit, interval_count, billing_cycles
    )
    plan = Plan(
        product=product,
        name=_name(name, "plan"),
        kind=kind,
        amount=amount,
        currency=currency,
        interval_unit=interval_unit,
        interval_count=interval_count,
        billing_cycles=billing_cycles,
        status=CatalogStatus.ACTIVE,
        duplicated_from_id=duplicated_from.id if duplicated_from else None,
        created_at=clock.now(),
    )
    if image is not None:
        plan.image = store_file(session, image, max_image_bytes)
    elif duplicated_from is not None:
        plan.image_id = duplicated_from.image_id
    session.add(plan)
    session.flush()
    return plan


def update_plan(
    session: Session, plan: Plan, changes: dict, max_image_bytes: int = 512 * 1024
) -> Plan:
    """Rename a plan or change its image. Its price and period are fixed."""
    changed_terms = [
        key for key in PLAN_TERMS if key in changes and changes[key] != getattr(plan, key)
    ]
    if changed_terms:
        raise Conflict(
            f"A plan's {', '.join(changed_terms)} cannot change after creation: "
            "duplicate the plan, edit the copy, and archive the original.",
            code="plan_terms_immutable",
        )
    if "name" in changes:
        plan.name = _name(changes["name"], "plan")
    if "image" in changes:
        image = changes["image"]
        plan.image = store_file(session, image, max_image_bytes) if image else None
    plan.updated_at = clock.now()
    return plan


def duplicate_plan(session: Session, plan: Plan, overrides: dict) -> Plan:
    """A new active plan on the same product with the original's terms, except
    those in ``overrides`` (name, amount, period, cycles). The original stays
    as it is: archive it separately if the copy replaces it."""
    terms = {
        "name": plan.name[:193] + " (copy)",  # names hold 200 characters
        "kind": plan.kind,
        "amount": plan.amount,
        "interval_unit": plan.interval_unit,
        "interval_count": plan.interval_count,
        "billing_cycles": plan.billing_cycles,
    }
    unknown = set(overrides) - set(terms)
    if unknown:
        raise Invalid("Unknown fields.", fields={k: ["Unknown field."] for k in unknown})
    terms.update(overrides)
    if terms["kind"] == PlanKind.ONE_TIME:
        for key in ("interval_unit", "interval_count", "billing_cycles"):
            if key not in overrides:
                terms[key] = None
    return create_plan(session, plan.product, duplicated_from=plan, **terms)


# Tax rates -----------------------------------------------------------------


def parse_percentage(value: str | int | float) -> int:
    """A percentage from text or a JSON number to ten-thousandths of a percent:
    "20" -> 200000, "7.6543" -> 76543. At most four decimals, 0 to 100."""
    if isinstance(value, bool):
        raise _bad_percentage()
    text = str(value).strip()
    # Plain ASCII decimal text only: Decimal() would also read "٢٠" or "1_0".
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        raise _bad_percentage()
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise _bad_percentage() from exc
    if not number.is_finite() or not 0 <= number <= 100:
        raise _bad_percentage()
    scaled = number * 10_000
    if scaled != scaled.to_integral_value():
        raise Invalid(
            "A percentage has at most four decimals.",
            fields={"percentage": ["At most four decimals."]},
        )
    return int(scaled)


def _bad_percentage() -> Invalid:
    return Invalid(
        "A percentage is a number from 0 to 100, such as 20 or 7.7.",
        fields={"percentage": ["Not a percentage from 0 to 100."]},
    )


def format_percentage(percentage_e4: int) -> str:
    """Ten-thousandths of a percent back to text without trailing zeros: "7.7"."""
    text = f"{Decimal(percentage_e4) / 10_000:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def list_tax_rates(session: Session, status: CatalogStatus | None = None) -> list[TaxRate]:
    query = select(TaxRate).order_by(TaxRate.name, TaxRate.id)
    if status is not None:
        query = query.where(TaxRate.status == status)
    return list(session.scalars(query))


def get_tax_rate(session: Session, tax_rate_id: int) -> TaxRate:
    rate = session.get(TaxRate, tax_rate_id)
    if rate is None:
        raise NotFound("No such tax rate.")
    return rate


def create_tax_rate(
    session: Session,
    *,
    name: str,
    percentage: str | int | float,
    inclusive: bool,
    exemption: str = "",
) -> TaxRate:
    """A tax rate; ``exemption`` makes a 0 % rate a VAT exemption
    (``bridge.billing.legal.EXEMPTIONS``) whose wording invoices print."""
    percentage_e4 = parse_percentage(percentage)
    rate = TaxRate(
        name=_name(name, "tax rate"),
        percentage_e4=percentage_e4,
        inclusive=inclusive,
        exemption=legal.check_exemption(exemption, percentage_e4),
        status=CatalogStatus.ACTIVE,
        created_at=clock.now(),
    )
    session.add(rate)
    session.flush()
    return rate


def update_tax_rate(session: Session, rate: TaxRate, changes: dict) -> TaxRate:
    """Only the name changes: invoices already computed with a rate keep
    meaning what they said. A new percentage is a new rate."""
    if "percentage" in changes and parse_percentage(changes["percentage"]) != rate.percentage_e4:
        raise Conflict(
            "A tax rate's percentage cannot change: create a new rate and archive this one.",
            code="tax_rate_immutable",
        )
    if "inclusive" in changes and changes["inclusive"] != rate.inclusive:
        raise Conflict(
            "Whether a tax rate is inclusive cannot change: create a new rate.",
            code="tax_rate_immutable",
        )
    if "name" in changes:
        rate.name = _name(changes["name"], "tax rate")
    return rate


# Archiving (products, plans and tax rates alike) ------------------------------


def archive(item: Product | Plan | TaxRate) -> Product | Plan | TaxRate:
    """No longer billable; what already uses it (subscriptions, invoices) goes on."""
    if item.status != CatalogStatus.ARCHIVED:
        item.status = CatalogStatus.ARCHIVED
        item.archived_at = clock.now()
    return item


def restore(item: Product | Plan | TaxRate) -> Product | Plan | TaxRate:
    """Billable again."""
    item.status = CatalogStatus.ACTIVE
    item.archived_at = None
    return item
