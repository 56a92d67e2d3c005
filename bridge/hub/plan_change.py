"""Issue 14: the *Change plan* screen of a subscription on the client page:
choose the plan, quantity and when (now, prorated; or at the next
renewal), see the invoice it makes (the same code as the API's
``?preview=true``: ``plan_changes.quote`` or ``quote_renewal``), confirm to
apply or schedule.

Applying twice is harmless: the second finds the subscription on that plan
and quantity already (``no_change``) and bills nothing; scheduling twice
replaces the scheduled change with the same one.
"""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import RadioField, SelectField, StringField

from bridge.billing import plan_changes, renewals, subscriptions
from bridge.core import clock
from bridge.core.errors import Conflict, Invalid, NotFound
from bridge.core.money import InvalidQuantity, quantity_decimal, quantity_e3
from bridge.db import get_session
from bridge.hub.views import allowed, bp, render
from bridge.models import CatalogStatus, Plan, PlanKind, Product


class ChangeForm(FlaskForm):
    plan_id = SelectField(coerce=int)
    quantity = StringField()
    when = RadioField(choices=[plan_changes.NOW, plan_changes.RENEWAL], default=plan_changes.NOW)


def _plans(session, subscription) -> list[tuple[int, str]]:
    plans = session.scalars(
        select(Plan)
        .join(Product)
        .where(
            Plan.kind == PlanKind.RECURRING,
            Plan.status == CatalogStatus.ACTIVE,
            Product.status == CatalogStatus.ACTIVE,
            Plan.currency == subscription.currency,
        )
        .order_by(Product.name, Plan.amount, Plan.id)
    )
    choices = [(p.id, p) for p in plans]
    if subscription.plan_id not in {i for i, _p in choices}:
        choices.insert(0, (subscription.plan_id, subscription.plan))
    return choices


@bp.route(
    "/clients/<int:client_id>/subscriptions/<int:subscription_id>/change",
    methods=["GET", "POST"],
)
@allowed("subscriptions.write")
def subscription_change(client_id: int, subscription_id: int):
    """GET: the form. POST ``step=preview``: the lines and totals the change
    would make (``when=renewal``: those of the next renewal invoice). POST
    ``step=apply``: make it now or schedule it, back to the client page."""
    session = get_session()
    try:
        subscription = subscriptions.get_subscription(session, subscription_id, client_id)
    except NotFound:
        abort(404)
    plans = _plans(session, subscription)
    form = ChangeForm()
    form.plan_id.choices = [(i, p.product.name + " — " + p.name) for i, p in plans]
    if request.method == "GET":
        form.plan_id.data = subscription.plan_id
        form.quantity.data = str(quantity_decimal(subscription.quantity_e3))
    context = {
        "client": subscription.client,
        "subscription": subscription,
        "form": form,
        "active": "hub.clients",
        "quote": None,
        "pending": plan_changes.pending_change(subscription),
        "errors": {},
        "notice": None,
    }
    if request.method == "GET":
        return render("hub/subscription_change.html", **context)
    if not form.validate_on_submit():
        abort(400)
    status = 200
    try:
        try:
            quantity = quantity_e3((form.quantity.data or "").strip().replace(",", "."))
        except InvalidQuantity as error:
            raise Invalid(str(error), fields={"quantity": [str(error)]}) from None
        wanted = {"plan_id": form.plan_id.data, "quantity_e3": quantity}
        apply = request.form.get("step") == "apply"
        if form.when.data == plan_changes.RENEWAL and apply:
            plan_changes.schedule(session, subscription, **wanted)
            session.commit()
            return redirect(url_for("hub.client_page", client_id=client_id, tab="products"))
        if form.when.data == plan_changes.RENEWAL:
            context["quote"] = plan_changes.quote_renewal(session, subscription, **wanted)
        elif apply:
            _change, invoice = plan_changes.apply(session, subscription, **wanted)
            renewals.after_renewal(session, invoice, clock.now())
            session.commit()
            return redirect(url_for("hub.client_page", client_id=client_id, tab="products"))
        else:
            context["quote"] = plan_changes.quote(session, subscription, **wanted)
    except Invalid as error:
        session.rollback()
        status = 422
        context["errors"] = error.fields or {}
        context["notice"] = None if error.fields else str(error)
    except Conflict as error:
        session.rollback()
        status = 409
        context["notice"] = str(error)
    return render("hub/subscription_change.html", status=status, **context)
