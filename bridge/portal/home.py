"""The portal's home page: what is due now and what renews next."""

from __future__ import annotations

from bridge.portal.area import bp, render


@bp.get("/")
def home():
    return render("portal/home.html", active="client.home")
