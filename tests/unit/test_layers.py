"""Imports point down: the domain loads without the web, mail or API layers
(the scheduler, a script or a test can use it on its own)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Every package of the domain, and what none of them may bring in. (The
# payment gateway is still reached from bridge.billing.collection; it is
# not on this list until it leaves the domain.)
DOMAIN = "bridge.billing"
FORBIDDEN = ("flask", "bridge.mail", "bridge.api", "bridge.portal", "bridge.pdf")


def loaded_after_importing(modules: list[str]) -> list[str]:
    """The modules a fresh interpreter holds once it imported ``modules``."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(result.stdout)


def domain_modules() -> list[str]:
    import pkgutil

    import bridge.billing

    return [DOMAIN] + [
        f"{DOMAIN}.{info.name}" for info in pkgutil.iter_modules(bridge.billing.__path__)
    ]


@pytest.fixture(scope="module")
def loaded_by_the_domain() -> list[str]:
    return loaded_after_importing(domain_modules() + ["bridge.core.events"])


@pytest.mark.parametrize("forbidden", FORBIDDEN)
def test_the_domain_loads_without(loaded_by_the_domain, forbidden):
    assert [
        m for m in loaded_by_the_domain if m == forbidden or m.startswith(forbidden + ".")
    ] == []
