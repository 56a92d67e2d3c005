"""The wheel carries the templates, the migrations and the compiled
catalogues: an installed copy (not the source tree) migrates a database,
renders its pages and speaks French and German."""

import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # builds the wheel with pip and installs a copy

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("billing_bridge-*.whl")
    return path


def test_wheel_contains_templates_migrations_and_every_package(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "bridge_templates/hub/base.html" in names
    assert "bridge/static/bridge.css" in names
    assert "bridge/hub/static/hub.css" in names
    assert "bridge/hub/static/vendor/htmx-2.0.11.min.js" in names
    assert "bridge/hub/static/vendor/htmx-LICENSE.txt" in names
    assert "bridge_migrations/env.py" in names
    assert "bridge_migrations/script.py.mako" in names
    assert any(n.startswith("bridge_migrations/versions/0001") for n in names)
    for language in ("en", "fr", "de"):
        assert f"bridge/translations/{language}/LC_MESSAGES/messages.mo" in names, language
    source_packages = {
        str(p.parent.relative_to(ROOT)).replace("/", ".")
        for p in (ROOT / "bridge").rglob("__init__.py")
    }
    for package in source_packages | {"scheduler"}:
        assert f"{package.replace('.', '/')}/__init__.py" in names, package


def test_installed_copy_migrates_and_renders_templates(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    script = textwrap.dedent(
        f"""
        import bridge, bridge_templates
        assert bridge.__file__.startswith({str(target)!r}), bridge.__file__
        assert bridge_templates.__file__.startswith({str(target)!r})
        from bridge import migrate
        from bridge.db import make_engine
        url = "sqlite:///{tmp_path}/installed.sqlite3"
        migrate.upgrade(make_engine(url))
        app = bridge.create_app({{"DATABASE_URL": url, "SECRET_KEY": "x"}})
        page = app.test_client().get("/login")
        assert page.status_code == 200 and b"Billing Bridge" in page.data
        assert app.test_client().get("/static/bridge.css").status_code == 200
        from bridge.core.l10n import Localiser
        assert Localiser("de").gettext("Amount due") == "Offener Betrag"
        assert Localiser("fr").gettext("Amount due") == "Reste à payer"
        print("ok")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={
            "PYTHONPATH": str(target),
            "PATH": "/usr/bin:/bin",
            "BRIDGE_INSTANCE_PATH": str(tmp_path / "instance"),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
