"""Every screen of the Hub, found by following the Hub's own links from the
overview (so a screen added later is covered the day it lands), in Debian's
Chromium through Playwright: pressing Tab from the top of the page focuses
every visible link, button and field in turn; axe-core finds no serious or
critical violation; at 380 px nothing scrolls sideways."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow

from bridge import demo  # noqa: E402
from tests.e2e.conftest import LiveServer  # noqa: E402
from tests.hub.test_hub_browser import (  # noqa: E402, F401
    _demo_with_billing,
    _serve,
    axe_violations,
    browser,
)

# Screens whose path differs only by ids are one screen; the crawl stops here.
MAX_SCREENS = 60
NOT_SCREENS = re.compile(r"(\.pdf|/pdf\b|\.csv|/static/|/logout|/i/|/api/|\?.*page=)")

# Marks the page's focusable elements and returns their keys. A radio group
# is one stop for Tab (arrows move inside it), so it has one key.
MARK = """() => {
  const selector = 'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),'
    + ' select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex="-1"])';
  const keys = [];
  document.querySelectorAll(selector).forEach((el, i) => {
    // Hidden, or inside a closed <details> (content-visibility: hidden).
    if (!el.checkVisibility({visibilityProperty: true})) return;
    const key = el.type === 'radio' ? 'radio:' + el.name : 'el:' + i;
    el.dataset.kb = key;
    if (!keys.includes(key)) keys.push(key);
  });
  return keys;
}"""

FOCUSED = "() => document.activeElement && document.activeElement.dataset.kb || null"


def describe(page, key: str) -> str:
    return page.eval_on_selector(f'[data-kb="{key}"]', "el => el.outerHTML.slice(0, 160)")


def crawl(page, url: str, start: str, follow, seen: set, limit: int = MAX_SCREENS):
    """The screens reached from ``start`` by following the pages' links to
    this site's paths that ``follow(path)`` accepts; each path is yielded
    with the page on it. Paths that differ only by ids are one screen,
    added to ``seen``."""
    origin = urlsplit(url).netloc
    queue = [start]
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if screen_of(path) in seen:
            continue
        seen.add(screen_of(path))
        page.goto(url + path)
        for href in page.eval_on_selector_all("a[href]", "els => els.map(a => a.href)"):
            parts = urlsplit(href)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.netloc == origin and follow(target) and screen_of(target) not in seen:
                queue.append(target)
        yield path


def missed_by_tab(page) -> list[str]:
    """The page's visible links, buttons and fields that pressing Tab from
    the top never focuses (their HTML, shortened)."""
    keys = page.evaluate(MARK)
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    reached = set()
    for _ in range(len(keys) * 2 + 5):
        page.keyboard.press("Tab")
        key = page.evaluate(FOCUSED)
        if key:
            reached.add(key)
        if reached >= set(keys):
            break
    return [describe(page, key) for key in keys if key not in reached]


def screen_of(path: str) -> str:
    return re.sub(r"([/=])\d+", r"\1N", path)


@pytest.fixture(scope="module")
def agency(sqlite_template, tmp_path_factory):
    app = _serve(sqlite_template, tmp_path_factory.mktemp("keyboard"), fill=_demo_with_billing)
    with LiveServer(app) as server:
        yield server
    app.extensions["bridge.db"].dispose()


def test_every_hub_screen_works_by_keyboard_passes_axe_and_fits_a_phone(browser, agency):  # noqa: F811
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.goto(f"{agency.url}/login")
    page.fill("#email", demo.ADMIN_EMAIL)
    page.fill("#password", demo.DEFAULT_DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{agency.url}/")

    seen, visited, unreachable, inaccessible = set(), [], {}, {}
    for path in crawl(page, agency.url, "/", lambda target: not NOT_SCREENS.search(target), seen):
        visited.append(path)
        missing = missed_by_tab(page)
        if missing:
            unreachable[path] = missing
        violations = axe_violations(page)
        if violations:
            inaccessible[path] = violations

    page.set_viewport_size({"width": 380, "height": 800})
    too_wide = {}
    for path in visited:
        page.goto(agency.url + path)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 380:
            too_wide[path] = width
    context.close()

    assert len(seen) >= 8, seen  # the crawl found the Hub's screens
    assert not inaccessible, inaccessible
    assert not too_wide, too_wide
    assert not unreachable, "\n".join(
        f"{path}: {len(missing)} not reached by Tab, e.g. " + " | ".join(missing[:4])
        for path, missing in unreachable.items()
    )
