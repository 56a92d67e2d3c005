"""Setup: the agency's settings (SPEC 1, 2, 8, 9), one page per section with
one side menu. Each section's module registers itself with ``section()`` so
the menu is built from the sections that exist, in their order."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, redirect, url_for
from flask_login import current_user

from bridge.auth import policy
from bridge.hub.views import bp, render


@dataclass(frozen=True)
class Section:
    order: int
    endpoint: str
    title: str
    action: str  # what the policy must allow to open it ("settings.read"...)


SECTIONS: list[Section] = []


def section(order: int, endpoint: str, title: str, action: str = "settings.read") -> None:
    """Put a page in Setup's side menu (``endpoint`` is ``"hub.<view>"``)."""
    SECTIONS.append(Section(order, endpoint, title, action))
    SECTIONS.sort(key=lambda s: s.order)


def visible_sections() -> list[Section]:
    return [s for s in SECTIONS if policy.may(current_user.principal, s.action)]


@bp.context_processor
def _setup_menu() -> dict:
    return {"setup_sections": visible_sections}


@bp.get("/setup")
def setup():
    """Setup opens on its first section the user may see."""
    sections = visible_sections()
    if not SECTIONS:  # no section built: say what does the job meanwhile
        return render(
            "hub/coming.html", title="Setup", api_path="/api/v1/settings", active="hub.setup"
        )
    if not sections:
        abort(403)
    return redirect(url_for(sections[0].endpoint))


def render_section(template: str, endpoint: str, status: int = 200, **context):
    """A Setup page: the Hub's layout with Setup's menu, ``endpoint`` marked."""
    return render(template, status, active="hub.setup", setup_active=endpoint, **context)
