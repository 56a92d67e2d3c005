"""Debian's Chromium driven by Playwright, for the browser tests (hosted
invoice page, WordPress plugin). Missing Chromium or Playwright skips those
tests with the reason, except in CI (``CI=true``), where it fails the run."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
# The flags TOOLING.md lists for a headless Chromium on a closed network.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _missing(modules: tuple[str, ...]) -> str | None:
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} is not installed (`make e2e-deps` installs Debian's chromium)"
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (`pip install -e '.[test]'`)"
    return None


def chromium(*also_needed: str) -> Iterator:
    """A launched Chromium (a generator for a fixture to ``yield from``)."""
    reason = _missing(("playwright", *also_needed))
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser tests must run in CI: {reason}", pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
